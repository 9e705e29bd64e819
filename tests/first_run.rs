//! The first run as a newcomer and an animator meet it.
//!
//! A newcomer: after set-up (`scripts/record-paths.sh`, which
//! `scripts/setup.sh` runs, writing into a fresh home folder here), `vidmocap
//! doctor` and `vidmocap process` work with a clean environment — only PATH
//! and HOME, no VIDMOCAP_* or ORT_* variables; without set-up the one
//! error names the one command that fixes it.
//!
//! An animator: that run's keypoints.json converted to every rig preset,
//! each FBX, GLB and BVH imported into Blender 3.4 headless with the
//! importers' default settings (`tests/blender/inspect_import.py`): every
//! bone runs along its limb at rest, FBX and GLB put every joint in the same
//! place, and the first key is at the followed span's first video time.
//!
//! Real parts: the real clip, models, ONNX Runtime, ffmpeg and Blender. The
//! test itself reads `VIDMOCAP_MEDIA_DIR` and `VIDMOCAP_MODELS_DIR` (the
//! folder set-up records) and hands neither to `vidmocap`.

#[path = "support/media.rs"]
mod media;
use media::media;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// `vidmocap` with nothing in its environment but PATH and `home`.
fn clean_vidmocap(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vidmocap"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        // Not the checkout: no vidmocap.toml, no relative models/ to find.
        .current_dir(home);
    cmd
}

/// A home folder set up as `scripts/setup.sh` leaves it.
fn set_up_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/record-paths.sh");
    let out = Command::new(script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env(
            "VIDMOCAP_MODELS_DIR",
            std::env::var_os("VIDMOCAP_MODELS_DIR")
                .expect("VIDMOCAP_MODELS_DIR must point at the shared models (make test sets it)"),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = home.path().join(".config/vidmocap/config.toml");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("ort_library = "), "{written}");
    assert!(written.contains("dir = "), "{written}");
    home
}

struct FirstRun {
    home: tempfile::TempDir,
    out: tempfile::TempDir,
    process: Output,
}

fn first_run() -> &'static FirstRun {
    static RUN: OnceLock<FirstRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let home = set_up_home();
        let out = tempfile::tempdir().unwrap();
        let process = clean_vidmocap(home.path())
            .arg("process")
            .arg(media("walk_outdoor.mp4"))
            .arg("-o")
            .arg(out.path())
            // The woman, who walks in at frame 51: her keys start at 1.7 s.
            .args(["--formats", "glb,fbx,bvh,json", "--person", "2", "--json"])
            .output()
            .unwrap();
        FirstRun { home, out, process }
    })
}

#[test]
fn process_runs_with_a_clean_environment_and_no_gpu_advice() {
    let run = first_run();
    let err = text(&run.process.stderr);
    assert!(run.process.status.success(), "{err}");
    let report: Value = serde_json::from_slice(&run.process.stdout).unwrap();
    assert_eq!(report["outputs"].as_array().unwrap().len(), 4);
    if !vidmocap::gpu::has_gpu_device() {
        // A CPU-only machine asked for nothing GPU: nothing about GPUs.
        for word in ["CUDA", "GPU", "gpu", "TensorRT"] {
            assert!(!err.contains(word), "GPU advice on a CPU machine: {err}");
        }
        // Nor in the report, whose reasons the summary prints.
        for p in report["providers"].as_array().unwrap() {
            assert_eq!(p["provider"], "cpu", "{p}");
            assert!(
                p["fallback_reason"].is_null(),
                "GPU advice in the report: {p}"
            );
        }
    }
}

#[test]
fn doctor_finds_everything_with_a_clean_environment() {
    let home = &first_run().home;
    let out = clean_vidmocap(home.path()).arg("doctor").output().unwrap();
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}\n{}", text(&out.stderr));
    let line = |name: &str| {
        report
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no {name} line in\n{report}"))
            .to_string()
    };
    assert!(line("ffmpeg").starts_with("ok"), "{report}");
    assert!(line("ffmpeg").contains("h264") && line("ffmpeg").contains("vp9"));
    assert!(line("onnxruntime").starts_with("ok"), "{report}");
    assert!(line("providers").contains("CPU"), "{report}");
    for model in ["pose_detection", "pose_landmark_lite"] {
        let l = line(model);
        assert!(
            l.starts_with("ok") && l.contains("sha256 matches"),
            "{report}"
        );
    }
    line("gpu");
    line("blender");
}

#[test]
fn without_set_up_one_message_names_the_fix() {
    let empty_home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = clean_vidmocap(empty_home.path())
        .arg("process")
        .arg(media("walk_outdoor.mp4"))
        .arg("-o")
        .arg(out.path())
        .output()
        .unwrap();
    let err = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one message, not {}:\n{err}", lines.len());
    assert!(lines[0].starts_with("error [model."), "{err}");
    assert!(
        err.contains("run `scripts/setup.sh`") || err.contains("run `vidmocap models fetch"),
        "{err}"
    );
    let doctor = clean_vidmocap(empty_home.path())
        .arg("doctor")
        .output()
        .unwrap();
    assert_eq!(doctor.status.code(), Some(1));
    let report = text(&doctor.stdout);
    assert!(
        report.contains("PROBLEM") && report.contains("fix: "),
        "{report}"
    );
    assert!(text(&doctor.stderr).contains("error [config.incomplete]"));
}

