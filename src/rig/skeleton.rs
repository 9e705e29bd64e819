//! The rig's rest pose: joint hierarchy, rest translations and where each
//! BlazePose landmark sits on it.
//!
//! The rest pose is a T-pose in output space (metres, Y up, facing +Z, the
//! subject's left towards +X), feet flat on the floor at y = 0. Every rest
//! local rotation is the identity, so a joint's rest global frame is the
//! world frame and local rotations read directly as "relative to T-pose".

use glam::Vec3;

use super::joint::JointId;
use super::measure::BodyMeasurements;
use crate::pose::{lm, NUM_LANDMARKS};

/// One joint of a built rig.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Joint {
    pub id: JointId,
    /// Index of the parent joint (`None` for the hips).
    pub parent: Option<usize>,
    /// Rest translation relative to the parent (for the hips: relative to
    /// the floor origin).
    pub rest_translation: Vec3,
}

/// Where a landmark sits on the rig: fixed offset in a joint's frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LandmarkBinding {
    pub joint: JointId,
    /// Offset from the joint in its local (rest-aligned) frame.
    pub offset: Vec3,
}

/// A humanoid rig built for one subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Skeleton {
    measurements: BodyMeasurements,
    joints: Vec<Joint>,
    rest_positions: Vec<Vec3>,
    rest_landmarks: [Vec3; NUM_LANDMARKS],
    bindings: [LandmarkBinding; NUM_LANDMARKS],
}

// Proportions BlazePose does not observe; chosen to look right on an adult
// and scale with the measured segments.
/// Hips-to-spine offset as a fraction of the torso: a zero-length bone would
/// be dropped by DCC importers (Blender deletes them).
const PELVIS_FRACTION: f32 = 0.1;
/// Height of the clavicle roots as a fraction of the torso.
const CLAVICLE_ROOT_HEIGHT: f32 = 0.9;
/// Lateral offset of the clavicle roots as a fraction of half the shoulder width.
const CLAVICLE_ROOT_INSET: f32 = 0.2;
/// Head joint (skull base) height above the neck joint, fraction of `neck`.
const HEAD_JOINT_FRACTION: f32 = 0.75;
/// Top of the head above the ears, as a fraction of the ear width.
const HEAD_TOP_FRACTION: f32 = 0.8;
/// Ball of the foot along the floor, as a fraction of ankle-to-toe-tip.
const BALL_FRACTION: f32 = 0.7;
/// Height of the toe bone, as a fraction of the ankle height.
const TOE_HEIGHT_FRACTION: f32 = 0.25;

