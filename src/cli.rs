//! The `vidmocap` command line: `process`, `convert`, `eval`, `models check|fetch`,
//! `bench`, and the service's `serve`, `worker`, `migrate`, `admin` (see
//! `service::cli`).
//!
//! Errors print as `error [code]: message` on stderr; the exit status is 2
//! for problems with the user's input and 1 for everything else.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::infer::Manifest;
use crate::pipeline::{self, PersonChoice, ProcessOptions, Report};
use crate::Error;

#[derive(Debug, Parser)]
#[command(name = "vidmocap", version, about = "Video to 3D motion capture")]
pub struct Cli {
    /// Configuration file (TOML); `vidmocap.toml` in the working directory is read when present.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turn a video of a person into motion files (GLB, FBX, BVH, USD, JSON, CSV).
    Process(ProcessArgs),
    /// Re-export a past run's keypoints.json in other formats or rigs, without the models.
    Convert(ConvertArgs),
    /// Solve another person (or rig, or files) from a run's tracks.json, without the video or the models.
    Resolve(ResolveArgs),
    /// 3D accuracy of a run's keypoints.json against a reference in OpenSim TRC.
    Eval(EvalArgs),
    /// Check or download the model files.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Measure the whole pipeline on a clip: fps per stage and peak memory.
    Bench(BenchArgs),
    /// Check FFmpeg, ONNX Runtime, the models, GPUs and Blender; print the fixes.
    Doctor,
    /// Run the HTTP API, with in-process workers unless --no-workers.
    Serve(crate::service::cli::ServeArgs),
    /// Run jobs from the shared database (no API).
    Worker(crate::service::cli::WorkerArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Operator tasks on accounts.
    #[command(subcommand)]
    Admin(crate::service::cli::AdminCommand),
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// The video file.
    pub input: PathBuf,
    /// Output folder (created if missing).
    #[arg(short, long, default_value = "out")]
    pub output: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub export: ExportArgs,
    /// Also write tracks.json (every person's landmarks) and track-<id>.jpg
    /// thumbnails, for `vidmocap resolve`.
    #[arg(long)]
    pub keep_tracks: bool,
    /// Print the run's report as JSON on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// A tracks.json written by `vidmocap process --keep-tracks`.
    pub input: PathBuf,
    /// Output folder (created if missing).
    #[arg(short, long, default_value = "out")]
    pub output: PathBuf,
    /// Whom to follow: `auto` or a track id listed in tracks.json.
    #[arg(long, default_value = "auto")]
    pub person: PersonChoice,
    /// The subject's standing height in metres.
    #[arg(long)]
    pub height: Option<f32>,
    #[command(flatten)]
    pub export: ExportArgs,
    /// Print the report as JSON on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// What to write and for which rig (`process` and `convert`).
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output formats, comma-separated: glb, fbx, bvh, usd, json, csv.
    #[arg(long, default_value = "glb,json")]
    pub formats: String,
    /// Bone names: generic, mixamo or ue5.
    #[arg(long, default_value = "generic")]
    pub rig: String,
    /// Where root motion goes: `auto` (the preset's: `root` for ue5, else `hips`), `hips`,
    /// `root` (a root bone on the floor), `root-heading` (the root also turns with the subject).
    #[arg(long, default_value = "auto")]
    pub root_motion: String,
    /// Length unit of FBX and BVH: cm or m (GLB is always metres).
    #[arg(long, default_value = "cm")]
    pub units: String,
    /// Up axis of FBX and BVH: y or z (GLB is always Y up).
    #[arg(long, default_value = "y")]
    pub up: String,
    /// Local axis along each bone in FBX and GLB: `auto` (the preset's: x for ue5, else y), y or x.
    #[arg(long, default_value = "auto")]
    pub bone_axis: String,
    /// Key times: `video` (the source video's timestamps) or `zero` (the first key at 0).
    #[arg(long, default_value = "video")]
    pub time: String,
}

impl ExportArgs {
    /// The export options these flags ask for.
    pub fn options(&self) -> Result<crate::export::ExportOptions, Error> {
        Ok(crate::export::ExportOptions::parse(
            &crate::export::OptionWords {
                formats: &self.formats,
                rig: &self.rig,
                root_motion: &self.root_motion,
                units: &self.units,
                up: &self.up,
                bone_axis: &self.bone_axis,
                time: &self.time,
            },
        )?)
    }
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A keypoints.json written by `vidmocap process`.
    pub input: PathBuf,
    /// Output folder (default: the folder of the input).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub export: ExportArgs,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A keypoints.json written by `vidmocap process`.
    pub keypoints: PathBuf,
    /// The reference: an OpenSim TRC file.
    #[arg(long)]
    pub trc: PathBuf,
    /// Score the model's own landmarks (`raw_world`) instead of the solved
    /// skeleton's.
    #[arg(long)]
    pub raw: bool,
    /// Video frame of the reference's first row.
    #[arg(long, default_value_t = 0)]
    pub frame_offset: i64,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options shared by `process` and `bench`.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Whom to follow: `auto` (seen longest and largest) or a track id.
    #[arg(long, default_value = "auto")]
    pub person: PersonChoice,
    /// Horizontal field of view of the camera in degrees (root motion).
    #[arg(long)]
    pub fov: Option<f32>,
    /// The subject's standing height in metres (for example 1.82): the
    /// skeleton is scaled to it exactly; without it the model's estimate.
    #[arg(long)]
    pub height: Option<f32>,
    /// Folder with the model files (overrides VIDMOCAP_MODELS_DIR).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Threads ONNX Runtime uses per model run (0 = all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Landmark sessions run in parallel, one person each.
    #[arg(long)]
    pub workers: Option<usize>,
    /// Most crops of a frame one landmark run takes (1 = one run per crop).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Where the per-frame work runs: auto (the GPU when there is a
    /// hardware one), cpu, or gpu (required; a software Vulkan adapter
    /// counts). Overrides gpu.device / VIDMOCAP_DEVICE.
    #[arg(long)]
    pub device: Option<crate::config::Device>,
    /// Landmark model: fast (BlazePose lite), balanced (full) or best
    /// (heavy). Overrides pose.quality / VIDMOCAP_QUALITY.
    #[arg(long)]
    pub quality: Option<crate::config::Quality>,
    /// Most people tracked at once. Overrides pose.max_people.
    #[arg(long)]
    pub max_people: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Verify every model file against the manifest's sha256.
    Check {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Download the models named in the manifest into a folder.
    Fetch {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Where the files are published: a folder, a file:// URL or an
        /// http(s):// URL (default: VIDMOCAP_MODELS_URL).
        #[arg(long, env = "VIDMOCAP_MODELS_URL")]
        from: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The clip to measure.
    pub input: PathBuf,
    /// Runs to make; the best is reported beside the mean.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Copies of the clip processed at once in each run (the aggregate
    /// throughput of one worker running that many jobs).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print the measurements as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIDMOCAP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match dispatch(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            // 2: fix the input; 1: not the input's fault.
            match e.kind() {
                crate::ErrorKind::Input => 2,
                crate::ErrorKind::Canceled | crate::ErrorKind::Internal => 1,
            }
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), Error> {
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Process(args) => {
            apply_common(&mut config, &args.common)?;
            process(&config, &args)
        }
        Command::Convert(args) => convert(&args),
        Command::Resolve(args) => resolve(&config, &args),
        Command::Eval(args) => eval(&args),
        Command::Models(cmd) => models(&config, cmd),
        Command::Bench(args) => {
            apply_common(&mut config, &args.common)?;
            crate::bench::run_cli(&config, &args)
        }
        Command::Doctor => crate::doctor::run(&config),
        Command::Serve(args) => crate::service::cli::serve(config, args),
        Command::Worker(args) => crate::service::cli::worker(config, args),
        Command::Migrate => crate::service::cli::migrate(config),
        Command::Admin(cmd) => crate::service::cli::admin(config, cmd),
    }
}

fn apply_common(config: &mut Config, args: &CommonArgs) -> Result<(), Error> {
    if let Some(fov) = args.fov {
        config.pose.fov_deg = fov;
    }
    if let Some(dir) = &args.models_dir {
        config.models.dir = dir.clone();
    }
    if let Some(t) = args.threads {
        config.models.intra_threads = t;
    }
    if let Some(w) = args.workers {
        config.models.landmark_workers = w;
    }
    if let Some(b) = args.batch {
        config.models.landmark_batch = b;
    }
    if let Some(d) = args.device {
        config.gpu.device = d;
    }
    if let Some(q) = args.quality {
        config.pose.quality = q;
    }
    if let Some(n) = args.max_people {
        config.pose.max_people = n;
    }
    config.validate()?;
    Ok(())
}

fn process(config: &Config, args: &ProcessArgs) -> Result<(), Error> {
    // Refuse a bad request before the models load.
    let export = args.export.options()?;
    let show_bar = !args.json && std::io::stderr().is_terminal();
    let bar = ProgressBar::new(0);
    if show_bar {
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:9} [{bar:30}] {pos}/{len} frames  {per_sec}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let cancel = AtomicBool::new(false);
    let opts = ProcessOptions {
        person: args.common.person,
        height_m: args.common.height,
        export,
        keep_tracks: args.keep_tracks,
    };
    let mut on_progress = |p: &pipeline::Progress| {
        bar.set_length(p.frames_total);
        bar.set_position(p.frames_done);
        bar.set_message(p.stage);
    };
    let result = pipeline::run(
        &args.input,
        &args.output,
        config,
        &opts,
        &mut on_progress,
        &cancel,
    );
    bar.finish_and_clear();
    let report = result?;
    print_report(&report, args.json);
    Ok(())
}

/// The run's report: as JSON on stdout, or the human summary.
fn print_report(report: &Report, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print_summary(report);
    }
}

/// The human summary after `process`.
pub fn print_summary(r: &Report) {
    println!(
        "{}: {}x{} {} {:.2} fps, {} frames ({} corrupt)",
        r.video.codec,
        r.video.upright_width,
        r.video.upright_height,
        r.video.container.split(',').next().unwrap_or(""),
        r.video.fps,
        r.frames,
        r.corrupt_frames
    );
    println!("people found:");
    for t in &r.tracks {
        let marker = if t.id == r.followed_track {
            "  <- followed"
        } else {
            ""
        };
        println!(
            "  id {:>3}: frames {:>5}-{:<5} ({} with a pose){marker}",
            t.id, t.first_frame, t.last_frame, t.frames
        );
    }
    println!(
        "followed person {}: frames {}-{}, pose on {} frames, {} filled",
        r.followed_track, r.first_frame, r.last_frame, r.frames_with_pose, r.frames_filled
    );
    let q = &r.quality;
    if let Some(s) = &q.skeleton {
        println!(
            "skeleton: {:.2} m tall ({})",
            s.height_m,
            match s.height_source {
                crate::motion::scale::HeightSource::Given => "as given",
                crate::motion::scale::HeightSource::Measured => "measured",
            }
        );
    }
    println!(
        "motion: {} frames bridged, {} limb-swap and {} facing-flip frames corrected, \
         contacts {:.0} % / {:.0} % (left/right)",
        q.frames_bridged,
        q.limb_swaps_corrected,
        q.facing_flips_corrected,
        100.0 * q.contact_share[0],
        100.0 * q.contact_share[1]
    );
    println!(
        "quality: planted-foot slide {:.1} mm/frame, jitter {:.1} mm (wrists) {:.1} mm (ankles), \
         2D reprojection {:.1} px (median)",
        q.planted_foot_slide_mm, q.wrist_jitter_mm, q.ankle_jitter_mm, q.reprojection_px
    );
    for p in &r.providers {
        match &p.fallback_reason {
            Some(reason) => println!("{} on {} ({reason})", p.model, p.provider.name()),
            None => println!("{} on {}", p.model, p.provider.name()),
        }
    }
    println!("stage                  seconds      fps");
    for t in &r.timings {
        println!("  {:<20} {:>8.3} {:>8.1}", t.stage, t.seconds, t.fps);
    }
    println!(
        "total {:.2} s, {:.1} fps (decode to files on disk)",
        r.total_seconds, r.fps
    );
    for o in &r.outputs {
        println!("wrote {}", o.display());
    }
}

fn resolve(config: &Config, args: &ResolveArgs) -> Result<(), Error> {
    let opts = ProcessOptions {
        person: args.person,
        height_m: args.height,
        export: args.export.options()?,
        keep_tracks: false,
    };
    let report = pipeline::resolve(&args.input, &args.output, config, &opts, &mut |_| {})?;
    print_report(&report, args.json);
    Ok(())
}

fn convert(args: &ConvertArgs) -> Result<(), Error> {
    let opts = args.export.options()?;
    let out_dir = match &args.output {
        Some(dir) => dir.clone(),
        None => args
            .input
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    for path in crate::export::convert(&args.input, &out_dir, &opts)? {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn eval(args: &EvalArgs) -> Result<(), Error> {
    let r = crate::eval::evaluate_files(&args.keypoints, &args.trc, args.raw, args.frame_offset)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
        return Ok(());
    }
    println!("{} frames, landmarks: {}", r.frames, r.landmarks);
    println!("  {:<18} {:<10} {:>10}", "landmark", "marker", "PA-MPJPE");
    for j in &r.joints {
        println!(
            "  {:<18} {:<10} {:>7.1} mm",
            j.landmark, j.marker, j.pa_mpjpe_mm
        );
    }
    println!("PA-MPJPE {:.1} mm", r.pa_mpjpe_mm);
    println!("root-aligned MPJPE {:.1} mm", r.mpjpe_root_aligned_mm);
    println!("acceleration error {:.1} mm/frame²", r.accel_error_mm);
    Ok(())
}

fn models(config: &Config, cmd: ModelsCommand) -> Result<(), Error> {
    let manifest = Manifest::builtin()?;
    match cmd {
        ModelsCommand::Check { dir } => {
            let dir = dir.unwrap_or_else(|| config.models.dir.clone());
            let checked = manifest.check_all(&dir);
            let mut first_error = None;
            for c in &checked {
                match &c.message {
                    None => println!("ok       {}  {}", c.name, c.path.display()),
                    Some(msg) => {
                        println!("PROBLEM  {}  {msg}", c.name);
                        if first_error.is_none() {
                            first_error = manifest
                                .get(&c.name)
                                .ok()
                                .and_then(|s| s.verify(&dir).err());
                        }
                    }
                }
            }
            first_error.map_or(Ok(()), |e| Err(e.into()))
        }
        ModelsCommand::Fetch { dir, from } => {
            let dir = dir.unwrap_or_else(|| config.models.dir.clone());
            for path in crate::infer::fetch::fetch_all(&manifest, &dir, from.as_deref())? {
                println!("ok  {}", path.display());
            }
            Ok(())
        }
    }
}
