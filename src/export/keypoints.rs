//! `keypoints.json`: every decoded frame's time, and for the followed person
//! the 33 image landmarks (pixels, visibility), the 33 world landmarks and
//! the root translation; a header with the video's metadata, the models,
//! the tracks found and per-stage timings.
//!
//! World landmarks and the root are in output space (metres, Y up, the
//! subject facing +Z when facing the camera), the same frame as
//! `motion.glb`: `world[i] + root` is landmark i's place in the scene.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::ExportError;
use crate::infer::Manifest;
use crate::pipeline::{Motion, Report, StageTiming};
use crate::pose::lift::Pinhole;
use crate::pose::track::TrackSummary;
use crate::pose::LANDMARK_NAMES;
use crate::video::VideoInfo;

/// Format name and version written in every file.
pub const FORMAT: &str = "vidmocap.keypoints";
pub const FORMAT_VERSION: u32 = 1;

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
    fps: f32,
    tracks: &'a [TrackSummary],
    followed_track: u32,
    first_frame: u64,
    last_frame: u64,
    frames_with_pose: u64,
    timings: &'a [StageTiming],
    landmark_names: &'a [&'static str],
    frames: Vec<FrameOut>,
}

#[derive(Serialize)]
struct FrameOut {
    frame: u64,
    time_s: f64,
    /// Whether the followed person has a pose in this frame.
    pose: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    landmarks: Option<Vec<[f32; 4]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    world: Option<Vec<[f32; 3]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<[f32; 3]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    foot_contact: Option<[bool; 2]>,
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
    let mut frames = Vec::with_capacity(report.frames as usize);
    for frame in 0..report.frames {
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
        frames.push(FrameOut {
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
            world: pose.map(|_| {
                motion.world[i]
                    .iter()
                    .map(|w| [round(w.x, 4), round(w.y, 4), round(w.z, 4)])
                    .collect()
            }),
            root: pose.map(|_| {
                let r = motion.root[i];
                [round(r.x, 4), round(r.y, 4), round(r.z, 4)]
            }),
            foot_contact: pose.map(|_| motion.contacts[i]),
        });
    }
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
        fps: motion.fps,
        tracks: &report.tracks,
        followed_track: report.followed_track,
        first_frame: report.first_frame,
        last_frame: report.last_frame,
        frames_with_pose: report.frames_with_pose,
        timings: &report.timings,
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
