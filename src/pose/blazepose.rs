//! The BlazePose models behind the tracker: detector and landmark sessions,
//! their input buffers (allocated once), and time spent in each stage.
//!
//! Model inputs are sampled on the CPU or, with a GPU, by the crop kernel
//! (one dispatch for all of a frame's people). A GPU that fails mid-run is
//! dropped with a logged reason and the CPU takes over: a job never fails
//! for its preprocessing device.

use std::time::{Duration, Instant};

use std::f32::consts::FRAC_PI_2;

use super::anchors::{pose_detector_anchors, Anchor, INPUT_SIZE as DETECTOR_SIZE};
use super::crop::{letterbox_roi, Border, CropGeometry, CropRequest, Letterbox, DETECTOR_RANGE};
use super::detect::{self, Detection};
use super::landmark::{self, LandmarkResult, INPUT_SIZE as LANDMARK_SIZE};
use super::roi::{normalize_angle, BoxPx, Roi};
use super::track::{Look, PoseModels, LOOK_AROUND};
use super::yolox;
use crate::config::PersonDetector;
use crate::gpu::{GpuContext, GpuCrops};
use crate::infer::runtime::Model;
use crate::infer::shared::Runner;
use crate::infer::ModelError;
use crate::video::Frame;

/// The detector outputs read (boxes, score logits).
pub const DETECTOR_OUTPUTS: [&str; 2] = ["Identity", "Identity_1"];

/// Values in one landmark model input (256×256 RGB).
const LANDMARK_INPUT: usize = LANDMARK_SIZE * LANDMARK_SIZE * 3;

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
    model: Runner,
    input: Vec<f32>,
    times: StageTimes,
    /// Model runs asked for (each takes one batch of crops; a shared
    /// session may merge them with other jobs' runs).
    runs: u64,
}

impl LandmarkWorker {
    pub fn new(model: Runner) -> LandmarkWorker {
        LandmarkWorker {
            model,
            input: Vec::with_capacity(LANDMARK_INPUT),
            times: StageTimes::default(),
            runs: 0,
        }
    }

    /// Landmarks for `roi`; `prepared` is its input when the GPU already
    /// sampled it, else the crop is sampled here on the CPU.
    fn run(
        &mut self,
        frame: &Frame,
        roi: &Roi,
        prepared: Option<&[f32]>,
    ) -> Result<Option<LandmarkResult>, ModelError> {
        let mut out = self.run_share(frame, &[(0, roi)], |_| prepared)?;
        Ok(out.pop().and_then(|(_, r)| r))
    }

    /// Landmarks for this worker's share of a frame's crops, `(index, roi)`
    /// each, in batches as large as the session takes: one run for a
    /// whole share when it fits. `prepared(index)` is a crop's input when
    /// the GPU already sampled it.
    fn run_share<'a>(
        &mut self,
        frame: &Frame,
        share: &[(usize, &Roi)],
        prepared: impl Fn(usize) -> Option<&'a [f32]>,
    ) -> Result<Vec<(usize, Option<LandmarkResult>)>, ModelError> {
        let mut results = Vec::with_capacity(share.len());
        for batch in share.chunks(self.model.max_batch().max(1)) {
            let t0 = Instant::now();
            self.input.resize(batch.len() * LANDMARK_INPUT, 0.0);
            for (&(i, roi), slot) in batch
                .iter()
                .zip(self.input.chunks_exact_mut(LANDMARK_INPUT))
            {
                match prepared(i) {
                    Some(input) => slot.copy_from_slice(input),
                    None => CropRequest::landmark(roi, LANDMARK_SIZE).sample_cpu(frame, slot),
                }
            }
            let t1 = Instant::now();
            let out = self
                .model
                .run_batch(&self.input, batch.len(), &landmark::OUTPUT_NAMES)?;
            let t2 = Instant::now();
            self.runs += 1;
            // Each output holds the batch's results one after the other.
            let n = batch.len();
            for (k, &(i, roi)) in batch.iter().enumerate() {
                let presence = nth(&out[1], k, n).first().copied().unwrap_or(0.0);
                let result = landmark::decode(
                    nth(&out[0], k, n),
                    presence,
                    nth(&out[2], k, n),
                    nth(&out[3], k, n),
                    roi,
                );
                results.push((i, result));
            }
            self.times.landmark_preprocess += t1 - t0;
            self.times.landmark_infer += t2 - t1;
            self.times.postprocess += t2.elapsed();
        }
        Ok(results)
    }
}

