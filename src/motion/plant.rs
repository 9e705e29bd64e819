//! Planted feet held still and on the floor by the legs.
//!
//! The root comes from the picture (the skeleton fitted to the 2D
//! landmarks), so moving it to stop a foot sliding, or to put a sole on the
//! floor, moves the whole body off the person in the video: on
//! walk_outdoor such a root lock put the solved hips a median 2.6 % of the
//! walker's height beside hers. Here the root stays where the picture puts
//! it, and each leg reaches its planted foot with two-bone IK: the foot
//! keeps its orientation in the world, the knee bends in the plane it
//! already bends in, and only what a leg cannot reach (a foot floating
//! further below the hips than the leg is long) moves the root, smoothly.
//!
//! Each contact run holds its foot at the run's median position across the
//! ground (the anchor that moves the frames least) with the sole on the
//! floor; the pull eases in before a run and out after it, so a step never
//! pops. A swinging sole under the floor is lifted onto it.

use glam::{Quat, Vec3};

use super::foot::{runs, LEFT, RIGHT};
use super::root::smoothstep;
use super::smooth::gaussian_vec3;
use crate::pose::{lm, NUM_LANDMARKS};
use crate::rig::{forward_kinematics, pose_landmarks, JointId, Skeleton};

/// Frames over which the pull towards a planted position eases in before a
/// contact and out after it: 8 frames (~0.27 s at 30 fps) spread even a
/// 5 cm pull to under 1 cm a frame, and end before the next step lands.
pub const BLEND_FRAMES: usize = 8;

/// A leg's miss (metres) below which the root is left alone.
const REACH_TOLERANCE_M: f32 = 0.005;

/// Smoothing of the root's share (frames), so a leg that cannot reach
/// moves the body gently instead of by a frame's jump.
const ROOT_SIGMA: f32 = 2.0;

/// What holding the feet did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Planted {
    /// Per frame: what had to move the root, because a leg fell short.
    pub root_shift: Vec<Vec3>,
    /// Frames where at least one leg was bent or turned.
    pub frames_adjusted: usize,
}

/// Holds every planted foot still and on `floor` (per frame, output space)
/// by bending the legs of `rotations`; `root` moves only by what a leg
/// cannot reach (see the module docs).
pub fn plant_feet(
    skel: &Skeleton,
    root: &mut [Vec3],
    rotations: &mut [Vec<Quat>],
    contacts: &[[bool; 2]],
    floor: &[f32],
) -> Planted {
    let n = root
        .len()
        .min(rotations.len())
        .min(contacts.len())
        .min(floor.len());
    let mut out = Planted {
        root_shift: vec![Vec3::ZERO; root.len()],
        frames_adjusted: 0,
    };
    if n == 0 {
        return out;
    }
    let original = rotations[..n].to_vec();
    let pulls = [LEFT, RIGHT].map(|side| {
        let (ankles, soles) = ankles_and_soles(skel, &root[..n], &original, side);
        pulls_for(&ankles, &soles, contacts, floor, side)
    });

    // First pass on the root from the picture: where a leg falls short,
    // the root takes the rest (smoothed), then the legs reach again.
    let mut misses: Vec<Option<Vec3>> = vec![None; n];
    for f in 0..n {
        let mut local = original[f].clone();
        for (side, pull) in pulls.iter().enumerate() {
            if let Some(target) = pull[f] {
                let miss = target - reach(skel, root[f], &mut local, side, target);
                if miss.length() > REACH_TOLERANCE_M
                    && misses[f].is_none_or(|m| m.length() < miss.length())
                {
                    misses[f] = Some(miss);
                }
            }
        }
    }
    if misses.iter().any(Option::is_some) {
        let mut shift: Vec<Option<Vec3>> = misses
            .iter()
            .map(|m| Some(m.unwrap_or(Vec3::ZERO)))
            .collect();
        gaussian_vec3(&mut shift, ROOT_SIGMA);
        for f in 0..n {
            let s = shift[f].unwrap_or(Vec3::ZERO);
            root[f] += s;
            out.root_shift[f] = s;
        }
    }
    for f in 0..n {
        let mut touched = false;
        for (side, pull) in pulls.iter().enumerate() {
            if let Some(target) = pull[f] {
                reach(skel, root[f], &mut rotations[f], side, target);
                touched = true;
            }
        }
        if touched {
            out.frames_adjusted += 1;
        }
    }
    // What the smoothed root share left short, the body is lifted by on
    // that frame alone: no sole ends under the floor.
    for f in 0..n {
        let lowest = [LEFT, RIGHT]
            .map(|side| sole_height(skel, root[f], &rotations[f], side))
            .into_iter()
            .fold(f32::INFINITY, f32::min);
        let under = floor[f] - lowest;
        if under > 1e-6 && under.is_finite() {
            root[f].y += under;
            out.root_shift[f].y += under;
        }
    }
    out
}

