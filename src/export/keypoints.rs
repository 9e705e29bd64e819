//! `keypoints.json`: every decoded frame's time, and for the followed person
//! the 33 image landmarks (pixels, visibility), the 33 world landmarks and
//! the root translation; a header with the video's metadata, the models,
//! the tracks found and per-stage timings.
//!
//! World landmarks and the root are in output space (metres, Y up, the
//! subject facing +Z when facing the camera), the same frame as
//! `motion.glb`: `world[i] + root` is landmark i's place in the scene.
//!
//! Since format version 2, `world`, `root` and `foot_contact` are written
//! at full precision for every frame of the followed span (where `pose` is
//! false they hold the values the rig used through the loss), so the file
//! alone reproduces the solved motion: [`KeypointsFile::motion`] is what
//! `vidmocap convert` exports from.
//!
//! Since version 3, `world` is the solved skeleton's landmarks (constant
//! bone lengths: the motion every other format carries), the model's own
//! landmarks are in `raw_world`, each frame says whether it was `filled`
//! (a short loss, interpolated) or `bridged` (a long loss, made up by a
//! smooth transition), and the header carries the `skeleton` (height and
//! segment lengths, which `convert` rebuilds the rig from) and the
//! motion's `quality` report.

use std::io::Write;
use std::path::Path;

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};

use super::ExportError;
use crate::infer::Manifest;
use crate::motion::lift::Pinhole;
use crate::motion::quality::Quality;
use crate::motion::scale::SkeletonScale;
use crate::pipeline::{Motion, Report, StageTiming};
use crate::pose::track::TrackSummary;
use crate::pose::{LANDMARK_NAMES, NUM_LANDMARKS};
use crate::rig::{BodyMeasurements, Clip, JointId, Skeleton};
use crate::video::VideoInfo;

/// Format name and version written in every file.
pub const FORMAT: &str = "vidmocap.keypoints";
pub const FORMAT_VERSION: u32 = 4;

#[derive(Serialize)]
struct ModelRef<'a> {
    name: &'a str,
    version: &'a str,
    sha256: &'a str,
}

#[derive(Serialize)]
struct Header<'a> {
    format: &'static str,
    format_version: u32,
    generator: String,
    coordinate_system: &'static str,
    video: &'a VideoInfo,
    models: Vec<ModelRef<'a>>,
    camera: &'a Pinhole,
    /// Scene (output space) to camera space: `p` is at `R p + o` with y
    /// and z negated, `R` the quaternion `scene_rotation` (x, y, z, w: the
    /// camera's tilt over the levelled ground) and `o` `scene_offset`.
    scene_rotation: [f32; 4],
    scene_offset: [f32; 3],
    fps: f32,
    tracks: &'a [TrackSummary],
    followed_track: u32,
    first_frame: u64,
    last_frame: u64,
    frames_with_pose: u64,
    timings: &'a [StageTiming],
    skeleton: &'a SkeletonScale,
    quality: &'a Quality,
    landmark_names: &'a [&'static str],
    frames: Vec<FrameRecord>,
}

/// One video frame of keypoints.json (and one row of keypoints.csv).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    pub frame: u64,
    pub time_s: f64,
    /// Whether the followed person has a pose in this frame.
    pub pose: bool,
    /// Image landmarks: x, y, z (pixels), visibility; only with a pose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<Vec<[f32; 4]>>,
    /// Hip-centred landmarks of the solved skeleton (metres, output
    /// space; before version 3, the model's); every frame of the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub world: Option<Vec<[f32; 3]>>,
    /// The model's own hip-centred world landmarks (output space, made
    /// left/right consistent and smoothed), where it has a pose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_world: Option<Vec<[f32; 3]>>,
    /// A short loss filled by interpolating the model's poses.
    #[serde(default)]
    pub filled: bool,
    /// A long loss bridged by a smooth transition: motion made up, not seen.
    #[serde(default)]
    pub bridged: bool,
    /// The hips' position (metres, output space); every frame of the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<[f32; 3]>,
    /// The solved rig's local joint rotations (quaternions x, y, z, w, in
    /// joint order), full precision; every frame of the span. `convert`
    /// reuses them, so every format carries exactly the motion `process`
    /// solved (joint limits and foot locking included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotations: Option<Vec<[f32; 4]>>,
    /// Left/right foot planted; every frame of the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub foot_contact: Option<[bool; 2]>,
}

/// The part of keypoints.json that `convert` needs.
#[derive(Clone, Debug, Deserialize)]
pub struct KeypointsFile {
    pub format: String,
    pub format_version: u32,
    pub fps: f32,
    pub first_frame: u64,
    pub last_frame: u64,
    /// The video's own frame rate (`video.fps`).
    #[serde(default, rename = "video", deserialize_with = "video_fps")]
    pub video_fps: Option<f64>,
    /// The skeleton `process` solved with (version 3 on).
    #[serde(default)]
    pub skeleton: Option<SkeletonScale>,
    pub frames: Vec<FrameRecord>,
}

/// `video.fps` out of the header's video object.
fn video_fps<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.get("fps").and_then(serde_json::Value::as_f64))
}