impl Skeleton {
    /// The T-pose rig for `m` (implausible values are replaced by defaults,
    /// see [`BodyMeasurements::sanitized`]). Legs are vertical, arms along
    /// ±X (left towards +X), palms down, feet flat pointing +Z, and the hips
    /// high enough (leg length + ankle height) for the soles to touch y = 0.
    /// The spine, chest and upper-chest bones split the torso above a short
    /// pelvis into three equal segments.
    pub fn t_pose(m: &BodyMeasurements) -> Skeleton {
        let m = m.sanitized();
        let mut pos = [Vec3::ZERO; JointId::COUNT];
        let mut lms = [Vec3::ZERO; NUM_LANDMARKS];
        let set = |pos: &mut [Vec3; JointId::COUNT], j: JointId, p: Vec3| pos[j.index()] = p;

        // Torso: pelvis offset, then three equal segments up to the neck,
        // which sits at mid-shoulder height.
        let hip_y = m.hip_height();
        let hips = Vec3::new(0.0, hip_y, 0.0);
        let pelvis = PELVIS_FRACTION * m.torso;
        let segment = (m.torso - pelvis) / 3.0;
        set(&mut pos, JointId::Hips, hips);
        set(&mut pos, JointId::Spine, hips + Vec3::Y * pelvis);
        set(
            &mut pos,
            JointId::Chest,
            hips + Vec3::Y * (pelvis + segment),
        );
        set(
            &mut pos,
            JointId::UpperChest,
            hips + Vec3::Y * (pelvis + 2.0 * segment),
        );
        let neck = hips + Vec3::Y * m.torso;
        set(&mut pos, JointId::Neck, neck);

        // Head: ears straight above the neck so the neck bone points at them.
        let mid_ears = neck + Vec3::Y * m.neck;
        set(
            &mut pos,
            JointId::Head,
            neck + Vec3::Y * (HEAD_JOINT_FRACTION * m.neck),
        );
        set(
            &mut pos,
            JointId::HeadEnd,
            mid_ears + Vec3::Y * (HEAD_TOP_FRACTION * m.ear_width),
        );
        let nose = mid_ears + Vec3::new(0.0, m.nose_up, m.nose_forward);
        lms[lm::NOSE] = nose;
        lms[lm::LEFT_EAR] = mid_ears + Vec3::X * (0.5 * m.ear_width);
        lms[lm::RIGHT_EAR] = mid_ears - Vec3::X * (0.5 * m.ear_width);
        // Eyes and mouth are not used by the solver; plausible placements
        // keep synthesised landmark sets complete. Offsets from the nose for
        // a 15 cm head, mirrored by side, scaled with the ear width.
        let face = m.ear_width / 0.15;
        let face_points: [(usize, usize, Vec3); 4] = [
            (1, 4, Vec3::new(0.015, 0.035, -0.015)),
            (2, 5, Vec3::new(0.032, 0.037, -0.02)),
            (3, 6, Vec3::new(0.048, 0.035, -0.03)),
            (
                lm::LEFT_EAR + 2,
                lm::LEFT_EAR + 3,
                Vec3::new(0.025, -0.035, -0.015),
            ),
        ];
        for (left, right, off) in face_points {
            lms[left] = nose + off * face;
            lms[right] = nose + Vec3::new(-off.x, off.y, off.z) * face;
        }

        // Arms, mirrored: `s` is +1 for the left side (towards +X).
        let half_shoulders = 0.5 * m.shoulder_width;
        let arm_sides = [
            (
                1.0,
                [
                    JointId::LeftShoulder,
                    JointId::LeftUpperArm,
                    JointId::LeftForearm,
                    JointId::LeftHand,
                    JointId::LeftHandEnd,
                ],
                [
                    lm::LEFT_SHOULDER,
                    lm::LEFT_ELBOW,
                    lm::LEFT_WRIST,
                    lm::LEFT_PINKY,
                    lm::LEFT_INDEX,
                    21,
                ],
            ),
            (
                -1.0,
                [
                    JointId::RightShoulder,
                    JointId::RightUpperArm,
                    JointId::RightForearm,
                    JointId::RightHand,
                    JointId::RightHandEnd,
                ],
                [
                    lm::RIGHT_SHOULDER,
                    lm::RIGHT_ELBOW,
                    lm::RIGHT_WRIST,
                    lm::RIGHT_PINKY,
                    lm::RIGHT_INDEX,
                    22,
                ],
            ),
        ];
        for (
            s,
            [clavicle, upper_arm, forearm, hand, hand_end],
            [l_sh, l_el, l_wr, l_pi, l_in, l_th],
        ) in arm_sides
        {
            let x = Vec3::X * s;
            let shoulder = neck + x * half_shoulders;
            let elbow = shoulder + x * m.upper_arm;
            let wrist = elbow + x * m.forearm;
            let knuckles = wrist + x * m.hand;
            set(
                &mut pos,
                clavicle,
                hips + Vec3::new(
                    s * CLAVICLE_ROOT_INSET * half_shoulders,
                    CLAVICLE_ROOT_HEIGHT * m.torso,
                    0.0,
                ),
            );
            set(&mut pos, upper_arm, shoulder);
            set(&mut pos, forearm, elbow);
            set(&mut pos, hand, wrist);
            set(&mut pos, hand_end, knuckles);
            lms[l_sh] = shoulder;
            lms[l_el] = elbow;
            lms[l_wr] = wrist;
            // Palm down, thumb forward: the index finger is on the +Z side.
            lms[l_pi] = knuckles - Vec3::Z * (0.5 * m.hand_width);
            lms[l_in] = knuckles + Vec3::Z * (0.5 * m.hand_width);
            lms[l_th] = wrist + x * (0.5 * m.hand) + Vec3::new(0.0, -0.01, 0.8 * m.hand_width);
        }

        // Legs, mirrored.
        let half_hips = 0.5 * m.hip_width;
        let h = m.ankle_height;
        let toe_forward = (m.foot * m.foot - h * h).max(0.0).sqrt();
        // A heel landmark closer to the ankle than the ankle is high would
        // put it inside the floor; keep it a little behind the ankle instead.
        let heel_back = (m.heel * m.heel - h * h)
            .max((0.25 * h) * (0.25 * h))
            .sqrt();
        let toe_height = TOE_HEIGHT_FRACTION * h;
        let leg_sides = [
            (
                1.0,
                [
                    JointId::LeftThigh,
                    JointId::LeftShin,
                    JointId::LeftFoot,
                    JointId::LeftToe,
                    JointId::LeftToeEnd,
                ],
                [
                    lm::LEFT_HIP,
                    lm::LEFT_KNEE,
                    lm::LEFT_ANKLE,
                    lm::LEFT_HEEL,
                    lm::LEFT_FOOT_INDEX,
                ],
            ),
            (
                -1.0,
                [
                    JointId::RightThigh,
                    JointId::RightShin,
                    JointId::RightFoot,
                    JointId::RightToe,
                    JointId::RightToeEnd,
                ],
                [
                    lm::RIGHT_HIP,
                    lm::RIGHT_KNEE,
                    lm::RIGHT_ANKLE,
                    lm::RIGHT_HEEL,
                    lm::RIGHT_FOOT_INDEX,
                ],
            ),
        ];
        for (s, [thigh, shin, foot, toe, toe_end], [l_hip, l_knee, l_ankle, l_heel, l_toe]) in
            leg_sides
        {
            let hip = hips + Vec3::X * (s * half_hips);
            let knee = hip - Vec3::Y * m.thigh;
            let ankle = knee - Vec3::Y * m.shin;
            let ground = Vec3::new(ankle.x, 0.0, 0.0);
            set(&mut pos, thigh, hip);
            set(&mut pos, shin, knee);
            set(&mut pos, foot, ankle);
            set(
                &mut pos,
                toe,
                ground + Vec3::new(0.0, toe_height, BALL_FRACTION * toe_forward),
            );
            set(
                &mut pos,
                toe_end,
                ground + Vec3::new(0.0, toe_height, toe_forward),
            );
            lms[l_hip] = hip;
            lms[l_knee] = knee;
            lms[l_ankle] = ankle;
            lms[l_heel] = ground - Vec3::Z * heel_back;
            lms[l_toe] = ground + Vec3::Z * toe_forward;
        }

        let joints: Vec<Joint> = JointId::ALL
            .iter()
            .map(|&id| {
                let parent = id.parent();
                let rest_translation = match parent {
                    Some(p) => pos[id.index()] - pos[p.index()],
                    None => pos[id.index()],
                };
                Joint {
                    id,
                    parent: parent.map(JointId::index),
                    rest_translation,
                }
            })
            .collect();

        let mut bindings = [LandmarkBinding {
            joint: JointId::Hips,
            offset: Vec3::ZERO,
        }; NUM_LANDMARKS];
        for (i, b) in bindings.iter_mut().enumerate() {
            let joint = landmark_joint(i);
            *b = LandmarkBinding {
                joint,
                offset: lms[i] - pos[joint.index()],
            };
        }

        Skeleton {
            measurements: m,
            joints,
            rest_positions: pos.to_vec(),
            rest_landmarks: lms,
            bindings,
        }
    }

