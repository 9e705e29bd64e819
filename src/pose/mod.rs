//! Pose: from frames to clean per-frame 3D landmarks of one followed person.
//!
//! Stages, each a module with one job: [`yolox`] (or BlazePose's own
//! [`anchors`] and [`detect`]) find people,
//! [`roi`] turns a detection (or the previous frame's landmarks) into a
//! rotated crop, [`crop`] samples that crop from the frame, [`landmark`]
//! decodes the landmark model, [`track`] keeps stable ids across frames;
//! [`record`] keeps every track's landmarks (tracks.json) and [`thumbnail`]
//! a picture of each person, for solving another person later.
//! What happens to one person's observations after that (gaps, smoothing,
//! root, contacts, the rig fit) is [`crate::motion`]'s.
//!
//! Conventions used throughout:
//! - image landmarks are upright frame pixels (x right, y down);
//! - *camera space* is MediaPipe's world frame: metres, x right, y down,
//!   z away from the camera; BlazePose world landmarks are hip-centred in it;
//! - *output space* is glTF's: metres, Y up, the subject facing +Z when she
//!   faces the camera. [`camera_to_output`] converts.

pub mod anchors;
pub mod appearance;
pub mod assign;
pub mod blazepose;
pub mod crop;
pub mod damp;
pub mod detect;
pub mod landmark;
pub mod record;
pub mod roi;
pub mod stitch;
pub mod thumbnail;
pub mod track;
pub mod yolox;

use glam::Vec3;
use serde::{Deserialize, Serialize};

/// Number of body landmarks BlazePose reports.
pub const NUM_LANDMARKS: usize = 33;

/// BlazePose landmark names, in model order ("left" is the subject's left).
pub const LANDMARK_NAMES: [&str; NUM_LANDMARKS] = [
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
];

/// Indices of the landmarks the rest of the crate names.
pub mod lm {
    pub const NOSE: usize = 0;
    pub const LEFT_EAR: usize = 7;
    pub const RIGHT_EAR: usize = 8;
    pub const LEFT_SHOULDER: usize = 11;
    pub const RIGHT_SHOULDER: usize = 12;
    pub const LEFT_ELBOW: usize = 13;
    pub const RIGHT_ELBOW: usize = 14;
    pub const LEFT_WRIST: usize = 15;
    pub const RIGHT_WRIST: usize = 16;
    pub const LEFT_PINKY: usize = 17;
    pub const RIGHT_PINKY: usize = 18;
    pub const LEFT_INDEX: usize = 19;
    pub const RIGHT_INDEX: usize = 20;
    pub const LEFT_HIP: usize = 23;
    pub const RIGHT_HIP: usize = 24;
    pub const LEFT_KNEE: usize = 25;
    pub const RIGHT_KNEE: usize = 26;
    pub const LEFT_ANKLE: usize = 27;
    pub const RIGHT_ANKLE: usize = 28;
    pub const LEFT_HEEL: usize = 29;
    pub const RIGHT_HEEL: usize = 30;
    pub const LEFT_FOOT_INDEX: usize = 31;
    pub const RIGHT_FOOT_INDEX: usize = 32;
}

/// One landmark in the image: upright pixels, z relative depth in pixels
/// (same scale as x), visibility and presence as probabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageLandmark {
    pub x: f32,
    pub y: f32,
    pub z: f32,
    pub visibility: f32,
    pub presence: f32,
}

/// The landmark model's answer for one person in one frame.
#[derive(Clone, Debug, PartialEq)]
pub struct PoseObservation {
    /// 33 image landmarks in upright pixels.
    pub image: [ImageLandmark; NUM_LANDMARKS],
    /// 33 world landmarks, camera space, metres, hip-centred.
    pub world: [Vec3; NUM_LANDMARKS],
    /// Pose presence score (probability).
    pub presence: f32,
}

/// The logistic function: model logits to probabilities.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Camera space (y down, z away) to output space (Y up, +Z towards the camera).
#[inline]
pub fn camera_to_output(p: Vec3) -> Vec3 {
    Vec3::new(p.x, -p.y, -p.z)
}
