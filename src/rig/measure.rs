//! Body measurements: the subject's segment lengths, estimated once per clip
//! from world landmarks, from which the rig's rest pose is built.
//!
//! Lengths are medians over frames because single frames are noisy and
//! foreshortened limbs (pointing at the camera) come out short; the median
//! ignores both as long as they are a minority. Paired segments are averaged
//! over both sides so the rig is symmetric: animators expect mirrored poses
//! to be exact, and a one-sided difference is more often noise than anatomy.

use glam::Vec3;
use serde::{Deserialize, Serialize};

use super::math::{median, unit, MIN_LEN};
use crate::pose::{lm, NUM_LANDMARKS};

/// Segment lengths in metres, as BlazePose's world landmarks measure them
/// (landmark to landmark, not anatomical bone lengths).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BodyMeasurements {
    /// Shoulder to elbow (11→13).
    pub upper_arm: f32,
    /// Elbow to wrist (13→15).
    pub forearm: f32,
    /// Wrist to the middle of pinky and index (15→mid(17,19)).
    pub hand: f32,
    /// Pinky to index (17↔19).
    pub hand_width: f32,
    /// Hip to knee (23→25).
    pub thigh: f32,
    /// Knee to ankle (25→27).
    pub shin: f32,
    /// Ankle to foot index (27→31).
    pub foot: f32,
    /// Ankle to heel (27→29).
    pub heel: f32,
    /// Ankle's distance from the heel–foot-index line: its height above a
    /// flat floor.
    pub ankle_height: f32,
    /// Hip to hip (23↔24).
    pub hip_width: f32,
    /// Shoulder to shoulder (11↔12).
    pub shoulder_width: f32,
    /// Mid-hip to mid-shoulder.
    pub torso: f32,
    /// Mid-shoulder to mid-ears.
    pub neck: f32,
    /// Ear to ear (7↔8).
    pub ear_width: f32,
    /// Nose in front of mid-ears, along the head's forward axis.
    pub nose_forward: f32,
    /// Nose above mid-ears, along the head's up axis (usually negative).
    pub nose_up: f32,
}

/// Default and plausible range of one measurement.
#[derive(Clone, Copy)]
struct Limit {
    default: f32,
    min: f32,
    max: f32,
}

impl Limit {
    const fn new(default: f32, min: f32, max: f32) -> Self {
        Limit { default, min, max }
    }

    fn accepts(self, v: f32) -> bool {
        v.is_finite() && v >= self.min && v <= self.max
    }

    /// The limit for a person `k` times the average adult's size.
    fn scaled(self, k: f32) -> Limit {
        Limit::new(self.default * k, self.min * k, self.max * k)
    }
}

/// Range of [`BodyMeasurements::size_factor`]: a small child to a very tall
/// adult.
const SIZE_FACTOR_RANGE: (f32, f32) = (0.5, 1.6);

// Defaults describe an average adult (about 1.70 m) as BlazePose measures
// one; ranges are wide enough for children and tall adults but reject
// values only a tracking failure produces.
const UPPER_ARM: Limit = Limit::new(0.29, 0.15, 0.45);
const FOREARM: Limit = Limit::new(0.26, 0.12, 0.40);
const HAND: Limit = Limit::new(0.09, 0.03, 0.18);
const HAND_WIDTH: Limit = Limit::new(0.07, 0.02, 0.14);
const THIGH: Limit = Limit::new(0.42, 0.22, 0.65);
const SHIN: Limit = Limit::new(0.41, 0.22, 0.62);
const FOOT: Limit = Limit::new(0.17, 0.08, 0.28);
const HEEL: Limit = Limit::new(0.095, 0.04, 0.16);
const ANKLE_HEIGHT: Limit = Limit::new(0.075, 0.03, 0.14);
const HIP_WIDTH: Limit = Limit::new(0.20, 0.10, 0.40);
const SHOULDER_WIDTH: Limit = Limit::new(0.36, 0.20, 0.55);
const TORSO: Limit = Limit::new(0.50, 0.28, 0.75);
const NECK: Limit = Limit::new(0.22, 0.10, 0.36);
const EAR_WIDTH: Limit = Limit::new(0.15, 0.08, 0.24);
const NOSE_FORWARD: Limit = Limit::new(0.10, 0.03, 0.18);
const NOSE_UP: Limit = Limit::new(-0.02, -0.10, 0.08);

