//! Left/right and front/back consistency over the whole clip.
//!
//! BlazePose decides each frame on its own which leg is the left one and
//! which way the body faces, and now and then gets it wrong for a frame or a
//! few: the legs trade sides mid-stride, or the whole body turns 180° (the
//! model takes a back view for a front view: every left/right label swapped
//! and the depth mirrored, which projects to almost the same picture).
//! Patching frame by frame cannot tell which side of such a change is the
//! wrong one; [`correct`] chooses, for every frame at once, one of four
//! readings — as observed, legs swapped, facing flipped, both — by Viterbi
//! over the clip: the chosen readings must move continuously (world
//! landmarks in metres and image landmarks in person heights, frame to
//! frame), every frame read differently from what the model said pays a
//! small price, so the model's own reading wins unless continuity needs
//! otherwise, and every change of reading between frames pays another, so a
//! wrong stretch is corrected as one run rather than handed on to a second
//! correction that waits for a cheaper place to end (seen on the Pose2Sim
//! balancing take: a three-frame facing flip was followed by ten frames of
//! legs swapped for nothing, until the legs crossed).

use glam::Vec3;

use super::pixel_height;
use crate::pose::{lm, PoseObservation, NUM_LANDMARKS};

/// Landmark pairs (left, right) of the legs.
const LEG_PAIRS: [(usize, usize); 4] = [
    (lm::LEFT_KNEE, lm::RIGHT_KNEE),
    (lm::LEFT_ANKLE, lm::RIGHT_ANKLE),
    (lm::LEFT_HEEL, lm::RIGHT_HEEL),
    (lm::LEFT_FOOT_INDEX, lm::RIGHT_FOOT_INDEX),
];

/// Every left/right landmark pair of the BlazePose topology.
const ALL_PAIRS: [(usize, usize); 16] = [
    (1, 4),
    (2, 5),
    (3, 6),
    (lm::LEFT_EAR, lm::RIGHT_EAR),
    (9, 10),
    (lm::LEFT_SHOULDER, lm::RIGHT_SHOULDER),
    (lm::LEFT_ELBOW, lm::RIGHT_ELBOW),
    (lm::LEFT_WRIST, lm::RIGHT_WRIST),
    (lm::LEFT_PINKY, lm::RIGHT_PINKY),
    (lm::LEFT_INDEX, lm::RIGHT_INDEX),
    (21, 22),
    (lm::LEFT_HIP, lm::RIGHT_HIP),
    (lm::LEFT_KNEE, lm::RIGHT_KNEE),
    (lm::LEFT_ANKLE, lm::RIGHT_ANKLE),
    (lm::LEFT_HEEL, lm::RIGHT_HEEL),
    (lm::LEFT_FOOT_INDEX, lm::RIGHT_FOOT_INDEX),
];

/// The landmarks continuity is measured on: the body, not the face (its
/// small points add noise, not evidence).
const BODY: [usize; 19] = [
    lm::NOSE,
    lm::LEFT_SHOULDER,
    lm::RIGHT_SHOULDER,
    lm::LEFT_ELBOW,
    lm::RIGHT_ELBOW,
    lm::LEFT_WRIST,
    lm::RIGHT_WRIST,
    lm::LEFT_HIP,
    lm::RIGHT_HIP,
    lm::LEFT_KNEE,
    lm::RIGHT_KNEE,
    lm::LEFT_ANKLE,
    lm::RIGHT_ANKLE,
    lm::LEFT_HEEL,
    lm::RIGHT_HEEL,
    lm::LEFT_FOOT_INDEX,
    lm::RIGHT_FOOT_INDEX,
    lm::LEFT_EAR,
    lm::RIGHT_EAR,
];

/// Price of reading a frame differently from the model, in the units of the
/// continuity cost (squared metres summed over [`BODY`]): about one landmark
/// moving 17 cm more than it otherwise would.
const CORRECTION_COST: f32 = 0.03;

/// Price of changing reading between two frames, in the same units: a
/// correction run pays it twice (in and out). Low enough that a real
/// single-frame swap (its legs jump by their spread, twice) is still worth
/// undoing; high enough that one wrong run is not chained to another.
const SWITCH_COST: f32 = 0.2;

/// Weight of the image continuity (in squared person heights) against the
/// world continuity (squared metres): a person is about 1.7 m tall.
const IMAGE_WEIGHT: f32 = 1.7 * 1.7;

/// One of the four readings of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub legs_swapped: bool,
    pub facing_flipped: bool,
}

const READINGS: [Reading; 4] = [
    Reading {
        legs_swapped: false,
        facing_flipped: false,
    },
    Reading {
        legs_swapped: true,
        facing_flipped: false,
    },
    Reading {
        legs_swapped: false,
        facing_flipped: true,
    },
    Reading {
        legs_swapped: true,
        facing_flipped: true,
    },
];

/// What [`correct`] changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Corrections {
    /// Frames whose legs were swapped back.
    pub limb_swap_frames: usize,
    /// Frames whose facing was flipped back.
    pub facing_flip_frames: usize,
    /// Runs of consecutive corrected frames (events, not frames).
    pub events: usize,
}

/// `p` read as `r`.
pub fn apply(p: &PoseObservation, r: Reading) -> PoseObservation {
    let mut out = p.clone();
    if r.legs_swapped {
        swap(&mut out, &LEG_PAIRS);
    }
    if r.facing_flipped {
        swap(&mut out, &ALL_PAIRS);
        for w in &mut out.world {
            w.z = -w.z;
        }
    }
    out
}

