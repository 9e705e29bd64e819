//! Batched landmark inference against one run per crop, on real crops of
//! `walk_outdoor.mp4`, for every quality preset: the same sessions built
//! with the model's fixed batch of 1 and with a dynamic batch (the graph
//! rewrite of `vidmocap::infer::batch`), fed the same frames and the same
//! detector crops, must give the same landmarks.
//!
//! Tolerance: ONNX Runtime may pick other kernels for a batch (heavy's
//! raw outputs differ by up to 2e-4 on random input; measured here, lite
//! and full agree exactly and heavy within 0.0002 px and 0.001 mm), so
//! 0.005 px mean and 0.05 px worst in the image, 0.1 mm worst in the
//! world, and the same presence decision.

#[path = "support/media.rs"]
mod media;
use media::media;

use std::sync::atomic::AtomicBool;

use vidmocap::config::{Config, Quality};
use vidmocap::infer::shared::all_runs;
use vidmocap::infer::Manifest;
use vidmocap::pipeline::{self, ProcessOptions, Report};
use vidmocap::pose::blazepose::BlazePose;
use vidmocap::pose::landmark::LandmarkResult;
use vidmocap::pose::roi::Roi;
use vidmocap::pose::track::{roi_from_detection, PoseModels};
use vidmocap::video::{probe, DecodeOptions, Decoder, Frame, Limits};

/// Every `step`-th frame of walk_outdoor.mp4 from `first`, `count` of them.
fn frames(first: u64, step: u64, count: usize) -> Vec<Frame> {
    let path = media("walk_outdoor.mp4");
    let limits = Limits::default();
    let info = probe(&path, &limits).expect("probe");
    Decoder::start(&path, &info, &limits, 4, &DecodeOptions::software())
        .expect("decoder")
        .filter_map(|f| f.ok())
        .filter(|f| f.index >= first && (f.index - first).is_multiple_of(step))
        .take(count)
        .collect()
}

fn models(quality: Quality, batch: usize) -> BlazePose {
    let mut config = Config::load(None).expect("configuration");
    config.pose.quality = quality;
    // One session, so a frame's crops all go to one run when batched.
    config.models.landmark_workers = 1;
    config.models.landmark_batch = batch;
    models_with(&config)
}

fn models_with(config: &Config) -> BlazePose {
    let manifest = Manifest::builtin().expect("manifest");
    let (detector, landmarkers) = pipeline::load_sessions(config, &manifest)
        .unwrap_or_else(|e| panic!("models [{}]: {e}", e.code()));
    BlazePose::new(
        detector,
        config.pose.detector,
        landmarkers,
        config.pose.min_detection_score,
    )
}

/// Image (px) and world (m) distances between two results' landmarks.
fn distances<'a>(
    a: &'a LandmarkResult,
    b: &'a LandmarkResult,
) -> impl Iterator<Item = (f32, f32)> + 'a {
    a.pose
        .image
        .iter()
        .zip(&b.pose.image)
        .zip(a.pose.world.iter().zip(&b.pose.world))
        .map(|((p, q), (u, v))| ((p.x - q.x).hypot(p.y - q.y), u.distance(*v)))
}

fn batched_matches_unbatched(quality: Quality) {
    let mut single = models(quality, 1);
    let mut batched = models(quality, 8);
    let (mut crops, mut people, mut sum, mut n) = (0, 0, 0f32, 0);
    let (mut worst_px, mut worst_m) = (0f32, 0f32);
    // Frames 30–190: both people in view on most, so most frames have two
    // crops; a turned copy of the first makes every batch at least two.
    let frames = frames(30, 20, 9);
    assert_eq!(frames.len(), 9);
    for frame in &frames {
        let (w, h) = frame.upright_size();
        let mut rois: Vec<Roi> = single
            .detect(frame)
            .expect("detect")
            .iter()
            .filter_map(|d| roi_from_detection(d, w as f32, h as f32))
            .collect();
        let Some(&first) = rois.first() else {
            panic!("nobody detected on frame {}", frame.index)
        };
        rois.push(Roi {
            rotation: first.rotation + 0.4,
            ..first
        });
        crops += rois.len();
        let one = single.landmarks_batch(frame, &rois).expect("unbatched");
        let all = batched.landmarks_batch(frame, &rois).expect("batched");
        for (a, b) in one.iter().zip(&all) {
            let (Some(a), Some(b)) = (a, b) else {
                assert_eq!(
                    a.is_some(),
                    b.is_some(),
                    "frame {}: presence differs",
                    frame.index
                );
                continue;
            };
            people += 1;
            for (px, m) in distances(a, b) {
                worst_px = worst_px.max(px);
                worst_m = worst_m.max(m);
                sum += px;
                n += 1;
            }
        }
    }
    let mean = sum / n.max(1) as f32;
    eprintln!(
        "{quality:?}: {crops} crops, {people} poses; batched vs unbatched {mean:.4} px mean, \
         {worst_px:.4} px and {:.3} mm worst; {} runs batched, {} unbatched",
        worst_m * 1000.0,
        batched.landmark_model_runs(),
        single.landmark_model_runs()
    );
    assert_eq!(
        single.landmark_model_runs(),
        crops as u64,
        "one run per crop"
    );
    assert_eq!(batched.landmark_model_runs(), 9, "one run per frame");
    assert!(crops >= 20, "{crops} crops: both people on half the frames");
    assert!(people >= 20, "{people} poses compared");
    assert!(
        mean < 0.005 && worst_px < 0.05 && worst_m < 1e-4,
        "{quality:?}: {mean:.4} px mean, {worst_px:.4} px worst, {:.3} mm worst",
        worst_m * 1000.0
    );
}