impl Default for BodyMeasurements {
    /// An average adult.
    fn default() -> Self {
        BodyMeasurements {
            upper_arm: UPPER_ARM.default,
            forearm: FOREARM.default,
            hand: HAND.default,
            hand_width: HAND_WIDTH.default,
            thigh: THIGH.default,
            shin: SHIN.default,
            foot: FOOT.default,
            heel: HEEL.default,
            ankle_height: ANKLE_HEIGHT.default,
            hip_width: HIP_WIDTH.default,
            shoulder_width: SHOULDER_WIDTH.default,
            torso: TORSO.default,
            neck: NECK.default,
            ear_width: EAR_WIDTH.default,
            nose_forward: NOSE_FORWARD.default,
            nose_up: NOSE_UP.default,
        }
    }
}

/// Per-frame samples of every measurement, `[left, right]` for paired ones.
#[derive(Default)]
struct Samples {
    upper_arm: [Vec<f32>; 2],
    forearm: [Vec<f32>; 2],
    hand: [Vec<f32>; 2],
    hand_width: [Vec<f32>; 2],
    thigh: [Vec<f32>; 2],
    shin: [Vec<f32>; 2],
    foot: [Vec<f32>; 2],
    heel: [Vec<f32>; 2],
    ankle_height: [Vec<f32>; 2],
    hip_width: Vec<f32>,
    shoulder_width: Vec<f32>,
    torso: Vec<f32>,
    neck: Vec<f32>,
    ear_width: Vec<f32>,
    nose_forward: Vec<f32>,
    nose_up: Vec<f32>,
}

/// Landmark indices of one body side, so both sides share one code path.
struct Side {
    shoulder: usize,
    elbow: usize,
    wrist: usize,
    pinky: usize,
    index: usize,
    hip: usize,
    knee: usize,
    ankle: usize,
    heel: usize,
    foot_index: usize,
}

const SIDES: [Side; 2] = [
    Side {
        shoulder: lm::LEFT_SHOULDER,
        elbow: lm::LEFT_ELBOW,
        wrist: lm::LEFT_WRIST,
        pinky: lm::LEFT_PINKY,
        index: lm::LEFT_INDEX,
        hip: lm::LEFT_HIP,
        knee: lm::LEFT_KNEE,
        ankle: lm::LEFT_ANKLE,
        heel: lm::LEFT_HEEL,
        foot_index: lm::LEFT_FOOT_INDEX,
    },
    Side {
        shoulder: lm::RIGHT_SHOULDER,
        elbow: lm::RIGHT_ELBOW,
        wrist: lm::RIGHT_WRIST,
        pinky: lm::RIGHT_PINKY,
        index: lm::RIGHT_INDEX,
        hip: lm::RIGHT_HIP,
        knee: lm::RIGHT_KNEE,
        ankle: lm::RIGHT_ANKLE,
        heel: lm::RIGHT_HEEL,
        foot_index: lm::RIGHT_FOOT_INDEX,
    },
];

/// Distance between two landmarks, if both are usable.
fn dist(a: Vec3, b: Vec3) -> Option<f32> {
    let d = (b - a).length();
    (d.is_finite() && d > MIN_LEN).then_some(d)
}

fn mid(a: Vec3, b: Vec3) -> Vec3 {
    0.5 * (a + b)
}

fn push(pool: &mut Vec<f32>, v: Option<f32>) {
    if let Some(v) = v {
        pool.push(v);
    }
}

/// Median of one side's samples, if plausible.
fn side_median(samples: &[f32], limit: Limit) -> Option<f32> {
    median(samples.to_vec()).filter(|v| limit.accepts(*v))
}

/// Mean of the plausible side medians, else the default.
fn symmetric(pools: &[Vec<f32>; 2], limit: Limit) -> f32 {
    match (side_median(&pools[0], limit), side_median(&pools[1], limit)) {
        (Some(l), Some(r)) => 0.5 * (l + r),
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => limit.default,
    }
}

