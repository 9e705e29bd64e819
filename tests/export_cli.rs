//! The export options as a user meets them on the command line: every
//! format from one real run of `process` on walk_outdoor.mp4, `convert`
//! reproducing that run's motion from keypoints.json alone, and bad
//! requests refused with stable codes. Real ffmpeg, models and assimp;
//! paths from `VIDMOCAP_MEDIA_DIR`, `VIDMOCAP_MODELS_DIR`, `ORT_DYLIB_PATH`.

#[path = "support/bvh_reader.rs"]
mod bvh_reader;
#[path = "support/fbx_reader.rs"]
mod fbx_reader;
#[path = "support/glb.rs"]
#[allow(dead_code)]
mod glb;
#[path = "support/gltf_validator.rs"]
mod gltf_validator;

#[path = "support/media.rs"]
mod media;
use media::media;
use std::path::Path;
use std::process::{Command, Output};

use bvh_reader::Bvh;
use fbx_reader::FbxScene;

fn vidmocap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vidmocap"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Asserts a refused request: exit status 2 and `error [code]` on stderr.
fn assert_refused(out: &Output, code: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("error [{code}]")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_export_requests_are_refused_with_stable_codes() {
    let dir = tempfile::tempdir().unwrap();
    // Refused before the video is even opened.
    let video = dir.path().join("clip.mp4");
    std::fs::write(&video, "not looked at").unwrap();
    let process = |extra: &[&str]| {
        vidmocap()
            .arg("process")
            .arg(&video)
            .arg("-o")
            .arg(dir.path().join("out"))
            .args(extra)
            .output()
            .unwrap()
    };
    assert_refused(&process(&["--formats", "glb,obj"]), "export.unknown_format");
    assert_refused(&process(&["--formats", ""]), "export.unknown_format");
    assert_refused(&process(&["--rig", "maya"]), "export.unknown_rig");
    assert_refused(
        &process(&["--root-motion", "feet"]),
        "export.unknown_option",
    );
    assert_refused(&process(&["--up", "x"]), "export.unknown_option");
    let err = stderr(&process(&["--rig", "maya"]));
    assert!(
        err.contains("generic, mixamo, ue5"),
        "says what to choose: {err}"
    );

    let convert = |input: &Path, extra: &[&str]| {
        vidmocap()
            .arg("convert")
            .arg(input)
            .arg("-o")
            .arg(dir.path().join("converted"))
            .args(extra)
            .output()
            .unwrap()
    };
    assert_refused(
        &convert(&dir.path().join("missing.json"), &[]),
        "export.bad_keypoints",
    );
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"format\": 3").unwrap();
    assert_refused(&convert(&garbage, &[]), "export.bad_keypoints");

    // A run where nobody was followed: valid file, no motion.
    let empty = dir.path().join("keypoints.json");
    std::fs::write(
        &empty,
        r#"{"format":"vidmocap.keypoints","format_version":2,"fps":30.0,
            "first_frame":0,"last_frame":1,
            "frames":[{"frame":0,"time_s":0.0,"pose":false},
                      {"frame":1,"time_s":0.033,"pose":false}]}"#,
    )
    .unwrap();
    assert_refused(
        &convert(&empty, &["--formats", "fbx"]),
        "export.empty_motion",
    );
    assert_refused(
        &convert(&empty, &["--formats", "fbx,3ds"]),
        "export.unknown_format",
    );
    assert!(!dir.path().join("converted/motion.fbx").exists());
}