fn round(v: f32, digits: i32) -> f32 {
    let p = 10f32.powi(digits);
    (v * p).round() / p
}

/// Writes `keypoints.json` for a finished run.
pub fn write(
    path: &Path,
    report: &Report,
    manifest: &Manifest,
    motion: &Motion,
) -> Result<(), ExportError> {
    let frames = frame_records(report.frames, motion);
    let header = Header {
        format: FORMAT,
        format_version: FORMAT_VERSION,
        generator: format!("vidmocap {}", env!("CARGO_PKG_VERSION")),
        coordinate_system: "landmarks: upright frame pixels, x right, y down, z relative depth in pixels; \
             world and root: metres, Y up, subject facing +Z (glTF), world is hip-centred and world+root \
             is the landmark's position in motion.glb's scene",
        video: &report.video,
        models: manifest
            .models
            .iter()
            .map(|m| ModelRef {
                name: &m.name,
                version: &m.version,
                sha256: &m.sha256,
            })
            .collect(),
        camera: &motion.camera,
        scene_rotation: motion.to_camera.rotation.to_array(),
        scene_offset: motion.to_camera.offset.to_array(),
        fps: motion.fps,
        tracks: &report.tracks,
        followed_track: report.followed_track,
        first_frame: report.first_frame,
        last_frame: report.last_frame,
        frames_with_pose: report.frames_with_pose,
        timings: &report.timings,
        skeleton: &motion.scale,
        quality: &motion.quality,
        landmark_names: &LANDMARK_NAMES,
        frames,
    };
    let io = |e: std::io::Error| ExportError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    // Write beside the target and rename, so a crash never leaves half a file.
    let tmp = path.with_extension("json.partial");
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut w = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut w, &header).map_err(|e| io(e.into()))?;
    w.flush().map_err(io)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(io)
}

/// The per-frame records of a run with `frames` decoded frames.
pub fn frame_records(frames: u64, motion: &Motion) -> Vec<FrameRecord> {
    let mut out = Vec::with_capacity(frames as usize);
    for frame in 0..frames {
        let in_span = frame >= motion.first_frame
            && ((frame - motion.first_frame) as usize) < motion.times.len();
        let i = frame.saturating_sub(motion.first_frame) as usize;
        let pose = if in_span {
            motion.poses[i].as_ref()
        } else {
            None
        };
        let time_s = if in_span {
            motion.times[i]
        } else {
            frame as f64 / motion.fps as f64
        };
        out.push(FrameRecord {
            frame,
            time_s: (time_s * 1e4).round() / 1e4,
            pose: pose.is_some(),
            landmarks: pose.map(|p| {
                p.image
                    .iter()
                    .map(|l| {
                        [
                            round(l.x, 2),
                            round(l.y, 2),
                            round(l.z, 2),
                            round(l.visibility, 3),
                        ]
                    })
                    .collect()
            }),
            // Full precision: convert re-solves the rig from these.
            world: in_span.then(|| motion.world[i].iter().map(|w| w.to_array()).collect()),
            raw_world: in_span.then(|| motion.raw_world[i]).flatten().map(|w| {
                w.iter()
                    .map(|p| [round(p.x, 4), round(p.y, 4), round(p.z, 4)])
                    .collect()
            }),
            filled: in_span && motion.filled[i],
            bridged: in_span && motion.bridged[i],
            root: in_span.then(|| motion.root[i].to_array()),
            rotations: in_span
                .then(|| motion.clip.rotations.get(i))
                .flatten()
                .map(|r| r.iter().map(|q| q.to_array()).collect()),
            foot_contact: in_span.then(|| motion.contacts[i]),
        });
    }
    out
}