fn single(pool: &[f32], limit: Limit) -> f32 {
    side_median(pool, limit).unwrap_or(limit.default)
}

impl Samples {
    fn add_frame(&mut self, w: &[Vec3; NUM_LANDMARKS]) {
        for (s, side) in SIDES.iter().enumerate() {
            push(
                &mut self.upper_arm[s],
                dist(w[side.shoulder], w[side.elbow]),
            );
            push(&mut self.forearm[s], dist(w[side.elbow], w[side.wrist]));
            push(
                &mut self.hand[s],
                dist(w[side.wrist], mid(w[side.pinky], w[side.index])),
            );
            push(&mut self.hand_width[s], dist(w[side.pinky], w[side.index]));
            push(&mut self.thigh[s], dist(w[side.hip], w[side.knee]));
            push(&mut self.shin[s], dist(w[side.knee], w[side.ankle]));
            push(&mut self.foot[s], dist(w[side.ankle], w[side.foot_index]));
            push(&mut self.heel[s], dist(w[side.ankle], w[side.heel]));
            push(
                &mut self.ankle_height[s],
                line_distance(w[side.ankle], w[side.heel], w[side.foot_index]),
            );
        }
        let (mid_hip, mid_shoulder, mid_ears) = (
            mid(w[lm::LEFT_HIP], w[lm::RIGHT_HIP]),
            mid(w[lm::LEFT_SHOULDER], w[lm::RIGHT_SHOULDER]),
            mid(w[lm::LEFT_EAR], w[lm::RIGHT_EAR]),
        );
        push(&mut self.hip_width, dist(w[lm::LEFT_HIP], w[lm::RIGHT_HIP]));
        push(
            &mut self.shoulder_width,
            dist(w[lm::LEFT_SHOULDER], w[lm::RIGHT_SHOULDER]),
        );
        push(&mut self.torso, dist(mid_hip, mid_shoulder));
        push(&mut self.neck, dist(mid_shoulder, mid_ears));
        push(&mut self.ear_width, dist(w[lm::LEFT_EAR], w[lm::RIGHT_EAR]));
        // The nose is measured in a head frame (lateral: ear to ear, up: from
        // the shoulders) so that head turns do not change the numbers.
        if let (Some(lateral), Some(up)) = (
            unit(w[lm::LEFT_EAR] - w[lm::RIGHT_EAR]),
            unit(mid_ears - mid_shoulder),
        ) {
            if let Some(up) = unit(up - lateral * lateral.dot(up)) {
                let forward = lateral.cross(up);
                let nose = w[lm::NOSE] - mid_ears;
                if nose.is_finite() {
                    self.nose_forward.push(nose.dot(forward));
                    self.nose_up.push(nose.dot(up));
                }
            }
        }
    }
}

/// Distance of `p` from the line through `a` and `b`.
fn line_distance(p: Vec3, a: Vec3, b: Vec3) -> Option<f32> {
    let along = unit(b - a)?;
    let d = (p - a).cross(along).length();
    d.is_finite().then_some(d)
}

impl BodyMeasurements {
    /// Median segment lengths over `frames` of hip-centred world landmarks
    /// (any orientation; only distances are used). Values that no frame
    /// measures, or whose median is outside the human range, fall back to
    /// the average adult of [`BodyMeasurements::default`].
    pub fn from_world_frames(frames: &[[Vec3; NUM_LANDMARKS]]) -> BodyMeasurements {
        let mut s = Samples::default();
        for frame in frames {
            s.add_frame(frame);
        }
        BodyMeasurements {
            upper_arm: symmetric(&s.upper_arm, UPPER_ARM),
            forearm: symmetric(&s.forearm, FOREARM),
            hand: symmetric(&s.hand, HAND),
            hand_width: symmetric(&s.hand_width, HAND_WIDTH),
            thigh: symmetric(&s.thigh, THIGH),
            shin: symmetric(&s.shin, SHIN),
            foot: symmetric(&s.foot, FOOT),
            heel: symmetric(&s.heel, HEEL),
            ankle_height: symmetric(&s.ankle_height, ANKLE_HEIGHT),
            hip_width: single(&s.hip_width, HIP_WIDTH),
            shoulder_width: single(&s.shoulder_width, SHOULDER_WIDTH),
            torso: single(&s.torso, TORSO),
            neck: single(&s.neck, NECK),
            ear_width: single(&s.ear_width, EAR_WIDTH),
            nose_forward: single(&s.nose_forward, NOSE_FORWARD),
            nose_up: single(&s.nose_up, NOSE_UP),
        }
        .sanitized()
    }