#[test]
fn process_writes_every_format_and_convert_reproduces_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("process");
    let out = vidmocap()
        .arg("process")
        .arg(media("walk_outdoor.mp4"))
        .arg("-o")
        .arg(&first)
        .args([
            "--formats",
            "glb,fbx,bvh,json,csv",
            "--rig",
            "mixamo",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outputs: Vec<String> = report["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            Path::new(p.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into()
        })
        .collect();
    assert_eq!(
        outputs,
        [
            "motion.glb",
            "motion.fbx",
            "motion.bvh",
            "keypoints.json",
            "keypoints.csv"
        ]
    );
    let span = (report["last_frame"].as_u64().unwrap() - report["first_frame"].as_u64().unwrap()
        + 1) as usize;
    let fps = report["video"]["fps"].as_f64().unwrap();
    let duration = (span - 1) as f64 / fps;

    // GLB: the validator.
    let v = gltf_validator::validate_glb(&first.join("motion.glb"));
    assert_eq!(v["issues"]["numErrors"], 0, "{}", v["issues"]["messages"]);

    // FBX: fbxcel and assimp.
    let fbx = FbxScene::read(&first.join("motion.fbx"));
    assert!(fbx.bones.iter().any(|b| b.name == "mixamorig:Hips"));
    assert_eq!(fbx.key_count(), span);
    let info = Command::new("assimp")
        .arg("info")
        .arg(first.join("motion.fbx"))
        .output()
        .expect("assimp (scripts/setup.sh installs assimp-utils)");
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Animations:         1"), "{info}");
    assert!(info.contains("mixamorig:LeftUpLeg"), "{info}");
    // Keys at the video's timestamps: the first at the span's first frame.
    let keys = &fbx.curves.values().next().unwrap().times;
    let seconds = |k: i64| k as f64 / 46_186_158_000.0;
    let first_video_time = report["first_frame"].as_f64().unwrap() / fps;
    assert!((seconds(keys[0]) - first_video_time).abs() < 1e-3);
    assert!((seconds(keys[span - 1] - keys[0]) - duration).abs() < 1e-6);

    // BVH: one line per motion frame at the clip's rate.
    let bvh = Bvh::parse(&std::fs::read_to_string(first.join("motion.bvh")).unwrap());
    assert_eq!(bvh.frames.len(), span);
    assert!((bvh.frame_time - 1.0 / fps).abs() < 1e-7);

    // CSV: a header and one row per video frame, every row complete.
    let csv = std::fs::read_to_string(first.join("keypoints.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len() as u64, report["frames"].as_u64().unwrap() + 1);
    let columns = rows[0].split(',').count();
    assert!(rows.iter().all(|r| r.split(',').count() == columns));
    assert!(rows[0].starts_with("frame,time_s,pose,root_x"));

    // convert: the same motion from keypoints.json alone.
    let second = dir.path().join("convert");
    let out = vidmocap()
        .arg("convert")
        .arg(first.join("keypoints.json"))
        .arg("-o")
        .arg(&second)
        .args(["--formats", "fbx,bvh,glb,csv", "--rig", "mixamo"])
        .env("VIDMOCAP_MODELS_DIR", dir.path().join("no-models-here"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let again = FbxScene::read(&second.join("motion.fbx"));
    let bvh_again = Bvh::parse(&std::fs::read_to_string(second.join("motion.bvh")).unwrap());
    let glb_a = glb::Glb::read(&first.join("motion.glb"));
    let glb_b = glb::Glb::read(&second.join("motion.glb"));
    let mut worst = 0.0f64;
    for k in 0..span {
        let (a, b) = (fbx.positions(k), again.positions(k));
        for (name, p) in &a {
            worst = worst.max((*p - b[name]).length());
        }
        let (a, b) = (bvh.positions(k), bvh_again.positions(k));
        for (name, p) in &a {
            // BVH is in centimetres.
            worst = worst.max((*p - b[name]).length() / 100.0);
        }
        let (a, b) = (glb_a.joint_positions(k), glb_b.joint_positions(k));
        for (name, p) in &a {
            worst = worst.max(f64::from((*p - b[name]).length()));
        }
    }
    assert!(worst < 1e-5, "convert differs from process by {worst} m");
    assert_eq!(
        std::fs::read_to_string(second.join("keypoints.csv")).unwrap(),
        csv,
        "the CSV is the same table"
    );

    // And to another rig.
    let third = dir.path().join("ue5");
    let out = vidmocap()
        .arg("convert")
        .arg(first.join("keypoints.json"))
        .arg("-o")
        .arg(&third)
        .args(["--formats", "fbx", "--rig", "ue5", "--root-motion", "root"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ue5 = FbxScene::read(&third.join("motion.fbx"));
    for name in ["root", "pelvis", "spine_01", "upperarm_l", "ball_r"] {
        assert!(ue5.bones.iter().any(|b| b.name == name), "{name}");
    }
}
