//! The quality report of a solved motion: the figures an animator would
//! otherwise measure by hand, computed on the solved skeleton itself (the
//! motion every output carries).

use glam::{Vec2, Vec3};
use serde::{Deserialize, Serialize};

use super::level::SceneToCamera;
use super::lift::Pinhole;
use super::scale::SkeletonScale;
use crate::pose::{PoseObservation, NUM_LANDMARKS};
use crate::rig::JointId;

/// Image landmarks less visible than this are left out of the reprojection
/// error (the model itself says they are guesses).
const MIN_VISIBILITY: f32 = 0.5;

/// A facing change larger than this between consecutive frames counts as a
/// flip (degrees).
pub const FACING_JUMP_DEG: f32 = 60.0;

/// The report (see the README's "Motion quality").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Frames of the followed span.
    pub frames: usize,
    /// Frames where the model saw the person.
    pub frames_observed: usize,
    /// Short losses filled by interpolating the model's poses.
    pub frames_filled: usize,
    /// Long losses bridged by a smooth transition (flagged per frame in
    /// keypoints.json).
    pub frames_bridged: usize,
    /// Frames whose legs the consistency pass swapped back.
    pub limb_swaps_corrected: usize,
    /// Frames whose facing it turned back.
    pub facing_flips_corrected: usize,
    /// Knees the joint limits straightened (bent forward in the model's
    /// landmarks), summed over frames.
    pub knees_clamped: usize,
    /// Frame pairs of the solved motion whose facing still changes by more
    /// than [`FACING_JUMP_DEG`].
    pub facing_jumps: usize,
    /// Share of the span's frames each foot is planted, `[left, right]`.
    pub contact_share: [f32; 2],
    /// Median horizontal movement of a planted foot between consecutive
    /// planted frames, millimetres.
    pub planted_foot_slide_mm: f32,
    /// Mean |p[t+1] − 2p[t] + p[t−1]| of the wrists and of the ankles,
    /// millimetres per frame².
    pub wrist_jitter_mm: f32,
    pub ankle_jitter_mm: f32,
    /// Largest root step between frames, metres.
    pub max_root_step_m: f32,
    /// Median distance between the solved skeleton's landmarks projected
    /// through the camera and the model's image landmarks, pixels.
    pub reprojection_px: f32,
    /// How far the ground the feet stood on was tilted in the camera's
    /// view, degrees (the scene is levelled by it; 0 when the contacts did
    /// not show a plane).
    #[serde(default)]
    pub ground_tilt_deg: f32,
    /// The skeleton's size and segment lengths.
    pub skeleton: Option<SkeletonScale>,
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// The mean of both sides' [`jitter`] of one joint pair over global joint
/// positions per frame.
pub(crate) fn pair_jitter(joints: &[Vec<Vec3>], pair: [JointId; 2]) -> f32 {
    let side = |j: JointId| -> f32 {
        let track: Vec<Vec3> = joints.iter().map(|g| g[j.index()]).collect();
        jitter(&track)
    };
    0.5 * (side(pair[0]) + side(pair[1]))
}

/// Mean second difference of a track, millimetres.
fn jitter(track: &[Vec3]) -> f32 {
    if track.len() < 3 {
        return 0.0;
    }
    let sum: f32 = track
        .windows(3)
        .map(|w| (w[2] - 2.0 * w[1] + w[0]).length())
        .sum();
    1000.0 * sum / (track.len() - 2) as f32
}

/// Inputs of [`measure`]: per frame of the span.
pub struct Solved<'a> {
    /// Global joint positions of the solved rig, output space.
    pub joints: &'a [Vec<Vec3>],
    /// The solved rig's landmarks, output space, not hip-centred.
    pub landmarks: &'a [[Vec3; NUM_LANDMARKS]],
    pub root: &'a [Vec3],
    pub contacts: &'a [[bool; 2]],
    /// The model's (cleaned) observation where it saw the person.
    pub observed: &'a [Option<&'a PoseObservation>],
    /// The scene's way back to camera space.
    pub to_camera: &'a SceneToCamera,
    pub camera: &'a Pinhole,
    /// The hips' facing direction per frame, output space.
    pub facing: &'a [Vec3],
}

/// The figures of `s`; the correction counts and frame counts are the
/// caller's to fill in.
pub fn measure(s: &Solved) -> Quality {
    let n = s.joints.len();
    let wrist_jitter_mm = pair_jitter(s.joints, [JointId::LeftHand, JointId::RightHand]);
    let ankle_jitter_mm = pair_jitter(s.joints, [JointId::LeftFoot, JointId::RightFoot]);
    let mut slide = Vec::new();
    for (side, foot) in [JointId::LeftFoot, JointId::RightFoot]
        .into_iter()
        .enumerate()
    {
        for f in 1..n.min(s.contacts.len()) {
            if s.contacts[f][side] && s.contacts[f - 1][side] {
                let d = s.joints[f][foot.index()] - s.joints[f - 1][foot.index()];
                slide.push(1000.0 * Vec2::new(d.x, d.z).length());
            }
        }
    }
    let share = |side: usize| {
        s.contacts.iter().filter(|c| c[side]).count() as f32 / s.contacts.len().max(1) as f32
    };
    let max_root_step_m = s
        .root
        .windows(2)
        .map(|w| (w[1] - w[0]).length())
        .fold(0.0, f32::max);
    let mut errors = Vec::new();
    for f in 0..n.min(s.observed.len()) {
        let Some(p) = s.observed[f] else { continue };
        for (k, l) in p.image.iter().enumerate() {
            if l.visibility < MIN_VISIBILITY {
                continue;
            }
            let cam = s.to_camera.apply(s.landmarks[f][k]);
            if let Some(px) = s.camera.project(cam) {
                errors.push((px - Vec2::new(l.x, l.y)).length());
            }
        }
    }
    let cos_jump = FACING_JUMP_DEG.to_radians().cos();
    let facing_jumps = s
        .facing
        .windows(2)
        .filter(|w| w[0].dot(w[1]) < cos_jump)
        .count();
    Quality {
        frames: n,
        contact_share: [share(0), share(1)],
        planted_foot_slide_mm: median(slide),
        wrist_jitter_mm,
        ankle_jitter_mm,
        max_root_step_m,
        reprojection_px: median(errors),
        facing_jumps,
        ..Quality::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_of_a_straight_line_is_zero_and_of_a_zigzag_is_not() {
        let line: Vec<Vec3> = (0..10).map(|i| Vec3::X * i as f32).collect();
        assert!(jitter(&line) < 1e-3);
        let zigzag: Vec<Vec3> = (0..10)
            .map(|i| Vec3::Y * if i % 2 == 0 { 0.01 } else { 0.0 })
            .collect();
        assert!((jitter(&zigzag) - 20.0).abs() < 1e-3);
    }
}
