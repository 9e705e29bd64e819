//! Per-frame rig solve: 33 world landmarks to one local rotation per joint.
//!
//! The solve is analytic and frame-independent (no IK iterations, no state),
//! so it is cheap, deterministic and cannot drift; temporal smoothness is
//! the landmark filter's job upstream, and sign continuity is
//! [`make_continuous`]'s.
//!
//! - Hips and upper chest take full orientations from two axes each (up:
//!   mid-hip to mid-shoulder; lateral: the hip line and the shoulder line).
//!   Both share the up axis, so their difference is a pure twist about the
//!   spine, spread evenly over spine, chest and upper chest.
//! - Clavicles, arms, legs and the neck are minimal-arc swings from where
//!   the parent carries the rest bone to the observed bone direction; their
//!   twist is inherited, because landmarks do not observe limb twist.
//! - Head, hands and feet take full orientations from three landmarks
//!   (ears + nose, wrist + pinky + index, heel + foot index + ankle).
//!
//! Every frame is compared with the rest landmarks built the same way, so a
//! T-pose solves to exactly the identity whatever the rest offsets are.
//! Degenerate input (missing, NaN, coincident landmarks) leaves the affected
//! joint at the identity, i.e. it follows its parent.

use glam::{Quat, Vec3};

use super::joint::JointId;
use super::math::{finite_quat, frame_rotation, swing, unit};
use super::skeleton::Skeleton;
use crate::pose::{lm, NUM_LANDMARKS};

/// Local rotations (relative to the rest pose, one per joint, joint index
/// order) that make the rig match `world`: the 33 landmarks in output space
/// (metres, Y up, facing +Z when facing the camera), hip-centred. Bone
/// directions are matched, not positions, so the result does not depend on
/// the subject's proportions matching the rig's exactly.
pub fn solve_frame(skel: &Skeleton, world: &[Vec3; NUM_LANDMARKS]) -> Vec<Quat> {
    let mut s = Solver::new(skel);
    s.torso(world);
    s.head(world);
    s.arm(world, ArmSide::LEFT);
    s.arm(world, ArmSide::RIGHT);
    s.leg(world, LegSide::LEFT);
    s.leg(world, LegSide::RIGHT);
    s.local
}

/// Flip quaternion signs so that consecutive frames of each joint have a
/// non-negative dot product. `q` and `-q` are the same rotation, but
/// interpolating (and filtering) between opposite signs takes the long way
/// round; after this every joint's track is sign-continuous.
pub fn make_continuous(frames: &mut [Vec<Quat>]) {
    for i in 1..frames.len() {
        let (done, rest) = frames.split_at_mut(i);
        let prev = &done[i - 1];
        for (q, p) in rest[0].iter_mut().zip(prev) {
            if q.dot(*p) < 0.0 {
                *q = -*q;
            }
        }
    }
}

fn mid(a: Vec3, b: Vec3) -> Vec3 {
    0.5 * (a + b)
}

struct ArmSide {
    clavicle: JointId,
    upper_arm: JointId,
    forearm: JointId,
    hand: JointId,
    hand_end: JointId,
    shoulder: usize,
    elbow: usize,
    wrist: usize,
    pinky: usize,
    index: usize,
}

impl ArmSide {
    const LEFT: ArmSide = ArmSide {
        clavicle: JointId::LeftShoulder,
        upper_arm: JointId::LeftUpperArm,
        forearm: JointId::LeftForearm,
        hand: JointId::LeftHand,
        hand_end: JointId::LeftHandEnd,
        shoulder: lm::LEFT_SHOULDER,
        elbow: lm::LEFT_ELBOW,
        wrist: lm::LEFT_WRIST,
        pinky: lm::LEFT_PINKY,
        index: lm::LEFT_INDEX,
    };
    const RIGHT: ArmSide = ArmSide {
        clavicle: JointId::RightShoulder,
        upper_arm: JointId::RightUpperArm,
        forearm: JointId::RightForearm,
        hand: JointId::RightHand,
        hand_end: JointId::RightHandEnd,
        shoulder: lm::RIGHT_SHOULDER,
        elbow: lm::RIGHT_ELBOW,
        wrist: lm::RIGHT_WRIST,
        pinky: lm::RIGHT_PINKY,
        index: lm::RIGHT_INDEX,
    };
}

