//! The capture pipeline: one video in, motion files out.
//!
//! [`run`] is the single entry point for every front end (the CLI, the bench,
//! later the job workers): probe → decode (own thread) → track every person
//! with BlazePose → choose the subject → fill gaps, smooth, lift the root →
//! solve the rig → lock planted feet → write the requested formats
//! (`motion.glb`, `motion.fbx`, `motion.bvh`, `keypoints.json`,
//! `keypoints.csv`) with the requested rig preset. Each stage is timed; progress and cancellation are
//! checked once per frame.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::Config;
use crate::error::Error;
use crate::export;
use crate::infer::runtime::Model;
use crate::infer::shared::Runner;
use crate::infer::{ExecutionOptions, Manifest, Runtime, SessionOptions, SessionProvider};
use crate::motion::lift::Pinhole;
use crate::motion::{self, MotionError, MotionParams};
use crate::pose::blazepose::BlazePose;
use crate::pose::record::{self, FrameRecord, TrackPoses, TrackRecord, TracksFile};
use crate::pose::roi::BoxPx;
use crate::pose::thumbnail::ThumbnailPicker;
use crate::pose::track::{auto_subject, pose_box, TrackBook, TrackSummary, Tracker, TrackerConfig};
use crate::video::{self, Decoder, VideoInfo};

/// Frames buffered between the decoding thread and the pose stage.
const DECODE_QUEUE: usize = 8;

/// Which tracked person the motion follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum PersonChoice {
    /// The track seen longest and largest across the clip.
    #[default]
    Auto,
    /// A track id from a previous run's keypoints.json.
    Id(u32),
}

impl std::str::FromStr for PersonChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("auto") {
            return Ok(PersonChoice::Auto);
        }
        s.parse::<u32>()
            .map(PersonChoice::Id)
            .map_err(|_| format!("expected `auto` or a track id, got {s:?}"))
    }
}

/// What one run should do beyond the configuration.
#[derive(Clone, Debug, Default)]
pub struct ProcessOptions {
    pub person: PersonChoice,
    /// The subject's standing height in metres, when known: the skeleton
    /// is scaled to it exactly (otherwise the model's estimate is used).
    pub height_m: Option<f32>,
    /// Which files to write, the rig preset, root motion, units and axes
    /// (default: motion.glb and keypoints.json, generic rig).
    pub export: export::ExportOptions,
    /// Also write tracks.json (every person's landmarks) and a thumbnail
    /// per person, so that another person can be solved later without the
    /// video ([`resolve`]).
    pub keep_tracks: bool,
}

/// The stage reported once the video has been decoded to its last frame.
pub const DECODED: &str = "decoded";

/// Progress of a run, reported once per decoded frame and at each stage.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
    pub stage: &'static str,
    pub frames_done: u64,
    pub frames_total: u64,
}

/// Time spent in one stage.
#[derive(Clone, Debug, Serialize)]
pub struct StageTiming {
    pub stage: &'static str,
    pub seconds: f64,
    /// Frames the stage handled per second of its own time.
    pub fps: f64,
}

