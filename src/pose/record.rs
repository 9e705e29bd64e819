//! tracks.json: every person the tracker followed, each frame's raw model
//! output, kept so that another person (or another rig or set of files)
//! can be solved later without decoding the video or running a model
//! again (`vidmocap resolve`, the service's re-solve jobs).
//!
//! The landmarks are stored as the model gave them (upright pixels and
//! camera-space metres); everything after them is the motion stage's and
//! is recomputed.

use std::collections::BTreeMap;
use std::path::Path;

use glam::Vec3;
use serde::{Deserialize, Serialize};

use super::track::TrackSummary;
use super::{ImageLandmark, PoseObservation, NUM_LANDMARKS};
use crate::config::Quality;
use crate::video::VideoInfo;

/// Version of the layout below; readers refuse others.
pub const FORMAT: u32 = 1;

/// The file's name in a run's output folder.
pub const FILE_NAME: &str = "tracks.json";

/// One track's poses: (frame index, crop size in pixels, observation), in
/// frame order.
pub type TrackPoses = Vec<(u64, f32, PoseObservation)>;

/// The whole file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TracksFile {
    pub format: u32,
    pub video: VideoInfo,
    /// The whole-clip index of the frame `times` starts at: 0 for a whole
    /// clip, the segment's first frame for one segment of a split job.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_frame: u64,
    /// Seconds from the start of the video, per decoded frame from
    /// `first_frame` on.
    pub times: Vec<f64>,
    /// The preset whose landmark model produced these poses.
    pub preset: Quality,
    /// The manifest names of the detector and landmark model.
    pub models: Vec<String>,
    /// Horizontal field of view the run assumed, degrees.
    pub fov_deg: f32,
    pub tracks: Vec<TrackRecord>,
}

/// One person.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrackRecord {
    pub summary: TrackSummary,
    /// File name of the thumbnail beside this file, if one was made.
    pub thumbnail: Option<String>,
    pub frames: Vec<FrameRecord>,
}

/// One frame of one person, as the landmark model answered.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrameRecord {
    pub frame: u64,
    pub crop_px: f32,
    pub presence: f32,
    /// Per landmark: x, y (upright pixels), z, visibility, presence.
    pub image: Vec<[f32; 5]>,
    /// Per landmark: camera-space metres, hip-centred.
    pub world: Vec<[f32; 3]>,
}

/// What can be wrong with a tracks file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a vidmocap tracks file: {reason}")]
    Invalid { path: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
}

impl RecordError {
    pub fn code(&self) -> &'static str {
        match self {
            RecordError::Read { .. } => "tracks.unreadable",
            RecordError::Invalid { .. } => "tracks.invalid",
            RecordError::Write { .. } => "tracks.write",
        }
    }
}

impl FrameRecord {
    pub fn from_pose(frame: u64, crop_px: f32, p: &PoseObservation) -> FrameRecord {
        FrameRecord {
            frame,
            crop_px,
            presence: p.presence,
            image: p
                .image
                .iter()
                .map(|l| [l.x, l.y, l.z, l.visibility, l.presence])
                .collect(),
            world: p.world.iter().map(|w| w.to_array()).collect(),
        }
    }

    /// The observation back; `None` when a landmark array has the wrong
    /// length or a value is not finite (a hand-edited or damaged file).
    pub fn to_pose(&self) -> Option<PoseObservation> {
        if self.image.len() != NUM_LANDMARKS || self.world.len() != NUM_LANDMARKS {
            return None;
        }
        let finite = self.image.iter().flatten().all(|v| v.is_finite())
            && self.world.iter().flatten().all(|v| v.is_finite())
            && self.presence.is_finite();
        if !finite {
            return None;
        }
        Some(PoseObservation {
            image: std::array::from_fn(|i| {
                let [x, y, z, visibility, presence] = self.image[i];
                ImageLandmark {
                    x,
                    y,
                    z,
                    visibility,
                    presence,
                }
            }),
            world: std::array::from_fn(|i| Vec3::from_array(self.world[i])),
            presence: self.presence,
        })
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TracksFile {
    /// Writes the file (compact JSON: it is read by programs).
    pub fn write(&self, path: &Path) -> Result<(), RecordError> {
        let err = |e: &dyn std::fmt::Display| RecordError::Write {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let file = std::fs::File::create(path).map_err(|e| err(&e))?;
        let mut w = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut w, self).map_err(|e| err(&e))?;
        std::io::Write::flush(&mut w).map_err(|e| err(&e))
    }

    /// Reads and checks a file written by [`TracksFile::write`].
    pub fn read(path: &Path) -> Result<TracksFile, RecordError> {
        let bytes = std::fs::read(path).map_err(|e| RecordError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: String| RecordError::Invalid {
            path: path.display().to_string(),
            reason,
        };
        let file: TracksFile =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if file.format != FORMAT {
            return Err(invalid(format!(
                "format {} (this vidmocap reads {FORMAT})",
                file.format
            )));
        }
        if file.times.is_empty() || !file.fov_deg.is_finite() {
            return Err(invalid("it has no frames".into()));
        }
        for t in &file.tracks {
            if t.frames.iter().any(|f| f.to_pose().is_none()) {
                return Err(invalid(format!(
                    "track {} has a frame without 33 finite landmarks",
                    t.summary.id
                )));
            }
            let end = file.first_frame + file.times.len() as u64;
            if t.frames
                .iter()
                .any(|f| f.frame < file.first_frame || f.frame >= end)
            {
                return Err(invalid(format!(
                    "track {} has a frame past the video's end",
                    t.summary.id
                )));
            }
        }
        Ok(file)
    }

    /// Every track's poses, in frame order, keyed by track id.
    pub fn poses(&self) -> BTreeMap<u32, TrackPoses> {
        self.tracks
            .iter()
            .map(|t| {
                let poses = t
                    .frames
                    .iter()
                    .filter_map(|f| Some((f.frame, f.crop_px, f.to_pose()?)))
                    .collect();
                (t.summary.id, poses)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pose(seed: f32) -> PoseObservation {
        PoseObservation {
            image: std::array::from_fn(|i| ImageLandmark {
                x: seed + i as f32,
                y: 2.0 * i as f32,
                z: -0.5,
                visibility: 0.9,
                presence: 0.8,
            }),
            world: std::array::from_fn(|i| Vec3::new(0.01 * i as f32, seed, -0.2)),
            presence: 0.97,
        }
    }

    /// A pose survives the file exactly (f32 round-trips through JSON), and
    /// a damaged landmark array is refused rather than read as zeros.
    #[test]
    fn frames_round_trip_and_damage_is_refused() {
        let p = pose(3.25);
        let r = FrameRecord::from_pose(7, 212.5, &p);
        let json = serde_json::to_string(&r).unwrap();
        let back: FrameRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_pose().unwrap(), p);
        assert_eq!((back.frame, back.crop_px), (7, 212.5));
        let mut short = back.clone();
        short.world.pop();
        assert!(short.to_pose().is_none());
        let mut nan = back;
        nan.image[4][0] = f32::NAN;
        assert!(nan.to_pose().is_none());
    }
}