    /// The (sanitised) measurements the rig was built from.
    pub fn measurements(&self) -> &BodyMeasurements {
        &self.measurements
    }

    /// Joints in [`JointId`] index order.
    pub fn joints(&self) -> &[Joint] {
        &self.joints
    }

    /// Number of joints (always [`JointId::COUNT`]).
    pub fn len(&self) -> usize {
        self.joints.len()
    }

    /// Never true; present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.joints.is_empty()
    }

    /// The joint `id`.
    pub fn joint(&self, id: JointId) -> &Joint {
        &self.joints[id.index()]
    }

    /// Standing height: the top of the head above the floor in the rest pose
    /// (metres). Every rest position is linear in the measurements, so
    /// scaling them by `k` scales this by exactly `k`.
    pub fn height(&self) -> f32 {
        self.rest_position(JointId::HeadEnd).y
    }

    /// Rest translation of the hips: where they stand above the floor origin.
    pub fn rest_root_translation(&self) -> Vec3 {
        self.joints[JointId::Hips.index()].rest_translation
    }

    /// Rest global joint positions (floor at y = 0), in joint index order.
    pub fn rest_positions(&self) -> &[Vec3] {
        &self.rest_positions
    }

    /// Rest position of joint `id`.
    pub fn rest_position(&self, id: JointId) -> Vec3 {
        self.rest_positions[id.index()]
    }

    /// The 33 BlazePose landmarks of the rest pose (floor at y = 0).
    pub fn rest_landmarks(&self) -> &[Vec3; NUM_LANDMARKS] {
        &self.rest_landmarks
    }

    /// The rest landmarks with the hips at the origin, the way the solver
    /// receives world landmarks.
    pub fn rest_landmarks_hip_centred(&self) -> [Vec3; NUM_LANDMARKS] {
        let root = self.rest_root_translation();
        self.rest_landmarks.map(|p| p - root)
    }

    /// Which joint carries each landmark, and where.
    pub fn landmark_bindings(&self) -> &[LandmarkBinding; NUM_LANDMARKS] {
        &self.bindings
    }
}