fn swap(p: &mut PoseObservation, pairs: &[(usize, usize)]) {
    for &(l, r) in pairs {
        p.image.swap(l, r);
        p.world.swap(l, r);
    }
}

/// How far `b` is from `a`: world landmarks in squared metres plus image
/// landmarks in squared person heights, over [`BODY`].
fn distance(a: &PoseObservation, b: &PoseObservation, size: f32) -> f32 {
    let mut d = 0.0;
    for &k in &BODY {
        let w = (b.world[k] - a.world[k]).length_squared();
        let ia = glam::Vec2::new(a.image[k].x, a.image[k].y);
        let ib = glam::Vec2::new(b.image[k].x, b.image[k].y);
        let i = (ib - ia).length_squared() / (size * size);
        if w.is_finite() && i.is_finite() {
            d += w + IMAGE_WEIGHT * i;
        }
    }
    d
}

/// Chooses every frame's reading by Viterbi (module docs) and applies it in
/// place. Frames without a pose are skipped: the frames either side of a
/// loss are compared directly, their cost divided by the frames between
/// (the body may have moved more over a longer loss).
pub fn correct(frames: &mut [Option<PoseObservation>]) -> Corrections {
    let seen: Vec<usize> = (0..frames.len()).filter(|&i| frames[i].is_some()).collect();
    if seen.len() < 2 {
        return Corrections::default();
    }
    let readings: Vec<[PoseObservation; 4]> = seen
        .iter()
        .map(|&i| {
            let p = frames[i].as_ref().expect("seen frames have a pose");
            READINGS.map(|r| apply(p, r))
        })
        .collect();
    let unary = |s: usize| if s == 0 { 0.0 } else { CORRECTION_COST };
    let mut cost: [f32; 4] = std::array::from_fn(unary);
    let mut back: Vec<[usize; 4]> = vec![[0; 4]; seen.len()];
    for j in 1..seen.len() {
        let gap = (seen[j] - seen[j - 1]) as f32;
        let size = pixel_height(&readings[j][0]);
        let mut next = [f32::MAX; 4];
        for (s, slot) in next.iter_mut().enumerate() {
            for (p, &c) in cost.iter().enumerate() {
                let switch = if p == s { 0.0 } else { SWITCH_COST };
                let total = c + distance(&readings[j - 1][p], &readings[j][s], size) / gap + switch;
                if total < *slot {
                    *slot = total;
                    back[j][s] = p;
                }
            }
            *slot += unary(s);
        }
        cost = next;
    }
    let mut state = (0..4)
        .min_by(|&a, &b| cost[a].total_cmp(&cost[b]))
        .unwrap_or(0);
    let mut chosen = vec![0; seen.len()];
    for j in (0..seen.len()).rev() {
        chosen[j] = state;
        state = back[j][state];
    }

    let mut out = Corrections::default();
    let mut previous = 0;
    for (j, (&i, &s)) in seen.iter().zip(&chosen).enumerate() {
        let r = READINGS[s];
        out.limb_swap_frames += usize::from(r.legs_swapped);
        out.facing_flip_frames += usize::from(r.facing_flipped);
        if s != 0 && (j == 0 || previous == 0) {
            out.events += 1;
        }
        previous = s;
        if s != 0 {
            frames[i] = Some(readings[j][s].clone());
        }
    }
    out
}

/// The body's facing in camera space: the horizontal normal of the
/// shoulder and hip lines (towards the camera is −z), if measurable.
pub fn facing(world: &[Vec3; NUM_LANDMARKS]) -> Option<Vec3> {
    let lateral = (world[lm::LEFT_SHOULDER] - world[lm::RIGHT_SHOULDER])
        + (world[lm::LEFT_HIP] - world[lm::RIGHT_HIP]);
    let up = Vec3::NEG_Y;
    let f = lateral.cross(up);
    let f = Vec3::new(f.x, 0.0, f.z);
    (f.length() > 1e-6 && f.is_finite()).then(|| f.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize) -> Vec<Option<PoseObservation>> {
        crate::motion::synthetic::walk(n)
            .into_iter()
            .map(Some)
            .collect()
    }

    #[test]
    fn injected_swaps_and_flips_are_undone() {
        let truth = synthetic(90);
        let mut frames = truth.clone();
        let swapped = [10, 11, 40];
        let flipped = [20, 21, 22, 60, 61, 62, 63, 64];
        for &i in &swapped {
            frames[i] = frames[i].as_ref().map(|p| apply(p, READINGS[1]));
        }
        for &i in &flipped {
            frames[i] = frames[i].as_ref().map(|p| apply(p, READINGS[2]));
        }
        // A loss must not break the chain.
        frames[30] = None;
        frames[31] = None;
        let c = correct(&mut frames);
        assert_eq!(c.limb_swap_frames, swapped.len());
        assert_eq!(c.facing_flip_frames, flipped.len());
        assert_eq!(c.events, 4);
        for (i, (a, b)) in frames.iter().zip(&truth).enumerate() {
            if let Some(a) = a {
                assert_eq!(a, b.as_ref().unwrap(), "frame {i}");
            }
        }
    }

    #[test]
    fn a_clean_track_is_left_alone() {
        let truth = synthetic(60);
        let mut frames = truth.clone();
        assert_eq!(correct(&mut frames), Corrections::default());
        assert_eq!(frames, truth);
        assert_eq!(correct(&mut []), Corrections::default());
    }

    #[test]
    fn facing_of_the_rest_pose_is_towards_the_camera() {
        let p = crate::motion::synthetic::standing();
        let f = facing(&p.world).unwrap();
        assert!(f.z < -0.99, "{f}");
    }
}