/// The height of the lower of heel and toe of `side`.
fn sole_height(skel: &Skeleton, root: Vec3, local: &[Quat], side: usize) -> f32 {
    let l: [Vec3; NUM_LANDMARKS] = pose_landmarks(skel, root, local);
    let (heel, toe) = if side == LEFT {
        (lm::LEFT_HEEL, lm::LEFT_FOOT_INDEX)
    } else {
        (lm::RIGHT_HEEL, lm::RIGHT_FOOT_INDEX)
    };
    l[heel].y.min(l[toe].y)
}

/// Per frame: where the ankle of `side` should be, or `None` where it is
/// left alone. `ankles` and `soles` (the lower of heel and toe) come from
/// the unadjusted pose.
fn pulls_for(
    ankles: &[Vec3],
    soles: &[f32],
    contacts: &[[bool; 2]],
    floor: &[f32],
    side: usize,
) -> Vec<Option<Vec3>> {
    let n = ankles.len();
    // Per frame: the offset the ankle should move by.
    let mut offset: Vec<Option<Vec3>> = vec![None; n];
    let planted: Vec<bool> = (0..n).map(|f| contacts[f][side]).collect();
    let planted_runs = runs(&planted);
    for &(start, end) in &planted_runs {
        let anchor = median_ground_position(&ankles[start..end]);
        for f in start..end {
            let down = floor[f] - soles[f];
            offset[f] = Some(Vec3::new(
                anchor.0 - ankles[f].x,
                down,
                anchor.1 - ankles[f].z,
            ));
        }
    }
    // Ease in before each run and out after it.
    let mut eased = offset.clone();
    for &(start, end) in &planted_runs {
        let (first, last) = (offset[start], offset[end - 1]);
        for k in 1..=BLEND_FRAMES {
            let w = 1.0 - smoothstep(k as f32 / (BLEND_FRAMES + 1) as f32);
            if let (Some(f), Some(o)) = (end.checked_add(k - 1), last) {
                if f < n && !planted[f] {
                    eased[f] = Some(eased[f].unwrap_or(Vec3::ZERO) + o * w);
                }
            }
            if let (Some(f), Some(o)) = (start.checked_sub(k), first) {
                if !planted[f] {
                    eased[f] = Some(eased[f].unwrap_or(Vec3::ZERO) + o * w);
                }
            }
        }
    }
    // Nothing under the floor, swinging or not.
    (0..n)
        .map(|f| {
            let mut o = eased[f].unwrap_or(Vec3::ZERO);
            let under = floor[f] - (soles[f] + o.y);
            if under > 0.0 {
                o.y += under;
            }
            (o != Vec3::ZERO && o.is_finite()).then(|| ankles[f] + o)
        })
        .collect()
}

/// The ankle of `side` and the height of its sole's lowest point, per frame.
fn ankles_and_soles(
    skel: &Skeleton,
    root: &[Vec3],
    rotations: &[Vec<Quat>],
    side: usize,
) -> (Vec<Vec3>, Vec<f32>) {
    let foot = if side == LEFT {
        JointId::LeftFoot
    } else {
        JointId::RightFoot
    };
    root.iter()
        .zip(rotations)
        .map(|(r, rot)| {
            let ankle = forward_kinematics(skel, *r, rot)[foot.index()].translation;
            (ankle, sole_height(skel, *r, rot, side))
        })
        .unzip()
}