    /// Every length multiplied by `k` (a person `k` times the size, same
    /// proportions); non-positive or non-finite `k` changes nothing.
    pub fn scaled(&self, k: f32) -> BodyMeasurements {
        if !(k.is_finite() && k > 0.0) {
            return *self;
        }
        BodyMeasurements {
            upper_arm: self.upper_arm * k,
            forearm: self.forearm * k,
            hand: self.hand * k,
            hand_width: self.hand_width * k,
            thigh: self.thigh * k,
            shin: self.shin * k,
            foot: self.foot * k,
            heel: self.heel * k,
            ankle_height: self.ankle_height * k,
            hip_width: self.hip_width * k,
            shoulder_width: self.shoulder_width * k,
            torso: self.torso * k,
            neck: self.neck * k,
            ear_width: self.ear_width * k,
            nose_forward: self.nose_forward * k,
            nose_up: self.nose_up * k,
        }
    }

    /// The person's size relative to the average adult, from the long
    /// segments (legs and torso) that are plausible at that size; 1 when
    /// none is.
    fn size_factor(&self) -> f32 {
        let mut sum = 0.0;
        let mut default = 0.0;
        for (v, limit) in [(self.thigh, THIGH), (self.shin, SHIN), (self.torso, TORSO)] {
            if limit.accepts(v) {
                sum += v;
                default += limit.default;
            }
        }
        if default > 0.0 {
            (sum / default).clamp(SIZE_FACTOR_RANGE.0, SIZE_FACTOR_RANGE.1)
        } else {
            1.0
        }
    }

    /// A copy with every implausible value replaced by its default, and the
    /// foot made consistent (the ankle must sit lower than the foot is long,
    /// or the rest foot could not touch the floor). "Plausible" and the
    /// defaults are for a person of this one's size (legs and torso against
    /// the average adult's), so a tall or small subject keeps her
    /// proportions.
    pub fn sanitized(&self) -> BodyMeasurements {
        let k = self.size_factor();
        let fix = |v: f32, limit: Limit| {
            let limit = limit.scaled(k);
            if limit.accepts(v) {
                v
            } else {
                limit.default
            }
        };
        let mut m = BodyMeasurements {
            upper_arm: fix(self.upper_arm, UPPER_ARM),
            forearm: fix(self.forearm, FOREARM),
            hand: fix(self.hand, HAND),
            hand_width: fix(self.hand_width, HAND_WIDTH),
            thigh: fix(self.thigh, THIGH),
            shin: fix(self.shin, SHIN),
            foot: fix(self.foot, FOOT),
            heel: fix(self.heel, HEEL),
            ankle_height: fix(self.ankle_height, ANKLE_HEIGHT),
            hip_width: fix(self.hip_width, HIP_WIDTH),
            shoulder_width: fix(self.shoulder_width, SHOULDER_WIDTH),
            torso: fix(self.torso, TORSO),
            neck: fix(self.neck, NECK),
            ear_width: fix(self.ear_width, EAR_WIDTH),
            nose_forward: fix(self.nose_forward, NOSE_FORWARD),
            nose_up: fix(self.nose_up, NOSE_UP),
        };
        if m.foot < 1.25 * m.ankle_height {
            m.foot = FOOT.default * k;
            m.ankle_height = ANKLE_HEIGHT.default * k;
        }
        m
    }

    /// Leg length from hip landmark to ankle landmark (thigh + shin).
    pub fn leg_length(&self) -> f32 {
        self.thigh + self.shin
    }