/// The `k`-th of `n` results laid one after the other in `output`.
fn nth(output: &[f32], k: usize, n: usize) -> &[f32] {
    let per = output.len() / n;
    &output[k * per..(k + 1) * per]
}

/// Samples `requests` into `outs` on the GPU when there is one, else (or
/// when it fails, which drops it for the rest of the run) on the CPU.
fn sample(
    gpu: &mut Option<GpuCrops>,
    frame: &Frame,
    requests: &[CropRequest],
    outs: &mut [&mut [f32]],
) {
    if let Some(crops) = gpu.as_mut() {
        match crops.run(frame, requests, outs) {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, code = e.code(), "GPU preprocessing failed; continuing on the CPU");
                *gpu = None;
            }
        }
    }
    for (request, out) in requests.iter().zip(outs.iter_mut()) {
        request.sample_cpu(frame, out);
    }
}

/// Which detector the stage runs, with what it needs besides the session.
enum DetectorKind {
    /// BlazePose's SSD detector and its anchors.
    BlazePose { anchors: Vec<Anchor> },
    /// YOLOX-nano and its NCHW BGR input (the sampler writes NHWC RGB).
    Yolox { nchw: Vec<f32> },
}

/// The detector outputs a session must keep for `detector`.
pub fn detector_outputs(detector: PersonDetector) -> &'static [&'static str] {
    match detector {
        PersonDetector::Blazepose => &DETECTOR_OUTPUTS,
        PersonDetector::Yolox => &yolox::OUTPUTS,
    }
}

/// The detector session with its input buffer and stage times.
pub struct DetectorStage {
    model: Model,
    kind: DetectorKind,
    min_detection_score: f32,
    input: Vec<f32>,
    times: StageTimes,
    gpu: Option<GpuCrops>,
}

impl DetectorStage {
    fn new(model: Model, detector: PersonDetector, min_detection_score: f32) -> DetectorStage {
        let (kind, side) = match detector {
            PersonDetector::Blazepose => (
                DetectorKind::BlazePose {
                    anchors: pose_detector_anchors(),
                },
                DETECTOR_SIZE,
            ),
            PersonDetector::Yolox => (
                DetectorKind::Yolox {
                    nchw: vec![0.0; yolox::INPUT_SIZE * yolox::INPUT_SIZE * 3],
                },
                yolox::INPUT_SIZE,
            ),
        };
        DetectorStage {
            model,
            kind,
            min_detection_score,
            input: vec![0.0; side * side * 3],
            times: StageTimes::default(),
            gpu: None,
        }
    }

    /// People in `frame`, looked for where `look` says in the frame turned
    /// by `quarter_turns` quarters (0 for upright), normalised to the
    /// upright frame.
    ///
    /// Looking everywhere, YOLOX also looks at the frame in tiles (see
    /// [`tiles`]), each turned the same way: the whole frame shrunk to its
    /// 416² input leaves a far person a dozen pixels tall, under what the
    /// nano model finds. Looking near someone, it sees only a square around
    /// her ([`around`]). BlazePose's detector sees the whole frame either
    /// way.
    fn run(
        &mut self,
        frame: &Frame,
        quarter_turns: u8,
        look: Look,
    ) -> Result<Vec<Detection>, ModelError> {
        let (square, lb) = letterbox_roi(frame);
        if !matches!(self.kind, DetectorKind::Yolox { .. }) {
            return self.run_square(frame, square, lb, quarter_turns);
        }
        let (w, h) = frame.upright_size();
        let (w, h) = (w as f32, h as f32);
        let (mut dets, squares) = match look {
            Look::Everywhere => (
                self.run_square(frame, square, lb, quarter_turns)?,
                tiles(w, h),
            ),
            Look::Near(boxes) => (Vec::new(), boxes.iter().map(|b| around(b, w, h)).collect()),
        };
        for tile in squares {
            let found = self.run_square(frame, tile, lb, quarter_turns)?;
            dets.extend(found.into_iter().filter(|d| !cut_by(d, &tile, w, h)));
        }
        Ok(merge_detections(dets))
    }