/// What a run produced and how long it took.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub video: VideoInfo,
    pub frames: u64,
    pub corrupt_frames: u64,
    pub tracks: Vec<TrackSummary>,
    /// Per track, the landmarks' box on each frame it has a pose (frame
    /// index order); for tests and tools, not serialised.
    #[serde(skip)]
    pub track_boxes: BTreeMap<u32, Vec<(u64, BoxPx)>>,
    /// The landmark model's preset.
    pub preset: crate::config::Quality,
    pub followed_track: u32,
    pub first_frame: u64,
    pub last_frame: u64,
    /// Frames of the followed span where the model saw the subject.
    pub frames_with_pose: u64,
    /// Frames of the span filled by interpolation.
    pub frames_filled: u64,
    /// How good the solved motion is (see the README's "Motion quality").
    pub quality: crate::motion::quality::Quality,
    pub detector_runs: u64,
    /// Landmark crops evaluated.
    pub landmark_runs: u64,
    /// Landmark model runs they took (fewer than the crops when batched).
    pub landmark_batches: u64,
    pub timings: Vec<StageTiming>,
    /// Which decoder produced the frames, and why NVDEC was not used when
    /// it was asked for.
    pub decoder: crate::video::DecoderKind,
    pub decode_fallback: Option<String>,
    /// Where the model inputs were sampled: "cpu" or the GPU adapter.
    pub preprocess: String,
    /// GPU buffers vidmocap held at the end of the run, MiB (all jobs of
    /// the process share the device).
    pub gpu_buffers_mib: f64,
    pub total_seconds: f64,
    /// Whole-job frames per second (decode to files on disk).
    pub fps: f64,
    pub outputs: Vec<PathBuf>,
    /// The execution provider each model ran on ("tensorrt", "cuda" or
    /// "cpu") and, where it is not the one asked for, why.
    pub providers: Vec<SessionProvider>,
}

pub use crate::motion::Motion;

/// Pipeline-level failures (the stages' own errors keep their own codes).
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("no person was found in the video")]
    NoPerson,
    #[error("there is no person with id {requested}; ids found: {available:?}")]
    UnknownPerson { requested: u32, available: Vec<u32> },
    #[error("the run was canceled")]
    Canceled,
    #[error("cannot write the output {path}: {reason}")]
    Output { path: String, reason: String },
}

impl PipelineError {
    /// The output folder or a file in it could not be written.
    fn output(path: &Path, e: std::io::Error) -> PipelineError {
        PipelineError::Output {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }

    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            PipelineError::NoPerson => "pipeline.no_person",
            PipelineError::UnknownPerson { .. } => "pipeline.unknown_person",
            PipelineError::Canceled => "pipeline.canceled",
            PipelineError::Output { .. } => "pipeline.output",
        }
    }
}

/// The manifest name of the configured person detector.
pub fn detector_model(config: &Config) -> &'static str {
    match config.pose.detector {
        crate::config::PersonDetector::Yolox => "yolox_nano",
        crate::config::PersonDetector::Blazepose => "pose_detection",
    }
}

/// The landmark batch a GPU session takes when `models.landmark_batch` is
/// 0 (auto): every person of a frame in one run, up to the default
/// `pose.max_people`.
pub const GPU_LANDMARK_BATCH: usize = 8;

/// The detector and the landmark sessions: one per worker, built in
/// parallel (each parses, prunes and optimises its graph, a few tens of
/// ms), or with `models.batch_across_jobs` one handle to the process's
/// shared session.
pub fn load_sessions(config: &Config, manifest: &Manifest) -> Result<(Model, Vec<Runner>), Error> {
    let runtime = Runtime::load(config.models.ort_library.as_deref())?;
    let opts = SessionOptions {
        intra_threads: config.models.intra_threads,
        execution: ExecutionOptions::from_config(&config.gpu),
        max_batch: 1,
    };
    let detector_threads = match config.models.detector_threads {
        0 => opts.intra_threads,
        n => n,
    };
    let detector_opts = &SessionOptions {
        intra_threads: detector_threads,
        ..opts.clone()
    };
    let auto_batch = config.models.landmark_batch == 0;
    let landmark_opts = &SessionOptions {
        max_batch: if auto_batch {
            GPU_LANDMARK_BATCH
        } else {
            config.models.landmark_batch
        },
        ..opts.clone()
    };
    let opts = &opts;
    let detector_spec = manifest.get(detector_model(config))?;
    let landmark_spec = manifest.get(config.pose.quality.landmark_model())?;
    let dir = &config.models.dir;
    let landmarker = || -> Result<Model, crate::infer::ModelError> {
        let mut model = runtime.session(
            landmark_spec,
            dir,
            landmark_opts,
            &crate::pose::landmark::OUTPUT_NAMES,
        )?;
        // Auto batches on a GPU only, or across jobs: on a CPU a frame's
        // batch is no cheaper per crop (README, Batched inference) and its
        // arena is larger.
        if auto_batch
            && !config.models.batch_across_jobs
            && model.execution().provider == crate::infer::Provider::Cpu
        {
            model.limit_batch(1);
        }
        Ok(model)
    };
    let detector = || {
        runtime.session(
            detector_spec,
            dir,
            detector_opts,
            crate::pose::blazepose::detector_outputs(config.pose.detector),
        )
    };
    if config.models.batch_across_jobs {
        let key = format!(
            "{}|{:?}|{}|{}",
            landmark_spec.name, opts.execution, opts.intra_threads, landmark_opts.max_batch
        );
        let shared =
            crate::infer::shared::shared(&key, &crate::pose::landmark::OUTPUT_NAMES, landmarker)?;
        return Ok((detector()?, vec![Runner::Shared(shared)]));
    }
    let workers = config.models.landmark_workers.max(1);
    std::thread::scope(|scope| {
        let landmarkers: Vec<_> = (0..workers).map(|_| scope.spawn(landmarker)).collect();
        let detector = detector()?;
        let landmarkers = landmarkers
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| {
                        Err(crate::infer::ModelError::Load {
                            model: landmark_spec.name.clone(),
                            reason: "the loading thread failed".into(),
                        })
                    })
                    .map(Runner::Own)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((detector, landmarkers))
    })
}