struct LegSide {
    thigh: JointId,
    shin: JointId,
    foot: JointId,
    hip: usize,
    knee: usize,
    ankle: usize,
    heel: usize,
    foot_index: usize,
}

impl LegSide {
    const LEFT: LegSide = LegSide {
        thigh: JointId::LeftThigh,
        shin: JointId::LeftShin,
        foot: JointId::LeftFoot,
        hip: lm::LEFT_HIP,
        knee: lm::LEFT_KNEE,
        ankle: lm::LEFT_ANKLE,
        heel: lm::LEFT_HEEL,
        foot_index: lm::LEFT_FOOT_INDEX,
    };
    const RIGHT: LegSide = LegSide {
        thigh: JointId::RightThigh,
        shin: JointId::RightShin,
        foot: JointId::RightFoot,
        hip: lm::RIGHT_HIP,
        knee: lm::RIGHT_KNEE,
        ankle: lm::RIGHT_ANKLE,
        heel: lm::RIGHT_HEEL,
        foot_index: lm::RIGHT_FOOT_INDEX,
    };
}

/// Solve state: rotations are filled parents-first, so a joint's parent
/// global rotation is final by the time the joint is solved.
struct Solver<'a> {
    skel: &'a Skeleton,
    rest: &'a [Vec3; NUM_LANDMARKS],
    global: [Quat; JointId::COUNT],
    local: Vec<Quat>,
}

impl<'a> Solver<'a> {
    fn new(skel: &'a Skeleton) -> Self {
        Solver {
            skel,
            rest: skel.rest_landmarks(),
            global: [Quat::IDENTITY; JointId::COUNT],
            local: vec![Quat::IDENTITY; JointId::COUNT],
        }
    }

    fn parent_global(&self, j: JointId) -> Quat {
        j.parent()
            .map_or(Quat::IDENTITY, |p| self.global[p.index()])
    }

    /// Rest vector from joint `a` to joint `b` (= in `a`'s local frame,
    /// since rest rotations are identities).
    fn rest_bone(&self, a: JointId, b: JointId) -> Vec3 {
        self.skel.rest_position(b) - self.skel.rest_position(a)
    }

    fn set_local(&mut self, j: JointId, q: Option<Quat>) {
        let q = q.and_then(finite_quat).unwrap_or(Quat::IDENTITY);
        self.local[j.index()] = q;
        self.global[j.index()] = (self.parent_global(j) * q).normalize();
    }

    fn set_global(&mut self, j: JointId, g: Option<Quat>) {
        let local = g.map(|g| self.parent_global(j).inverse() * g);
        self.set_local(j, local);
    }

    /// Swing joint `j` so that its rest bone vector `rest` (local) points
    /// along the observed world direction `observed`.
    fn swing_to(&mut self, j: JointId, rest: Vec3, observed: Vec3) {
        let observed_local = self.parent_global(j).inverse() * observed;
        self.set_local(j, swing(rest, observed_local));
    }