    /// People in one square of the frame (the letterboxed whole frame or
    /// a tile), normalised to the upright frame.
    fn run_square(
        &mut self,
        frame: &Frame,
        mut square: Roi,
        lb: Letterbox,
        quarter_turns: u8,
    ) -> Result<Vec<Detection>, ModelError> {
        let t0 = Instant::now();
        let (w, h) = frame.upright_size();
        let (w, h) = (w as f32, h as f32);
        let whole = square.size >= w.max(h);
        square.rotation = normalize_angle(f32::from(quarter_turns % 4) * FRAC_PI_2);
        let (side, range) = match self.kind {
            DetectorKind::BlazePose { .. } => (DETECTOR_SIZE, DETECTOR_RANGE),
            DetectorKind::Yolox { .. } => (yolox::INPUT_SIZE, yolox::RANGE),
        };
        let request = CropRequest {
            geometry: CropGeometry::new(&square, side),
            border: Border::Zero,
            range,
        };
        sample(&mut self.gpu, frame, &[request], &mut [&mut self.input]);
        let outputs = detector_outputs(self.detector());
        let input = match &mut self.kind {
            DetectorKind::Yolox { nchw } => {
                yolox::to_nchw_bgr(&self.input, nchw);
                &nchw[..]
            }
            DetectorKind::BlazePose { .. } => &self.input[..],
        };
        let t1 = Instant::now();
        let out = self.model.run(input, outputs)?;
        let t2 = Instant::now();
        let dets = match &self.kind {
            DetectorKind::BlazePose { anchors } => {
                let dets = detect::decode(&out[0], &out[1], anchors, self.min_detection_score);
                detect::weighted_nms(dets, NMS_IOU)
                    .into_iter()
                    .map(|d| {
                        if quarter_turns.is_multiple_of(4) && whole {
                            d.unletterbox(lb)
                        } else {
                            d.through(&square, w, h)
                        }
                    })
                    .collect()
            }
            DetectorKind::Yolox { .. } => yolox::decode(&out[0], self.min_detection_score)
                .into_iter()
                .map(|(b, score)| yolox::to_detection(&b, score, &square, w, h))
                .collect(),
        };
        self.times.detect_preprocess += t1 - t0;
        self.times.detect_infer += t2 - t1;
        self.times.postprocess += t2.elapsed();
        Ok(dets)
    }

    fn detector(&self) -> PersonDetector {
        match self.kind {
            DetectorKind::BlazePose { .. } => PersonDetector::Blazepose,
            DetectorKind::Yolox { .. } => PersonDetector::Yolox,
        }
    }
}

/// Detector + landmark workers with reusable buffers.
pub struct BlazePose {
    detector: DetectorStage,
    workers: Vec<LandmarkWorker>,
    inputs: GpuInputs,
}

/// Landmark inputs sampled on the GPU for all of a frame's people at once.
#[derive(Default)]
struct GpuInputs {
    crops: Option<GpuCrops>,
    /// The inputs, one after the other in ROI order.
    prepared: Vec<f32>,
    /// Time spent sampling them.
    time: Duration,
}

impl GpuInputs {
    /// The inputs for `rois`, or `None` without a GPU (the workers then
    /// crop on the CPU).
    fn prepare(&mut self, frame: &Frame, rois: &[Roi]) -> Option<&[f32]> {
        if self.crops.is_none() || rois.is_empty() {
            return None;
        }
        let t0 = Instant::now();
        self.prepared.resize(rois.len() * LANDMARK_INPUT, 0.0);
        let requests: Vec<CropRequest> = rois
            .iter()
            .map(|roi| CropRequest::landmark(roi, LANDMARK_SIZE))
            .collect();
        let mut outs: Vec<&mut [f32]> = self.prepared.chunks_exact_mut(LANDMARK_INPUT).collect();
        sample(&mut self.crops, frame, &requests, &mut outs);
        self.time += t0.elapsed();
        Some(&self.prepared)
    }
}

