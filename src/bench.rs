//! `vidmocap bench`: the whole pipeline on a real clip, repeated, with fps
//! per stage, whole-job fps, the devices each stage ran on, and peak
//! memory (process and GPU). `--jobs N` runs N copies at once and reports
//! their aggregate fps, the figure for one worker sharing its GPU between
//! jobs. (Micro-benches of single stages live in `benches/stages.rs`, run
//! by `cargo bench`.)

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
    /// Jobs run at once in each run.
    pub jobs: usize,
    /// Whole-job fps of one job (with `jobs` > 1: of the first job).
    pub best_fps: f64,
    pub mean_fps: f64,
    /// Frames of all jobs over each run's wall time: best and mean.
    pub best_aggregate_fps: f64,
    pub mean_aggregate_fps: f64,
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

/// One run: `jobs` copies of the clip at once, each on its own thread
/// with its own sessions (as a worker runs jobs). Returns the first job's
/// report and the aggregate fps over the run's wall time.
fn run_jobs(
    args: &BenchArgs,
    config: &Config,
    opts: &ProcessOptions,
    out: &std::path::Path,
    jobs: usize,
    cancel: &AtomicBool,
) -> Result<(Report, f64), Error> {
    let started = std::time::Instant::now();
    let results: Vec<Result<Report, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                let dir = out.join(format!("job{j}"));
                scope.spawn(move || {
                    pipeline::run(&args.input, &dir, config, opts, &mut |_| {}, cancel)
                })
            })
            .collect();
        handles
            .into_iter()
            // A panicking job is a bug: let it end the bench as it would
            // have without threads.
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let reports = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let frames: u64 = reports.iter().map(|r| r.frames).sum();
    let first = reports.into_iter().next().expect("at least one job");
    Ok((first, frames as f64 / wall.max(1e-9)))
}

/// Runs the pipeline `repeat` times on `args.input`.
pub fn run_cli(config: &Config, args: &BenchArgs) -> Result<(), Error> {
    let out = std::env::temp_dir().join(format!("vidmocap-bench-{}", std::process::id()));
    let opts = ProcessOptions {
        person: args.common.person,
        height_m: args.common.height,
        ..ProcessOptions::default()
    };
    let cancel = AtomicBool::new(false);
    let gpu_sampler = crate::nvml::PeakSampler::start(
        config.gpu.device_id,
        std::time::Duration::from_millis(100),
    )
    .map_err(|reason| tracing::debug!(reason, "no GPU memory readings"))
    .ok();
    let jobs = args.jobs.max(1);
    let mut runs: Vec<(Report, f64)> = Vec::new();
    for i in 0..args.repeat.max(1) {
        let run = run_jobs(args, config, &opts, &out, jobs, &cancel);
        let _ = std::fs::remove_dir_all(&out);
        let (report, aggregate) = run?;
        if !args.json {
            eprintln!(
                "run {}: {:.1} fps per job, {:.1} fps for {jobs} jobs",
                i + 1,
                report.fps,
                aggregate
            );
        }
        runs.push((report, aggregate));
    }
    let peak_gpu_memory = gpu_sampler.and_then(crate::nvml::PeakSampler::finish);
    let n = runs.len() as f64;
    let mean_fps = runs.iter().map(|r| r.0.fps).sum::<f64>() / n;
    let mean_aggregate_fps = runs.iter().map(|r| r.1).sum::<f64>() / n;
    let (best, best_aggregate_fps) = runs
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one run");
    let result = BenchResult {
        clip: args.input.display().to_string(),
        frames: best.frames,
        runs: args.repeat.max(1),
        jobs,
        best_fps: best.fps,
        mean_fps,
        best_aggregate_fps,
        mean_aggregate_fps,
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
            "clip {} ({} frames), {} runs of {} job(s)",
            result.clip, result.frames, result.runs, result.jobs
        );
        let b = &result.best;
        match &b.decode_fallback {
            Some(reason) => println!("decode: {} ({reason})", b.decoder),
            None => println!("decode: {}", b.decoder),
        }
        println!(
            "preprocess: {} (GPU buffers {:.1} MiB)",
            b.preprocess, b.gpu_buffers_mib
        );
        for p in &result.best.providers {
            match &p.fallback_reason {
                Some(reason) => println!("{}: {} ({reason})", p.model, p.provider.name()),
                None => println!("{}: {}", p.model, p.provider.name()),
            }
        }
        println!(
            "landmarks: {} crops in {} model runs (best run, first job)",
            b.landmark_runs, b.landmark_batches
        );
        for (model, r) in crate::infer::shared::all_runs() {
            println!(
                "{model} shared across jobs: {} runs for {} requests ({} crops) over all runs",
                r.runs, r.requests, r.inputs
            );
        }
        println!("stage                  seconds      fps   (best run)");
        for t in &result.best.timings {
            println!("  {:<20} {:>8.3} {:>8.1}", t.stage, t.seconds, t.fps);
        }
        println!(
            "whole job: best {:.1} fps, mean {:.1} fps; peak memory {:.0} MiB",
            result.best_fps, result.mean_fps, result.peak_rss_mib
        );
        if result.jobs > 1 {
            println!(
                "aggregate of {} jobs at once: best {:.1} fps, mean {:.1} fps",
                result.jobs, result.best_aggregate_fps, result.mean_aggregate_fps
            );
        }
        if let Some(gpu) = &result.peak_gpu_memory {
            println!(
                "GPU {}: peak {} MiB of {} MiB in use (all processes)",
                gpu.device_id, gpu.used_mib, gpu.total_mib
            );
        }
    }
    Ok(())
}