    fn torso(&mut self, w: &[Vec3; NUM_LANDMARKS]) {
        let r = self.rest;
        let axes = |p: &[Vec3; NUM_LANDMARKS]| {
            let mid_hip = mid(p[lm::LEFT_HIP], p[lm::RIGHT_HIP]);
            let mid_shoulder = mid(p[lm::LEFT_SHOULDER], p[lm::RIGHT_SHOULDER]);
            (
                mid_shoulder - mid_hip,
                p[lm::LEFT_HIP] - p[lm::RIGHT_HIP],
                p[lm::LEFT_SHOULDER] - p[lm::RIGHT_SHOULDER],
            )
        };
        let (up_r, hips_r, shoulders_r) = axes(r);
        let (up, hips_lat, shoulders_lat) = axes(w);

        let chest = frame_rotation(up_r, shoulders_r, up, shoulders_lat);
        // Without usable hips the shoulder line is the best guess for the
        // pelvis; without an up axis a lateral swing still gets the yaw.
        let hips = frame_rotation(up_r, hips_r, up, hips_lat)
            .or(chest)
            .or_else(|| swing(hips_r, hips_lat))
            .or_else(|| swing(up_r, up));
        self.set_global(JointId::Hips, hips);
        let hips = self.global[JointId::Hips.index()];

        // Both frames share the up axis, so `twist` is a rotation about the
        // spine; a third of it per bone keeps the spine chain straight.
        let part = chest.and_then(|chest| {
            let mut twist = hips.inverse() * chest;
            if twist.w < 0.0 {
                twist = -twist;
            }
            finite_quat(Quat::IDENTITY.slerp(twist, 1.0 / 3.0))
        });
        for j in [JointId::Spine, JointId::Chest, JointId::UpperChest] {
            self.set_local(j, part);
        }
    }

    fn head(&mut self, w: &[Vec3; NUM_LANDMARKS]) {
        let r = self.rest;
        let axes = |p: &[Vec3; NUM_LANDMARKS]| {
            let mid_ears = mid(p[lm::LEFT_EAR], p[lm::RIGHT_EAR]);
            let mid_shoulder = mid(p[lm::LEFT_SHOULDER], p[lm::RIGHT_SHOULDER]);
            (
                mid_ears,
                mid_shoulder,
                p[lm::LEFT_EAR] - p[lm::RIGHT_EAR],
                p[lm::NOSE] - mid_ears,
            )
        };
        let (ears_r, shoulder_r, lat_r, nose_r) = axes(r);
        let (ears, shoulder, lat, nose) = axes(w);
        // The nose gives the pitch (nodding) that the ears alone miss; the
        // neck line is the fallback when the nose is unusable.
        let head = frame_rotation(lat_r, nose_r, lat, nose)
            .or_else(|| frame_rotation(lat_r, ears_r - shoulder_r, lat, ears - shoulder));

        let head_joint_r = self.skel.rest_position(JointId::Head);
        let neck_r = self.skel.rest_position(JointId::Neck);
        match head {
            Some(head) => {
                // Aim the neck at where the observed head puts its joint, so
                // a tilted head does not bend the neck as well.
                let head_joint = ears - head * (ears_r - head_joint_r);
                self.swing_to(JointId::Neck, head_joint_r - neck_r, head_joint - shoulder);
            }
            None => self.swing_to(JointId::Neck, ears_r - neck_r, ears - shoulder),
        }
        self.set_global(JointId::Head, head);
    }

    fn arm(&mut self, w: &[Vec3; NUM_LANDMARKS], side: ArmSide) {
        let r = self.rest;
        let skel = self.skel;

        // The clavicle aims its end at the observed shoulder's direction from
        // mid-shoulder in the chest frame, at the rig's half shoulder width:
        // that keeps shrugs and forward rolls but not the subject's torso
        // length or shoulder width, which the rig already averages.
        let chest = self.global[JointId::UpperChest.index()];
        let mid_shoulder = mid(w[lm::LEFT_SHOULDER], w[lm::RIGHT_SHOULDER]);
        let neck = skel.rest_position(JointId::Neck);
        let clavicle_root = skel.rest_position(side.clavicle);
        let rest = skel.rest_position(side.upper_arm) - clavicle_root;
        let half_width = (skel.rest_position(side.upper_arm) - neck).length();
        let swung = unit(chest.inverse() * (w[side.shoulder] - mid_shoulder))
            .and_then(|d| swing(rest, neck + d * half_width - clavicle_root));
        self.set_local(side.clavicle, swung);

        let upper = self.rest_bone(side.upper_arm, side.forearm);
        self.swing_to(side.upper_arm, upper, w[side.elbow] - w[side.shoulder]);
        let fore = self.rest_bone(side.forearm, side.hand);
        self.swing_to(side.forearm, fore, w[side.wrist] - w[side.elbow]);

        let knuckles =
            |p: &[Vec3; NUM_LANDMARKS]| mid(p[side.pinky], p[side.index]) - p[side.wrist];
        let across = |p: &[Vec3; NUM_LANDMARKS]| p[side.index] - p[side.pinky];
        match frame_rotation(knuckles(r), across(r), knuckles(w), across(w)) {
            Some(hand) => self.set_global(side.hand, Some(hand)),
            None => {
                let rest = self.rest_bone(side.hand, side.hand_end);
                self.swing_to(side.hand, rest, knuckles(w));
            }
        }
    }

