//! A synthetic walk for the motion stage's tests: the default rig walking
//! diagonally towards a pinhole camera, in three-quarter view, observed
//! exactly (image and world landmarks).
//!
//! The walk is physically consistent, because the solver's foot locking and
//! floor assume real feet: the stance foot stays flat and still on the
//! floor while the hips travel over it (the root is integrated from the
//! stance ankle's motion), and the swing knee bends on the back half of the
//! swing so that foot clears the floor.

use glam::{Quat, Vec3};

use super::lift::Pinhole;
use crate::pose::{camera_to_output, ImageLandmark, PoseObservation};
use crate::rig::{global_positions, pose_landmarks, JointId, Skeleton};

pub const FPS: f32 = 30.0;

/// Thigh swing amplitude (radians) and angular frequency (radians/s): about
/// 0.9 m/s.
const SWING: f32 = 0.4;
const STRIDE_RATE: f32 = 4.0;
/// Walking direction in camera space: along +x and 20° towards the camera.
const HEADING: f32 = -20.0 * std::f32::consts::PI / 180.0;
/// The hips' camera-space position at frame 0.
const START: Vec3 = Vec3::new(-2.0, 0.0, 6.0);

pub fn camera() -> Pinhole {
    Pinhole::from_fov(1280, 720, 60.0)
}

/// One frame's local joint rotations, and which leg stands (left: `true`).
fn frame_pose(skel: &Skeleton, i: usize) -> (Vec<Quat>, bool) {
    let t = i as f32 / FPS;
    let mut local = vec![Quat::IDENTITY; skel.len()];
    // Facing the walking direction: output space negates camera z.
    let dir = Vec3::new(HEADING.cos(), 0.0, -HEADING.sin());
    local[JointId::Hips.index()] = Quat::from_rotation_y(dir.x.atan2(dir.z));
    let phase = STRIDE_RATE * t;
    // A positive thigh angle swings the foot back; the leg moving back
    // under the body is the one standing.
    let left_angle = SWING * phase.sin();
    let left_stands = phase.cos() >= 0.0;
    for (thigh, shin, foot, angle, stands) in [
        (
            JointId::LeftThigh,
            JointId::LeftShin,
            JointId::LeftFoot,
            left_angle,
            left_stands,
        ),
        (
            JointId::RightThigh,
            JointId::RightShin,
            JointId::RightFoot,
            -left_angle,
            !left_stands,
        ),
    ] {
        let knee = if stands { 0.0 } else { 2.0 * angle.max(0.0) };
        local[thigh.index()] = Quat::from_rotation_x(angle);
        local[shin.index()] = Quat::from_rotation_x(knee);
        // Flat foot.
        local[foot.index()] = Quat::from_rotation_x(-angle - knee);
    }
    local[JointId::LeftUpperArm.index()] = Quat::from_rotation_z(-1.2);
    local[JointId::RightUpperArm.index()] = Quat::from_rotation_z(1.2);
    (local, left_stands)
}

/// Per frame up to `n`: local rotations and the hips' output-space position
/// relative to frame 0, moved so the standing ankle does not.
fn frames(skel: &Skeleton, n: usize) -> Vec<(Vec<Quat>, Vec3)> {
    let ankle = |local: &[Quat], left: bool| {
        let id = if left {
            JointId::LeftFoot
        } else {
            JointId::RightFoot
        };
        global_positions(skel, Vec3::ZERO, local)[id.index()]
    };
    let mut out: Vec<(Vec<Quat>, Vec3)> = Vec::with_capacity(n);
    let mut root = Vec3::ZERO;
    for i in 0..n {
        let (local, left_stands) = frame_pose(skel, i);
        if let Some((previous, _)) = out.last() {
            root -= ankle(&local, left_stands) - ankle(previous, left_stands);
        }
        out.push((local, root));
    }
    out
}

/// The hips' camera-space position at frame `i`.
pub fn root_at(i: usize) -> Vec3 {
    let skel = Skeleton::default();
    let (_, root) = frames(&skel, i + 1).pop().expect("one frame at least");
    START + camera_to_output(root)
}

fn observe(skel: &Skeleton, cam: &Pinhole, local: &[Quat], root_cam: Vec3) -> PoseObservation {
    let world = pose_landmarks(skel, Vec3::ZERO, local).map(camera_to_output);
    let image = world.map(|w| {
        let px = cam.project(w + root_cam).expect("in front of the camera");
        ImageLandmark {
            x: px.x,
            y: px.y,
            z: 0.0,
            visibility: 0.95,
            presence: 0.95,
        }
    });
    PoseObservation {
        image,
        world,
        presence: 0.95,
    }
}

/// `n` frames of the walk.
pub fn walk(n: usize) -> Vec<PoseObservation> {
    let skel = Skeleton::default();
    let cam = camera();
    frames(&skel, n)
        .into_iter()
        .map(|(local, root)| observe(&skel, &cam, &local, START + camera_to_output(root)))
        .collect()
}

/// Per frame up to `n`: every joint's true global position, output space.
pub fn joints(n: usize) -> Vec<Vec<Vec3>> {
    let skel = Skeleton::default();
    frames(&skel, n)
        .into_iter()
        .map(|(local, root)| global_positions(&skel, camera_to_output(START) + root, &local))
        .collect()
}

/// The rest pose, facing the camera, at the walk's start.
pub fn standing() -> PoseObservation {
    let skel = Skeleton::default();
    observe(&skel, &camera(), &vec![Quat::IDENTITY; skel.len()], START)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::lm;

    #[test]
    fn the_standing_foot_stays_put_and_the_swinging_one_clears_the_floor() {
        let skel = Skeleton::default();
        let walk = frames(&skel, 60);
        let sole = |local: &[Quat], root: Vec3, left: bool| {
            let p = pose_landmarks(&skel, root, local);
            let (heel, toe) = if left {
                (lm::LEFT_HEEL, lm::LEFT_FOOT_INDEX)
            } else {
                (lm::RIGHT_HEEL, lm::RIGHT_FOOT_INDEX)
            };
            (p[heel], p[toe])
        };
        let floor = sole(&walk[0].0, walk[0].1, true).0.y;
        let mut lifted = 0;
        for i in 1..walk.len() {
            let (_, left_stands) = frame_pose(&skel, i);
            let (_, prev_left) = frame_pose(&skel, i - 1);
            let (heel, toe) = sole(&walk[i].0, walk[i].1, left_stands);
            assert!((heel.y - floor).abs() < 1e-3, "frame {i}: heel {heel}");
            assert!(
                (toe.y - heel.y).abs() < 1e-3,
                "frame {i}: the foot is not flat"
            );
            if left_stands == prev_left {
                let (before, _) = sole(&walk[i - 1].0, walk[i - 1].1, left_stands);
                assert!((heel - before).length() < 1e-3, "frame {i}: slid");
            }
            let (swing, _) = sole(&walk[i].0, walk[i].1, !left_stands);
            assert!(swing.y >= floor - 1e-3, "frame {i}: through the floor");
            lifted += usize::from(swing.y > floor + 0.03);
        }
        assert!(lifted > 10, "the swinging foot never lifts: {lifted}");
        // About 0.9 m/s.
        let speed = walk[59].1.length() / (59.0 / FPS);
        assert!((0.7..1.1).contains(&speed), "{speed} m/s");
    }
}
