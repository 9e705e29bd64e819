//! Finding and keeping every person, on the real clips and on clips this
//! test makes from them with the ffmpeg CLI: several walkers on a street,
//! two people in portrait, two clips side by side, and the frames turned
//! a quarter and a half (pixels turned, not stream rotation metadata).
//!
//! Real parts throughout (ffmpeg, ONNX Runtime, the shared models and
//! clips, through `VIDMOCAP_MEDIA_DIR`, `VIDMOCAP_MODELS_DIR` and
//! `ORT_DYLIB_PATH`); the default configuration, so the default quality
//! preset and person detector.

#[path = "support/media.rs"]
mod media;
use media::media;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use vidmocap::config::Config;
use vidmocap::pipeline::{self, ProcessOptions, Report};
use vidmocap::pose::roi::BoxPx;

/// Runs the ffmpeg CLI (quiet, overwriting) and fails the test on error.
/// Encodes `inputs` (ffmpeg's arguments before the output) into `out` as
/// lossless-looking H.264 with the ffmpeg CLI; fails the test on error.
fn encode(inputs: &[&str], out: &Path) {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(inputs)
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-crf", "16"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(out)
        .output()
        .expect("the ffmpeg program must be installed to make test clips");
    assert!(
        output.status.success(),
        "ffmpeg {inputs:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn run(clip: &Path) -> Report {
    let config = Config::load(None).expect("configuration");
    let dir = tempfile::tempdir().unwrap();
    pipeline::run(
        clip,
        dir.path(),
        &config,
        &ProcessOptions::default(),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap_or_else(|e| panic!("pipeline failed on {} [{}]: {e}", clip.display(), e.code()))
}

/// `walk_outdoor.mp4`'s first `frames` frames through the filter `vf`, as
/// an H.264 file in `dir`.
fn walk_outdoor_through(dir: &Path, name: &str, vf: &str, frames: u32) -> PathBuf {
    let out = dir.join(name);
    let frames = frames.to_string();
    encode(
        &[
            "-i",
            media("walk_outdoor.mp4").to_str().unwrap(),
            "-frames:v",
            &frames,
            "-vf",
            vf,
        ],
        &out,
    );
    out
}

/// Tracks with a pose on at least `share` of the clip's frames.
fn long_tracks(report: &Report, share: f64) -> Vec<u32> {
    report
        .track_boxes
        .iter()
        .filter(|(_, b)| b.len() as f64 >= share * report.frames as f64)
        .map(|(&id, _)| id)
        .collect()
}

/// Whether a track's box moves continuously: between poses at most two
/// frames apart, the centre moves under `limit` of the box's long side.
fn continuous(boxes: &[(u64, BoxPx)], limit: f32) -> Result<(), String> {
    for w in boxes.windows(2) {
        let ((fa, a), (fb, b)) = (w[0], w[1]);
        if fb - fa > 2 {
            continue;
        }
        let side = (a.xmax - a.xmin).max(a.ymax - a.ymin);
        let step = (a.center() - b.center()).length();
        if step > limit * side {
            return Err(format!(
                "frames {fa}->{fb}: box centre jumped {step:.0} px (side {side:.0})"
            ));
        }
    }
    Ok(())
}

#[test]
fn street_walkers_are_each_tracked_with_a_stable_id() {
    let report = run(&media("street.mp4"));
    // Five frames; a walker seen on all of them kept one id throughout.
    let stable = long_tracks(&report, 1.0);
    assert!(
        stable.len() >= 4,
        "{} people tracked on every frame, tracks {:?}",
        stable.len(),
        report.tracks
    );
    for id in &stable {
        continuous(&report.track_boxes[id], 0.5).unwrap_or_else(|e| panic!("track {id}: {e}"));
    }
}

#[test]
fn both_people_of_the_portrait_clip_are_tracked() {
    let report = run(&media("two_people.mp4"));
    let long = long_tracks(&report, 0.8);
    assert!(long.len() >= 2, "tracks {:?}", report.tracks);
    // Two different people: their mean boxes are apart.
    let boxes: Vec<BoxPx> = report
        .tracks
        .iter()
        .filter(|t| long.contains(&t.id))
        .map(|t| t.mean_box)
        .collect();
    assert!(boxes[0].iou(&boxes[1]) < 0.3, "{boxes:?}");
}

#[test]
fn two_clips_side_by_side_give_a_person_in_each() {
    // walk_outdoor's first two seconds (the person on the roof) beside
    // two_people.mp4 brought to the same height and rate.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("side_by_side.mp4");
    encode(
        &[
            "-i",
            media("walk_outdoor.mp4").to_str().unwrap(),
            "-i",
            media("two_people.mp4").to_str().unwrap(),
            "-filter_complex",
            "[0:v]trim=end_frame=50,setpts=PTS-STARTPTS,scale=-2:540[a];\
         [1:v]fps=30,trim=end_frame=50,setpts=PTS-STARTPTS,scale=-2:540[b];[a][b]hstack",
        ],
        &out,
    );
    let report = run(&out);
    let left_width = 1768.0 * 540.0 / 994.0;
    let long = long_tracks(&report, 0.6);
    let centre = |id: u32| {
        report
            .tracks
            .iter()
            .find(|t| t.id == id)
            .unwrap()
            .mean_box
            .center()
    };
    assert!(
        long.iter().any(|&id| centre(id).x < left_width),
        "nobody on the left: {:?}",
        report.tracks
    );
    assert!(
        long.iter().any(|&id| centre(id).x > left_width),
        "nobody on the right: {:?}",
        report.tracks
    );
}

/// The person on the roof (walk_outdoor frames 4 on) in a turned copy:
/// found, and followed by one id over most of the frames.
fn assert_turned_copy_is_tracked(vf: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let clip = walk_outdoor_through(dir.path(), name, vf, 50);
    let report = run(&clip);
    let long = long_tracks(&report, 0.8);
    assert!(!long.is_empty(), "{name}: tracks {:?}", report.tracks);
    for id in &long {
        continuous(&report.track_boxes[id], 0.5).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn a_quarter_turned_clip_is_still_tracked() {
    assert_turned_copy_is_tracked("transpose=clock", "quarter.mp4");
}

#[test]
fn an_upside_down_clip_is_still_tracked() {
    assert_turned_copy_is_tracked("hflip,vflip", "half.mp4");
}
