//! The `vidmocap` binary as a user runs it: exit codes, error codes on
//! stderr, `--json` output, `models check`. Real ffmpeg and models; paths
//! from `VIDMOCAP_MEDIA_DIR`, `VIDMOCAP_MODELS_DIR` and `ORT_DYLIB_PATH`.

#[path = "support/media.rs"]
mod media;
use media::media;
use std::process::Command;

fn vidmocap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vidmocap"))
}

#[test]
fn bad_input_exits_2_with_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "this is not a video").unwrap();
    let out = vidmocap()
        .args(["process"])
        .arg(&text)
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error [video.not_a_video]"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn process_json_reports_tracks_timings_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = vidmocap()
        .arg("process")
        .arg(media("two_people.mp4"))
        .arg("-o")
        .arg(dir.path())
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The portrait phone clip comes out upright.
    assert!(report["video"]["upright_height"].as_u64() > report["video"]["upright_width"].as_u64());
    assert!(report["frames"].as_u64().unwrap() >= 35);
    assert!(!report["tracks"].as_array().unwrap().is_empty());
    let stages: Vec<&str> = report["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stage"].as_str().unwrap())
        .collect();
    for s in ["decode", "landmark_infer", "solve", "export"] {
        assert!(stages.contains(&s), "{stages:?}");
    }
    assert!(dir.path().join("motion.glb").is_file());
    assert!(dir.path().join("keypoints.json").is_file());
}

#[test]
fn unknown_person_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = vidmocap()
        .arg("process")
        .arg(media("two_people.mp4"))
        .arg("-o")
        .arg(dir.path())
        .args(["--person", "999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error [pipeline.unknown_person]"),
        "{stderr}"
    );
}

#[test]
fn models_check_names_the_missing_file_and_the_fix() {
    let empty = tempfile::tempdir().unwrap();
    let out = vidmocap()
        .args(["models", "check", "--dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("blazepose/pose_detection.onnx"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error [model.missing]") && stderr.contains("models fetch"),
        "{stderr}"
    );

    let ok = vidmocap().args(["models", "check"]).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
}

#[test]
fn models_fetch_copies_and_verifies_from_a_folder() {
    let dest = tempfile::tempdir().unwrap();
    let source = std::env::var("VIDMOCAP_MODELS_DIR").expect("VIDMOCAP_MODELS_DIR");
    let out = vidmocap()
        .args(["models", "fetch", "--dir"])
        .arg(dest.path())
        .arg("--from")
        .arg(format!("file://{source}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dest
        .path()
        .join("blazepose/pose_landmark_lite.onnx")
        .is_file());
}
