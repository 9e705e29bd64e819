//! Forward kinematics: local joint rotations (plus the hips' position) to
//! global joint transforms, and landmarks synthesised from a posed rig.

use glam::{Mat4, Quat, Vec3};

use super::math::finite_quat;
use super::skeleton::Skeleton;
use crate::pose::NUM_LANDMARKS;

/// A joint's global (world) rigid transform.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JointTransform {
    pub translation: Vec3,
    pub rotation: Quat,
}

impl JointTransform {
    /// The same transform as a column-major matrix.
    pub fn to_mat4(&self) -> Mat4 {
        Mat4::from_rotation_translation(self.rotation, self.translation)
    }

    /// `p` (given in the joint's frame) in world space.
    pub fn transform_point(&self, p: Vec3) -> Vec3 {
        self.translation + self.rotation * p
    }
}

/// Global transforms of every joint, in joint index order.
///
/// `root_translation` is the hips' position and replaces their rest
/// translation; `local` holds one rotation per joint relative to the rest
/// pose. Missing, zero or non-finite rotations count as the identity and the
/// rest are normalised, so garbage rotations cannot stretch bones.
pub fn forward_kinematics(
    skel: &Skeleton,
    root_translation: Vec3,
    local: &[Quat],
) -> Vec<JointTransform> {
    let mut out: Vec<JointTransform> = Vec::with_capacity(skel.len());
    for (i, joint) in skel.joints().iter().enumerate() {
        let rot = local
            .get(i)
            .copied()
            .and_then(finite_quat)
            .unwrap_or(Quat::IDENTITY);
        let t = match joint.parent.and_then(|p| out.get(p)) {
            Some(parent) => JointTransform {
                translation: parent.transform_point(joint.rest_translation),
                rotation: (parent.rotation * rot).normalize(),
            },
            None => JointTransform {
                translation: root_translation,
                rotation: rot,
            },
        };
        out.push(t);
    }
    out
}

/// Global joint positions only (see [`forward_kinematics`]).
pub fn global_positions(skel: &Skeleton, root_translation: Vec3, local: &[Quat]) -> Vec<Vec3> {
    forward_kinematics(skel, root_translation, local)
        .into_iter()
        .map(|t| t.translation)
        .collect()
}

/// The 33 BlazePose landmarks of the posed rig, through the rig's landmark
/// bindings. Used to synthesise test motion and to overlay the solved rig on
/// the video; note that `solve_frame` expects them hip-centred.
pub fn pose_landmarks(
    skel: &Skeleton,
    root_translation: Vec3,
    local: &[Quat],
) -> [Vec3; NUM_LANDMARKS] {
    landmarks_of(skel, &forward_kinematics(skel, root_translation, local))
}

/// The 33 landmarks of a rig already posed into `globals` (from
/// [`forward_kinematics`]), for callers that need the joints too.
pub fn landmarks_of(skel: &Skeleton, globals: &[JointTransform]) -> [Vec3; NUM_LANDMARKS] {
    skel.landmark_bindings()
        .map(|b| globals[b.joint.index()].transform_point(b.offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::JointId;

    #[test]
    fn identity_rotations_give_the_rest_pose() {
        let s = Skeleton::default();
        let p = global_positions(&s, s.rest_root_translation(), &[]);
        for (a, b) in p.iter().zip(s.rest_positions()) {
            assert!((*a - *b).length() < 1e-6);
        }
        let l = pose_landmarks(&s, s.rest_root_translation(), &[]);
        for (a, b) in l.iter().zip(s.rest_landmarks()) {
            assert!((*a - *b).length() < 1e-6);
        }
    }

    #[test]
    fn root_rotation_turns_everything() {
        let s = Skeleton::default();
        let mut local = vec![Quat::IDENTITY; s.len()];
        local[0] = Quat::from_rotation_y(std::f32::consts::FRAC_PI_2);
        let root = Vec3::new(1.0, 0.9, 2.0);
        let g = forward_kinematics(&s, root, &local);
        assert_eq!(g[0].translation, root);
        // Facing +X after a +90° turn about Y: the left hand goes to -Z.
        let hand = g[JointId::LeftHand.index()].translation - root;
        assert!(hand.z < -0.5 && hand.x.abs() < 0.2);
    }

    #[test]
    fn garbage_rotations_are_ignored() {
        let s = Skeleton::default();
        let local = vec![
            Quat::from_xyzw(f32::NAN, 0.0, 0.0, 1.0),
            Quat::from_xyzw(0.0, 0.0, 0.0, 0.0),
        ];
        let g = forward_kinematics(&s, Vec3::ZERO, &local);
        assert!(g
            .iter()
            .all(|t| t.translation.is_finite() && t.rotation.is_finite()));
    }
}