impl BlazePose {
    /// `landmarkers`: one session per worker thread (at least one).
    /// `detector` says which person detector the `detector` session is.
    pub fn new(
        detector: Model,
        kind: PersonDetector,
        landmarkers: Vec<Runner>,
        min_detection_score: f32,
    ) -> BlazePose {
        BlazePose {
            detector: DetectorStage::new(detector, kind, min_detection_score),
            workers: landmarkers.into_iter().map(LandmarkWorker::new).collect(),
            inputs: GpuInputs::default(),
        }
    }

    /// Samples the model inputs on `gpu` from now on. The detector gets
    /// buffers of its own: it runs on another thread beside the landmarks.
    pub fn with_gpu(mut self, gpu: &std::sync::Arc<GpuContext>) -> BlazePose {
        self.detector.gpu = Some(GpuCrops::new(gpu));
        self.inputs.crops = Some(GpuCrops::new(gpu));
        self
    }

    /// Whether the GPU still prepares the inputs (it is dropped on failure).
    pub fn uses_gpu(&self) -> bool {
        self.inputs.crops.is_some() && self.detector.gpu.is_some()
    }

    /// Landmark model runs so far, over every worker: the crops run, when
    /// each run takes one, fewer when they are batched.
    pub fn landmark_model_runs(&self) -> u64 {
        self.workers.iter().map(|w| w.runs).sum()
    }

    /// Stage times summed over the detector and every worker (CPU time, so
    /// parallel work counts once per thread).
    pub fn times(&self) -> StageTimes {
        let mut t = self.detector.times;
        t.landmark_preprocess += self.inputs.time;
        for w in &self.workers {
            t.landmark_preprocess += w.times.landmark_preprocess;
            t.landmark_infer += w.times.landmark_infer;
            t.postprocess += w.times.postprocess;
        }
        t
    }
}

/// Runs the crops of one frame on the workers. People are independent
/// within a frame, so crops go round-robin to the workers; the first share
/// runs on this thread and each other share on a scoped thread of its own.
/// Each worker runs its share in batches (see [`LandmarkWorker::run_share`]).
///
/// Measured on two cores, this beats both a thread per share (ONNX Runtime
/// keeps per-thread scratch buffers, which the long-lived tracking thread
/// reuses) and long-lived workers fed through channels (a wake-up per crop).
///
/// `prepared` holds the inputs already sampled on the GPU, one after the
/// other in `rois` order.
fn run_batch(
    workers: &mut [LandmarkWorker],
    frame: &Frame,
    rois: &[Roi],
    prepared: Option<&[f32]>,
) -> Result<Vec<Option<LandmarkResult>>, ModelError> {
    if rois.is_empty() {
        return Ok(Vec::new());
    }
    let input = |i: usize| prepared.map(|p| &p[i * LANDMARK_INPUT..(i + 1) * LANDMARK_INPUT]);
    let n = workers.len().min(rois.len());
    let share =
        |w: usize| -> Vec<(usize, &Roi)> { rois.iter().enumerate().skip(w).step_by(n).collect() };
    let mut results: Vec<Option<Option<LandmarkResult>>> = (0..rois.len()).map(|_| None).collect();
    let mut place = |done: Vec<(usize, Option<LandmarkResult>)>| {
        for (i, r) in done {
            results[i] = Some(r);
        }
    };
    match workers {
        [] => return Ok(rois.iter().map(|_| None).collect()),
        [first, ..] if n <= 1 => place(first.run_share(frame, &share(0), input)?),
        _ => {
            let done = std::thread::scope(|scope| {
                let (first, rest) = workers[..n].split_at_mut(1);
                let handles: Vec<_> = rest
                    .iter_mut()
                    .enumerate()
                    .map(|(w, worker)| {
                        let mine = share(w + 1);
                        scope.spawn(move || worker.run_share(frame, &mine, input))
                    })
                    .collect();
                let mut done = vec![first[0].run_share(frame, &share(0), input)];
                // A worker that panicked has lost its crops: they are
                // reported as a failed inference.
                done.extend(handles.into_iter().map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(thread_failed("pose_landmark")))
                }));
                done
            });
            for d in done {
                place(d?);
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| thread_failed("pose_landmark")))
        .collect()
}

