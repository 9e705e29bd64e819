//! `vidmocap bench`: the whole pipeline on a real clip, repeated, with fps
//! per stage, whole-job fps and the process's peak memory. (Micro-benches
//! of single stages live in `benches/stages.rs`, run by `cargo bench`.)

use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::cli::BenchArgs;
use crate::config::Config;
use crate::pipeline::{self, ProcessOptions, Report};
use crate::Error;

/// Measurements of one `vidmocap bench`.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub clip: String,
    pub frames: u64,
    pub runs: u32,
    pub best_fps: f64,
    pub mean_fps: f64,
    /// Peak resident memory of the process, MiB (VmHWM).
    pub peak_rss_mib: f64,
    /// Most memory in use on the configured GPU during the runs (every
    /// process on the card counts), where NVML is present.
    pub peak_gpu_memory: Option<crate::nvml::GpuMemory>,
    /// The fastest run's full report.
    pub best: Report,
}

/// Peak resident set size of this process in MiB, where the OS tells it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs the pipeline `repeat` times on `args.input`.
pub fn run_cli(config: &Config, args: &BenchArgs) -> Result<(), Error> {
    let out = std::env::temp_dir().join(format!("vidmocap-bench-{}", std::process::id()));
    let opts = ProcessOptions {
        person: args.common.person,
        ..ProcessOptions::default()
    };
    let cancel = AtomicBool::new(false);
    let gpu_sampler = crate::nvml::PeakSampler::start(
        config.gpu.device_id,
        std::time::Duration::from_millis(100),
    )
    .map_err(|reason| tracing::debug!(reason, "no GPU memory readings"))
    .ok();
    let mut reports = Vec::new();
    for i in 0..args.repeat.max(1) {
        let report = pipeline::run(&args.input, &out, config, &opts, &mut |_| {}, &cancel);
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&out);
                return Err(e);
            }
        };
        if !args.json {
            eprintln!("run {}: {:.1} fps", i + 1, report.fps);
        }
        reports.push(report);
    }
    let _ = std::fs::remove_dir_all(&out);
    let peak_gpu_memory = gpu_sampler.and_then(crate::nvml::PeakSampler::finish);
    let mean_fps = reports.iter().map(|r| r.fps).sum::<f64>() / reports.len() as f64;
    let best = reports
        .into_iter()
        .max_by(|a, b| a.fps.total_cmp(&b.fps))
        .expect("at least one run");
    let result = BenchResult {
        clip: args.input.display().to_string(),
        frames: best.frames,
        runs: args.repeat.max(1),
        best_fps: best.fps,
        mean_fps,
        peak_rss_mib: peak_rss_mib().unwrap_or(0.0),
        peak_gpu_memory,
        best,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
    } else {
        println!(
            "clip {} ({} frames), {} runs",
            result.clip, result.frames, result.runs
        );
        for p in &result.best.providers {
            match &p.fallback_reason {
                Some(reason) => println!("{}: {} ({reason})", p.model, p.provider.name()),
                None => println!("{}: {}", p.model, p.provider.name()),
            }
        }
        println!("stage                  seconds      fps   (best run)");
        for t in &result.best.timings {
            println!("  {:<20} {:>8.3} {:>8.1}", t.stage, t.seconds, t.fps);
        }
        println!(
            "whole job: best {:.1} fps, mean {:.1} fps; peak memory {:.0} MiB",
            result.best_fps, result.mean_fps, result.peak_rss_mib
        );
        if let Some(gpu) = &result.peak_gpu_memory {
            println!(
                "GPU {}: peak {} MiB of {} MiB in use (all processes)",
                gpu.device_id, gpu.used_mib, gpu.total_mib
            );
        }
    }
    Ok(())
}
