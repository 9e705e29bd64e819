//! The BlazePose models behind the tracker: detector and landmark sessions,
//! their input buffers (allocated once), and time spent in each stage.

use std::time::{Duration, Instant};

use super::anchors::{pose_detector_anchors, Anchor, INPUT_SIZE as DETECTOR_SIZE};
use super::crop::{crop_square, letterbox_square, Border, LANDMARK_RANGE};
use super::detect::{self, Detection};
use super::landmark::{self, LandmarkResult, INPUT_SIZE as LANDMARK_SIZE};
use super::roi::Roi;
use super::track::PoseModels;
use crate::infer::runtime::Model;
use crate::infer::ModelError;
use crate::video::Frame;

/// The detector outputs read (boxes, score logits).
pub const DETECTOR_OUTPUTS: [&str; 2] = ["Identity", "Identity_1"];

/// IoU threshold of the detector's weighted NMS (MediaPipe Tasks).
const NMS_IOU: f32 = 0.5;

/// Wall time per stage, summed over a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct StageTimes {
    pub detect_preprocess: Duration,
    pub detect_infer: Duration,
    pub landmark_preprocess: Duration,
    pub landmark_infer: Duration,
    pub postprocess: Duration,
}

/// One landmark session with its input buffer and its own stage times, so
/// several people of a frame can be run on separate threads.
pub struct LandmarkWorker {
    model: Model,
    input: Vec<f32>,
    times: StageTimes,
}

impl LandmarkWorker {
    pub fn new(model: Model) -> LandmarkWorker {
        LandmarkWorker {
            model,
            input: vec![0.0; LANDMARK_SIZE * LANDMARK_SIZE * 3],
            times: StageTimes::default(),
        }
    }

    fn run(&mut self, frame: &Frame, roi: &Roi) -> Result<Option<LandmarkResult>, ModelError> {
        let t0 = Instant::now();
        crop_square(
            frame,
            roi,
            LANDMARK_SIZE,
            Border::Replicate,
            LANDMARK_RANGE,
            &mut self.input,
        );
        let t1 = Instant::now();
        let out = self.model.run(&self.input, &landmark::OUTPUT_NAMES)?;
        let t2 = Instant::now();
        let presence = out[1].first().copied().unwrap_or(0.0);
        let result = landmark::decode(&out[0], presence, &out[2], &out[3], roi);
        self.times.landmark_preprocess += t1 - t0;
        self.times.landmark_infer += t2 - t1;
        self.times.postprocess += t2.elapsed();
        Ok(result)
    }
}

/// Detector + landmark workers with reusable buffers.
pub struct BlazePose {
    detector: Model,
    workers: Vec<LandmarkWorker>,
    anchors: Vec<Anchor>,
    min_detection_score: f32,
    det_input: Vec<f32>,
    times: StageTimes,
}

impl BlazePose {
    /// `landmarkers`: one session per worker thread (at least one).
    pub fn new(detector: Model, landmarkers: Vec<Model>, min_detection_score: f32) -> BlazePose {
        BlazePose {
            detector,
            workers: landmarkers.into_iter().map(LandmarkWorker::new).collect(),
            anchors: pose_detector_anchors(),
            min_detection_score,
            det_input: vec![0.0; DETECTOR_SIZE * DETECTOR_SIZE * 3],
            times: StageTimes::default(),
        }
    }

    /// Stage times summed over the detector and every worker (CPU time, so
    /// parallel work counts once per thread).
    pub fn times(&self) -> StageTimes {
        let mut t = self.times;
        for w in &self.workers {
            t.landmark_preprocess += w.times.landmark_preprocess;
            t.landmark_infer += w.times.landmark_infer;
            t.postprocess += w.times.postprocess;
        }
        t
    }
}

impl PoseModels for BlazePose {
    type Error = ModelError;

    fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, ModelError> {
        let t0 = Instant::now();
        let lb = letterbox_square(frame, DETECTOR_SIZE, &mut self.det_input);
        let t1 = Instant::now();
        let out = self.detector.run(&self.det_input, &DETECTOR_OUTPUTS)?;
        let t2 = Instant::now();
        let dets = detect::decode(&out[0], &out[1], &self.anchors, self.min_detection_score);
        let dets = detect::weighted_nms(dets, NMS_IOU)
            .into_iter()
            .map(|d| d.unletterbox(lb))
            .collect();
        self.times.detect_preprocess += t1 - t0;
        self.times.detect_infer += t2 - t1;
        self.times.postprocess += t2.elapsed();
        Ok(dets)
    }

    fn landmarks(
        &mut self,
        frame: &Frame,
        roi: &Roi,
    ) -> Result<Option<LandmarkResult>, ModelError> {
        match self.workers.first_mut() {
            Some(w) => w.run(frame, roi),
            None => Ok(None),
        }
    }

    /// People are independent within a frame: crops go round-robin to the
    /// workers, each worker's share runs on its own scoped thread.
    fn landmarks_batch(
        &mut self,
        frame: &Frame,
        rois: &[Roi],
    ) -> Result<Vec<Option<LandmarkResult>>, ModelError> {
        let n = self.workers.len().min(rois.len());
        if n <= 1 {
            return rois.iter().map(|roi| self.landmarks(frame, roi)).collect();
        }
        let mut results: Vec<Option<Result<Option<LandmarkResult>, ModelError>>> =
            (0..rois.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = self.workers[..n]
                .iter_mut()
                .enumerate()
                .map(|(w, worker)| {
                    scope.spawn(move || {
                        (w..rois.len())
                            .step_by(n)
                            .map(|i| (i, worker.run(frame, &rois[i])))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                // A worker that panicked has lost its crops: they are
                // reported as a failed inference below.
                if let Ok(done) = h.join() {
                    for (i, r) in done {
                        results[i] = Some(r);
                    }
                }
            }
        });
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(ModelError::Inference {
                        model: "pose_landmark_lite".into(),
                        reason: "landmark worker thread failed".into(),
                    })
                })
            })
            .collect()
    }
}
