//! Anatomical joint limits on the solved rotations.
//!
//! Knees bend one way: the shin may swing back from the thigh's line, never
//! forward of it (BlazePose's knee and ankle, noisy or mislabelled, can
//! put the ankle in front of a straight leg: a knee bent backwards).
//! [`clamp_knees`] moves such a shin back onto the straight-leg plane and
//! keeps the foot's orientation in the world, so only the knee changes.

use glam::{Quat, Vec3};

use crate::rig::{JointId, Skeleton};

/// How far in front of the thigh's line the ankle may be, as the sine of
/// the angle: a few degrees of hyperextension are normal.
const MAX_FORWARD: f32 = 0.09;

/// Clamps both knees of one frame's local rotations in place; returns how
/// many were clamped.
pub fn clamp_knees(skel: &Skeleton, local: &mut [Quat]) -> usize {
    let mut clamped = 0;
    for (shin, foot) in [
        (JointId::LeftShin, JointId::LeftFoot),
        (JointId::RightShin, JointId::RightFoot),
    ] {
        let (s, f) = (shin.index(), foot.index());
        if s >= local.len() || f >= local.len() {
            continue;
        }
        let Some(rest) = (skel.rest_position(foot) - skel.rest_position(shin)).try_normalize()
        else {
            continue;
        };
        let q = local[s];
        // In the thigh's frame, facing +Z like the rest pose.
        let dir = q * rest;
        if !(dir.is_finite() && dir.z > MAX_FORWARD) {
            continue;
        }
        // Pointing straight ahead has no side to keep: straighten the leg.
        let side = Vec3::new(dir.x, dir.y, 0.0)
            .try_normalize()
            .unwrap_or(Vec3::NEG_Y);
        let allowed = side * (1.0 - MAX_FORWARD * MAX_FORWARD).sqrt() + Vec3::Z * MAX_FORWARD;
        let q_new = Quat::from_rotation_arc(rest, allowed);
        // The foot keeps its orientation: q·foot = q_new·foot_new.
        local[f] = (q_new.inverse() * q * local[f]).normalize();
        local[s] = q_new;
        clamped += 1;
    }
    clamped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::forward_kinematics;

    /// Deterministic pseudo-random unit quaternions.
    fn random_quat(i: usize) -> Quat {
        let r = |k: usize| {
            let x = ((i * 31 + k * 17) as f32 * 12.9898).sin() * 43758.547;
            2.0 * (x - x.floor()) - 1.0
        };
        Quat::from_xyzw(r(0), r(1), r(2), r(3)).normalize()
    }

    #[test]
    fn no_knee_bends_forward_even_on_adversarial_input() {
        let skel = Skeleton::default();
        let mut clamped = 0;
        for i in 0..500 {
            let mut local: Vec<Quat> = (0..skel.len()).map(|j| random_quat(i * 40 + j)).collect();
            let before = forward_kinematics(&skel, Vec3::ZERO, &local);
            clamped += clamp_knees(&skel, &mut local);
            let after = forward_kinematics(&skel, Vec3::ZERO, &local);
            for (shin, foot) in [
                (JointId::LeftShin, JointId::LeftFoot),
                (JointId::RightShin, JointId::RightFoot),
            ] {
                let rest = (skel.rest_position(foot) - skel.rest_position(shin)).normalize();
                let dir = local[shin.index()] * rest;
                assert!(dir.z <= MAX_FORWARD + 1e-4, "frame {i}: {dir}");
                // The foot's world orientation is kept. (Measured by the
                // turn between them: `angle_between` goes through the acos
                // of a dot product near 1, which in f32 cannot tell 1 mrad
                // from rounding.)
                let (a, b) = (before[foot.index()].rotation, after[foot.index()].rotation);
                let turn = 2.0 * (a.inverse() * b).xyz().length().min(1.0).asin();
                assert!(turn < 1e-3, "frame {i}: foot turned {turn} rad");
            }
        }
        assert!(clamped > 100, "the input was not adversarial: {clamped}");
        // A straight or normally bent knee is left alone.
        let mut local = vec![Quat::IDENTITY; skel.len()];
        local[JointId::LeftShin.index()] = Quat::from_rotation_x(0.8);
        let want = local.clone();
        assert_eq!(clamp_knees(&skel, &mut local), 0);
        assert_eq!(local, want);
    }
}