/// The median of the positions' X and of their Z.
fn median_ground_position(p: &[Vec3]) -> (f32, f32) {
    let median = |mut v: Vec<f32>| {
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    (
        median(p.iter().map(|v| v.x).collect()),
        median(p.iter().map(|v| v.z).collect()),
    )
}

/// Two-bone IK on one leg of `local`: bends the knee and swings the thigh
/// so the ankle of `side` reaches `target` as near as the leg's length
/// allows; the foot keeps its world orientation. Returns where the ankle
/// ended.
pub fn reach(skel: &Skeleton, root: Vec3, local: &mut [Quat], side: usize, target: Vec3) -> Vec3 {
    let (thigh, shin, foot) = if side == LEFT {
        (JointId::LeftThigh, JointId::LeftShin, JointId::LeftFoot)
    } else {
        (JointId::RightThigh, JointId::RightShin, JointId::RightFoot)
    };
    let (t, s, f) = (thigh.index(), shin.index(), foot.index());
    let g = forward_kinematics(skel, root, local);
    let Some(parent) = skel.joints()[t].parent else {
        return g[f].translation;
    };
    let (hip, knee, ankle) = (g[t].translation, g[s].translation, g[f].translation);
    let (upper, lower) = ((knee - hip).length(), (ankle - knee).length());
    if !(target.is_finite() && upper > 1e-4 && lower > 1e-4) {
        return ankle;
    }

    // The knee: the interior angle that puts the ankle at the target's
    // distance from the hip, in the plane the leg bends in now (a straight
    // leg bends forward at the knee, about the hips' side axis).
    let distance = (target - hip)
        .length()
        .clamp((upper - lower).abs() + 1e-4, upper + lower - 1e-4);
    let wanted = ((upper * upper + lower * lower - distance * distance) / (2.0 * upper * lower))
        .clamp(-1.0, 1.0)
        .acos();
    let now = (hip - knee).angle_between(ankle - knee);
    let axis = (hip - knee)
        .cross(ankle - knee)
        .try_normalize()
        .unwrap_or(g[parent].rotation * Vec3::NEG_X);
    let bend = Quat::from_axis_angle(axis, wanted - now);
    let bent_ankle = knee + bend * (ankle - knee);

    // The thigh: swing the bent leg onto the target.
    let swing = match (
        (bent_ankle - hip).try_normalize(),
        (target - hip).try_normalize(),
    ) {
        (Some(from), Some(to)) => Quat::from_rotation_arc(from, to),
        _ => Quat::IDENTITY,
    };

    let parent_rot = g[parent].rotation;
    let thigh_rot = (swing * g[t].rotation).normalize();
    let shin_rot = (swing * bend * g[s].rotation).normalize();
    local[t] = (parent_rot.inverse() * thigh_rot).normalize();
    local[s] = (thigh_rot.inverse() * shin_rot).normalize();
    local[f] = (shin_rot.inverse() * g[f].rotation).normalize();
    forward_kinematics(skel, root, local)[f].translation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest(skel: &Skeleton) -> Vec<Quat> {
        vec![Quat::IDENTITY; skel.len()]
    }

    #[test]
    fn a_leg_reaches_a_target_within_its_length_and_keeps_the_foot_turned() {
        let skel = Skeleton::default();
        let mut local = rest(&skel);
        local[JointId::LeftShin.index()] = Quat::from_rotation_x(0.4);
        let before = forward_kinematics(&skel, Vec3::ZERO, &local);
        let ankle = before[JointId::LeftFoot.index()].translation;
        for target in [
            ankle + Vec3::new(0.05, 0.04, -0.03),
            ankle + Vec3::new(-0.02, 0.10, 0.08),
            ankle + Vec3::new(0.0, -0.01, 0.0),
        ] {
            let mut l = local.clone();
            let got = reach(&skel, Vec3::ZERO, &mut l, LEFT, target);
            assert!((got - target).length() < 1e-3, "{got} vs {target}");
            let after = forward_kinematics(&skel, Vec3::ZERO, &l);
            let (a, b) = (
                before[JointId::LeftFoot.index()].rotation,
                after[JointId::LeftFoot.index()].rotation,
            );
            assert!((a.inverse() * b).xyz().length() < 1e-3, "the foot turned");
            // The other leg and the body are untouched.
            for j in [JointId::RightFoot, JointId::Head, JointId::LeftHand] {
                let d = after[j.index()].translation - before[j.index()].translation;
                assert!(d.length() < 1e-5, "{j:?} moved {d}");
            }
            // Bone lengths hold: the knee is as far from hip and ankle.
            let len = |g: &[crate::rig::JointTransform], a: JointId, b: JointId| {
                (g[a.index()].translation - g[b.index()].translation).length()
            };
            for (a, b) in [
                (JointId::LeftThigh, JointId::LeftShin),
                (JointId::LeftShin, JointId::LeftFoot),
            ] {
                assert!((len(&before, a, b) - len(&after, a, b)).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn a_target_out_of_reach_straightens_the_leg_towards_it() {
        let skel = Skeleton::default();
        let mut local = rest(&skel);
        let ankle =
            forward_kinematics(&skel, Vec3::ZERO, &local)[JointId::RightFoot.index()].translation;
        let target = ankle - Vec3::Y * 0.3;
        let got = reach(&skel, Vec3::ZERO, &mut local, RIGHT, target);
        assert!(got.y < ankle.y + 1e-3 && got.y > target.y);
        assert!(got.is_finite());
    }

    /// A walker whose planted foot slides 5 mm a frame and floats 4 cm:
    /// held, the foot stays put on the floor while the root is unchanged.
    #[test]
    fn a_sliding_floating_stance_is_held_by_the_leg_not_the_root() {
        let skel = Skeleton::default();
        let n = 30;
        let mut local = rest(&skel);
        // Knees bent enough that the leg has the 4 cm to spare.
        for (thigh, shin) in [
            (JointId::LeftThigh, JointId::LeftShin),
            (JointId::RightThigh, JointId::RightShin),
        ] {
            local[thigh.index()] = Quat::from_rotation_x(-0.4);
            local[shin.index()] = Quat::from_rotation_x(0.8);
        }
        let l = pose_landmarks(&skel, Vec3::ZERO, &local);
        let sole = l[lm::LEFT_HEEL].y.min(l[lm::LEFT_FOOT_INDEX].y);
        let floor_y = sole - 0.04;
        let mut root: Vec<Vec3> = (0..n).map(|i| Vec3::X * 0.005 * i as f32).collect();
        let original_root = root.clone();
        let mut rotations = vec![local.clone(); n];
        let contacts: Vec<[bool; 2]> = (0..n).map(|i| [(5..25).contains(&i), false]).collect();
        let floor = vec![floor_y; n];
        let done = plant_feet(&skel, &mut root, &mut rotations, &contacts, &floor);
        let moved = root
            .iter()
            .zip(&original_root)
            .map(|(a, b)| (*a - *b).length())
            .fold(0.0, f32::max);
        assert!(moved < 1e-5, "the root moved {moved} m off the picture's");
        assert!(done.frames_adjusted >= 20);
        let foot = |f: usize| {
            let l = pose_landmarks(&skel, root[f], &rotations[f]);
            (l[lm::LEFT_HEEL], l[lm::LEFT_FOOT_INDEX])
        };
        for f in 6..25 {
            let (h0, _) = foot(f - 1);
            let (h1, t1) = foot(f);
            assert!(
                (h1 - h0).length() < 1e-3,
                "frame {f}: slid {}",
                (h1 - h0).length()
            );
            assert!(
                (h1.y.min(t1.y) - floor_y).abs() < 2e-3,
                "frame {f}: off the floor"
            );
        }
        // Eased out after the contact: no frame-to-frame pop.
        for f in 25..n {
            let step = (foot(f).0 - foot(f - 1).0).length();
            assert!(step < 0.03, "frame {f}: the heel jumped {step} m");
        }
    }
}