    fn leg(&mut self, w: &[Vec3; NUM_LANDMARKS], side: LegSide) {
        let r = self.rest;
        let thigh = self.rest_bone(side.thigh, side.shin);
        self.swing_to(side.thigh, thigh, w[side.knee] - w[side.hip]);
        let shin = self.rest_bone(side.shin, side.foot);
        self.swing_to(side.shin, shin, w[side.ankle] - w[side.knee]);

        // The sole (heel to toe tip) is the primary axis: a flat foot then
        // solves flat whatever the ankle height, and the ankle gives the roll.
        let sole = |p: &[Vec3; NUM_LANDMARKS]| p[side.foot_index] - p[side.heel];
        let up = |p: &[Vec3; NUM_LANDMARKS]| p[side.ankle] - p[side.heel];
        let toe = |p: &[Vec3; NUM_LANDMARKS]| p[side.foot_index] - p[side.ankle];
        match frame_rotation(sole(r), up(r), sole(w), up(w)) {
            Some(foot) => self.set_global(side.foot, Some(foot)),
            None => self.swing_to(side.foot, toe(r), toe(w)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::{forward_kinematics, global_positions, pose_landmarks, BodyMeasurements};
    use std::f32::consts::FRAC_PI_2;

    const TOL: f32 = 1e-4;

    fn angle(a: Quat, b: Quat) -> f32 {
        a.angle_between(b)
    }

    fn assert_identity_except(local: &[Quat], except: &[JointId]) {
        for j in JointId::ALL {
            if !except.contains(&j) {
                assert!(
                    angle(local[j.index()], Quat::IDENTITY) < 1e-3,
                    "{j}: {:?}",
                    local[j.index()]
                );
            }
        }
    }

    /// Deterministic pseudo-random numbers in [-1, 1].
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn rot(&mut self, max_angle: f32) -> Quat {
            let axis = Vec3::new(self.next(), self.next(), self.next());
            let axis = axis.try_normalize().unwrap_or(Vec3::Y);
            Quat::from_axis_angle(axis, self.next() * max_angle)
        }
    }

    /// A plausible, asymmetric pose: every joint rotated, within human-ish
    /// ranges, the legs and arms swung the way they are in a walk or reach.
    fn realistic_pose(rng: &mut Lcg) -> Vec<Quat> {
        use JointId::*;
        let mut q = vec![Quat::IDENTITY; JointId::COUNT];
        q[Hips.index()] = Quat::from_rotation_y(rng.next() * 3.0) * rng.rot(0.3);
        for j in [Spine, Chest, UpperChest, Neck] {
            q[j.index()] = rng.rot(0.25);
        }
        q[Head.index()] = rng.rot(0.6);
        for j in [LeftShoulder, RightShoulder, LeftToe, RightToe] {
            q[j.index()] = rng.rot(0.2);
        }
        q[LeftUpperArm.index()] = Quat::from_rotation_z(-1.2) * rng.rot(0.8);
        q[RightUpperArm.index()] = Quat::from_rotation_z(1.2) * rng.rot(0.8);
        q[LeftForearm.index()] = Quat::from_rotation_y(0.9) * rng.rot(0.4);
        q[RightForearm.index()] = Quat::from_rotation_y(-0.9) * rng.rot(0.4);
        for j in [LeftHand, RightHand, LeftFoot, RightFoot] {
            q[j.index()] = rng.rot(0.6);
        }
        for j in [LeftThigh, RightThigh] {
            q[j.index()] = Quat::from_rotation_x(rng.next() * 0.7) * rng.rot(0.2);
        }
        for j in [LeftShin, RightShin] {
            q[j.index()] = Quat::from_rotation_x(0.2 + rng.next().abs() * 0.8);
        }
        q
    }

    /// Hip-centred landmarks of `skel` posed with `local`.
    fn landmarks(skel: &Skeleton, local: &[Quat]) -> [Vec3; NUM_LANDMARKS] {
        let l = pose_landmarks(skel, Vec3::new(0.3, 1.0, -2.0), local);
        let mid_hip = mid(l[lm::LEFT_HIP], l[lm::RIGHT_HIP]);
        l.map(|p| p - mid_hip)
    }

    /// A subject whose proportions differ from the default rig's.
    fn other_subject() -> Skeleton {
        Skeleton::t_pose(&BodyMeasurements {
            upper_arm: 0.33,
            forearm: 0.24,
            thigh: 0.47,
            shin: 0.38,
            torso: 0.56,
            shoulder_width: 0.40,
            hip_width: 0.24,
            neck: 0.19,
            foot: 0.2,
            ..BodyMeasurements::default()
        })
    }

    fn dir(v: Vec3) -> Vec3 {
        v.normalize()
    }

    #[test]
    fn t_pose_solves_to_identity() {
        let skel = Skeleton::default();
        let local = solve_frame(&skel, &skel.rest_landmarks_hip_centred());
        assert_eq!(local.len(), skel.len());
        assert_identity_except(&local, &[]);
        // Also for another body's T-pose: proportions must not matter.
        let local = solve_frame(&skel, &other_subject().rest_landmarks_hip_centred());
        assert_identity_except(&local, &[]);
    }

    #[test]
    fn lowering_the_left_arm_is_a_negative_z_rotation() {
        let skel = Skeleton::default();
        let mut w = skel.rest_landmarks_hip_centred();
        let shoulder = w[lm::LEFT_SHOULDER];
        let down = Quat::from_rotation_z(-FRAC_PI_2);
        for i in [
            lm::LEFT_ELBOW,
            lm::LEFT_WRIST,
            lm::LEFT_PINKY,
            lm::LEFT_INDEX,
            21,
        ] {
            w[i] = shoulder + down * (w[i] - shoulder);
        }
        assert!(
            w[lm::LEFT_WRIST].y < shoulder.y - 0.5,
            "arm must point down"
        );
        let local = solve_frame(&skel, &w);
        let ua = local[JointId::LeftUpperArm.index()];
        assert!(angle(ua, down) < 1e-3, "{ua:?}");
        // +X onto -Y: a -90° turn about +Z.
        assert!((ua * Vec3::X - Vec3::NEG_Y).length() < 1e-3);
        assert_identity_except(&local, &[JointId::LeftUpperArm]);
    }

    #[test]
    fn turning_the_body_only_turns_the_hips() {
        let skel = Skeleton::default();
        let turn = Quat::from_rotation_y(FRAC_PI_2);
        let w = skel.rest_landmarks_hip_centred().map(|p| turn * p);
        let local = solve_frame(&skel, &w);
        assert!(angle(local[JointId::Hips.index()], turn) < 1e-3);
        assert_identity_except(&local, &[JointId::Hips]);
    }

    #[test]
    fn head_orientation_is_recovered_exactly() {
        let skel = Skeleton::default();
        let mut pose = vec![Quat::IDENTITY; skel.len()];
        pose[JointId::Head.index()] = Quat::from_rotation_y(0.7) * Quat::from_rotation_x(0.35);
        let local = solve_frame(&skel, &landmarks(&skel, &pose));
        let got = forward_kinematics(&skel, Vec3::ZERO, &local);
        let want = forward_kinematics(&skel, Vec3::ZERO, &pose);
        let h = JointId::Head.index();
        assert!(angle(got[h].rotation, want[h].rotation) < 1e-3);
        assert!((got[h].translation - want[h].translation).length() < 1e-4);
    }

    #[test]
    fn fk_of_solution_reproduces_landmark_directions() {
        let skel = Skeleton::default();
        let subject = other_subject();
        let mut rng = Lcg(7);
        for _ in 0..20 {
            let w = landmarks(&subject, &realistic_pose(&mut rng));
            let local = solve_frame(&skel, &w);
            let p = global_positions(&skel, Vec3::ZERO, &local);
            let l = pose_landmarks(&skel, Vec3::ZERO, &local);
            let pj = |j: JointId| p[j.index()];
            let check = |what: &str, got: Vec3, want: Vec3| {
                let err = (dir(got) - dir(want)).length();
                assert!(err < TOL, "{what}: got {got}, want {want} (err {err})");
            };
            use JointId::*;
            let bones = [
                (LeftUpperArm, LeftForearm, lm::LEFT_SHOULDER, lm::LEFT_ELBOW),
                (LeftForearm, LeftHand, lm::LEFT_ELBOW, lm::LEFT_WRIST),
                (
                    RightUpperArm,
                    RightForearm,
                    lm::RIGHT_SHOULDER,
                    lm::RIGHT_ELBOW,
                ),
                (RightForearm, RightHand, lm::RIGHT_ELBOW, lm::RIGHT_WRIST),
                (LeftThigh, LeftShin, lm::LEFT_HIP, lm::LEFT_KNEE),
                (LeftShin, LeftFoot, lm::LEFT_KNEE, lm::LEFT_ANKLE),
                (RightThigh, RightShin, lm::RIGHT_HIP, lm::RIGHT_KNEE),
                (RightShin, RightFoot, lm::RIGHT_KNEE, lm::RIGHT_ANKLE),
            ];
            for (a, b, la, lb) in bones {
                check(b.name(), pj(b) - pj(a), w[lb] - w[la]);
            }
            let up = mid(w[lm::LEFT_SHOULDER], w[lm::RIGHT_SHOULDER])
                - mid(w[lm::LEFT_HIP], w[lm::RIGHT_HIP]);
            check("torso", pj(Neck) - pj(Hips), up);
            let flat = |v: Vec3| v - dir(up) * dir(up).dot(v);
            check(
                "hip line",
                pj(LeftThigh) - pj(RightThigh),
                flat(w[lm::LEFT_HIP] - w[lm::RIGHT_HIP]),
            );
            let ears = |x: &[Vec3; NUM_LANDMARKS]| x[lm::LEFT_EAR] - x[lm::RIGHT_EAR];
            check("ears", ears(&l), ears(&w));
            for (wr, pi, ix) in [
                (lm::LEFT_WRIST, lm::LEFT_PINKY, lm::LEFT_INDEX),
                (lm::RIGHT_WRIST, lm::RIGHT_PINKY, lm::RIGHT_INDEX),
            ] {
                let hand = |x: &[Vec3; NUM_LANDMARKS]| mid(x[pi], x[ix]) - x[wr];
                check("hand", hand(&l), hand(&w));
            }
            for (heel, toe) in [
                (lm::LEFT_HEEL, lm::LEFT_FOOT_INDEX),
                (lm::RIGHT_HEEL, lm::RIGHT_FOOT_INDEX),
            ] {
                check("sole", l[toe] - l[heel], w[toe] - w[heel]);
            }
        }
    }

    #[test]
    fn same_body_round_trips_limb_landmarks() {
        // With the rig's own proportions the limb landmarks land exactly,
        // not just in direction, as long as the torso pose is one the solver
        // represents (no clavicle motion, spine twist only).
        let skel = Skeleton::default();
        let mut rng = Lcg(99);
        for _ in 0..10 {
            let mut pose = realistic_pose(&mut rng);
            let twist = Quat::from_rotation_y(rng.next() * 0.3);
            for j in [JointId::Spine, JointId::Chest, JointId::UpperChest] {
                pose[j.index()] = twist;
            }
            for j in [JointId::LeftShoulder, JointId::RightShoulder] {
                pose[j.index()] = Quat::IDENTITY;
            }
            let w = landmarks(&skel, &pose);
            let local = solve_frame(&skel, &w);
            let l = landmarks(&skel, &local);
            for i in [
                11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 7,
                8, 0,
            ] {
                assert!(
                    (l[i] - w[i]).length() < 1e-3,
                    "landmark {i}: {} vs {}",
                    l[i],
                    w[i]
                );
            }
        }
    }

    #[test]
    fn bone_lengths_are_constant_across_frames() {
        let skel = Skeleton::default();
        let subject = other_subject();
        let mut rng = Lcg(3);
        for frame in 0..10 {
            let mut w = landmarks(&subject, &realistic_pose(&mut rng));
            // Landmark noise changes observed lengths; the rig must not.
            for p in w.iter_mut() {
                *p += Vec3::new(rng.next(), rng.next(), rng.next()) * 0.02;
            }
            let local = solve_frame(&skel, &w);
            let root = Vec3::new(frame as f32, 0.9, 0.0);
            let p = global_positions(&skel, root, &local);
            for (i, j) in skel.joints().iter().enumerate() {
                if let Some(parent) = j.parent {
                    let len = (p[i] - p[parent]).length();
                    assert!((len - j.rest_translation.length()).abs() < 1e-5, "{}", j.id);
                }
            }
        }
    }

    #[test]
    fn continuity_removes_sign_flips() {
        let skel = Skeleton::default();
        let mut rng = Lcg(11);
        let a = solve_frame(&skel, &landmarks(&skel, &realistic_pose(&mut rng)));
        let mut frames = vec![a.clone(), a.iter().map(|q| -*q).collect(), a.clone()];
        frames[2][3] = -frames[2][3];
        make_continuous(&mut frames);
        for f in &frames[1..] {
            for (q, p) in f.iter().zip(&a) {
                assert!((*q - *p).length() < 1e-6);
            }
        }
        // Degenerate inputs must not panic.
        make_continuous(&mut []);
        make_continuous(&mut [vec![], vec![Quat::IDENTITY]]);
    }

    #[test]
    fn bad_input_never_gives_nan() {
        let skel = Skeleton::default();
        let rest = skel.rest_landmarks_hip_centred();
        let finite = |local: &[Quat]| {
            local.len() == skel.len()
                && local
                    .iter()
                    .all(|q| q.is_finite() && (q.length() - 1.0).abs() < 1e-4)
        };
        let cases: Vec<[Vec3; NUM_LANDMARKS]> = vec![
            [Vec3::splat(f32::NAN); NUM_LANDMARKS],
            [Vec3::splat(f32::INFINITY); NUM_LANDMARKS],
            [Vec3::ZERO; NUM_LANDMARKS],
            [Vec3::splat(f32::MAX); NUM_LANDMARKS],
            [Vec3::new(1e-7, 0.0, 0.0); NUM_LANDMARKS],
        ];
        for w in &cases {
            let local = solve_frame(&skel, w);
            assert!(finite(&local));
            assert_identity_except(&local, &[]);
        }
        // Each landmark NaN in turn: the rest of the solve survives.
        for i in 0..NUM_LANDMARKS {
            let mut w = rest;
            w[i] = Vec3::new(f32::NAN, 0.0, f32::INFINITY);
            assert!(finite(&solve_frame(&skel, &w)), "landmark {i}");
        }
        // A missing elbow leaves the upper arm following the clavicle.
        let mut w = rest;
        w[lm::LEFT_ELBOW] = Vec3::splat(f32::NAN);
        let local = solve_frame(&skel, &w);
        assert_eq!(local[JointId::LeftUpperArm.index()], Quat::IDENTITY);
        // Coincident landmarks (a collapsed limb) and opposite directions.
        let mut w = rest;
        w[lm::LEFT_WRIST] = w[lm::LEFT_ELBOW];
        w[lm::RIGHT_ELBOW] = w[lm::RIGHT_SHOULDER] + Vec3::X * 0.3;
        assert!(finite(&solve_frame(&skel, &w)));
    }
}