/// Reads a keypoints.json written by `process`.
pub fn read(path: &Path) -> Result<KeypointsFile, ExportError> {
    let bad = |reason: String| ExportError::BadKeypoints {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let file: KeypointsFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    if file.format != FORMAT {
        return Err(bad(format!("format is {:?}, not {FORMAT:?}", file.format)));
    }
    if file.format_version > FORMAT_VERSION {
        return Err(bad(format!(
            "format version {} is newer than this vidmocap reads ({FORMAT_VERSION})",
            file.format_version
        )));
    }
    if !(file.fps.is_finite() && file.fps > 0.0) {
        return Err(bad(format!("frame rate {} is not usable", file.fps)));
    }
    Ok(file)
}

impl KeypointsFile {
    /// The followed span's place in the video, for a clip of `frames`
    /// frames rebuilt by [`KeypointsFile::motion`]: its frames' recorded
    /// times (files without a frame's time get `frame / fps`).
    pub fn source_span(&self, frames: usize) -> Option<super::SourceSpan> {
        let times: Vec<f64> = self
            .frames
            .iter()
            .filter(|f| f.frame >= self.first_frame && f.frame <= self.last_frame)
            .map(|f| f.time_s)
            .collect();
        // A span that starts with frames the clip skipped (no pose yet in
        // a version 1 file) has more times than frames: keep the last ones.
        let skip = times.len().checked_sub(frames)?;
        let fps = self.video_fps.unwrap_or(f64::from(self.fps));
        // Times are written to 0.1 ms; back on the frame grid where they
        // were on it, so keys land on whole frames as `process` put them.
        let snap = |t: f64| {
            let f = t * fps;
            if (f - f.round()).abs() * 1e4 < fps {
                f.round() / fps
            } else {
                t
            }
        };
        Some(super::SourceSpan {
            first_frame: self.first_frame + skip as u64,
            last_frame: self.last_frame,
            fps,
            times: times[skip..].iter().map(|&t| snap(t)).collect(),
        })
    }

    /// The skeleton and clip `process` solved, rebuilt from the followed
    /// span's world landmarks and root: the recorded skeleton (older files:
    /// measured from the frames with a pose) and the same per-frame solve,
    /// so the result equals the original up to float round-off. Version 1
    /// files, which lack values through losses, hold the last one.
    pub fn motion(&self) -> Result<(Skeleton, Clip), ExportError> {
        let mut world: Vec<[Vec3; NUM_LANDMARKS]> = Vec::new();
        let mut root: Vec<Vec3> = Vec::new();
        let mut seen: Vec<[Vec3; NUM_LANDMARKS]> = Vec::new();
        let span = self
            .frames
            .iter()
            .filter(|f| f.frame >= self.first_frame && f.frame <= self.last_frame);
        for f in span {
            let w = f.world.as_ref().and_then(|w| {
                (w.len() == NUM_LANDMARKS).then(|| std::array::from_fn(|k| Vec3::from_array(w[k])))
            });
            match (w, world.last().copied()) {
                (Some(w), _) => world.push(w),
                (None, Some(held)) => world.push(held),
                (None, None) => continue,
            }
            let r = f
                .root
                .map(Vec3::from_array)
                .or_else(|| root.last().copied())
                .unwrap_or(Vec3::ZERO);
            root.push(r);
            if f.pose {
                seen.push(*world.last().unwrap_or(&[Vec3::ZERO; NUM_LANDMARKS]));
            }
        }
        if seen.is_empty() {
            return Err(ExportError::EmptyMotion);
        }
        let measurements = match &self.skeleton {
            Some(s) => s.measurements,
            None => BodyMeasurements::from_world_frames(&seen),
        };
        let skeleton = Skeleton::t_pose(&measurements);
        // The recorded rotations where every frame of the span has them
        // (files from before they were written are solved again).
        let joints = JointId::COUNT;
        let recorded: Option<Vec<Vec<Quat>>> = self
            .frames
            .iter()
            .filter(|f| f.frame >= self.first_frame && f.frame <= self.last_frame)
            .map(|f| {
                let r = f.rotations.as_ref().filter(|r| r.len() == joints)?;
                Some(r.iter().map(|q| Quat::from_array(*q)).collect())
            })
            .collect();
        let clip = match recorded {
            Some(rotations) if rotations.len() == root.len() => Clip {
                fps: self.fps,
                root_translation: root,
                rotations,
            },
            _ => Clip::solve(&skeleton, self.fps, &root, &world),
        };
        Ok((skeleton, clip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(frame: u64, pose: bool, world: Option<[Vec3; NUM_LANDMARKS]>) -> FrameRecord {
        FrameRecord {
            frame,
            time_s: frame as f64 / 30.0,
            pose,
            landmarks: None,
            world: world.map(|w| w.iter().map(|p| p.to_array()).collect()),
            root: world.map(|_| [0.1 * frame as f32, 0.9, 0.0]),
            ..FrameRecord::default()
        }
    }

    #[test]
    fn motion_is_rebuilt_from_the_span_holding_through_gaps() {
        let skel = Skeleton::default();
        let w = skel.rest_landmarks_hip_centred();
        let file = KeypointsFile {
            format: FORMAT.into(),
            format_version: 1,
            fps: 30.0,
            first_frame: 1,
            last_frame: 3,
            video_fps: Some(30.0),
            skeleton: None,
            frames: vec![
                record(0, false, None),
                record(1, true, Some(w)),
                // A version-1 file has no values through a loss.
                record(2, false, None),
                record(3, true, Some(w)),
                record(4, false, None),
            ],
        };
        let (s, clip) = file.motion().unwrap();
        let want_skel = Skeleton::t_pose(&BodyMeasurements::from_world_frames(&[w, w]));
        assert_eq!(s, want_skel);
        let roots = [
            Vec3::new(0.1, 0.9, 0.0),
            Vec3::new(0.1, 0.9, 0.0),
            Vec3::new(0.3, 0.9, 0.0),
        ];
        assert_eq!(clip, Clip::solve(&want_skel, 30.0, &roots, &[w, w, w]));
        // The clip's frames at their recorded video times.
        let span = file.source_span(clip.len()).unwrap();
        assert_eq!((span.first_frame, span.last_frame, span.fps), (1, 3, 30.0));
        assert_eq!(span.times, [1.0 / 30.0, 2.0 / 30.0, 3.0 / 30.0]);

        let nobody = KeypointsFile {
            frames: vec![record(1, false, None)],
            ..file
        };
        assert_eq!(nobody.motion().unwrap_err().code(), "export.empty_motion");
    }
}
