//! Multi-person tracking with stable ids.
//!
//! Each tracked person carries the crop for the next frame, built from the
//! landmark model's auxiliary landmarks and damped ([`super::damp`]), so the
//! detector only runs to find newcomers: every `detect_interval` frames,
//! and on every frame while someone is lost inside the picture (not one
//! who walked out of it) or fading (presence under `redetect_presence`).
//! Detections are matched to the people followed, and then to the
//! recently lost, by the Hungarian method on motion (the box
//! moved on at its last speed) and appearance ([`super::appearance`]); a
//! matched lost person gets her id back, anything else a new id. A person
//! lost while turning over (a flip, a fall) is looked for again at once:
//! her crop turned by quarter and eighth turns on the same frame, then
//! the detector on turned copies of the frame when the upright pass does
//! not find her; once found, the frames she was lost are followed back.
//! A track whose crop jumps further than a body can move between two
//! frames, or that collapses onto another track, is ended (kept as lost)
//! rather than allowed to follow someone else.

use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI};

use glam::Vec2;
use serde::{Deserialize, Serialize};

use super::appearance::Appearance;
use super::assign::best_pairs;
use super::damp::RoiDamper;
use super::detect::Detection;
use super::landmark::LandmarkResult;
use super::roi::{normalize_angle, BoxPx, Roi};
use super::{lm, PoseObservation};
use crate::video::Frame;

/// Where a turned pass of the detector looks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Look<'a> {
    /// The whole turned picture, closely enough to find someone small and
    /// far (nobody followed or lost: someone may lie there from the start).
    Everywhere,
    /// Around these boxes (pixels, upright frame), where someone was just
    /// lost: these searches run on every frame for a while and are for her
    /// alone. (Upright passes always look everywhere: searching near the
    /// lost one instead of in tiles measured worse on walk_outdoor, where
    /// the small man on the roof then faded more often.)
    Near(&'a [BoxPx]),
}

/// How much larger than a lost person's box the square looked at around
/// her is: she may have moved a box's size before she is looked for.
pub const LOOK_AROUND: f32 = 3.0;

/// The two models behind tracking; a trait so the tracker can be tested
/// without ONNX Runtime.
pub trait PoseModels {
    type Error;
    /// People in the frame, normalised to the upright frame, best first.
    fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, Self::Error>;
    /// People where `look` says in the frame turned by `quarter_turns`
    /// quarters before the detector sees it (someone upside down or lying
    /// is upright in one of them), normalised to the upright frame.
    /// Without support: nobody.
    fn detect_turned(
        &mut self,
        _frame: &Frame,
        _quarter_turns: u8,
        _look: Look,
    ) -> Result<Vec<Detection>, Self::Error> {
        Ok(Vec::new())
    }
    /// Landmarks for the crop `roi`; `None` when the model sees no pose.
    fn landmarks(
        &mut self,
        frame: &Frame,
        roi: &Roi,
    ) -> Result<Option<LandmarkResult>, Self::Error>;
    /// Landmarks for several crops of one frame (one per tracked person);
    /// implementations may run them in parallel.
    fn landmarks_batch(
        &mut self,
        frame: &Frame,
        rois: &[Roi],
    ) -> Result<Vec<Option<LandmarkResult>>, Self::Error> {
        rois.iter().map(|roi| self.landmarks(frame, roi)).collect()
    }
    /// The detector's people and the landmarks for `rois`, all of one
    /// frame; implementations may run the two concurrently.
    #[allow(clippy::type_complexity)]
    fn detect_and_landmarks(
        &mut self,
        frame: &Frame,
        rois: &[Roi],
    ) -> Result<(Vec<Detection>, Vec<Option<LandmarkResult>>), Self::Error> {
        let detections = self.detect(frame)?;
        Ok((detections, self.landmarks_batch(frame, rois)?))
    }
}

/// Tracking settings.
#[derive(Clone, Debug)]
pub struct TrackerConfig {
    pub detect_interval: u32,
    pub max_people: usize,
    pub min_presence: f32,
    /// A followed person whose presence falls under this has the detector
    /// run on the next frame, before she is lost.
    pub redetect_presence: f32,
    /// How long (seconds) a lost id can be revived by a matching detection.
    pub memory_s: f64,
    /// How long (seconds) after a loss the detector runs on every frame
    /// (and on turned copies when the upright pass misses her).
    pub retry_s: f64,
    /// Lowest match (motion and appearance, 0…1) for a detection to be
    /// someone already followed.
    pub min_match: f32,
    /// Lowest match for a detection to be someone lost within `memory_s`:
    /// lower, because nobody new appears from nowhere right where a person
    /// was just lost, while a person in a fall or a tumble changes shape
    /// and place faster than the match expects (walk_outdoor's man scored
    /// 0.27–0.30 on the frames after his loss mid-jump, the threshold for
    /// the followed 0.3, so whether he kept his id hung on the CPU's
    /// rounding).
    pub min_revive: f32,
    /// Frames kept for following a newly detected person backwards.
    pub look_back_frames: usize,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            detect_interval: 10,
            max_people: 8,
            min_presence: 0.5,
            redetect_presence: 0.7,
            memory_s: 1.0,
            retry_s: 0.5,
            min_match: 0.3,
            min_revive: 0.2,
            look_back_frames: 30,
        }
    }
}

/// One person's pose in one frame.
#[derive(Clone, Debug)]
pub struct TrackedPose {
    pub track_id: u32,
    /// The frame the pose belongs to: the current one, or an earlier one
    /// for poses found by looking back when a person is first detected.
    pub frame_index: u64,
    /// The crop the landmarks came from.
    pub roi: Roi,
    pub pose: PoseObservation,
}

/// How far inside the picture (a share of its long side) the hips must be
/// for a pose to count: at the edge, half out, the model guesses at what
/// it cannot see, and a detector box on the edge revives the guess.
const EDGE_MARGIN: f32 = 0.02;

/// How far from where she was predicted (in box sizes) a sighting may be.
const REACH: f32 = 0.5;

/// Largest change of box area, either way, between sightings of one person.
const MAX_GROWTH: f32 = 4.0;

/// Where and how someone was last seen, for matching detections to her.
#[derive(Clone, Debug)]
struct Seen {
    /// The landmarks' box, frame pixels (the detection's box before the
    /// first pose).
    bbox: BoxPx,
    /// The box centre's speed, pixels per second.
    velocity: Vec2,
    time: f64,
    appearance: Option<Appearance>,
    /// Her size: the largest box of about the last second (width, height;
    /// a fading maximum). A body curled up or turning over shrinks its box,
    /// not itself.
    extent: Vec2,
}

/// How fast [`Seen::extent`] forgets a larger box: halves per second.
const EXTENT_HALF_LIFE_S: f32 = 1.0;

impl Seen {
    /// A first sighting.
    fn new(bbox: BoxPx, time: f64, appearance: Option<Appearance>) -> Seen {
        Seen {
            bbox,
            velocity: Vec2::ZERO,
            time,
            appearance,
            extent: bbox.size(),
        }
    }

    /// What is kept of someone lost: where she was and how big she is, not
    /// where she was going nor how curled up she was. Her last speed and
    /// box were measured on the frames where her pose was failing (a body
    /// turning over in the air swings and shrinks its box), and
    /// [`Seen::matches`] widens its reach with the time lost instead.
    fn lost(mut self) -> Seen {
        self.bbox = BoxPx::around(self.bbox.center(), self.extent.max(self.bbox.size()));
        self.velocity = Vec2::ZERO;
        self
    }