/// Runs the whole pipeline on `input`, writing into `out_dir`.
pub fn run(
    input: &Path,
    out_dir: &Path,
    config: &Config,
    opts: &ProcessOptions,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<Report, Error> {
    let with = Solving::begin(out_dir, config, opts)?;
    std::fs::create_dir_all(out_dir).map_err(|e| PipelineError::output(out_dir, e))?;
    let (tracked, mut acquisition, manifest, thumbnails) =
        track(input, config, opts.keep_tracks, None, progress, cancel)?;
    if opts.keep_tracks {
        acquisition.kept = write_tracks(out_dir, &tracked, &manifest, thumbnails)?;
    }
    solve_and_write(tracked, acquisition, &manifest, with, progress)
}

/// What one segment of a long clip produced ([`track_segment`]); also
/// written beside its tracks.json as [`SEGMENT_REPORT_FILE`], so the job's
/// report can count what every segment cost.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SegmentReport {
    pub frames: u64,
    pub corrupt_frames: u64,
    pub detector_runs: u64,
    pub landmark_runs: u64,
    #[serde(default)]
    pub landmark_batches: u64,
    /// tracks.json first, then the thumbnails it names, then this report.
    #[serde(skip)]
    pub outputs: Vec<PathBuf>,
}

/// The file name of a segment's [`SegmentReport`].
pub const SEGMENT_REPORT_FILE: &str = "segment.json";

impl Report {
    /// Adds what the segments a split job's tracks came from cost: the
    /// re-solve that makes its report runs no model and decodes nothing.
    pub fn add_segments(&mut self, segments: &[SegmentReport]) {
        for s in segments {
            self.corrupt_frames += s.corrupt_frames;
            self.detector_runs += s.detector_runs;
            self.landmark_runs += s.landmark_runs;
            self.landmark_batches += s.landmark_batches;
        }
    }
}