/// The square looked at around someone lost in box `b`: [`LOOK_AROUND`]
/// times her longer side, at least a third of the frame's short side (a
/// curled-up body's box is small) and at most all of it.
fn around(b: &BoxPx, w: f32, h: f32) -> Roi {
    let short = w.min(h);
    let c = b.center();
    Roi {
        cx: c.x,
        cy: c.y,
        size: (LOOK_AROUND * b.size().max_element()).clamp(short / 3.0, short),
        rotation: 0.0,
    }
}

/// Squares of the short side along the long side of a `w`×`h` frame,
/// overlapping, when it is at least 1.5 times longer: two for 16:9, so a
/// far person is seen at about twice the scale of the whole-frame pass.
fn tiles(w: f32, h: f32) -> Vec<Roi> {
    let (long, short) = (w.max(h), w.min(h));
    if short <= 0.0 || long < 1.5 * short {
        return Vec::new();
    }
    // Tiles overlap by at least a fifth of their side, so anyone cut by
    // one tile's edge is whole in the next.
    let count = ((long - 0.2 * short) / (0.8 * short)).ceil().max(2.0) as usize;
    let step = (long - short) / (count - 1) as f32;
    (0..count)
        .map(|i| {
            let along = 0.5 * short + step * i as f32;
            let (cx, cy) = if w >= h {
                (along, 0.5 * h)
            } else {
                (0.5 * w, along)
            };
            Roi {
                cx,
                cy,
                size: short,
                rotation: 0.0,
            }
        })
        .collect()
}

/// Whether `d` (normalised to the `w`×`h` frame) touches an edge of `tile`
/// that lies inside the frame: a person cut there is another tile's, or
/// the whole frame's.
fn cut_by(d: &Detection, tile: &Roi, w: f32, h: f32) -> bool {
    let margin = 0.02 * tile.size;
    let (x0, x1) = (tile.cx - 0.5 * tile.size, tile.cx + 0.5 * tile.size);
    let (y0, y1) = (tile.cy - 0.5 * tile.size, tile.cy + 0.5 * tile.size);
    let (bx0, bx1, by0, by1) = (d.xmin * w, d.xmax * w, d.ymin * h, d.ymax * h);
    (x0 > margin && bx0 < x0 + margin)
        || (x1 < w - margin && bx1 > x1 - margin)
        || (y0 > margin && by0 < y0 + margin)
        || (y1 < h - margin && by1 > y1 - margin)
}

/// One detection per person from several overlapping passes: surest
/// first; a box overlapping a kept one (IoU over the NMS threshold), or
/// mostly inside it, is the same person.
fn merge_detections(mut dets: Vec<Detection>) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for d in dets {
        let b = d.bbox();
        let same = kept.iter().any(|k| {
            let kb = k.bbox();
            kb.iou(&b) > yolox::NMS_IOU || kb.intersection(&b) > 0.7 * b.area().min(kb.area())
        });
        if !same {
            kept.push(d);
        }
    }
    kept
}

fn thread_failed(model: &str) -> ModelError {
    ModelError::Inference {
        model: model.into(),
        reason: "its worker thread failed".into(),
    }
}

impl PoseModels for BlazePose {
    type Error = ModelError;

    fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, ModelError> {
        self.detector.run(frame, 0, Look::Everywhere)
    }

    fn detect_turned(
        &mut self,
        frame: &Frame,
        quarter_turns: u8,
        look: Look,
    ) -> Result<Vec<Detection>, ModelError> {
        self.detector.run(frame, quarter_turns, look)
    }