impl Default for Skeleton {
    /// The T-pose rig of an average adult.
    fn default() -> Self {
        Skeleton::t_pose(&BodyMeasurements::default())
    }
}

/// The joint a landmark moves with.
fn landmark_joint(landmark: usize) -> JointId {
    match landmark {
        lm::LEFT_SHOULDER => JointId::LeftUpperArm,
        lm::RIGHT_SHOULDER => JointId::RightUpperArm,
        lm::LEFT_ELBOW => JointId::LeftForearm,
        lm::RIGHT_ELBOW => JointId::RightForearm,
        // Wrist, pinky, index, thumb.
        15 | 17 | 19 | 21 => JointId::LeftHand,
        16 | 18 | 20 | 22 => JointId::RightHand,
        lm::LEFT_HIP => JointId::LeftThigh,
        lm::RIGHT_HIP => JointId::RightThigh,
        lm::LEFT_KNEE => JointId::LeftShin,
        lm::RIGHT_KNEE => JointId::RightShin,
        lm::LEFT_ANKLE | lm::LEFT_HEEL | lm::LEFT_FOOT_INDEX => JointId::LeftFoot,
        lm::RIGHT_ANKLE | lm::RIGHT_HEEL | lm::RIGHT_FOOT_INDEX => JointId::RightFoot,
        // Nose, eyes, ears, mouth.
        _ => JointId::Head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_pose_geometry() {
        let m = BodyMeasurements::default();
        let s = Skeleton::t_pose(&m);
        assert_eq!(s.len(), JointId::COUNT);
        let p = |j: JointId| s.rest_position(j);
        // Feet on the floor, hips at leg length + ankle height.
        assert!((p(JointId::Hips).y - (m.thigh + m.shin + m.ankle_height)).abs() < 1e-6);
        for i in [
            lm::LEFT_HEEL,
            lm::RIGHT_HEEL,
            lm::LEFT_FOOT_INDEX,
            lm::RIGHT_FOOT_INDEX,
        ] {
            assert!(s.rest_landmarks()[i].y.abs() < 1e-6);
        }
        // Left arm towards +X, horizontal; feet point +Z.
        let arm = p(JointId::LeftHand) - p(JointId::LeftUpperArm);
        assert!(arm.x > 0.5 && arm.y.abs() < 1e-6 && arm.z.abs() < 1e-6);
        assert!(p(JointId::RightHand).x < -0.5);
        assert!(p(JointId::LeftToeEnd).z > 0.1 && p(JointId::LeftThigh).x > 0.0);
        // Spine chain: three equal segments from spine to neck.
        let seg = |a: JointId, b: JointId| (p(b) - p(a)).length();
        let a = seg(JointId::Spine, JointId::Chest);
        assert!((seg(JointId::Chest, JointId::UpperChest) - a).abs() < 1e-6);
        assert!((seg(JointId::UpperChest, JointId::Neck) - a).abs() < 1e-6);
        assert!(seg(JointId::Hips, JointId::Spine) > 0.01);
        // Rest translations add up to the rest positions.
        for j in s.joints() {
            let expected = match j.parent {
                Some(parent) => s.rest_positions()[parent] + j.rest_translation,
                None => j.rest_translation,
            };
            assert!((expected - p(j.id)).length() < 1e-6);
        }
    }

    #[test]
    fn rig_is_symmetric() {
        let s = Skeleton::default();
        for j in JointId::ALL {
            let a = s.rest_position(j);
            let b = s.rest_position(j.mirror());
            assert!((a - Vec3::new(-b.x, b.y, b.z)).length() < 1e-6, "{j}");
        }
    }

    #[test]
    fn bindings_reproduce_rest_landmarks() {
        let s = Skeleton::default();
        for (i, b) in s.landmark_bindings().iter().enumerate() {
            let p = s.rest_position(b.joint) + b.offset;
            assert!((p - s.rest_landmarks()[i]).length() < 1e-6);
        }
    }

    #[test]
    fn no_bone_has_zero_length() {
        let s = Skeleton::default();
        for j in s.joints().iter().skip(1) {
            assert!(j.rest_translation.length() > 0.005, "{}", j.id);
        }
    }
}