/// Decodes and tracks the frames of `span` only and writes their tracks.json
/// (whole-clip frame numbers) and thumbnails into `out_dir`: one segment of
/// a split job. The motion is solved later, over the stitched segments.
pub fn track_segment(
    input: &Path,
    out_dir: &Path,
    config: &Config,
    span: &video::Span,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<SegmentReport, Error> {
    std::fs::create_dir_all(out_dir).map_err(|e| PipelineError::output(out_dir, e))?;
    let (tracked, acquisition, manifest, thumbnails) =
        track(input, config, true, Some(span), progress, cancel)?;
    let mut report = SegmentReport {
        frames: tracked.times.len() as u64,
        corrupt_frames: acquisition.corrupt_frames,
        detector_runs: acquisition.detector_runs,
        landmark_runs: acquisition.landmark_runs,
        landmark_batches: acquisition.landmark_batches,
        outputs: write_tracks(out_dir, &tracked, &manifest, thumbnails)?,
    };
    let path = out_dir.join(SEGMENT_REPORT_FILE);
    let json = serde_json::to_vec(&report).expect("a segment report serialises");
    std::fs::write(&path, json).map_err(|e| PipelineError::output(&path, e))?;
    report.outputs.push(path);
    Ok(report)
}

/// What [`track`] gives: the poses, what making them cost, the models'
/// manifest and a thumbnail per person.
type Tracking = (Tracked, Acquisition, Manifest, BTreeMap<u32, Vec<u8>>);

/// Probe, decode (the whole clip or `span`) and track everyone: the
/// stages before the motion solve, with what they cost.
fn track(
    input: &Path,
    config: &Config,
    keep_thumbnails: bool,
    span: Option<&video::Span>,
    progress: &mut dyn FnMut(&Progress),
    cancel: &AtomicBool,
) -> Result<Tracking, Error> {
    let started = Instant::now();
    let info = video::probe(input, &config.limits)?;
    // Decoding starts first so the queue fills while the sessions load.
    let decode = (&config.gpu).into();
    let mut decoder = match span {
        Some(span) => {
            Decoder::start_span(input, &info, &config.limits, DECODE_QUEUE, &decode, span)?
        }
        None => Decoder::start(input, &info, &config.limits, DECODE_QUEUE, &decode)?,
    };
    let first_frame = span.map_or(0, |s| s.first);
    // keypoints.json names the models this run used, not every preset's.
    let manifest =
        Manifest::builtin()?.only(&[detector_model(config), config.pose.quality.landmark_model()]);
    let (detector, landmarkers) = load_sessions(config, &manifest)?;
    let providers = SessionProvider::distinct(
        std::iter::once(detector.execution()).chain(landmarkers.iter().map(Runner::execution)),
    );
    let mut models = BlazePose::new(
        detector,
        config.pose.detector,
        landmarkers,
        config.pose.min_detection_score,
    );
    let gpu = crate::gpu::for_device(config.gpu.device)?;
    if let Some(gpu) = &gpu {
        models = models.with_gpu(gpu);
    }
    let setup = started.elapsed();

    // Stage 1: decode and track everyone.
    let tracking_started = Instant::now();
    let mut tracker = Tracker::new(TrackerConfig {
        detect_interval: config.pose.detect_interval,
        max_people: config.pose.max_people,
        min_presence: config.pose.min_presence,
        memory_s: config.pose.track_memory_s,
        ..TrackerConfig::default()
    });
    let mut book = TrackBook::default();
    let mut per_track: BTreeMap<u32, TrackPoses> = BTreeMap::new();
    let mut thumbnails = ThumbnailPicker::default();
    let total = span.map_or(info.expected_frames, |s| s.len());
    let mut times: Vec<f64> = Vec::with_capacity(total as usize);
    let mut waited = Duration::ZERO;
    loop {
        let wait_started = Instant::now();
        let Some(frame) = decoder.next() else { break };
        waited += wait_started.elapsed();
        let frame = frame?;
        if cancel.load(Ordering::Relaxed) {
            return Err(PipelineError::Canceled.into());
        }
        let poses = tracker.step(&frame, &mut models)?;
        book.record(&poses);
        if keep_thumbnails {
            for p in &poses {
                thumbnails.offer(p, &frame);
            }
        }
        for p in poses {
            per_track
                .entry(p.track_id)
                .or_default()
                .push((p.frame_index, p.roi.size, p.pose));
        }
        times.push(frame.time_s);
        let done = frame.index + 1 - first_frame;
        tracker.remember(frame);
        progress(&Progress {
            stage: "tracking",
            frames_done: done,
            frames_total: total.max(done),
        });
    }
    let stats = decoder.finish()?;
    let tracking = tracking_started.elapsed();
    let frames = times.len() as u64;
    // Every frame has been read: from here on the video itself is not
    // needed (the service deletes a no-retain account's upload now).
    progress(&Progress {
        stage: DECODED,
        frames_done: frames,
        frames_total: frames,
    });
    for poses in per_track.values_mut() {
        // Poses found by looking back arrive after later frames' poses.
        poses.sort_by_key(|o| o.0);
        poses.dedup_by_key(|o| o.0);
    }
    let tracked = Tracked {
        info,
        first_frame,
        times,
        per_track,
        tracks: book.summaries(),
        preset: config.pose.quality,
        fov_deg: config.pose.fov_deg,
    };
    let t = &models.times();
    let acquisition = Acquisition {
        corrupt_frames: stats.corrupt_frames,
        decoder: stats.decoder,
        decode_fallback: stats.hw_fallback.clone(),
        detector_runs: tracker.detector_runs,
        landmark_runs: tracker.landmark_runs,
        landmark_batches: models.landmark_model_runs(),
        preprocess: match &gpu {
            Some(g) if models.uses_gpu() => g.adapter(),
            Some(g) => format!("cpu (GPU {} failed during the run)", g.adapter()),
            None => "cpu".into(),
        },
        gpu_buffers_mib: gpu
            .as_ref()
            .map_or(0.0, |g| g.allocated_bytes() as f64 / (1024.0 * 1024.0)),
        providers,
        timings: vec![
            timing("setup", setup, 0),
            // The decoding thread's own work, without the time it sat on a
            // full queue waiting for the pose stage.
            timing(
                "decode",
                Duration::from_secs_f64((stats.decode_seconds - stats.blocked_seconds).max(0.0)),
                frames,
            ),
            timing("decode_wait", waited, frames),
            timing(
                "detect_preprocess",
                t.detect_preprocess,
                tracker.detector_runs,
            ),
            timing("detect_infer", t.detect_infer, tracker.detector_runs),
            timing(
                "landmark_preprocess",
                t.landmark_preprocess,
                tracker.landmark_runs,
            ),
            timing("landmark_infer", t.landmark_infer, tracker.landmark_runs),
            timing("pose_postprocess", t.postprocess, frames),
            timing("tracking_total", tracking, frames),
        ],
        kept: Vec::new(),
    };
    Ok((tracked, acquisition, manifest, thumbnails.finish()))
}

/// What tracking found: every person's raw poses over the clip. A run
/// makes it from the video; [`resolve`] reads it back from tracks.json.
pub struct Tracked {
    pub info: VideoInfo,
    /// Index of the first frame `times` covers: 0 but for a segment.
    pub first_frame: u64,
    /// Seconds from the start of the video, per decoded frame.
    pub times: Vec<f64>,
    /// Every track's poses, in frame order.
    pub per_track: BTreeMap<u32, TrackPoses>,
    pub tracks: Vec<TrackSummary>,
    pub preset: crate::config::Quality,
    pub fov_deg: f32,
}

/// How the poses were made, for the report: nothing of it for a re-solve.
#[derive(Default)]
struct Acquisition {
    corrupt_frames: u64,
    decoder: crate::video::DecoderKind,
    decode_fallback: Option<String>,
    detector_runs: u64,
    landmark_runs: u64,
    landmark_batches: u64,
    preprocess: String,
    gpu_buffers_mib: f64,
    providers: Vec<SessionProvider>,
    timings: Vec<StageTiming>,
    /// tracks.json and the thumbnails, when they were written.
    kept: Vec<PathBuf>,
}

/// Writes tracks.json and one `track-<id>.jpg` per person into `out_dir`.
fn write_tracks(
    out_dir: &Path,
    tracked: &Tracked,
    manifest: &Manifest,
    thumbnails: BTreeMap<u32, Vec<u8>>,
) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    let mut names = BTreeMap::new();
    for (id, jpg) in thumbnails {
        let name = format!("track-{id}.jpg");
        let path = out_dir.join(&name);
        std::fs::write(&path, jpg).map_err(|e| PipelineError::output(&path, e))?;
        names.insert(id, name);
        written.push(path);
    }
    let file = TracksFile {
        format: record::FORMAT,
        video: tracked.info.clone(),
        first_frame: tracked.first_frame,
        times: tracked.times.clone(),
        preset: tracked.preset,
        models: manifest.names(),
        fov_deg: tracked.fov_deg,
        tracks: tracked
            .tracks
            .iter()
            .map(|summary| TrackRecord {
                summary: summary.clone(),
                thumbnail: names.get(&summary.id).cloned(),
                frames: tracked
                    .per_track
                    .get(&summary.id)
                    .map(|poses| {
                        poses
                            .iter()
                            .map(|(f, size, p)| FrameRecord::from_pose(*f, *size, p))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
    };
    let path = out_dir.join(record::FILE_NAME);
    file.write(&path)?;
    written.insert(0, path);
    Ok(written)
}

/// Solves another person, rig or set of files from a run's tracks.json:
/// no video is decoded and no model is loaded.
pub fn resolve(
    tracks_json: &Path,
    out_dir: &Path,
    config: &Config,
    opts: &ProcessOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    let with = Solving::begin(out_dir, config, opts)?;
    let file = TracksFile::read(tracks_json)?;
    if file.first_frame != 0 {
        return Err(record::RecordError::Invalid {
            path: tracks_json.display().to_string(),
            reason: "it holds one segment of a clip, not the whole clip".into(),
        }
        .into());
    }
    std::fs::create_dir_all(out_dir).map_err(|e| PipelineError::output(out_dir, e))?;
    let names: Vec<&str> = file.models.iter().map(String::as_str).collect();
    let manifest = Manifest::builtin()?.only(&names);
    let tracked = Tracked {
        per_track: file.poses(),
        tracks: file.tracks.iter().map(|t| t.summary.clone()).collect(),
        info: file.video,
        first_frame: file.first_frame,
        times: file.times,
        preset: file.preset,
        fov_deg: file.fov_deg,
    };
    let acquisition = Acquisition {
        preprocess: "none (re-solve)".into(),
        timings: vec![timing("setup", with.started.elapsed(), 0)],
        ..Acquisition::default()
    };
    solve_and_write(tracked, acquisition, &manifest, with, progress)
}

/// Where and how [`run`] and [`resolve`] solve and write, settled before
/// any tracking: the motion settings are checked first, and the clock
/// starts for the whole job.
struct Solving<'a> {
    out_dir: &'a Path,
    opts: &'a ProcessOptions,
    params: MotionParams,
    started: Instant,
}

impl<'a> Solving<'a> {
    fn begin(out_dir: &'a Path, config: &Config, opts: &'a ProcessOptions) -> Result<Self, Error> {
        let started = Instant::now();
        let params = MotionParams::from_config(config).with_height(opts.height_m)?;
        Ok(Solving {
            out_dir,
            opts,
            params,
            started,
        })
    }
}

/// The stages after tracking, shared by [`run`] and [`resolve`]: choose the
/// subject, solve her motion, write the files, report.
fn solve_and_write(
    mut tracked: Tracked,
    acquisition: Acquisition,
    manifest: &Manifest,
    with: Solving,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, Error> {
    let Solving {
        out_dir,
        opts,
        ref params,
        started,
    } = with;
    let frames = tracked.times.len() as u64;
    let info = &tracked.info;

    // Choose the subject.
    let followed = match opts.person {
        PersonChoice::Auto => auto_subject(&tracked.tracks).ok_or(PipelineError::NoPerson)?,
        PersonChoice::Id(id) if tracked.per_track.contains_key(&id) => id,
        PersonChoice::Id(requested) => {
            return Err(PipelineError::UnknownPerson {
                requested,
                available: tracked.tracks.iter().map(|t| t.id).collect(),
            }
            .into())
        }
    };
    let track_boxes: BTreeMap<u32, Vec<(u64, BoxPx)>> = tracked
        .per_track
        .iter()
        .map(|(&id, obs)| (id, obs.iter().map(|o| (o.0, pose_box(&o.2))).collect()))
        .collect();
    let observations = tracked.per_track.remove(&followed).unwrap_or_default();
    progress(&Progress {
        stage: "solving",
        frames_done: frames,
        frames_total: frames,
    });

    // Clean the motion and solve the rig.
    let solve_started = Instant::now();
    let fps = if info.fps > 0.0 {
        info.fps as f32
    } else {
        30.0
    };
    let camera = Pinhole::from_fov(info.upright_width, info.upright_height, tracked.fov_deg);
    let motion =
        motion::solve(&observations, &tracked.times, fps, camera, params).map_err(|e| match e {
            MotionError::NoPose => Error::from(PipelineError::NoPerson),
            e => e.into(),
        })?;
    let solve = solve_started.elapsed();

    // Write the files.
    let export_started = Instant::now();
    let records = export::keypoints::frame_records(frames, &motion);
    let source = export::SourceSpan {
        first_frame: motion.first_frame,
        last_frame: motion.first_frame + motion.times.len() as u64 - 1,
        fps: info.fps,
        times: motion.times.clone(),
    };
    let mut outputs = export::write_motion_files(
        out_dir,
        &opts.export,
        &motion.skeleton,
        &motion.clip,
        Some(&source),
        &records,
    )?;
    let keypoints = out_dir.join(export::Format::Json.file_name());
    let write_json = opts.export.formats.contains(&export::Format::Json);
    if write_json {
        outputs.push(keypoints.clone());
        export::sort_outputs(&opts.export.formats, &mut outputs);
    }
    outputs.extend(acquisition.kept);
    let mut timings = acquisition.timings;
    timings.push(timing("solve", solve, motion.times.len() as u64));
    let mut report = Report {
        video: tracked.info.clone(),
        frames,
        corrupt_frames: acquisition.corrupt_frames,
        decoder: acquisition.decoder,
        decode_fallback: acquisition.decode_fallback,
        tracks: tracked.tracks,
        track_boxes,
        preset: tracked.preset,
        followed_track: followed,
        first_frame: motion.first_frame,
        last_frame: motion.first_frame + motion.times.len() as u64 - 1,
        frames_with_pose: observations.len() as u64,
        frames_filled: motion.quality.frames_filled as u64,
        quality: motion.quality.clone(),
        detector_runs: acquisition.detector_runs,
        landmark_runs: acquisition.landmark_runs,
        landmark_batches: acquisition.landmark_batches,
        // keypoints.json carries the timings, so its own write is timed
        // from here and added to the report after.
        timings: timings.clone(),
        preprocess: acquisition.preprocess,
        gpu_buffers_mib: acquisition.gpu_buffers_mib,
        total_seconds: started.elapsed().as_secs_f64(),
        fps: 0.0,
        outputs,
        providers: acquisition.providers,
    };
    if write_json {
        export::keypoints::write(&keypoints, &report, manifest, &motion)?;
    }
    timings.push(timing(
        "export",
        export_started.elapsed(),
        motion.times.len() as u64,
    ));
    report.timings = timings;
    report.total_seconds = started.elapsed().as_secs_f64();
    report.fps = frames as f64 / report.total_seconds.max(1e-9);
    progress(&Progress {
        stage: "done",
        frames_done: frames,
        frames_total: frames,
    });
    Ok(report)
}

fn timing(stage: &'static str, d: Duration, items: u64) -> StageTiming {
    let seconds = d.as_secs_f64();
    StageTiming {
        stage,
        seconds,
        fps: if seconds > 0.0 {
            items as f64 / seconds
        } else {
            0.0
        },
    }
}
