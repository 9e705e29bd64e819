//! Humanoid rig: measure the subject, build a T-pose skeleton for her, solve
//! per-frame joint rotations from world landmarks, and hold the result as a
//! [`Clip`] for the exporters.
//!
//! Conventions (shared with [`crate::pose`]'s output space): metres, Y up,
//! the rest pose faces +Z with the subject's left arm along +X, feet on the
//! floor at y = 0. Joint rotations are local and relative to the rest pose,
//! whose local rotations are all the identity. Joint arrays are indexed by
//! [`JointId::index`], parents before children.
//!
//! Modules: [`joint`] (the joint set), [`measure`] (segment lengths),
//! [`skeleton`] (rest pose and landmark bindings), [`solve`] (landmarks to
//! rotations), [`fk`] (rotations to transforms), [`clip`] (motion),
//! [`mesh`] (a visible body for exports), [`preset`] (bone names per
//! target: generic, Mixamo, UE5).

pub mod clip;
pub mod fk;
pub mod joint;
mod math;
pub mod measure;
pub mod mesh;
pub mod preset;
pub mod skeleton;
pub mod solve;

pub use clip::{Clip, ClipProblem};
pub use fk::{forward_kinematics, global_positions, landmarks_of, pose_landmarks, JointTransform};
pub use joint::JointId;
pub use measure::BodyMeasurements;
pub use mesh::{body_mesh, BodyMesh};
pub use preset::RigPreset;
pub use skeleton::{Joint, LandmarkBinding, Skeleton};
pub use solve::{make_continuous, solve_frame};