    /// Rest height of the hips above the floor: legs vertical, feet flat.
    pub fn hip_height(&self) -> f32 {
        self.leg_length() + self.ankle_height
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_from_default() -> [Vec3; NUM_LANDMARKS] {
        let skel = crate::rig::Skeleton::t_pose(&BodyMeasurements::default());
        skel.rest_landmarks_hip_centred()
    }

    #[test]
    fn empty_input_gives_defaults() {
        assert_eq!(
            BodyMeasurements::from_world_frames(&[]),
            BodyMeasurements::default()
        );
    }

    #[test]
    fn measures_back_the_rest_pose_it_was_built_from() {
        let m = BodyMeasurements {
            upper_arm: 0.31,
            thigh: 0.45,
            torso: 0.55,
            nose_up: -0.03,
            ankle_height: 0.07,
            ..BodyMeasurements::default()
        };
        let skel = crate::rig::Skeleton::t_pose(&m);
        let got = BodyMeasurements::from_world_frames(&[skel.rest_landmarks_hip_centred()]);
        let pairs = [
            (got.upper_arm, m.upper_arm),
            (got.forearm, m.forearm),
            (got.hand, m.hand),
            (got.hand_width, m.hand_width),
            (got.thigh, m.thigh),
            (got.shin, m.shin),
            (got.foot, m.foot),
            (got.heel, m.heel),
            (got.ankle_height, m.ankle_height),
            (got.hip_width, m.hip_width),
            (got.shoulder_width, m.shoulder_width),
            (got.torso, m.torso),
            (got.neck, m.neck),
            (got.ear_width, m.ear_width),
            (got.nose_forward, m.nose_forward),
            (got.nose_up, m.nose_up),
        ];
        for (i, (a, b)) in pairs.iter().enumerate() {
            assert!(
                (a - b).abs() < 1e-5,
                "field {i}: measured {a}, built with {b}"
            );
        }
    }

    #[test]
    fn median_rejects_outliers_and_sides_are_averaged() {
        let base = frame_from_default();
        let mut frames = vec![base; 5];
        // One wild frame must not move the median.
        frames[2][lm::LEFT_ELBOW] += Vec3::new(5.0, 0.0, 0.0);
        // Make the right forearm consistently 2 cm longer.
        for f in &mut frames {
            let d = (f[lm::RIGHT_WRIST] - f[lm::RIGHT_ELBOW]).normalize();
            f[lm::RIGHT_WRIST] += d * 0.02;
            f[lm::RIGHT_PINKY] += d * 0.02;
            f[lm::RIGHT_INDEX] += d * 0.02;
        }
        let m = BodyMeasurements::from_world_frames(&frames);
        let d = BodyMeasurements::default();
        assert!((m.upper_arm - d.upper_arm).abs() < 1e-5);
        assert!((m.forearm - (d.forearm + 0.01)).abs() < 1e-5);
    }

    #[test]
    fn implausible_and_nan_values_fall_back() {
        let mut frames = vec![frame_from_default(); 3];
        for f in &mut frames {
            f[lm::LEFT_KNEE] = Vec3::splat(f32::NAN);
            f[lm::RIGHT_KNEE] = Vec3::new(0.0, -10.0, 0.0);
            f[lm::LEFT_EAR] = Vec3::splat(f32::INFINITY);
        }
        let m = BodyMeasurements::from_world_frames(&frames);
        let d = BodyMeasurements::default();
        assert_eq!(m.thigh, d.thigh);
        assert_eq!(m.shin, d.shin);
        assert_eq!(m.ear_width, d.ear_width);
        assert_eq!(m.neck, d.neck);
        let all_nan = [[Vec3::splat(f32::NAN); NUM_LANDMARKS]; 2];
        assert_eq!(BodyMeasurements::from_world_frames(&all_nan), d);
    }

    #[test]
    fn sanitized_fixes_inconsistent_feet() {
        let m = BodyMeasurements {
            foot: 0.09,
            ankle_height: 0.13,
            torso: f32::NAN,
            ..BodyMeasurements::default()
        }
        .sanitized();
        let d = BodyMeasurements::default();
        assert_eq!(
            (m.foot, m.ankle_height, m.torso),
            (d.foot, d.ankle_height, d.torso)
        );
    }
}