// ---------------------------------------------------------------- Blender

/// Key indices whose poses are compared between formats.
const SAMPLES: [usize; 4] = [0, 17, 60, 120];

/// What `inspect_import.py` reports of one imported file.
struct Imported {
    json: Value,
}

impl Imported {
    fn bones(&self) -> &serde_json::Map<String, Value> {
        self.json["bones"].as_object().unwrap()
    }

    fn first_key_frame(&self) -> f64 {
        self.json["frames"][0].as_f64().expect("an imported action")
    }

    fn scene_fps(&self) -> f64 {
        self.json["scene_fps"].as_f64().unwrap()
    }

    fn posed(&self, k: usize) -> HashMap<String, [f64; 3]> {
        let posed = self.json["posed"][k.to_string()].as_object();
        posed
            .unwrap_or_else(|| panic!("no pose at key {k}"))
            .iter()
            .map(|(n, v)| (n.clone(), point(v)))
            .collect()
    }
}

fn point(v: &Value) -> [f64; 3] {
    let a = v.as_array().unwrap();
    [0, 1, 2].map(|i| a[i].as_f64().unwrap())
}

fn blender_import(path: &Path) -> Imported {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/blender/inspect_import.py");
    let out = Command::new("blender")
        .args(["-b", "--factory-startup", "--python"])
        .arg(script)
        .arg("--")
        .arg(path)
        .args(SAMPLES.map(|k| k.to_string()))
        .output()
        .expect("blender (scripts/setup.sh installs it)");
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("VIDMOCAP_JSON "))
        .unwrap_or_else(|| {
            panic!(
                "{}: no report\n{stdout}\n{}",
                path.display(),
                text(&out.stderr)
            )
        });
    Imported {
        json: serde_json::from_str(line).unwrap(),
    }
}