#[test]
fn batched_lite_gives_the_unbatched_landmarks() {
    batched_matches_unbatched(Quality::Fast);
}

#[test]
fn batched_full_gives_the_unbatched_landmarks() {
    batched_matches_unbatched(Quality::Balanced);
}

#[test]
fn batched_heavy_gives_the_unbatched_landmarks() {
    batched_matches_unbatched(Quality::Best);
}

#[test]
fn a_batch_larger_than_the_session_takes_is_split_into_runs() {
    // Five crops of one frame with batches of two: three runs, and the
    // same landmarks as one run per crop.
    let mut single = models(Quality::Fast, 1);
    let mut pairs = models(Quality::Fast, 2);
    let frame = frames(120, 1, 1).remove(0);
    let (w, h) = frame.upright_size();
    let det = single.detect(&frame).expect("detect");
    let base = roi_from_detection(&det[0], w as f32, h as f32).expect("roi");
    let rois: Vec<Roi> = (0..5)
        .map(|k| Roi {
            cx: base.cx + 4.0 * k as f32,
            ..base
        })
        .collect();
    let one = single.landmarks_batch(&frame, &rois).expect("unbatched");
    let two = pairs.landmarks_batch(&frame, &rois).expect("batched");
    assert_eq!(pairs.landmark_model_runs(), 3);
    for (a, b) in one.iter().zip(&two) {
        let (a, b) = (a.as_ref().expect("a pose"), b.as_ref().expect("a pose"));
        let worst = distances(a, b).map(|d| d.0).fold(0f32, f32::max);
        assert!(worst < 0.05, "{worst} px apart");
    }
}

#[test]
fn a_frame_with_no_crops_runs_no_landmark_model() {
    // Nobody followed yet: the batch path answers at once, and the frame's
    // detection still runs beside it.
    let mut pairs = models(Quality::Fast, 2);
    let frame = frames(120, 1, 1).remove(0);
    assert!(pairs
        .landmarks_batch(&frame, &[])
        .expect("no crops")
        .is_empty());
    let (found, landmarks) = pairs
        .detect_and_landmarks(&frame, &[])
        .expect("detect only");
    assert!(landmarks.is_empty());
    assert!(!found.is_empty(), "walk_outdoor frame 120 has people");
    assert_eq!(pairs.landmark_model_runs(), 0);
}

#[test]
fn the_default_runs_a_crop_a_run_on_the_cpu() {
    // `models.landmark_batch = 0` (auto): batches only on a GPU.
    let mut config = Config::load(None).expect("configuration");
    assert_eq!(config.models.landmark_batch, 0);
    config.models.landmark_workers = 1;
    let mut models = models_with(&config);
    let frame = frames(120, 1, 1).remove(0);
    let (w, h) = frame.upright_size();
    let det = models.detect(&frame).expect("detect");
    let roi = roi_from_detection(&det[0], w as f32, h as f32).expect("roi");
    models
        .landmarks_batch(&frame, &[roi, roi, roi])
        .expect("landmarks");
    assert_eq!(models.landmark_model_runs(), 3);
}

/// `two_people.mp4` through the whole pipeline with `config`.
fn two_people(config: &Config) -> Report {
    let dir = tempfile::tempdir().unwrap();
    pipeline::run(
        &media("two_people.mp4"),
        dir.path(),
        config,
        &ProcessOptions::default(),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap_or_else(|e| panic!("pipeline failed [{}]: {e}", e.code()))
}

#[test]
fn jobs_at_once_batch_their_crops_in_one_shared_session() {
    // Three jobs at once on one shared session, as a GPU worker runs
    // them: their crops share model runs, and each job gets what it gets
    // alone with a session of its own.
    let mut config = Config::load(None).expect("configuration");
    config.pose.quality = Quality::Fast;
    let alone = two_people(&config);
    config.models.batch_across_jobs = true;
    config.models.landmark_batch = 8;
    let reports: Vec<Report> = std::thread::scope(|scope| {
        let jobs: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| two_people(&config)))
            .collect();
        jobs.into_iter().map(|j| j.join().expect("job")).collect()
    });
    let runs: Vec<_> = all_runs()
        .into_iter()
        .filter(|(name, _)| name == "pose_landmark_lite")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(runs.len(), 1, "one shared session: {runs:?}");
    let r = runs[0];
    eprintln!("shared session: {r:?}");
    let crops: u64 = reports.iter().map(|r| r.landmark_runs).sum();
    assert_eq!(r.inputs, crops, "every crop of every job went through it");
    assert!(
        r.runs < r.requests,
        "no run took more than one job's crops: {r:?}"
    );
    for report in &reports {
        assert_eq!(
            report.track_boxes, alone.track_boxes,
            "other people or boxes"
        );
        assert_eq!(report.frames_with_pose, alone.frames_with_pose);
    }
}
