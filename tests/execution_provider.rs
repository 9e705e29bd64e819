//! Execution providers on a machine without CUDA: asking for the CUDA
//! provider must not fail the job. The run falls back to the CPU, says so
//! in its report with the reason, and produces exactly what a plain CPU run
//! does. On a machine where CUDA does work the same tests check that the
//! run used it and stayed close to the CPU's answer.
//!
//! Real ffmpeg, models and ONNX Runtime; paths from `VIDMOCAP_MEDIA_DIR`,
//! `VIDMOCAP_MODELS_DIR` and `ORT_DYLIB_PATH` (the CPU or the GPU build of
//! the library: both lack a usable CUDA here, for different reasons).

#[path = "support/media.rs"]
mod media;
use media::media;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use serde_json::Value;
use vidmocap::config::{Config, Device, ExecutionProvider};
use vidmocap::infer::Provider;
use vidmocap::pipeline::{self, ProcessOptions, Report};

/// Whether CUDA could run here at all: the driver's library loads.
fn cuda_driver_present() -> bool {
    // SAFETY: loading the driver library runs only its initialisers.
    unsafe { libloading::Library::new("libcuda.so.1") }.is_ok()
}

fn run(config: &Config, out: &Path) -> (Report, Value) {
    let report = pipeline::run(
        &media("two_people.mp4"),
        out,
        config,
        &ProcessOptions::default(),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap_or_else(|e| panic!("pipeline failed [{}]: {e}", e.code()));
    let keypoints =
        serde_json::from_slice(&std::fs::read(out.join("keypoints.json")).unwrap()).unwrap();
    (report, keypoints)
}

/// Largest difference between two JSON documents' numbers; panics where
/// their shapes differ (another frame count, a pose on one side only).
fn max_difference(a: &Value, b: &Value, path: &str) -> f64 {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => (x.as_f64().unwrap() - y.as_f64().unwrap()).abs(),
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths differ");
            x.iter()
                .zip(y)
                .enumerate()
                .map(|(i, (x, y))| max_difference(x, y, &format!("{path}[{i}]")))
                .fold(0.0, f64::max)
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys: Vec<_> = x.keys().collect();
            assert_eq!(keys, y.keys().collect::<Vec<_>>(), "{path}: keys differ");
            x.iter()
                .map(|(k, v)| max_difference(v, &y[k], &format!("{path}.{k}")))
                .fold(0.0, f64::max)
        }
        _ => {
            assert_eq!(a, b, "{path}");
            0.0
        }
    }
}

#[test]
fn cuda_without_cuda_runs_on_the_cpu_with_the_cpu_answer() {
    let mut asked = Config::load(None).expect("configuration");
    asked.gpu.device = Device::Auto;
    asked.gpu.execution_provider = ExecutionProvider::Cuda;
    let mut plain = asked.clone();
    plain.gpu.device = Device::Cpu;

    let dir = tempfile::tempdir().unwrap();
    let (report, keypoints) = run(&asked, &dir.path().join("cuda"));
    let (cpu_report, cpu_keypoints) = run(&plain, &dir.path().join("cpu"));

    // Every model is accounted for.
    let models: Vec<&str> = report.providers.iter().map(|p| p.model.as_str()).collect();
    let detector = vidmocap::pipeline::detector_model(&asked);
    assert!(models.contains(&detector), "{models:?}");
    assert!(
        models.contains(&asked.pose.quality.landmark_model()),
        "{models:?}"
    );
    for p in &cpu_report.providers {
        assert_eq!(p.provider, Provider::Cpu, "{p:?}");
        assert_eq!(p.requested, vec![Provider::Cpu]);
        assert_eq!(p.fallback_reason, None);
    }

    let on_cuda = report
        .providers
        .iter()
        .all(|p| p.provider == Provider::Cuda);
    if !cuda_driver_present() || !on_cuda {
        for p in &report.providers {
            assert_eq!(p.requested, vec![Provider::Cuda, Provider::Cpu]);
            assert_eq!(p.provider, Provider::Cpu, "{p:?}");
            let reason = p.fallback_reason.as_deref().expect("a fallback reason");
            assert!(reason.starts_with("cuda: "), "{reason}");
            assert!(reason.len() > "cuda: ".len() + 10, "{reason}");
        }
        // Same provider, same library, same threads: the same numbers.
        let diff = max_difference(&keypoints["frames"], &cpu_keypoints["frames"], "frames");
        assert_eq!(diff, 0.0, "the fallback run differs from the CPU run");
        assert_eq!(report.frames_with_pose, cpu_report.frames_with_pose);
    } else {
        // A real GPU: cuDNN's kernels round differently, but the poses agree
        // to well under a pixel almost everywhere.
        for p in &report.providers {
            assert_eq!(p.fallback_reason, None, "{p:?}");
        }
        assert_eq!(report.frames, cpu_report.frames);
        let followed = |r: &Report| r.last_frame - r.first_frame;
        assert!(followed(&report).abs_diff(followed(&cpu_report)) <= 2);
    }
}

/// The command line with the GPU build of ONNX Runtime, where that is
/// installed (`ORT_FLAVOR=gpu scripts/install-onnxruntime.sh`, or
/// `VIDMOCAP_ORT_GPU_LIBRARY`): the library loads without CUDA, the CUDA
/// provider cannot, and the run says why and carries on.
#[test]
fn gpu_library_without_cuda_falls_back_with_a_logged_reason() {
    let library = std::env::var_os("VIDMOCAP_ORT_GPU_LIBRARY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/onnxruntime-gpu/libonnxruntime.so")
        });
    if !library.is_file() {
        eprintln!(
            "skipped: no GPU build of ONNX Runtime at {} (ORT_FLAVOR=gpu scripts/install-onnxruntime.sh)",
            library.display()
        );
        return;
    }
    if cuda_driver_present() {
        eprintln!("skipped: this machine has a CUDA driver; the fallback cannot be shown");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vidmocap"))
        .arg("process")
        .arg(media("two_people.mp4"))
        .arg("-o")
        .arg(dir.path())
        .arg("--json")
        .env("ORT_DYLIB_PATH", &library)
        .env_remove("VIDMOCAP_ORT_LIBRARY")
        .env("VIDMOCAP_EXECUTION_PROVIDER", "cuda")
        .env("VIDMOCAP_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // One warning per process, not one per session.
    assert_eq!(
        stderr
            .matches("execution provider cuda is unavailable")
            .count(),
        1,
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for p in report["providers"].as_array().unwrap() {
        assert_eq!(p["provider"], "cpu", "{p}");
        let reason = p["fallback_reason"].as_str().unwrap();
        // The GPU build has the provider; what it lacks here is CUDA itself.
        assert!(!reason.contains("built without"), "{reason}");
        assert!(reason.contains(".so"), "{reason}");
    }
}
