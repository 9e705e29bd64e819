//! Test helper: a synthetic solved motion (no models needed) that exercises
//! what exporters get wrong: a full turn of the hips (Euler wrap-around),
//! large arm rotations, root motion in all three axes.

#![allow(dead_code)]

use std::f32::consts::TAU;

use glam::{Quat, Vec3};
use vidmocap::rig::{BodyMeasurements, Clip, JointId, Skeleton};

pub const FPS: f32 = 30.0;
pub const FRAMES: usize = 40;

/// A rig for a taller-than-average subject and a walk that turns around.
pub fn motion() -> (Skeleton, Clip) {
    let skel = Skeleton::t_pose(&BodyMeasurements {
        thigh: 0.46,
        shin: 0.44,
        upper_arm: 0.31,
        ..BodyMeasurements::default()
    });
    let mut roots = Vec::new();
    let mut rotations = Vec::new();
    for f in 0..FRAMES {
        let phase = TAU * f as f32 / FPS;
        let s = phase.sin();
        let mut q = vec![Quat::IDENTITY; skel.len()];
        let mut set = |j: JointId, r: Quat| q[j.index()] = r;
        // One whole turn over the clip, leaning a little.
        set(
            JointId::Hips,
            Quat::from_rotation_y(TAU * f as f32 / FRAMES as f32) * Quat::from_rotation_x(0.1 * s),
        );
        set(JointId::Chest, Quat::from_rotation_y(-0.2 * s));
        set(JointId::Neck, Quat::from_rotation_x(0.2));
        set(JointId::Head, Quat::from_rotation_y(0.4 * s));
        set(JointId::LeftThigh, Quat::from_rotation_x(-0.6 * s));
        set(JointId::RightThigh, Quat::from_rotation_x(0.6 * s));
        set(
            JointId::LeftShin,
            Quat::from_rotation_x(0.3 + 0.4 * s.max(0.0)),
        );
        set(
            JointId::RightShin,
            Quat::from_rotation_x(0.3 + 0.4 * (-s).max(0.0)),
        );
        set(JointId::LeftFoot, Quat::from_rotation_x(-0.3 * s));
        set(JointId::RightToe, Quat::from_rotation_x(0.5 * s));
        set(
            JointId::LeftUpperArm,
            Quat::from_rotation_x(0.5 * s) * Quat::from_rotation_z(-1.3),
        );
        set(
            JointId::RightUpperArm,
            Quat::from_rotation_y(2.5 * s) * Quat::from_rotation_z(1.4),
        );
        set(JointId::LeftForearm, Quat::from_rotation_y(0.4 + 0.8 * s));
        set(JointId::RightForearm, Quat::from_rotation_y(-1.5));
        set(JointId::LeftHand, Quat::from_rotation_z(0.3 * s));
        set(JointId::LeftShoulder, Quat::from_rotation_z(0.15 * s));
        rotations.push(q);
        roots.push(Vec3::new(
            0.4 * s,
            skel.rest_root_translation().y - 0.04 + 0.02 * (2.0 * phase).cos(),
            1.2 * f as f32 / FPS,
        ));
    }
    let clip = Clip {
        fps: FPS,
        root_translation: roots,
        rotations,
    };
    (skel, clip)
}