    /// The box moved on at the last speed for `now − time` (at most half
    /// a second: people stop and turn).
    fn predicted(&self, now: f64) -> BoxPx {
        let d = self.velocity * (now - self.time).clamp(0.0, 0.5) as f32;
        BoxPx {
            xmin: self.bbox.xmin + d.x,
            ymin: self.bbox.ymin + d.y,
            xmax: self.bbox.xmax + d.x,
            ymax: self.bbox.ymax + d.y,
        }
    }

    /// How well a detection's box (and look) fits: 0…1, `None` when too
    /// far to be her. Motion counts most; appearance breaks the ties of a
    /// crossing.
    fn matches(&self, now: f64, b: &BoxPx, look: Option<&Appearance>) -> Option<f32> {
        let p = self.predicted(now);
        let size = p.size().max(b.size()).max_element().max(1.0);
        let dist = (p.center() - b.center()).length() / size;
        // Lost for longer, she may have moved further than predicted.
        let reach = REACH + (now - self.time).clamp(0.0, 1.0) as f32;
        if dist > reach {
            return None;
        }
        let area = |b: &BoxPx| b.area().max(1.0);
        let grew = area(b) / area(&p);
        if !(1.0 / MAX_GROWTH..=MAX_GROWTH).contains(&grew) {
            return None;
        }
        let motion = 0.5 * p.iou(b) + 0.5 * (1.0 - dist / reach);
        Some(match (self.appearance.as_ref(), look) {
            (Some(a), Some(l)) => 0.6 * motion + 0.4 * a.similarity(l),
            _ => motion,
        })
    }

