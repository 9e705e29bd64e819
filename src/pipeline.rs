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

use glam::{Vec2, Vec3};
use serde::Serialize;
use thiserror::Error;

use crate::config::Config;
use crate::error::Error;
use crate::export;
use crate::infer::runtime::Model;
use crate::infer::{ExecutionOptions, Manifest, Runtime, SessionOptions, SessionProvider};
use crate::pose::blazepose::BlazePose;
use crate::pose::filter::{PoseSmoother, Vec3Smoother};
use crate::pose::foot::{detect_contacts, lock_feet, ContactParams};
use crate::pose::gaps::{fill_gaps, fill_gaps_vec3};
use crate::pose::lift::{solve_translation, Pinhole};
use crate::pose::roi::BoxPx;
use crate::pose::track::{pose_box, TrackBook, TrackSummary, Tracker, TrackerConfig};
use crate::pose::{camera_to_output, PoseObservation, NUM_LANDMARKS};
use crate::rig::{global_positions, BodyMeasurements, Clip, JointId, Skeleton};
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
    /// Which files to write, the rig preset, root motion, units and axes
    /// (default: motion.glb and keypoints.json, generic rig).
    pub export: export::ExportOptions,
}

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
    pub quality: crate::config::Quality,
    pub followed_track: u32,
    pub first_frame: u64,
    pub last_frame: u64,
    /// Frames of the followed span where the model saw the subject.
    pub frames_with_pose: u64,
    /// Frames of the span filled by interpolation.
    pub frames_filled: u64,
    pub detector_runs: u64,
    pub landmark_runs: u64,
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

/// Pipeline-level failures (the stages' own errors keep their own codes).
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("no person was found in the video")]
    NoPerson,
    #[error("there is no person with id {requested}; ids found: {available:?}")]
    UnknownPerson { requested: u32, available: Vec<u32> },
    #[error("the run was canceled")]
    Canceled,
    #[error("cannot create the output folder {path}: {reason}")]
    Output { path: String, reason: String },
}

impl PipelineError {
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

/// One followed person's cleaned motion, ready for every exporter.
#[derive(Clone, Debug)]
pub struct Motion {
    pub fps: f32,
    /// Video frame index of the first motion frame.
    pub first_frame: u64,
    /// Per motion frame: seconds from the start of the video.
    pub times: Vec<f64>,
    /// Per motion frame: the cleaned observation, `None` where the subject
    /// was lost for longer than gap filling bridges.
    pub poses: Vec<Option<PoseObservation>>,
    /// Per motion frame: hip-centred world landmarks in output space (the
    /// previous pose is held where `poses` is `None`).
    pub world: Vec<[Vec3; NUM_LANDMARKS]>,
    /// Per motion frame: the hips' position in output space after foot locking.
    pub root: Vec<Vec3>,
    /// Per motion frame: left/right foot contact.
    pub contacts: Vec<[bool; 2]>,
    pub camera: Pinhole,
    pub skeleton: Skeleton,
    pub clip: Clip,
}

/// The manifest name of the configured person detector.
pub fn detector_model(config: &Config) -> &'static str {
    match config.pose.detector {
        crate::config::PersonDetector::Yolox => "yolox_nano",
        crate::config::PersonDetector::Blazepose => "pose_detection",
    }
}

