//! `vidmocap eval`: a run's 3D accuracy against a reference in OpenSim TRC
//! (what marker and multi-view systems write).
//!
//! Per frame, the 17 joints both skeletons name ([`JOINT_MAP`]) are taken
//! from keypoints.json (the solved skeleton's `world`, or with `raw` the
//! model's own `raw_world`) and from the reference row of the same video
//! frame (TRC frame numbers count from the file's first row = video frame
//! 0, plus `frame_offset`). Reported, in millimetres:
//! - PA-MPJPE: each frame aligned by the best similarity (rotation,
//!   translation, scale), mean joint distance, per joint and overall;
//! - root-aligned MPJPE: both skeletons centred on their mid-hip, one
//!   rotation for the whole clip (the two coordinate frames differ), no
//!   scale;
//! - acceleration error: mean |a_pred − a_ref| of the root-aligned joints,
//!   a = p[t+1] − 2p[t] + p[t−1], per frame².
//!
//! The alignments are [`align::align`] (Horn's closed form).

pub mod align;
pub mod trc;

use std::path::Path;

use glam::DVec3;
use serde::Serialize;
use thiserror::Error;

use crate::export::keypoints::{self, KeypointsFile};
use crate::pose::lm;
use trc::Trc;

/// BlazePose landmark and the reference marker it is compared with.
pub const JOINT_MAP: [(usize, &str, &str); 17] = [
    (lm::NOSE, "nose", "Nose"),
    (lm::LEFT_SHOULDER, "left_shoulder", "LShoulder"),
    (lm::RIGHT_SHOULDER, "right_shoulder", "RShoulder"),
    (lm::LEFT_ELBOW, "left_elbow", "LElbow"),
    (lm::RIGHT_ELBOW, "right_elbow", "RElbow"),
    (lm::LEFT_WRIST, "left_wrist", "LWrist"),
    (lm::RIGHT_WRIST, "right_wrist", "RWrist"),
    (lm::LEFT_HIP, "left_hip", "LHip"),
    (lm::RIGHT_HIP, "right_hip", "RHip"),
    (lm::LEFT_KNEE, "left_knee", "LKnee"),
    (lm::RIGHT_KNEE, "right_knee", "RKnee"),
    (lm::LEFT_ANKLE, "left_ankle", "LAnkle"),
    (lm::RIGHT_ANKLE, "right_ankle", "RAnkle"),
    (lm::LEFT_HEEL, "left_heel", "LHeel"),
    (lm::RIGHT_HEEL, "right_heel", "RHeel"),
    (lm::LEFT_FOOT_INDEX, "left_foot_index", "LBigToe"),
    (lm::RIGHT_FOOT_INDEX, "right_foot_index", "RBigToe"),
];

/// Why an evaluation could not run (always the input's fault).
#[derive(Debug, Error)]
pub enum EvalError {
    #[error("cannot read the reference {path}: {reason}")]
    BadTrc { path: String, reason: String },
    #[error("the reference has no marker {0:?}, which the joint mapping needs")]
    MissingMarker(String),
    #[error("no frame has both a pose and a complete reference")]
    NoOverlap,
    #[error(transparent)]
    Keypoints(#[from] crate::export::ExportError),
}

impl EvalError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            EvalError::BadTrc { .. } => "eval.bad_trc",
            EvalError::MissingMarker(_) => "eval.missing_marker",
            EvalError::NoOverlap => "eval.no_overlap",
            EvalError::Keypoints(e) => e.code(),
        }
    }
}

/// One joint's figure.
#[derive(Clone, Debug, Serialize)]
pub struct JointError {
    pub landmark: &'static str,
    pub marker: &'static str,
    pub pa_mpjpe_mm: f64,
}

/// The result of [`evaluate`].
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// `world` (the solved skeleton) or `raw_world` (the model's).
    pub landmarks: &'static str,
    pub frames: usize,
    pub pa_mpjpe_mm: f64,
    pub mpjpe_root_aligned_mm: f64,
    pub accel_error_mm: f64,
    pub joints: Vec<JointError>,
}

type Points = Vec<DVec3>;

fn mid_hip(p: &Points) -> DVec3 {
    // JOINT_MAP's hips are entries 7 and 8.
    0.5 * (p[7] + p[8])
}