    fn landmarks(
        &mut self,
        frame: &Frame,
        roi: &Roi,
    ) -> Result<Option<LandmarkResult>, ModelError> {
        let input = self.inputs.prepare(frame, std::slice::from_ref(roi));
        match self.workers.first_mut() {
            Some(w) => w.run(frame, roi, input),
            None => Ok(None),
        }
    }

    fn landmarks_batch(
        &mut self,
        frame: &Frame,
        rois: &[Roi],
    ) -> Result<Vec<Option<LandmarkResult>>, ModelError> {
        let input = self.inputs.prepare(frame, rois);
        run_batch(&mut self.workers, frame, rois, input)
    }

    /// The detector does not need this frame's landmarks, so it runs on a
    /// thread of its own beside the workers: on two cores a frame with one
    /// person costs max(detector, landmarks) instead of their sum.
    fn detect_and_landmarks(
        &mut self,
        frame: &Frame,
        rois: &[Roi],
    ) -> Result<(Vec<Detection>, Vec<Option<LandmarkResult>>), ModelError> {
        if rois.is_empty() {
            return Ok((self.detector.run(frame, 0, Look::Everywhere)?, Vec::new()));
        }
        let (detector, workers, inputs) = (&mut self.detector, &mut self.workers, &mut self.inputs);
        std::thread::scope(|scope| {
            let detection = scope.spawn(|| detector.run(frame, 0, Look::Everywhere));
            let input = inputs.prepare(frame, rois);
            let landmarks = run_batch(workers, frame, rois, input);
            let detections = detection
                .join()
                .unwrap_or_else(|_| Err(thread_failed("pose_detection")));
            Ok((detections?, landmarks?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec2;

    fn det(xmin: f32, ymin: f32, xmax: f32, ymax: f32, score: f32) -> Detection {
        Detection {
            xmin,
            ymin,
            xmax,
            ymax,
            keypoints: [Vec2::ZERO; 4],
            score,
        }
    }

    #[test]
    fn wide_and_tall_frames_are_tiled_with_overlap() {
        let t = tiles(1920.0, 1080.0);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].cx, t[0].cy, t[0].size), (540.0, 540.0, 1080.0));
        assert_eq!(t[1].cx, 1920.0 - 540.0);
        let p = tiles(1080.0, 1920.0);
        assert_eq!((p.len(), p[0].cx, p[1].cy), (2, 540.0, 1380.0));
        assert!(tiles(1280.0, 960.0).is_empty(), "4:3 needs no tiles");
        // A 3:1 panorama gets enough tiles to overlap.
        let pano = tiles(3000.0, 1000.0);
        assert!(pano.len() >= 3);
        assert!(pano.windows(2).all(|w| w[1].cx - w[0].cx <= 800.0));
    }

    #[test]
    fn a_person_cut_by_a_tile_edge_inside_the_frame_is_left_to_others() {
        let (w, h) = (1920.0, 1080.0);
        let left = tiles(w, h)[0];
        // Touching the left tile's right edge (x = 1080 px), inside the frame.
        assert!(cut_by(&det(0.5, 0.2, 1079.0 / w, 0.8, 0.9), &left, w, h));
        // Touching the frame's own edge is not a cut.
        assert!(!cut_by(&det(0.0, 0.0, 0.2, 1.0, 0.9), &left, w, h));
        assert!(!cut_by(&det(0.2, 0.3, 0.3, 0.7, 0.9), &left, w, h));
    }

    #[test]
    fn passes_merge_into_one_detection_per_person() {
        let merged = merge_detections(vec![
            det(0.10, 0.10, 0.20, 0.50, 0.6),
            det(0.11, 0.10, 0.21, 0.52, 0.9),
            // Mostly inside the surer box: the same body.
            det(0.12, 0.12, 0.18, 0.30, 0.7),
            det(0.60, 0.10, 0.70, 0.50, 0.8),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].score, 0.9);
    }
}