/// The detector and one landmark session per worker, built in parallel
/// (each parses, prunes and optimises its graph, a few tens of ms).
pub fn load_sessions(config: &Config, manifest: &Manifest) -> Result<(Model, Vec<Model>), Error> {
    let runtime = Runtime::load(config.models.ort_library.as_deref())?;
    let opts = SessionOptions {
        intra_threads: config.models.intra_threads,
        execution: ExecutionOptions::from_config(&config.gpu),
    };
    let opts = &opts;
    let detector_spec = manifest.get(detector_model(config))?;
    let landmark_spec = manifest.get(config.pose.quality.landmark_model())?;
    let dir = &config.models.dir;
    let workers = config.models.landmark_workers.max(1);
    std::thread::scope(|scope| {
        let landmarkers: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    runtime.session(
                        landmark_spec,
                        dir,
                        opts,
                        &crate::pose::landmark::OUTPUT_NAMES,
                    )
                })
            })
            .collect();
        let detector = runtime.session(
            detector_spec,
            dir,
            opts,
            crate::pose::blazepose::detector_outputs(config.pose.detector),
        )?;
        let landmarkers = landmarkers
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(crate::infer::ModelError::Load {
                        model: landmark_spec.name.clone(),
                        reason: "the loading thread failed".into(),
                    })
                })
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
    let started = Instant::now();
    let info = video::probe(input, &config.limits)?;
    std::fs::create_dir_all(out_dir).map_err(|e| PipelineError::Output {
        path: out_dir.display().to_string(),
        reason: e.to_string(),
    })?;

    // Decoding starts first so the queue fills while the sessions load.
    let mut decoder = Decoder::start(
        input,
        &info,
        &config.limits,
        DECODE_QUEUE,
        &(&config.gpu).into(),
    )?;
    // keypoints.json names the models this run used, not every preset's.
    let manifest =
        Manifest::builtin()?.only(&[detector_model(config), config.pose.quality.landmark_model()]);
    let (detector, landmarkers) = load_sessions(config, &manifest)?;
    let providers = SessionProvider::distinct(std::iter::once(&detector).chain(&landmarkers));
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
    let mut per_track: BTreeMap<u32, Vec<(u64, f32, PoseObservation)>> = BTreeMap::new();
    let mut times: Vec<f64> = Vec::with_capacity(info.expected_frames as usize);
    let total = info.expected_frames;
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
        for p in poses {
            per_track
                .entry(p.track_id)
                .or_default()
                .push((p.frame_index, p.roi.size, p.pose));
        }
        times.push(frame.time_s);
        let index = frame.index;
        tracker.remember(frame);
        progress(&Progress {
            stage: "tracking",
            frames_done: index + 1,
            frames_total: total.max(index + 1),
        });
    }
    let stats = decoder.finish()?;
    let tracking = tracking_started.elapsed();
    let frames = times.len() as u64;

    // Stage 2: choose the subject.
    let tracks = book.summaries();
    let followed = match opts.person {
        PersonChoice::Auto => book.auto_subject().ok_or(PipelineError::NoPerson)?,
        PersonChoice::Id(id) if per_track.contains_key(&id) => id,
        PersonChoice::Id(requested) => {
            return Err(PipelineError::UnknownPerson {
                requested,
                available: tracks.iter().map(|t| t.id).collect(),
            }
            .into())
        }
    };
    let track_boxes: BTreeMap<u32, Vec<(u64, BoxPx)>> = per_track
        .iter()
        .map(|(&id, obs)| {
            let mut boxes: Vec<(u64, BoxPx)> = obs.iter().map(|o| (o.0, pose_box(&o.2))).collect();
            boxes.sort_by_key(|b| b.0);
            boxes.dedup_by_key(|b| b.0);
            (id, boxes)
        })
        .collect();
    let mut observations = per_track.remove(&followed).unwrap_or_default();
    // Poses found by looking back arrive after later frames' poses.
    observations.sort_by_key(|o| o.0);
    observations.dedup_by_key(|o| o.0);
    progress(&Progress {
        stage: "solving",
        frames_done: frames,
        frames_total: frames,
    });

    // Stage 3: clean the motion and solve the rig.
    let solve_started = Instant::now();
    let fps = if info.fps > 0.0 {
        info.fps as f32
    } else {
        30.0
    };
    let (w, h) = (info.upright_width, info.upright_height);
    let camera = Pinhole::from_fov(w, h, config.pose.fov_deg);
    let motion = clean_motion(&observations, &times, fps, camera, config)?;
    let solve = solve_started.elapsed();

    // Stage 4: write the files.
    let export_started = Instant::now();
    let records = export::keypoints::frame_records(frames, &motion);
    let mut outputs = export::write_motion_files(
        out_dir,
        &opts.export,
        &motion.skeleton,
        &motion.clip,
        &records,
    )?;
    let keypoints = out_dir.join(export::Format::Json.file_name());
    let write_json = opts.export.formats.contains(&export::Format::Json);
    if write_json {
        outputs.push(keypoints.clone());
        export::sort_outputs(&opts.export.formats, &mut outputs);
    }
    let mut report = Report {
        video: info.clone(),
        frames,
        corrupt_frames: stats.corrupt_frames,
        decoder: stats.decoder,
        decode_fallback: stats.hw_fallback.clone(),
        tracks,
        track_boxes,
        quality: config.pose.quality,
        followed_track: followed,
        first_frame: motion.first_frame,
        last_frame: motion.first_frame + motion.times.len() as u64 - 1,
        frames_with_pose: observations.len() as u64,
        frames_filled: motion.poses.iter().filter(|p| p.is_some()).count() as u64
            - observations.len() as u64,
        detector_runs: tracker.detector_runs,
        landmark_runs: tracker.landmark_runs,
        timings: Vec::new(),
        preprocess: match &gpu {
            Some(g) if models.uses_gpu() => g.adapter(),
            Some(g) => format!("cpu (GPU {} failed during the run)", g.adapter()),
            None => "cpu".into(),
        },
        gpu_buffers_mib: gpu
            .as_ref()
            .map_or(0.0, |g| g.allocated_bytes() as f64 / (1024.0 * 1024.0)),
        total_seconds: 0.0,
        fps: 0.0,
        outputs,
        providers,
    };
    let t = &models.times();
    let mut timings = vec![
        timing("setup", setup, 0),
        // The decoding thread's own work, without the time it sat on a full
        // queue waiting for the pose stage.
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
        timing("solve", solve, motion.times.len() as u64),
    ];
    // keypoints.json carries the timings, so its own write is timed from
    // here and added to the report after.
    report.timings = timings.clone();
    report.total_seconds = started.elapsed().as_secs_f64();
    if write_json {
        export::keypoints::write(&keypoints, &report, &manifest, &motion)?;
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

/// From one track's raw observations to a cleaned, rigged motion.
/// `observations` are (frame index, crop size, pose) in frame order;
/// `times` holds every decoded frame's time.
pub fn clean_motion(
    observations: &[(u64, f32, PoseObservation)],
    times: &[f64],
    fps: f32,
    camera: Pinhole,
    config: &Config,
) -> Result<Motion, Error> {
    let (Some(first), Some(last)) = (observations.first(), observations.last()) else {
        return Err(PipelineError::NoPerson.into());
    };
    let (first, last) = (first.0 as usize, last.0 as usize);
    let span_times: Vec<f64> = times[first..=last].to_vec();
    let n = span_times.len();
    let mut poses: Vec<Option<PoseObservation>> = vec![None; n];
    let mut scales: Vec<Option<f32>> = vec![None; n];
    for (index, size, pose) in observations {
        let i = *index as usize - first;
        poses[i] = Some(pose.clone());
        scales[i] = Some(*size);
    }
    fill_gaps(&mut poses, &span_times, config.pose.max_gap_s);

    // Smooth: MediaPipe's one-euro settings, scaled by the person's size in
    // pixels; filters restart after a loss so an old pose does not leak in.
    let mut smoother = PoseSmoother::new();
    let mut last_scale = scales.iter().flatten().next().copied().unwrap_or(1.0);
    for i in 0..n {
        if let Some(s) = scales[i] {
            last_scale = s;
        }
        match &poses[i] {
            Some(p) => poses[i] = Some(smoother.apply(span_times[i], p, last_scale)),
            None => smoother.reset(),
        }
    }

    // Root: where the hips are in camera space, from the 2D↔3D fit.
    let mut root_cam: Vec<Option<Vec3>> = poses
        .iter()
        .map(|p| {
            p.as_ref().and_then(|p| {
                let image: Vec<Vec2> = p.image.iter().map(|l| Vec2::new(l.x, l.y)).collect();
                let weights: Vec<f32> = p.image.iter().map(|l| l.visibility).collect();
                solve_translation(&camera, &image, &p.world, &weights)
            })
        })
        .collect();
    fill_gaps_vec3(&mut root_cam, &span_times, config.pose.max_gap_s);
    let mut root_smoother = Vec3Smoother::default();
    let mut held_root = root_cam
        .iter()
        .flatten()
        .next()
        .copied()
        .unwrap_or(Vec3::Z * 3.0);
    let root_cam: Vec<Vec3> = root_cam
        .iter()
        .zip(&span_times)
        .map(|(r, &t)| {
            if let Some(r) = r {
                held_root = root_smoother.apply(t, *r);
            }
            held_root
        })
        .collect();

    // Output space: hip-centred landmarks (hold the last pose through long
    // losses so every frame of the span has a value).
    let mut held = poses
        .iter()
        .flatten()
        .next()
        .map(|p| p.world.map(camera_to_output))
        .unwrap_or([Vec3::ZERO; NUM_LANDMARKS]);
    let world: Vec<[Vec3; NUM_LANDMARKS]> = poses
        .iter()
        .map(|p| {
            if let Some(p) = p {
                held = p.world.map(camera_to_output);
            }
            held
        })
        .collect();
    let seen: Vec<[Vec3; NUM_LANDMARKS]> = poses
        .iter()
        .flatten()
        .map(|p| p.world.map(camera_to_output))
        .collect();
    let skeleton = Skeleton::t_pose(&BodyMeasurements::from_world_frames(&seen));

    // The root starts above the origin at the rig's hip height and moves as
    // the camera-space hips move.
    let start = camera_to_output(root_cam[0]);
    let rest = skeleton.rest_root_translation();
    let mut root: Vec<Vec3> = root_cam
        .iter()
        .map(|&r| rest + (camera_to_output(r) - start))
        .collect();

    let mut clip = Clip::solve(&skeleton, fps, &root, &world);
    // Planted feet must not slide: find contacts on the solved rig, then
    // shift the root so each planted foot stays put.
    let feet_of = |root: &[Vec3]| -> Vec<[Vec3; 2]> {
        root.iter()
            .zip(&clip.rotations)
            .map(|(r, rot)| {
                let g = global_positions(&skeleton, *r, rot);
                [g[JointId::LeftFoot.index()], g[JointId::RightFoot.index()]]
            })
            .collect()
    };
    let feet = feet_of(&root);
    let contacts = detect_contacts(&feet, &span_times, &ContactParams::default());
    lock_feet(&mut root, &feet, &contacts);
    clip.root_translation = root.clone();

    Ok(Motion {
        fps,
        first_frame: first as u64,
        times: span_times,
        poses,
        world,
        root,
        contacts,
        camera,
        skeleton,
        clip,
    })
}