/// Evaluates `file` against `reference` (module docs).
pub fn evaluate(
    file: &KeypointsFile,
    reference: &Trc,
    raw: bool,
    frame_offset: i64,
) -> Result<EvalReport, EvalError> {
    let markers: Vec<usize> = JOINT_MAP
        .iter()
        .map(|(_, _, m)| {
            reference
                .marker(m)
                .ok_or_else(|| EvalError::MissingMarker(m.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let first_row = reference.frames.first().map_or(0, |f| f.0);
    // (video frame, prediction, reference) for every usable frame.
    let mut pairs: Vec<(i64, Points, Points)> = Vec::new();
    for (row, points) in &reference.frames {
        let video = row - first_row + frame_offset;
        let r: Points = markers
            .iter()
            .map(|&m| DVec3::from_array(points[m]))
            .collect();
        if r.iter().any(|p| !p.is_finite()) {
            continue;
        }
        let Some(f) = file
            .frames
            .iter()
            .find(|f| f.frame as i64 == video && f.pose)
        else {
            continue;
        };
        let source = if raw { &f.raw_world } else { &f.world };
        let Some(w) = source.as_ref().filter(|w| w.len() > lm::RIGHT_FOOT_INDEX) else {
            continue;
        };
        let p: Points = JOINT_MAP
            .iter()
            .map(|(k, _, _)| {
                DVec3::new(
                    f64::from(w[*k][0]),
                    f64::from(w[*k][1]),
                    f64::from(w[*k][2]),
                )
            })
            .collect();
        pairs.push((video, p, r));
    }
    if pairs.is_empty() {
        return Err(EvalError::NoOverlap);
    }

    let mut per_joint = [0.0f64; JOINT_MAP.len()];
    let mut pa_frames = 0usize;
    for (_, p, r) in &pairs {
        if let Some(a) = align::align(p, r, true) {
            for (j, (a, r)) in a.iter().zip(r).enumerate() {
                per_joint[j] += (*a - *r).length();
            }
            pa_frames += 1;
        }
    }
    if pa_frames == 0 {
        return Err(EvalError::NoOverlap);
    }

    // Root-aligned: centre on the mid-hip, one rotation for the clip.
    let centred: Vec<(i64, Points, Points)> = pairs
        .iter()
        .map(|(f, p, r)| {
            let (hp, hr) = (mid_hip(p), mid_hip(r));
            (
                *f,
                p.iter().map(|x| *x - hp).collect(),
                r.iter().map(|x| *x - hr).collect(),
            )
        })
        .collect();
    let all_p: Points = centred.iter().flat_map(|c| c.1.clone()).collect();
    let all_r: Points = centred.iter().flat_map(|c| c.2.clone()).collect();
    let rotated = align::align(&all_p, &all_r, false).ok_or(EvalError::NoOverlap)?;
    let k = JOINT_MAP.len();
    let mut root_sum = 0.0;
    for (i, (_, _, r)) in centred.iter().enumerate() {
        let p = &rotated[i * k..(i + 1) * k];
        // The clip-wide fit also translates; re-centre each frame.
        let hp = 0.5 * (p[7] + p[8]);
        root_sum += p
            .iter()
            .zip(r)
            .map(|(a, b)| (*a - hp - *b).length())
            .sum::<f64>()
            / k as f64;
    }
    let mut accel_sum = 0.0;
    let mut accel_n = 0usize;
    for i in 1..centred.len().saturating_sub(1) {
        let (f0, f1, f2) = (centred[i - 1].0, centred[i].0, centred[i + 1].0);
        if f1 != f0 + 1 || f2 != f1 + 1 {
            continue;
        }
        for j in 0..k {
            let p = |t: usize| rotated[t * k + j] - 0.5 * (rotated[t * k + 7] + rotated[t * k + 8]);
            let r = |t: usize| centred[t].2[j];
            let ap = p(i + 1) - 2.0 * p(i) + p(i - 1);
            let ar = r(i + 1) - 2.0 * r(i) + r(i - 1);
            accel_sum += (ap - ar).length();
            accel_n += 1;
        }
    }

    let joints: Vec<JointError> = JOINT_MAP
        .iter()
        .zip(per_joint)
        .map(|((_, landmark, marker), sum)| JointError {
            landmark,
            marker,
            pa_mpjpe_mm: 1000.0 * sum / pa_frames as f64,
        })
        .collect();
    Ok(EvalReport {
        landmarks: if raw { "raw_world" } else { "world" },
        frames: pa_frames,
        pa_mpjpe_mm: joints.iter().map(|j| j.pa_mpjpe_mm).sum::<f64>() / k as f64,
        mpjpe_root_aligned_mm: 1000.0 * root_sum / centred.len() as f64,
        accel_error_mm: if accel_n > 0 {
            1000.0 * accel_sum / accel_n as f64
        } else {
            0.0
        },
        joints,
    })
}

/// Reads both files and evaluates (the `vidmocap eval` command).
pub fn evaluate_files(
    keypoints_path: &Path,
    trc_path: &Path,
    raw: bool,
    frame_offset: i64,
) -> Result<EvalReport, EvalError> {
    let file = keypoints::read(keypoints_path)?;
    let text = std::fs::read_to_string(trc_path).map_err(|e| EvalError::BadTrc {
        path: trc_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let reference = Trc::parse(&text, &trc_path.display().to_string())?;
    evaluate(&file, &reference, raw, frame_offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::keypoints::FrameRecord;
    use crate::rig::Skeleton;

    /// A TRC holding `frames` of the rest pose's markers, rotated and moved.
    fn trc_of(points: &[[f64; 3]], frames: usize) -> Trc {
        let mut markers: Vec<String> = JOINT_MAP.iter().map(|j| j.2.to_string()).collect();
        markers.push("Head".into());
        let mut row: Vec<[f64; 3]> = points.to_vec();
        row.push([0.0; 3]);
        Trc {
            rate_hz: 30.0,
            markers,
            frames: (0..frames).map(|f| (f as i64 + 1, row.clone())).collect(),
        }
    }

    #[test]
    fn a_perfect_prediction_scores_zero_and_a_bent_one_does_not() {
        let rest = Skeleton::default().rest_landmarks_hip_centred();
        // The reference: the same body, in another frame (z up) and in mm
        // read as metres by the caller.
        let reference: Vec<[f64; 3]> = JOINT_MAP
            .iter()
            .map(|(k, _, _)| {
                let p = rest[*k];
                [f64::from(p.x) + 1.0, -f64::from(p.z), f64::from(p.y)]
            })
            .collect();
        let world: Vec<[f32; 3]> = rest.iter().map(|p| p.to_array()).collect();
        let frames: Vec<FrameRecord> = (0..5)
            .map(|f| FrameRecord {
                frame: f,
                pose: true,
                world: Some(world.clone()),
                ..FrameRecord::default()
            })
            .collect();
        let file = KeypointsFile {
            format: keypoints::FORMAT.into(),
            format_version: keypoints::FORMAT_VERSION,
            fps: 30.0,
            first_frame: 0,
            last_frame: 4,
            video_fps: Some(30.0),
            skeleton: None,
            frames,
        };
        let trc = trc_of(&reference, 5);
        let r = evaluate(&file, &trc, false, 0).unwrap();
        assert_eq!(r.frames, 5);
        assert!(
            r.pa_mpjpe_mm < 1e-3 && r.mpjpe_root_aligned_mm < 1e-3,
            "{r:?}"
        );
        assert!(r.accel_error_mm < 1e-3);

        let mut bent = file.clone();
        for f in &mut bent.frames {
            let w = f.world.as_mut().unwrap();
            w[lm::LEFT_WRIST][1] += 0.2;
        }
        let r = evaluate(&bent, &trc, false, 0).unwrap();
        assert!(r.pa_mpjpe_mm > 3.0, "{r:?}");
        let wrist = r.joints.iter().find(|j| j.marker == "LWrist").unwrap();
        assert!(wrist.pa_mpjpe_mm > 100.0);

        assert_eq!(
            evaluate(&file, &trc, true, 0).unwrap_err().code(),
            "eval.no_overlap"
        );
        let mut no_nose = trc.clone();
        no_nose.markers[0] = "Snout".into();
        assert_eq!(
            evaluate(&file, &no_nose, false, 0).unwrap_err().code(),
            "eval.missing_marker"
        );
    }
}