    /// The next sighting, the speed smoothed over a few frames.
    fn update(&mut self, bbox: BoxPx, time: f64, look: Option<Appearance>) {
        let dt = (time - self.time) as f32;
        if dt > 0.0 {
            let v = (bbox.center() - self.bbox.center()) / dt;
            self.velocity = self.velocity.lerp(v, 0.5);
        }
        let fade = 0.5f32.powf(dt.max(0.0) / EXTENT_HALF_LIFE_S);
        self.extent = (self.extent * fade).max(bbox.size());
        self.bbox = bbox;
        self.time = time;
        match (&mut self.appearance, look) {
            (Some(a), Some(l)) => a.blend(&l, 0.1),
            (a, l) => {
                if a.is_none() {
                    *a = l;
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
struct LiveTrack {
    id: u32,
    /// Frames with a pose since the track (re)started.
    hits: u32,
    /// Crop for the coming frame.
    roi: Roi,
    last_time: f64,
    /// Presence of the last pose.
    presence: f32,
    seen: Seen,
    damper: RoiDamper,
    /// Where following a new person backwards starts, kept until the track
    /// has proved itself (see [`LOOK_BACK_AFTER_HITS`]).
    look_back_from: Option<LookBackStart>,
    /// Looking back stops at this frame: where a revived track was lost.
    look_back_floor: u64,
    /// Taken back under a lost person's id: someone already followed,
    /// whose missing frames are followed back at once (see
    /// [`Tracker::keep`]).
    revived: bool,
}

/// A new track's first pose: the frame it came from and the crop its
/// landmarks give for the frame before.
#[derive(Clone, Copy, Debug)]
struct LookBackStart {
    frame_index: u64,
    time: f64,
    roi: Roi,
}

/// A new track looks back only once it has this many poses: most tracks
/// started on false detections die within a frame or two, and looking back
/// for them costs up to a second of landmark runs each.
pub const LOOK_BACK_AFTER_HITS: u32 = 3;

#[derive(Clone, Debug)]
struct LostTrack {
    id: u32,
    roi: Roi,
    lost_time: f64,
    /// The first frame without her.
    lost_frame: u64,
    seen: Seen,
}

/// Per-track summary over the whole clip.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrackSummary {
    pub id: u32,
    pub first_frame: u64,
    pub last_frame: u64,
    /// Frames with a pose.
    pub frames: u64,
    /// Mean box of the landmarks, pixels.
    pub mean_box: BoxPx,
    /// Σ box area over frames: "seen longest and largest".
    pub coverage: f64,
}

/// Frame-by-frame tracker.
pub struct Tracker {
    cfg: TrackerConfig,
    live: Vec<LiveTrack>,
    lost: Vec<LostTrack>,
    next_id: u32,
    frames_since_detect: u32,
    /// Frames since the detector last looked in turned copies of a frame
    /// where nobody at all was followed.
    frames_since_turned_search: u32,
    history: std::collections::VecDeque<Frame>,
    /// Detector runs so far, for the stage report (turned passes included).
    pub detector_runs: u64,
    /// Landmark model runs so far.
    pub landmark_runs: u64,
}

/// The tight box around a pose's visible body landmarks.
pub fn pose_box(pose: &PoseObservation) -> BoxPx {
    let mut b = BoxPx {
        xmin: f32::MAX,
        ymin: f32::MAX,
        xmax: f32::MIN,
        ymax: f32::MIN,
    };
    for l in &pose.image {
        b.xmin = b.xmin.min(l.x);
        b.ymin = b.ymin.min(l.y);
        b.xmax = b.xmax.max(l.x);
        b.ymax = b.ymax.max(l.y);
    }
    b
}

/// The landmark crop for a detection (keypoints 0 and 1, BLAZEPOSE.md §4).
pub fn roi_from_detection(det: &Detection, width: f32, height: f32) -> Option<Roi> {
    let scale = Vec2::new(width, height);
    Roi::from_points(det.keypoints[0] * scale, det.keypoints[1] * scale)
}

/// A detection's box in frame pixels.
fn detection_box(det: &Detection, width: f32, height: f32) -> BoxPx {
    BoxPx {
        xmin: det.xmin * width,
        ymin: det.ymin * height,
        xmax: det.xmax * width,
        ymax: det.ymax * height,
    }
}

/// The same crop turned by each of `turns` (radians), for a person who
/// turned over faster than the landmarks' crop followed.
fn turned(roi: &Roi, turns: &[f32]) -> Vec<Roi> {
    turns
        .iter()
        .map(|t| Roi {
            rotation: normalize_angle(roi.rotation + t),
            ..*roi
        })
        .collect()
}

/// How much larger than her last crop the crops are that look for
/// someone who turned over (see [`retry_crops`]).
const RETRY_GROWTH: f32 = 1.4;

/// Someone lost nearer an edge than this (a fraction of the frame) is
/// more likely walking out than turning over: a larger crop there would
/// take in the edge and the model would answer about a part of her.
const RETRY_EDGE_MARGIN: f32 = 0.1;

/// The crops tried, in order, for someone followed whose crop lost her:
/// her crop turned 45° and 90° either way, then, with `larger`,
/// [`RETRY_GROWTH`] times larger at every eighth of a turn. Turning over (a flip off the roof in
/// walk_outdoor) a body curls up and stretches out faster than the crop
/// follows it: probed on frames 166–173 there, the larger crop turned
/// found him (presence over 0.5) on 6 of 7 frames, the same-size turns on
/// 3. The first crop the tracker accepts ends the search, so a frame
/// costs up to 12 extra runs only while someone is being lost.
fn retry_crops(roi: &Roi, larger: bool) -> Vec<Roi> {
    let mut crops = turned(roi, &[FRAC_PI_4, -FRAC_PI_4, FRAC_PI_2, -FRAC_PI_2]);
    if !larger {
        return crops;
    }
    let larger = Roi {
        size: roi.size * RETRY_GROWTH,
        ..*roi
    };
    let eighths = [0.0, FRAC_PI_4, -FRAC_PI_4, FRAC_PI_2, -FRAC_PI_2];
    crops.extend(turned(&larger, &eighths));
    crops.extend(turned(&larger, &[3.0 * FRAC_PI_4, -3.0 * FRAC_PI_4, PI]));
    crops
}

/// Which detections [`Tracker::associate`] may turn into tracks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// A lost track revived, or else a new id.
    NewOrRevived,
    /// Lost tracks revived only: the turned passes look for the lost.
    RevivedOnly,
}

/// A detection accepted as someone to follow from this frame on.
struct Newcomer {
    track: LiveTrack,
    /// For a revived person, the crop she was lost with (its turn is tried
    /// when the detection's upright crop shows no pose) and when.
    lost: Option<(Roi, f64)>,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Tracker {
        Tracker {
            cfg,
            live: Vec::new(),
            lost: Vec::new(),
            next_id: 1,
            frames_since_detect: u32::MAX,
            frames_since_turned_search: u32::MAX,
            history: std::collections::VecDeque::new(),
            detector_runs: 0,
            landmark_runs: 0,
        }
    }

    /// The landmarks' crop for the next frame when `result` is a pose the
    /// tracker accepts for `track` at `now`.
    fn accept(
        &self,
        track: &mut LiveTrack,
        result: Option<&LandmarkResult>,
        now: f64,
        frame_size: (f32, f32),
    ) -> Option<Roi> {
        let r = result.filter(|r| r.pose.presence > self.cfg.min_presence)?;
        // Someone whose hips left the picture has walked out of it: the
        // model keeps answering on the edge pixels, but not about her.
        let (w, h) = frame_size;
        let hips = 0.5
            * (Vec2::new(r.pose.image[lm::LEFT_HIP].x, r.pose.image[lm::LEFT_HIP].y)
                + Vec2::new(r.pose.image[lm::RIGHT_HIP].x, r.pose.image[lm::RIGHT_HIP].y));
        // The model lags someone walking out (it sees less of her each
        // frame and answers nearer the middle), so where she will be a
        // frame on must be inside too.
        let margin = EDGE_MARGIN * w.max(h);
        let frame_s = (now - track.last_time).clamp(1.0 / 60.0, 1.0 / 15.0) as f32;
        let ahead = hips + track.seen.velocity * frame_s;
        let inside =
            |p: Vec2| (margin..=w - margin).contains(&p.x) && (margin..=h - margin).contains(&p.y);
        if !inside(hips) || !inside(ahead) {
            return None;
        }
        let mut damper = track.damper.clone();
        let next = damper.next_roi(now, r.aux)?;
        self.plausible_move(track, &next, now).then(|| {
            track.damper = damper;
            next
        })
    }

    /// Tracks every person in `frame`.
    pub fn step<M: PoseModels>(
        &mut self,
        frame: &Frame,
        models: &mut M,
    ) -> Result<Vec<TrackedPose>, M::Error> {
        let now = frame.time_s;
        self.lost.retain(|l| now - l.lost_time <= self.cfg.memory_s);
        let due = self.frames_since_detect >= self.cfg.detect_interval.saturating_sub(1);
        // Someone who walked out of the picture is not searched for on
        // every frame: the scheduled detection finds her if she comes
        // back, and looking back fills the frames in between.
        let (w, h) = frame.upright_size();
        let searching = self.lost.iter().any(|l| {
            now - l.lost_time <= self.cfg.retry_s && well_inside(&l.seen.bbox, w as f32, h as f32)
        });
        let fading = self
            .live
            .iter()
            .any(|t| t.presence < self.cfg.redetect_presence);
        let detect_now = self.live.is_empty() || searching || fading || due;

        let size = {
            let (w, h) = frame.upright_size();
            (w as f32, h as f32)
        };
        let mut live = std::mem::take(&mut self.live);
        let rois: Vec<Roi> = live.iter().map(|t| t.roi).collect();
        self.landmark_runs += rois.len() as u64;
        let (detections, results) = if detect_now {
            self.detector_runs += 1;
            self.frames_since_detect = 0;
            models.detect_and_landmarks(frame, &rois)?
        } else {
            self.frames_since_detect += 1;
            (Vec::new(), models.landmarks_batch(frame, &rois)?)
        };

        let mut out = Vec::with_capacity(live.len() + detections.len());
        let mut kept = Vec::with_capacity(live.len() + detections.len());
        for (mut track, result) in live.drain(..).zip(results) {
            let mut next = self.accept(&mut track, result.as_ref(), now, size);
            let mut result = result;
            let mut roi = track.roi;
            if next.is_none() && track.hits >= LOOK_BACK_AFTER_HITS {
                // She may have turned faster than her crop: try it turned,
                // then, lost away from the picture's edges (not walking
                // out of it), larger and turned every way.
                let away = inside_by(&track.seen.bbox, size.0, size.1, RETRY_EDGE_MARGIN);
                for candidate in retry_crops(&track.roi, away) {
                    self.landmark_runs += 1;
                    let r = models.landmarks(frame, &candidate)?;
                    if let Some(n) = self.accept(&mut track, r.as_ref(), now, size) {
                        (next, result, roi) = (Some(n), r, candidate);
                        break;
                    }
                }
            }
            match (result, next) {
                (Some(r), Some(next)) => {
                    out.extend(self.keep(frame, &mut track, r.pose, roi, next, models)?);
                    kept.push(track);
                }
                (r, _) => {
                    tracing::debug!(
                        frame = frame.index,
                        track = track.id,
                        presence = r.as_ref().map(|r| r.pose.presence),
                        "track lost"
                    );
                    self.lose(track, frame);
                }
            }
        }

        // Newcomers are told apart from the people followed by this
        // frame's poses, then get their own run.
        let mut newcomers = self.associate(frame, detections, &kept, Admit::NewOrRevived);
        // Someone lost inside the picture, not one who walked out of it.
        let (w, h) = frame.upright_size();
        let unfound: Vec<BoxPx> = self
            .lost
            .iter()
            .filter(|l| {
                now - l.lost_time <= self.cfg.retry_s
                    && well_inside(&l.seen.bbox, w as f32, h as f32)
            })
            .map(|l| l.seen.bbox)
            .collect();
        if detect_now && !unfound.is_empty() && kept.len() + newcomers.len() < self.cfg.max_people {
            // Nobody upright near a lost person: she may be upside down or
            // lying; look around her in the frame turned each way.
            let mut turned_dets = Vec::new();
            for quarter in 1..4u8 {
                self.detector_runs += 1;
                turned_dets.extend(models.detect_turned(frame, quarter, Look::Near(&unfound))?);
            }
            let taken: Vec<LiveTrack> = kept
                .iter()
                .chain(newcomers.iter().map(|n| &n.track))
                .cloned()
                .collect();
            let revived = self.associate(frame, turned_dets, &taken, Admit::RevivedOnly);
            newcomers.extend(revived);
        }
        // Nobody followed, lost or found upright: someone may be lying or
        // upside down from the start (never seen upright, so never lost).
        // Looked for turned as often as scheduled detections run.
        let nobody = kept.is_empty() && newcomers.is_empty() && self.lost.is_empty();
        self.frames_since_turned_search = self.frames_since_turned_search.saturating_add(1);
        if detect_now
            && nobody
            && self.frames_since_turned_search >= self.cfg.detect_interval.max(1)
        {
            self.frames_since_turned_search = 0;
            let mut turned_dets = Vec::new();
            for quarter in 1..4u8 {
                self.detector_runs += 1;
                turned_dets.extend(models.detect_turned(frame, quarter, Look::Everywhere)?);
            }
            // One body may answer in several turns: the surest turn first.
            turned_dets.sort_by(|a, b| b.score.total_cmp(&a.score));
            newcomers = self.associate(frame, turned_dets, &kept, Admit::NewOrRevived);
        }
        let new_rois: Vec<Roi> = newcomers.iter().map(|n| n.track.roi).collect();
        self.landmark_runs += new_rois.len() as u64;
        let new_results = if new_rois.is_empty() {
            Vec::new()
        } else {
            models.landmarks_batch(frame, &new_rois)?
        };
        for (newcomer, result) in newcomers.into_iter().zip(new_results) {
            let Newcomer { mut track, lost } = newcomer;
            let mut roi = track.roi;
            let mut next = self.accept(&mut track, result.as_ref(), now, size);
            let mut result = result;
            if let (None, Some((lost_roi, _))) = (next, lost) {
                // A revived person's box gives an upright crop; she may
                // still be turned the way she was lost, or any other way.
                let turns = [lost_roi.rotation - roi.rotation, FRAC_PI_2, -FRAC_PI_2, PI];
                for candidate in turned(&track.roi, &turns) {
                    self.landmark_runs += 1;
                    let r = models.landmarks(frame, &candidate)?;
                    if let Some(n) = self.accept(&mut track, r.as_ref(), now, size) {
                        (next, result, roi) = (Some(n), r, candidate);
                        break;
                    }
                }
            }
            if let (Some(r), Some(next)) = (result, next) {
                out.extend(self.keep(frame, &mut track, r.pose, roi, next, models)?);
                kept.push(track);
            } else if let Some((roi, lost_time)) = lost {
                // Not found after all: still lost, from when she was.
                self.lost.push(LostTrack {
                    id: track.id,
                    roi,
                    lost_time,
                    lost_frame: track.look_back_floor,
                    seen: track.seen,
                });
            }
        }
        self.live = kept;
        self.drop_duplicates(frame, &mut out);
        Ok(out)
    }

    /// Records `pose` for `track` (seen through `roi`, `next` the crop for
    /// the coming frame) and, once a new or revived track has proved
    /// itself, the poses found by following her back.
    fn keep<M: PoseModels>(
        &mut self,
        frame: &Frame,
        track: &mut LiveTrack,
        pose: PoseObservation,
        roi: Roi,
        next: Roi,
        models: &mut M,
    ) -> Result<Vec<TrackedPose>, M::Error> {
        let now = frame.time_s;
        let mut out = Vec::new();
        if track.hits == 0 {
            track.look_back_from = Some(LookBackStart {
                frame_index: frame.index,
                time: now,
                roi: next,
            });
        }
        // A revived person needs no proving, and is often lost again
        // within a frame or two (walk_outdoor's man turning over in the
        // air): waiting for her to prove herself lost those frames.
        if track.revived || track.hits + 1 >= LOOK_BACK_AFTER_HITS {
            if let Some(start) = track.look_back_from.take() {
                out.extend(self.look_back(track, start, models)?);
            }
        }
        let bbox = pose_box(&pose);
        track.seen.update(bbox, now, Appearance::of(frame, &bbox));
        track.presence = pose.presence;
        out.push(TrackedPose {
            track_id: track.id,
            frame_index: frame.index,
            roi,
            pose,
        });
        track.roi = next;
        track.last_time = now;
        track.hits += 1;
        Ok(out)
    }

    /// Ends `track` on `frame`, keeping it to be revived (see
    /// [`Seen::lost`]).
    fn lose(&mut self, track: LiveTrack, frame: &Frame) {
        self.lost.push(LostTrack {
            id: track.id,
            roi: track.roi,
            lost_time: frame.time_s,
            lost_frame: frame.index,
            seen: track.seen.lost(),
        });
    }

    /// Keeps `frame` for looking back; call after [`Tracker::step`].
    pub fn remember(&mut self, frame: Frame) {
        if self.cfg.look_back_frames == 0 {
            return;
        }
        // A track looks back from its first frame a few frames after it.
        let keep = self.cfg.look_back_frames + LOOK_BACK_AFTER_HITS as usize;
        if self.history.len() >= keep {
            self.history.pop_front();
        }
        self.history.push_back(frame);
    }

    /// A person is often detected a few frames after she became visible
    /// (walking in, partly hidden). Once a new track has proved itself,
    /// follow her backwards from its first pose through the kept frames,
    /// the same way tracking follows her forwards, until the model loses her.
    fn look_back<M: PoseModels>(
        &mut self,
        track: &LiveTrack,
        start: LookBackStart,
        models: &mut M,
    ) -> Result<Vec<TrackedPose>, M::Error> {
        let mut found = Vec::new();
        let mut roi = start.roi;
        let mut probe = LiveTrack {
            roi,
            last_time: start.time,
            ..track.clone()
        };
        let mut runs = 0;
        let earlier = self.history.iter().rev();
        let earlier =
            earlier.filter(|f| f.index < start.frame_index && f.index >= track.look_back_floor);
        for frame in earlier.take(self.cfg.look_back_frames) {
            runs += 1;
            let Some(r) = models.landmarks(frame, &roi)? else {
                break;
            };
            let next = (r.pose.presence > self.cfg.min_presence)
                .then(|| Roi::from_points(r.aux[0], r.aux[1]))
                .flatten();
            // Time runs backwards here; the plausibility test is symmetric.
            probe.last_time = 2.0 * probe.last_time - frame.time_s;
            match next {
                Some(next) if self.plausible_move(&probe, &next, probe.last_time) => {
                    found.push(TrackedPose {
                        track_id: track.id,
                        frame_index: frame.index,
                        roi,
                        pose: r.pose,
                    });
                    roi = next;
                    probe.roi = next;
                    probe.last_time = frame.time_s;
                }
                _ => break,
            }
        }
        self.landmark_runs += runs;
        found.reverse();
        Ok(found)
    }

    /// A person's crop cannot move more than about half its size between
    /// frames 1/30 s apart; a bigger jump means the landmarks latched onto
    /// something else.
    fn plausible_move(&self, track: &LiveTrack, next: &Roi, now: f64) -> bool {
        let dt = (now - track.last_time).max(1.0 / 30.0) as f32;
        let frames = (dt * 30.0).max(1.0);
        let moved = Vec2::new(next.cx - track.roi.cx, next.cy - track.roi.cy).length();
        let grew = next.size / track.roi.size.max(1.0);
        moved <= 0.5 * track.roi.size * frames && (0.5..=2.0).contains(&grew)
    }

    /// Two tracks on one person (a crossing, or a crop that drifted onto
    /// someone): keep the one that looks like her, or when the looks do not
    /// tell, the one that has followed someone longer, so a short-lived
    /// track cannot take over a person's id. The other is kept as lost.
    fn drop_duplicates(&mut self, frame: &Frame, out: &mut Vec<TrackedPose>) {
        let track = |id: u32| self.live.iter().find(|t| t.id == id);
        let mut drop_ids = Vec::new();
        for i in 0..out.len() {
            for j in (i + 1)..out.len() {
                let same_frame = out[i].frame_index == out[j].frame_index;
                if !same_frame || out[i].track_id == out[j].track_id {
                    continue;
                }
                let a = pose_box(&out[i].pose);
                let b = pose_box(&out[j].pose);
                if a.iou(&b) <= 0.6 {
                    continue;
                }
                let (ia, ib) = (out[i].track_id, out[j].track_id);
                let look = Appearance::of(frame, &a);
                let likeness = |id: u32| {
                    let seen = track(id).and_then(|t| t.seen.appearance.as_ref());
                    seen.zip(look.as_ref()).map(|(s, l)| s.similarity(l))
                };
                let hits = |id: u32| track(id).map_or(0, |t| t.hits);
                let weaker = match (likeness(ia), likeness(ib)) {
                    (Some(la), Some(lb)) if (la - lb).abs() > 0.15 => {
                        if la < lb {
                            ia
                        } else {
                            ib
                        }
                    }
                    _ => match hits(ia).cmp(&hits(ib)) {
                        std::cmp::Ordering::Less => ia,
                        std::cmp::Ordering::Greater => ib,
                        std::cmp::Ordering::Equal => ia.max(ib),
                    },
                };
                drop_ids.push(weaker);
            }
        }
        if drop_ids.is_empty() {
            return;
        }
        out.retain(|t| !drop_ids.contains(&t.track_id));
        let (dropped, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.live)
            .into_iter()
            .partition(|t| drop_ids.contains(&t.id));
        self.live = live;
        for t in dropped {
            self.lose(t, frame);
        }
    }

    /// Tracks for the detections that are not someone in `taken`: a
    /// matching lost id is revived, else (with [`Admit::NewOrRevived`]) a
    /// new id.
    fn associate(
        &mut self,
        frame: &Frame,
        detections: Vec<Detection>,
        taken: &[LiveTrack],
        admit: Admit,
    ) -> Vec<Newcomer> {
        let (w, h) = frame.upright_size();
        let (w, h) = (w as f32, h as f32);
        let now = frame.time_s;
        let dets: Vec<(Detection, Roi, BoxPx, Option<Appearance>)> = detections
            .into_iter()
            .filter_map(|d| {
                let roi = roi_from_detection(&d, w, h)?;
                let b = detection_box(&d, w, h);
                Some((d, roi, b, Appearance::of(frame, &b)))
            })
            .collect();
        tracing::debug!(
            frame = frame.index,
            detections = ?dets.iter().map(|d| (d.2.center(), d.0.score)).collect::<Vec<_>>(),
            "detector"
        );
        // Detections that are someone already followed this frame.
        let tracked = best_pairs(taken.len(), dets.len(), |t, d| {
            let (_, _, b, look) = &dets[d];
            taken[t]
                .seen
                .matches(now, b, look.as_ref())
                .filter(|&m| m >= self.cfg.min_match)
        });
        let free: Vec<usize> = (0..dets.len())
            .filter(|d| !tracked.iter().any(|&(_, td)| td == *d))
            // A box mostly covered by a followed person's is her too (a
            // second box on one body), even when the match went elsewhere.
            .filter(|&d| {
                !taken
                    .iter()
                    .any(|t| t.seen.predicted(now).iou(&dets[d].2) > 0.5)
            })
            .collect();
        // The rest against the lost.
        let revived = best_pairs(self.lost.len(), free.len(), |l, f| {
            let (_, _, b, look) = &dets[free[f]];
            self.lost[l]
                .seen
                .matches(now, b, look.as_ref())
                .filter(|&m| m >= self.cfg.min_revive)
        });
        let margin = EDGE_MARGIN * w.max(h);
        let mut newcomers = Vec::new();
        let mut revived_lost = Vec::new();
        for (f, &d) in free.iter().enumerate() {
            if taken.len() + newcomers.len() >= self.cfg.max_people {
                break;
            }
            let (det, roi, b, look) = &dets[d];
            let lost = revived.iter().find(|&&(_, rf)| rf == f).map(|&(l, _)| l);
            // A lost person's box cut by the picture's left or right side
            // is how someone who walked out looks: the model would answer
            // on the last pixels of her. She is neither brought back nor
            // taken for someone new until the box is inside.
            if lost.is_some() && (b.xmin < margin || b.xmax > w - margin) {
                continue;
            }
            let (id, new_id, seen, floor, lost) = match lost {
                Some(l) => {
                    revived_lost.push(l);
                    let l = &self.lost[l];
                    let lost = Some((l.roi, l.lost_time));
                    (l.id, false, l.seen.clone(), l.lost_frame, lost)
                }
                None if admit == Admit::NewOrRevived && !newcomers_overlap(&newcomers, b) => {
                    let id = self.next_id;
                    self.next_id += 1;
                    let seen = Seen::new(*b, now, *look);
                    (id, true, seen, 0, None)
                }
                None => continue,
            };
            tracing::debug!(
                frame = frame.index,
                id,
                new_id,
                score = det.score,
                "newcomer"
            );
            newcomers.push(Newcomer {
                track: LiveTrack {
                    id,
                    hits: 0,
                    roi: *roi,
                    last_time: now,
                    presence: 1.0,
                    seen,
                    damper: RoiDamper::default(),
                    look_back_from: None,
                    look_back_floor: floor,
                    revived: !new_id,
                },
                lost,
            });
        }
        revived_lost.sort_unstable();
        for l in revived_lost.into_iter().rev() {
            self.lost.swap_remove(l);
        }
        newcomers
    }
}

/// Whether `b` keeps clear of the picture's edges (2 % of its size).
fn well_inside(b: &BoxPx, width: f32, height: f32) -> bool {
    inside_by(b, width, height, 0.02)
}

/// Whether `b` keeps `margin` (a fraction of the frame's width and
/// height) from every edge of a `width`×`height` frame.
fn inside_by(b: &BoxPx, width: f32, height: f32, margin: f32) -> bool {
    let (mx, my) = (margin * width, margin * height);
    b.xmin > mx && b.ymin > my && b.xmax < width - mx && b.ymax < height - my
}

/// Whether `b` is mostly a newcomer already taken from this frame.
fn newcomers_overlap(newcomers: &[Newcomer], b: &BoxPx) -> bool {
    newcomers.iter().any(|n| n.track.seen.bbox.iou(b) > 0.5)
}

/// Accumulates [`TrackSummary`]s frame by frame.
#[derive(Default)]
pub struct TrackBook {
    tracks: Vec<(TrackSummary, [f64; 4])>,
}

impl TrackBook {
    pub fn record(&mut self, poses: &[TrackedPose]) {
        for p in poses {
            self.record_pose(p.track_id, p.frame_index, &p.pose);
        }
    }

    /// One pose of one track (poses read back or stitched together).
    pub fn record_pose(&mut self, track_id: u32, frame_index: u64, pose: &PoseObservation) {
        {
            let b = pose_box(pose);
            let entry = match self.tracks.iter_mut().position(|(t, _)| t.id == track_id) {
                Some(i) => &mut self.tracks[i],
                None => {
                    self.tracks.push((
                        TrackSummary {
                            id: track_id,
                            first_frame: frame_index,
                            last_frame: frame_index,
                            frames: 0,
                            mean_box: b,
                            coverage: 0.0,
                        },
                        [0.0; 4],
                    ));
                    self.tracks.last_mut().expect("just pushed")
                }
            };
            let (summary, sums) = entry;
            summary.first_frame = summary.first_frame.min(frame_index);
            summary.last_frame = summary.last_frame.max(frame_index);
            summary.frames += 1;
            summary.coverage += b.area() as f64;
            sums[0] += b.xmin as f64;
            sums[1] += b.ymin as f64;
            sums[2] += b.xmax as f64;
            sums[3] += b.ymax as f64;
            let n = summary.frames as f64;
            summary.mean_box = BoxPx {
                xmin: (sums[0] / n) as f32,
                ymin: (sums[1] / n) as f32,
                xmax: (sums[2] / n) as f32,
                ymax: (sums[3] / n) as f32,
            };
        }
    }

    /// Summaries ordered by id.
    pub fn summaries(&self) -> Vec<TrackSummary> {
        let mut v: Vec<TrackSummary> = self.tracks.iter().map(|(t, _)| t.clone()).collect();
        v.sort_by_key(|t| t.id);
        v
    }

    /// The track seen longest and largest (the subject under `--person auto`).
    pub fn auto_subject(&self) -> Option<u32> {
        auto_subject(&self.summaries())
    }
}

/// Of `tracks`, the one seen longest and largest: the subject under
/// `--person auto`, for a run and for a re-solve from tracks.json alike.
pub fn auto_subject(tracks: &[TrackSummary]) -> Option<u32> {
    tracks
        .iter()
        .max_by(|a, b| a.coverage.total_cmp(&b.coverage))
        .map(|t| t.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::{ImageLandmark, NUM_LANDMARKS};
    use glam::Vec3;
    use std::f32::consts::{FRAC_PI_2, FRAC_PI_4, PI};

    fn square(cx: f32, cy: f32, side: f32) -> BoxPx {
        BoxPx::around(Vec2::new(cx, cy), Vec2::splat(side))
    }

    #[test]
    fn someone_lost_while_curled_up_is_remembered_at_full_size_and_standing_still() {
        // Standing (250 px), then curling up to 60 px while the box swings
        // left over half a second, then lost.
        let mut seen = Seen::new(square(800.0, 300.0, 250.0), 0.0, None);
        for k in 1..=15 {
            let t = k as f64 / 30.0;
            seen.update(square(800.0 - 10.0 * k as f32, 300.0, 60.0), t, None);
        }
        let lost = seen.clone().lost();
        assert_eq!(lost.velocity, Vec2::ZERO);
        let side = lost.bbox.xmax - lost.bbox.xmin;
        assert!((170.0..=250.0).contains(&side), "remembered side {side}");
        assert_eq!(lost.bbox.center(), seen.bbox.center());
        // Landed and standing again, 0.2 s on, near where he was lost: the
        // shrunken box refuses him (too much growth), the remembered one
        // takes him back.
        let landed = square(700.0, 330.0, 260.0);
        assert!(seen.matches(0.7, &landed, None).is_none());
        assert!(lost.matches(0.7, &landed, None).is_some());
    }

    /// A scripted world: people are squares that move; the "models" see them.
    struct Scripted {
        /// Per frame: (centre x, centre y, size) of each visible person.
        people: Vec<Vec<(f32, f32, f32)>>,
        frame: usize,
        detect_calls: usize,
    }

    fn pose_at(cx: f32, cy: f32, size: f32) -> LandmarkResult {
        let mut image = [ImageLandmark::default(); NUM_LANDMARKS];
        for (i, l) in image.iter_mut().enumerate() {
            let t = i as f32 / NUM_LANDMARKS as f32 - 0.5;
            *l = ImageLandmark {
                x: cx + t * size * 0.4,
                y: cy + t * size * 0.8,
                z: 0.0,
                visibility: 0.9,
                presence: 0.9,
            };
        }
        LandmarkResult {
            pose: PoseObservation {
                image,
                world: [Vec3::ZERO; NUM_LANDMARKS],
                presence: 0.95,
            },
            aux: [Vec2::new(cx, cy), Vec2::new(cx, cy - size / 2.5)],
        }
    }

    impl PoseModels for Scripted {
        type Error = ();
        fn detect(&mut self, _frame: &Frame) -> Result<Vec<Detection>, ()> {
            self.detect_calls += 1;
            Ok(self.people[self.frame]
                .iter()
                .map(|&(cx, cy, s)| Detection {
                    xmin: (cx - s / 2.0) / 1000.0,
                    ymin: (cy - s / 2.0) / 1000.0,
                    xmax: (cx + s / 2.0) / 1000.0,
                    ymax: (cy + s / 2.0) / 1000.0,
                    keypoints: [
                        Vec2::new(cx / 1000.0, cy / 1000.0),
                        Vec2::new(cx / 1000.0, (cy - s / 2.5) / 1000.0),
                        Vec2::ZERO,
                        Vec2::ZERO,
                    ],
                    score: 0.9,
                })
                .collect())
        }
        fn landmarks(&mut self, frame: &Frame, roi: &Roi) -> Result<Option<LandmarkResult>, ()> {
            // The person whose centre lies inside the crop, if any.
            Ok(self.people[frame.index as usize]
                .iter()
                .find(|&&(cx, cy, _)| {
                    (cx - roi.cx).abs() < roi.size * 0.75 && (cy - roi.cy).abs() < roi.size * 0.75
                })
                .map(|&(cx, cy, s)| pose_at(cx, cy, s)))
        }
    }

    fn run(
        people: Vec<Vec<(f32, f32, f32)>>,
        cfg: TrackerConfig,
    ) -> (Vec<Vec<TrackedPose>>, usize) {
        let (out, detect_calls, _) = run_counted(people, cfg);
        (out, detect_calls)
    }

    /// Like [`run`], also returning the tracker's landmark runs.
    fn run_counted(
        people: Vec<Vec<(f32, f32, f32)>>,
        cfg: TrackerConfig,
    ) -> (Vec<Vec<TrackedPose>>, usize, u64) {
        let frames = people.len();
        let mut models = Scripted {
            people,
            frame: 0,
            detect_calls: 0,
        };
        let mut tracker = Tracker::new(cfg);
        let mut out = Vec::new();
        for i in 0..frames {
            models.frame = i;
            let mut f = Frame::solid(1000, 1000, [16, 128, 128]);
            f.index = i as u64;
            f.time_s = i as f64 / 30.0;
            out.push(tracker.step(&f, &mut models).unwrap());
            tracker.remember(f);
        }
        (out, models.detect_calls, tracker.landmark_runs)
    }

    #[test]
    fn a_late_detected_person_is_followed_back_once_the_track_holds() {
        // The walker is visible from frame 12 but first detected at 20.
        let people: Vec<_> = (0..40)
            .map(|i| {
                let mut v = vec![(200.0, 300.0, 200.0)];
                if i >= 12 {
                    v.push((800.0 - (i - 12) as f32 * 5.0, 700.0, 150.0));
                }
                v
            })
            .collect();
        let (out, _, _) = run_counted(people, TrackerConfig::default());
        let mut walker_frames: Vec<u64> = out
            .iter()
            .flatten()
            .filter(|t| t.pose.image[16].y > 500.0)
            .map(|t| t.frame_index)
            .collect();
        walker_frames.sort_unstable();
        assert_eq!(walker_frames, (12..40).collect::<Vec<u64>>());
        // The poses found backwards come out a few frames after detection.
        let first_out = out.iter().position(|f| {
            f.iter()
                .any(|t| t.frame_index == 12 && t.pose.image[16].y > 500.0)
        });
        assert_eq!(first_out, Some(20 + LOOK_BACK_AFTER_HITS as usize - 1));
    }

    #[test]
    fn a_track_that_dies_young_does_not_look_back() {
        // Someone shows for two frames only (a false detection, in effect).
        let people: Vec<_> = (0..30)
            .map(|i| {
                let mut v = vec![(200.0, 300.0, 200.0)];
                if (10..12).contains(&i) {
                    v.push((800.0, 700.0, 150.0));
                }
                v
            })
            .collect();
        let (out, _, runs) = run_counted(people, TrackerConfig::default());
        // One run per frame for the person standing, two for the blip, and
        // one more where the blip's track finds nobody.
        assert_eq!(runs, 30 + 2 + 1, "no look-back runs");
        assert!(out[10].iter().any(|t| t.pose.image[16].y > 500.0));
    }

    #[test]
    fn two_people_keep_their_ids_and_detection_is_sparse() {
        let people: Vec<_> = (0..40)
            .map(|i| {
                let mut v = vec![(200.0 + i as f32 * 2.0, 300.0, 200.0)];
                if i >= 12 {
                    v.push((800.0 - (i - 12) as f32 * 5.0, 700.0, 150.0));
                }
                v
            })
            .collect();
        let (out, detect_calls) = run(people, TrackerConfig::default());
        assert_eq!(out[0].len(), 1);
        let first = out[0][0].track_id;
        for (i, frame) in out.iter().enumerate() {
            let a = frame.iter().find(|t| t.pose.image[16].y < 500.0).unwrap();
            assert_eq!(a.track_id, first, "frame {i}");
        }
        // The walker appears at frame 12 and is picked up by the next
        // periodic detection (frame 20), keeping one id after that.
        let walker_ids: Vec<u32> = out[20..]
            .iter()
            .map(|f| {
                f.iter()
                    .find(|t| t.pose.image[16].y > 500.0)
                    .unwrap()
                    .track_id
            })
            .collect();
        assert!(walker_ids
            .iter()
            .all(|&id| id == walker_ids[0] && id != first));
        assert!(detect_calls <= 5, "detector ran {detect_calls} times");
    }

    #[test]
    fn someone_who_walks_out_is_not_searched_for_on_every_frame() {
        // One person stands; the other walks out on the left by frame 10
        // and back in from frame 25.
        let walker = |i: usize| match i {
            0..=9 => Some(200.0 - 25.0 * i as f32),
            25.. => Some(-100.0 + 25.0 * (i - 25) as f32),
            _ => None,
        };
        let people: Vec<_> = (0..50)
            .map(|i| {
                let mut v = vec![(600.0, 400.0, 200.0)];
                v.extend(walker(i).filter(|&x| x > 0.0).map(|x| (x, 600.0, 200.0)));
                v
            })
            .collect();
        let (out, detect_calls) = run(people, TrackerConfig::default());
        // The scheduled detections (every 10 frames) and few more: not one
        // a frame for half a second after she left.
        assert!(detect_calls <= 7, "detector ran {detect_calls} times");
        // Back in, she is found by the next scheduled detection and
        // followed back to where she reappeared.
        let back: Vec<u64> = out
            .iter()
            .flatten()
            .filter(|t| t.pose.image[16].y > 500.0 && t.frame_index >= 25)
            .map(|t| t.frame_index)
            .collect();
        assert!(
            back.contains(&30) && back.contains(&49),
            "walker back on {back:?}"
        );
    }

    #[test]
    fn a_jump_onto_someone_else_ends_the_track() {
        // Person A vanishes at frame 5 while person B stands 130 px away,
        // still inside A's last crop: the landmark model would happily
        // describe B, but no body moves that far in 1/30 s.
        let people: Vec<_> = (0..10)
            .map(|i| {
                if i < 5 {
                    vec![(300.0, 300.0, 200.0)]
                } else {
                    vec![(430.0, 300.0, 200.0)]
                }
            })
            .collect();
        let cfg = TrackerConfig {
            detect_interval: 100,
            ..TrackerConfig::default()
        };
        let (out, _) = run(people, cfg);
        let a = out[0][0].track_id;
        for f in &out[5..] {
            for t in f {
                let centre = pose_box(&t.pose).center();
                if (centre.x - 430.0).abs() < 20.0 {
                    assert_ne!(t.track_id, a, "track A switched onto B");
                }
            }
        }
        // B is picked up under an id of its own.
        assert!(out[9].iter().any(|t| t.track_id != a));
    }

    #[test]
    fn lost_person_is_revived_with_the_same_id() {
        let people: Vec<_> = (0..20)
            .map(|i| {
                if (8..11).contains(&i) {
                    vec![]
                } else {
                    vec![(500.0, 500.0, 200.0)]
                }
            })
            .collect();
        let (out, _) = run(people, TrackerConfig::default());
        let id = out[0][0].track_id;
        assert!(out[8].is_empty());
        assert_eq!(out[11][0].track_id, id);
        assert_eq!(out[19][0].track_id, id);
    }

    /// One person whose pose the model gives only through a crop centred
    /// on him (within 50 px), and whom the detector misses on some frames:
    /// at frame 10 he moves 60 px at once (the crop left behind shows
    /// nothing), the detector finds him again at 13, and from 14 on he is
    /// gone. Frames 10-12 are there only to be followed back from 13.
    struct Glare;

    impl Glare {
        fn centre(frame: usize) -> Option<Vec2> {
            match frame {
                0..=9 => Some(Vec2::new(500.0, 500.0)),
                10..=13 => Some(Vec2::new(560.0, 500.0)),
                _ => None,
            }
        }
    }

    impl PoseModels for Glare {
        type Error = ();
        fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, ()> {
            let seen = matches!(frame.index, 0..=9 | 13);
            let Some(c) = Self::centre(frame.index as usize).filter(|_| seen) else {
                return Ok(Vec::new());
            };
            let (c, half) = (c / 1000.0, 0.1);
            Ok(vec![Detection {
                xmin: c.x - half,
                ymin: c.y - half,
                xmax: c.x + half,
                ymax: c.y + half,
                keypoints: [c, c - Vec2::new(0.0, half / 1.25), Vec2::ZERO, Vec2::ZERO],
                score: 0.9,
            }])
        }
        fn landmarks(&mut self, frame: &Frame, roi: &Roi) -> Result<Option<LandmarkResult>, ()> {
            Ok(Self::centre(frame.index as usize)
                .filter(|c| (*c - Vec2::new(roi.cx, roi.cy)).length() < 50.0)
                .map(|c| pose_at(c.x, c.y, 200.0)))
        }
    }

    #[test]
    fn a_revived_person_lost_again_at_once_still_gets_the_frames_before() {
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut frames = Vec::new();
        for i in 0..20 {
            let mut f = Frame::solid(1000, 1000, [16, 128, 128]);
            f.index = i;
            f.time_s = i as f64 / 30.0;
            let poses = tracker.step(&f, &mut Glare).unwrap();
            frames.extend(poses.iter().map(|p| (p.frame_index, p.track_id)));
            tracker.remember(f);
        }
        frames.sort_unstable();
        let id = frames[0].1;
        // One id throughout, and every frame he was there, although his
        // revived track held for one frame only.
        assert!(frames.iter().all(|&(_, t)| t == id), "{frames:?}");
        let seen: Vec<u64> = frames.iter().map(|&(f, _)| f).collect();
        assert_eq!(seen, (0..14).collect::<Vec<u64>>());
    }

    /// One person at a fixed place who turns upside down at frame 10 (a
    /// flip, in one step): the detector sees him only while he is upright
    /// in the picture it is given, the landmark model only through a crop
    /// turned his way.
    struct Tumbling {
        frame: usize,
        /// The boxes each turned pass looked near (`None`: everywhere).
        turned_looks: Vec<Option<Vec<BoxPx>>>,
        /// Whether a crop larger than him still shows him (else only
        /// crops of about his size do, and the detector must find him).
        sees_in_larger_crops: bool,
    }

    impl Tumbling {
        const CENTRE: Vec2 = Vec2::new(500.0, 500.0);
        const SIZE: f32 = 200.0;
        fn rotation(&self, frame: usize) -> f32 {
            if frame < 10 {
                0.0
            } else {
                PI
            }
        }
        /// Where his head is from his hips, in the frame.
        fn up(rotation: f32) -> Vec2 {
            Vec2::new(rotation.sin(), -rotation.cos())
        }
    }

    impl PoseModels for Tumbling {
        type Error = ();
        fn detect(&mut self, frame: &Frame) -> Result<Vec<Detection>, ()> {
            self.detect_turned(frame, 0, Look::Everywhere)
        }
        fn detect_turned(
            &mut self,
            _frame: &Frame,
            quarter_turns: u8,
            look: Look,
        ) -> Result<Vec<Detection>, ()> {
            if quarter_turns != 0 {
                let near = match look {
                    Look::Everywhere => None,
                    Look::Near(b) => Some(b.to_vec()),
                };
                let sees_him = near.as_ref().is_none_or(|boxes| {
                    boxes
                        .iter()
                        .any(|b| (b.center() - Self::CENTRE).length() < Self::SIZE)
                });
                self.turned_looks.push(near);
                if !sees_him {
                    return Ok(Vec::new());
                }
            }
            let rotation = self.rotation(self.frame);
            let turn = f32::from(quarter_turns) * FRAC_PI_2;
            if normalize_angle(rotation - turn).abs() > FRAC_PI_4 {
                return Ok(Vec::new());
            }
            let c = Self::CENTRE / 1000.0;
            let half = Self::SIZE / 2000.0;
            Ok(vec![Detection {
                xmin: c.x - half,
                ymin: c.y - half,
                xmax: c.x + half,
                ymax: c.y + half,
                keypoints: [
                    c,
                    c + Self::up(rotation) * half / 1.25,
                    Vec2::ZERO,
                    Vec2::ZERO,
                ],
                score: 0.9,
            }])
        }
        fn landmarks(&mut self, frame: &Frame, roi: &Roi) -> Result<Option<LandmarkResult>, ()> {
            let rotation = self.rotation(frame.index as usize);
            let near = (Vec2::new(roi.cx, roi.cy) - Self::CENTRE).length() < 50.0;
            if !near || normalize_angle(roi.rotation - rotation).abs() > PI / 6.0 {
                return Ok(None);
            }
            if !self.sees_in_larger_crops && roi.size > 1.2 * Self::SIZE {
                return Ok(None);
            }
            let mut r = pose_at(Self::CENTRE.x, Self::CENTRE.y, Self::SIZE);
            r.aux[1] = Self::CENTRE + Self::up(rotation) * Self::SIZE / 2.5;
            Ok(Some(r))
        }
    }

    /// Twenty frames of [`Tumbling`]: the poses and the stand-in models.
    fn tumble(sees_in_larger_crops: bool) -> (Vec<TrackedPose>, Tumbling) {
        let mut models = Tumbling {
            frame: 0,
            turned_looks: Vec::new(),
            sees_in_larger_crops,
        };
        let mut tracker = Tracker::new(TrackerConfig::default());
        let mut poses = Vec::new();
        for i in 0..20 {
            models.frame = i;
            let mut f = Frame::solid(1000, 1000, [16, 128, 128]);
            f.index = i as u64;
            f.time_s = i as f64 / 30.0;
            poses.extend(tracker.step(&f, &mut models).unwrap());
            tracker.remember(f);
        }
        (poses, models)
    }

    #[test]
    fn a_person_who_turns_over_is_found_again_and_bridged() {
        let (poses, models) = tumble(false);
        let id = poses[0].track_id;
        let mut frames: Vec<u64> = poses
            .iter()
            .inspect(|p| assert_eq!(p.track_id, id, "frame {}", p.frame_index))
            .map(|p| p.frame_index)
            .collect();
        frames.sort_unstable();
        // Every frame, the one he flipped on included (found by looking
        // back from where the turned detector found him).
        assert_eq!(frames, (0..20).collect::<Vec<u64>>());
        let upside_down = poses.iter().find(|p| p.frame_index == 15).unwrap();
        assert!((upside_down.roi.rotation.abs() - PI).abs() < 0.1);
        // The turned passes looked around where he was lost, not at the
        // whole turned frame.
        assert!(!models.turned_looks.is_empty());
        assert!(
            models.turned_looks.iter().all(Option::is_some),
            "{:?}",
            models.turned_looks
        );
    }

    #[test]
    fn a_person_who_turns_over_is_kept_by_a_larger_turned_crop() {
        // The same flip, but a larger crop turned half a turn shows him:
        // the retry keeps the track on the frame he flips, before any
        // detector pass has to look for him.
        let (poses, models) = tumble(true);
        let mut frames: Vec<u64> = poses.iter().map(|p| p.frame_index).collect();
        frames.sort_unstable();
        assert_eq!(frames, (0..20).collect::<Vec<u64>>());
        assert!(poses.iter().all(|p| p.track_id == poses[0].track_id));
        assert!(
            models.turned_looks.is_empty(),
            "the turned detector ran: {:?}",
            models.turned_looks
        );
        let larger: Vec<u64> = poses
            .iter()
            .filter(|p| p.roi.size > 1.3 * Tumbling::SIZE)
            .map(|p| p.frame_index)
            .collect();
        assert_eq!(larger.len(), 1, "found once in the larger crop: {larger:?}");
    }

    #[test]
    fn track_book_prefers_longest_and_largest() {
        let mut book = TrackBook::default();
        let small = TrackedPose {
            track_id: 1,
            frame_index: 0,
            roi: Roi {
                cx: 0.0,
                cy: 0.0,
                size: 1.0,
                rotation: 0.0,
            },
            pose: pose_at(100.0, 100.0, 50.0).pose,
        };
        let big = TrackedPose {
            track_id: 2,
            pose: pose_at(500.0, 500.0, 400.0).pose,
            ..small.clone()
        };
        for f in 0..10 {
            book.record(std::slice::from_ref(&TrackedPose {
                frame_index: f,
                ..small.clone()
            }));
        }
        for f in 5..10 {
            book.record(std::slice::from_ref(&TrackedPose {
                frame_index: f,
                ..big.clone()
            }));
        }
        assert_eq!(book.auto_subject(), Some(2));
        let s = book.summaries();
        assert_eq!((s[0].first_frame, s[0].last_frame, s[0].frames), (0, 9, 10));
        assert_eq!(s[1].first_frame, 5);
    }
}
