//! 3D accuracy on a multi-view reference: the Pose2Sim balancing take
//! (`$VIDMOCAP_EVAL_DIR/pose2sim`, two calibrated views and the triangulated
//! TRC), each view processed as a user would and scored with `vidmocap
//! eval`. MediaPipe's own PoseLandmarker figures for the same models are in
//! ../shared/eval/PROVENANCE.txt; the solved skeleton must beat them.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn eval_dir() -> PathBuf {
    let dir = std::env::var_os("VIDMOCAP_EVAL_DIR")
        .expect("VIDMOCAP_EVAL_DIR must point at the shared eval data (make test sets it)");
    PathBuf::from(dir).join("pose2sim")
}

/// PA-MPJPE (mm) of the solved skeleton and of the model's own landmarks
/// for one view at one preset.
fn score(view: &str, quality: &str) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_vidmocap");
    let out = Command::new(exe)
        .args(["process", "--formats", "json", "--quality", quality, "-o"])
        .arg(dir.path())
        .arg(eval_dir().join(format!("{view}.mp4")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "process {view}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trc = eval_dir().join("S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc");
    let pa = |raw: bool| {
        let mut cmd = Command::new(exe);
        cmd.arg("eval")
            .arg(dir.path().join("keypoints.json"))
            .arg("--trc")
            .arg(&trc)
            .arg("--json");
        if raw {
            cmd.arg("--raw");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "eval: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["frames"].as_u64().unwrap() >= 90, "{v}");
        v["pa_mpjpe_mm"].as_f64().unwrap()
    };
    let (solved, raw) = (pa(false), pa(true));
    eprintln!("{view} {quality}: solved {solved:.1} mm, model's own {raw:.1} mm");
    (solved, raw)
}

/// Each view scored at `quality` is below MediaPipe's PoseLandmarker with
/// the same model (`mediapipe`: cam01 and cam02, PROVENANCE.txt) and below
/// `ceiling`.
fn below_mediapipe(quality: &str, model: &str, mediapipe: [f64; 2], ceiling: f64) {
    for (view, peer) in ["cam01", "cam02"].into_iter().zip(mediapipe) {
        let (solved, _) = score(view, quality);
        assert!(
            solved < peer && solved < ceiling,
            "{view}: {solved:.1} mm, MediaPipe {model} {peer} mm (ceiling {ceiling} mm)"
        );
    }
}

#[test]
fn fast_preset_beats_mediapipe_lite_on_both_views() {
    below_mediapipe("fast", "lite", [91.9, 172.1], f64::INFINITY);
}

#[test]
fn balanced_preset_beats_mediapipe_full_on_both_views() {
    below_mediapipe("balanced", "full", [82.9, 132.0], f64::INFINITY);
}

/// With the most accurate model: below MediaPipe heavy and below 80 mm on
/// both views.
#[test]
fn best_preset_is_under_80_mm_on_both_views() {
    below_mediapipe("best", "heavy", [90.3, 78.9], 80.0);
}