/// `tests/usd/check_usd.py`'s report on a USD file.
fn usd_check(path: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/usd/check_usd.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(path)
        .args(SAMPLES.map(|k| k.to_string()))
        .output()
        .expect("python3");
    let stdout = text(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("VIDMOCAP_JSON "))
        .unwrap_or_else(|| {
            panic!(
                "{}: no report (scripts/setup.sh installs usd-core)\n{stdout}\n{}",
                path.display(),
                text(&out.stderr)
            )
        });
    serde_json::from_str(line).unwrap()
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn norm(a: [f64; 3]) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

fn angle_deg(a: [f64; 3], b: [f64; 3]) -> f64 {
    let dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    (dot / (norm(a) * norm(b)))
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees()
}

/// Whether a bone name is on the left or right side, in any preset.
fn sided(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let short = lower.trim_start_matches("mixamorig:");
    short.starts_with("left")
        || short.starts_with("right")
        || lower.ends_with("_l")
        || lower.ends_with("_r")
}

/// Per bone with children: the angle between its `axis` (`tail`: the
/// direction Blender draws it, or `x_axis`) and the head of the child it
/// points at (the centre-line one where there are several).
fn axis_errors(imported: &Imported, axis: &str) -> Vec<(String, f64)> {
    let bones = imported.bones();
    let mut out = Vec::new();
    for (name, b) in bones {
        let children: Vec<&String> = bones
            .iter()
            .filter(|(_, c)| c["parent"].as_str() == Some(name))
            .map(|(n, _)| n)
            .collect();
        let child = match children.len() {
            0 => continue,
            1 => children[0],
            _ => match children.iter().find(|c| !sided(c)) {
                Some(c) => *c,
                None => continue,
            },
        };
        let head = point(&b["head"]);
        let to_child = sub(point(&bones[child]["head"]), head);
        if norm(to_child) < 1e-6 {
            continue;
        }
        let along = match axis {
            "tail" => sub(point(&b["tail"]), head),
            other => point(&b[other]),
        };
        out.push((name.clone(), angle_deg(along, to_child)));
    }
    out
}

/// The followed span's first video time, from keypoints.json.
fn span_start_s(keypoints: &Value) -> f64 {
    let first = keypoints["first_frame"].as_u64().unwrap();
    keypoints["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["frame"].as_u64() == Some(first))
        .and_then(|f| f["time_s"].as_f64())
        .unwrap()
}

#[test]
fn every_preset_imports_into_blender_with_default_settings() {
    let run = first_run();
    assert!(
        run.process.status.success(),
        "{}",
        text(&run.process.stderr)
    );
    let keypoints_path = run.out.path().join("keypoints.json");
    let keypoints: Value =
        serde_json::from_slice(&std::fs::read(&keypoints_path).unwrap()).unwrap();
    let start = span_start_s(&keypoints);
    for preset in ["generic", "mixamo", "ue5"] {
        let dir = run.out.path().join(preset);
        let out = clean_vidmocap(run.home.path())
            .arg("convert")
            .arg(&keypoints_path)
            .arg("-o")
            .arg(&dir)
            .args(["--formats", "fbx,glb,bvh,usd", "--rig", preset])
            .output()
            .unwrap();
        assert!(out.status.success(), "{preset}: {}", text(&out.stderr));
        let fbx = blender_import(&dir.join("motion.fbx"));
        let glb = blender_import(&dir.join("motion.glb"));
        let bvh = blender_import(&dir.join("motion.bvh"));

        for (kind, imported) in [("fbx", &fbx), ("glb", &glb), ("bvh", &bvh)] {
            // UE5's convention (the Mannequin's) runs local X along the
            // bone, which Blender's FBX importer keeps and does not draw;
            // its glTF importer points tails at children whatever the
            // axes, and BVH has no bone axes (tails from the offsets).
            let axis = if preset == "ue5" && kind == "fbx" {
                "x_axis"
            } else {
                "tail"
            };
            let errors = axis_errors(imported, axis);
            // Every bone but the ends (BVH has no bones for its End Sites).
            assert!(errors.len() >= 17, "{preset} {kind}: {errors:?}");
            let worst =
                errors.iter().cloned().fold(
                    (String::new(), 0.0f64),
                    |a, b| if b.1 > a.1 { b } else { a },
                );
            eprintln!(
                "{preset} {kind}: worst {axis} {:.2} deg ({})",
                worst.1, worst.0
            );
            assert!(worst.1 < 5.0, "{preset} {kind}: {errors:?}");
        }

        // The same joints in the same places, key by key (metres).
        let mut worst = 0.0f64;
        for k in SAMPLES {
            let (a, b) = (fbx.posed(k), glb.posed(k));
            assert_eq!(a.len(), b.len(), "{preset}: bone counts");
            for (name, p) in &a {
                let q = b
                    .get(name)
                    .unwrap_or_else(|| panic!("{preset}: {name} missing from the GLB"));
                worst = worst.max(norm(sub(*p, *q)));
            }
        }
        eprintln!("{preset}: FBX vs GLB worst joint {:.3} mm", worst * 1e3);
        assert!(worst < 1e-3, "{preset}: FBX and GLB differ by {worst} m");
        if preset == "ue5" {
            assert!(fbx.bones().contains_key("root"), "UE5 has a root bone");
            let root = point(&fbx.bones()["root"]["head"]);
            assert!(norm(root) < 1e-6, "UE5's root at the origin: {root:?}");
        }

        // USD: OpenUSD's validators, then the skeleton read back by its
        // API against the FBX as Blender imported it (Z up: USD's Y up
        // axes map as x, -z, y).
        let usd = usd_check(&dir.join("motion.usda"));
        let usd_errors = usd["errors"].as_array().unwrap();
        assert!(usd_errors.is_empty(), "{preset} usd: {usd_errors:?}");
        eprintln!("{preset} usd warnings: {}", usd["warnings"]);
        assert_eq!(usd["joints"].as_array().unwrap().len(), fbx.bones().len());
        let fps = keypoints["video"]["fps"].as_f64().unwrap();
        assert_eq!(usd["time_codes_per_second"].as_f64(), Some(fps));
        assert_eq!(usd["skinned_meshes"].as_u64(), Some(1));
        let mut worst = 0.0f64;
        for k in SAMPLES {
            let fbx_posed = fbx.posed(k);
            let positions = usd["positions"][k.to_string()].as_object().unwrap();
            assert_eq!(positions.len(), fbx_posed.len());
            for (name, p) in &fbx_posed {
                let usd_name = vidmocap::export::usd::joint_name(name);
                let q = point(&positions[&usd_name]);
                worst = worst.max(norm(sub(*p, [q[0], -q[2], q[1]])));
            }
        }
        eprintln!("{preset}: USD vs FBX worst joint {:.3} mm", worst * 1e3);
        assert!(worst < 1e-3, "{preset}: USD and FBX differ by {worst} m");
        let first_code = usd["start"].as_f64().unwrap();
        assert!(
            (first_code / fps - start).abs() < 1e-3,
            "{preset} usd: {first_code}"
        );

        // The first key at the span's first video time: FBX's importer
        // sets the scene's rate and starts keys at frame 1 (its offset),
        // glTF's keys land at time × the scene's rate.
        let fbx_t = (fbx.first_key_frame() - 1.0) / fbx.scene_fps();
        let glb_t = glb.first_key_frame() / glb.scene_fps();
        assert!((fbx.scene_fps() - fps).abs() < 1e-3, "{}", fbx.scene_fps());
        for (kind, t) in [("fbx", fbx_t), ("glb", glb_t)] {
            assert!(
                (t - start).abs() < 1e-3,
                "{preset} {kind}: first key {t} s, span {start} s"
            );
        }
    }
}
