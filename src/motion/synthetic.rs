//! A synthetic walk for the motion stage's tests: the default rig turning a
//! little and swinging its legs while it crosses in front of a pinhole
//! camera, observed exactly (image and world landmarks).

use glam::{Quat, Vec3};

use super::lift::Pinhole;
use crate::pose::{camera_to_output, ImageLandmark, PoseObservation};
use crate::rig::{pose_landmarks, JointId, Skeleton};

pub const FPS: f32 = 30.0;

pub fn camera() -> Pinhole {
    Pinhole::from_fov(1280, 720, 60.0)
}

/// The hips' camera-space position at frame `i`: walking along +x at
/// 1 m/s, 4 m away.
pub fn root_at(i: usize) -> Vec3 {
    Vec3::new(-1.5 + i as f32 / FPS, 0.0, 4.0)
}

/// `n` frames of the walk.
pub fn walk(n: usize) -> Vec<PoseObservation> {
    let skel = Skeleton::default();
    let cam = camera();
    (0..n)
        .map(|i| {
            let t = i as f32 / FPS;
            let mut local = vec![Quat::IDENTITY; skel.len()];
            local[0] = Quat::from_rotation_y(0.3 * (0.5 * t).sin());
            let swing = 0.5 * (4.0 * t).sin();
            local[JointId::LeftThigh.index()] = Quat::from_rotation_x(swing);
            local[JointId::RightThigh.index()] = Quat::from_rotation_x(-swing);
            local[JointId::LeftUpperArm.index()] = Quat::from_rotation_z(-1.2);
            local[JointId::RightUpperArm.index()] = Quat::from_rotation_z(1.2);
            let out = pose_landmarks(&skel, Vec3::ZERO, &local);
            let world = out.map(camera_to_output);
            let image = world.map(|w| {
                let px = cam.project(w + root_at(i)).expect("in front of the camera");
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
        })
        .collect()
}
