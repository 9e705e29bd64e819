//! Motion: one followed person's per-frame observations in, one clean,
//! rigged motion out — the stage between [`crate::pose`] and the exporters.
//!
//! [`solve`] is the one entry point (`process` and the job workers call it
//! through the pipeline; `convert` reuses the skeleton it records). Each
//! module has one job, in the order [`solve`] runs them:
//! [`consistency`] chooses every frame's left/right and facing reading over
//! the whole clip, [`gaps`] fills short losses, [`filter`] and [`smooth`]
//! remove jitter, [`scale`] sets the clip's bone lengths (the person's
//! proportions, her height when given), the rig is solved per frame
//! ([`crate::rig::solve_frame`]), [`lift`] and [`root`] place it in camera
//! space from the 2D landmarks, [`fit`] moves the whole rig onto the picture
//! and the world landmarks together by Levenberg–Marquardt ([`limits`]
//! keeps knees bending one way), long losses are bridged smoothly, [`ground`]
//! finds foot contacts, [`level`] turns the scene so the ground they stand
//! on is level, [`ground`] sets the floor under them, [`place`] puts the
//! root where the picture, still planted feet and the floor agree best,
//! and [`quality`] measures the result.

pub mod consistency;
pub mod filter;
pub mod fit;
pub mod gaps;
pub mod ground;
pub mod level;
pub mod lift;
pub mod limits;
pub mod place;
pub mod quality;
pub mod root;
pub mod scale;
pub mod smooth;
#[cfg(test)]
mod synthetic;

use glam::{Quat, Vec2, Vec3};
use thiserror::Error;

use crate::config::Config;
use crate::pose::{camera_to_output, lm, PoseObservation, NUM_LANDMARKS};
use crate::rig::{
    global_positions, make_continuous, pose_landmarks, solve_frame, Clip, JointId, Skeleton,
};
use filter::PoseSmoother;
use gaps::fill_gaps;
use ground::{FeetFrame, GroundParams};
use level::SceneToCamera;
use lift::{solve_translation, Pinhole};
use quality::Quality;
use root::RootParams;
use scale::{SkeletonScale, HEIGHT_RANGE_M};

/// Why a motion could not be solved.
#[derive(Debug, Error)]
pub enum MotionError {
    #[error("the followed person has no pose in any frame")]
    NoPose,
    #[error("a height of {0} m is outside {min}–{max} m", min = HEIGHT_RANGE_M.0, max = HEIGHT_RANGE_M.1)]
    BadHeight(f32),
}

impl MotionError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            MotionError::NoPose => "motion.no_pose",
            MotionError::BadHeight(_) => "motion.bad_height",
        }
    }

    /// Whether the caller asked for something impossible (not our fault).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, MotionError::BadHeight(_))
    }
}

/// The settings the solve takes from the configuration and the run.
#[derive(Clone, Debug)]
pub struct MotionParams {
    /// Longest loss filled by interpolation, seconds.
    pub max_gap_s: f64,
    /// The subject's standing height, metres, when the user knows it.
    pub height_m: Option<f32>,
    /// Run the whole-body fit ([`fit`]); off by default until it pays for
    /// itself (README, Motion: its figures).
    pub whole_body_fit: bool,
}

impl MotionParams {
    pub fn from_config(config: &Config) -> Self {
        MotionParams {
            max_gap_s: config.pose.max_gap_s,
            height_m: None,
            whole_body_fit: config.pose.whole_body_fit,
        }
    }

    /// Refuses a height outside [`HEIGHT_RANGE_M`].
    pub fn with_height(mut self, height_m: Option<f32>) -> Result<Self, MotionError> {
        if let Some(h) = height_m {
            if !(h.is_finite() && (HEIGHT_RANGE_M.0..=HEIGHT_RANGE_M.1).contains(&h)) {
                return Err(MotionError::BadHeight(h));
            }
        }
        self.height_m = height_m;
        Ok(self)
    }
}

/// One followed person's solved motion, ready for every exporter.
#[derive(Clone, Debug)]
pub struct Motion {
    pub fps: f32,
    /// Video frame index of the first motion frame.
    pub first_frame: u64,
    /// Per motion frame: seconds from the start of the video.
    pub times: Vec<f64>,
    /// Per motion frame: the cleaned observation (left/right and facing
    /// made consistent, short losses filled, smoothed); `None` where the
    /// subject was lost for longer than gap filling bridges.
    pub poses: Vec<Option<PoseObservation>>,
    /// Per motion frame: the solved skeleton's landmarks, hip-centred, in
    /// output space: what the rig and every export show.
    pub world: Vec<[Vec3; NUM_LANDMARKS]>,
    /// Per motion frame: the model's own world landmarks (output space,
    /// hip-centred, consistency-corrected and smoothed) where it has a pose.
    pub raw_world: Vec<Option<[Vec3; NUM_LANDMARKS]>>,
    /// Per motion frame: the hips' position in output space.
    pub root: Vec<Vec3>,
    /// Per motion frame: left/right foot contact.
    pub contacts: Vec<[bool; 2]>,
    /// Per motion frame: filled by interpolating the model's poses.
    pub filled: Vec<bool>,
    /// Per motion frame: bridged (a long loss, motion made up smoothly).
    pub bridged: Vec<bool>,
    /// Per motion frame: the floor's height under the person (output space).
    pub floor: Vec<f32>,
    pub camera: Pinhole,
    /// Output space to camera space (the scene is levelled on the ground
    /// the feet stood on; its origin sits under the first frame's hips, on
    /// the lowest floor).
    pub to_camera: SceneToCamera,
    pub scale: SkeletonScale,
    pub skeleton: Skeleton,
    pub clip: Clip,
    pub quality: Quality,
}

/// World-landmark smoothing after the one-euro filter, frames (zero phase).
const WORLD_SIGMA: f32 = 1.5;

/// Camera space and output space differ by a sign flip of y and z, which
/// is its own inverse.
fn output_to_camera(p: Vec3) -> Vec3 {
    camera_to_output(p)
}

/// The facing of the hips: where the rest pose's +Z points after the hips'
/// rotation, flattened.
fn hips_facing(rotation: Quat) -> Vec3 {
    let f = rotation * Vec3::Z;
    Vec3::new(f.x, 0.0, f.z).normalize_or_zero()
}

/// From one track's observations to its solved motion (module docs).
/// `observations` are (frame index, crop size, pose) in frame order;
/// `times` holds every decoded frame's time.
pub fn solve(
    observations: &[(u64, f32, PoseObservation)],
    times: &[f64],
    fps: f32,
    camera: Pinhole,
    params: &MotionParams,
) -> Result<Motion, MotionError> {
    let (Some(first), Some(last)) = (observations.first(), observations.last()) else {
        return Err(MotionError::NoPose);
    };
    let (first, last) = (first.0 as usize, last.0 as usize);
    if last >= times.len() {
        return Err(MotionError::NoPose);
    }
    let span_times: Vec<f64> = times[first..=last].to_vec();
    let n = span_times.len();
    let mut poses: Vec<Option<PoseObservation>> = vec![None; n];
    let mut scales: Vec<Option<f32>> = vec![None; n];
    for (index, size, pose) in observations {
        let i = *index as usize - first;
        poses[i] = Some(pose.clone());
        scales[i] = Some(*size);
    }
    let observed: Vec<bool> = poses.iter().map(Option::is_some).collect();

    // Left/right and facing first: smoothing across a wrong reading would
    // smear it into its neighbours.
    let corrections = consistency::correct(&mut poses);
    fill_gaps(&mut poses, &span_times, params.max_gap_s);
    let filled: Vec<bool> = poses
        .iter()
        .zip(&observed)
        .map(|(p, o)| p.is_some() && !o)
        .collect();
    let bridged: Vec<bool> = poses.iter().map(Option::is_none).collect();

    // Smooth: MediaPipe's one-euro settings, scaled by the person's size in
    // pixels (filters restart after a loss), then a zero-phase pass on the
    // world landmarks, which the rig is solved from.
    let mut smoother = PoseSmoother::new();
    let mut last_scale = scales.iter().flatten().next().copied().unwrap_or(1.0);
    for i in 0..n {
        if let Some(s) = scales[i] {
            last_scale = s;
        }
        match &poses[i] {
            Some(p) => poses[i] = Some(smoother.apply(span_times[i], p, last_scale)),
            None => smoother.reset(),
        }
    }
    let mut raw_world: Vec<Option<[Vec3; NUM_LANDMARKS]>> = poses
        .iter()
        .map(|p| p.as_ref().map(|p| p.world.map(camera_to_output)))
        .collect();
    smooth::gaussian_runs(&mut raw_world, WORLD_SIGMA, |window| {
        std::array::from_fn(|k| {
            let points: Vec<(f32, Vec3)> = window.iter().map(|(w, v)| (*w, v[k])).collect();
            smooth::mean_vec3(&points)
        })
    });

    // The clip's skeleton, from the frames the model saw.
    let seen: Vec<(&PoseObservation, [Vec3; NUM_LANDMARKS])> = (0..n)
        .filter(|&i| observed[i])
        .filter_map(|i| Some((poses[i].as_ref()?, raw_world[i]?)))
        .collect();
    let scale = scale::measure(&seen, params.height_m);
    let skeleton = Skeleton::t_pose(&scale.measurements);

    // Joint rotations where there is a pose; long losses bridged by a
    // slerp between the rotations either side.
    let mut knees_clamped = 0;
    let solved: Vec<Option<Vec<Quat>>> = raw_world
        .iter()
        .map(|w| {
            w.as_ref().map(|w| {
                let mut r = solve_frame(&skeleton, w);
                knees_clamped += limits::clamp_knees(&skeleton, &mut r);
                r
            })
        })
        .collect();
    let mut rotations = bridge_rotations(&solved).ok_or(MotionError::NoPose)?;
    make_continuous(&mut rotations);

    // Root in camera space: the solved skeleton (its known size) fitted to
    // the 2D landmarks, then made robust and continuous.
    let raw_root: Vec<Option<Vec3>> = (0..n)
        .map(|i| {
            let p = poses[i].as_ref()?;
            let body = pose_landmarks(&skeleton, Vec3::ZERO, &rotations[i]).map(output_to_camera);
            let image: Vec<Vec2> = p.image.iter().map(|l| Vec2::new(l.x, l.y)).collect();
            let weights: Vec<f32> = p.image.iter().map(|l| l.visibility).collect();
            solve_translation(&camera, &image, &body, &weights)
        })
        .collect();
    let mut root_cam = root::trajectory(&raw_root, &span_times, &RootParams::default())
        .unwrap_or_else(|| vec![Vec3::Z * 3.0; n]);

    // The whole-body fit (on by default): on every frame with a pose, the
    // rig moved onto the picture and the model's world landmarks together
    // (see `fit`), then lightly smoothed (the 2D evidence is noisier than
    // the first solve's smoothed world landmarks) and held to the joint
    // limits. Before the contacts and the placement, which read the fitted
    // feet: fitted again after the placement, with planted feet held, the
    // picture came closer (2.1 % of her height instead of 3.5 %) but the
    // soles left the floor and the solve cost twice as much (README, Motion).
    let fitted = if !params.whole_body_fit {
        vec![None; n]
    } else {
        fit_all(
            &skeleton, &camera, &poses, &raw_world, &root_cam, &rotations,
        )
    };
    let mut fitted_root: Vec<Option<Vec3>> =
        fitted.iter().map(|f| f.as_ref().map(|f| f.0)).collect();
    smooth::gaussian_vec3(&mut fitted_root, FIT_SIGMA);
    let mut fitted_rot: Vec<Option<Vec<Quat>>> =
        fitted.into_iter().map(|f| f.map(|f| f.1)).collect();
    smooth::gaussian_quats(&mut fitted_rot, FIT_SIGMA);
    for i in 0..n {
        if let (Some(r), Some(mut rot)) = (fitted_root[i], fitted_rot[i].take()) {
            knees_clamped += limits::clamp_knees(&skeleton, &mut rot);
            root_cam[i] = r;
            rotations[i] = rot;
        }
    }
    make_continuous(&mut rotations);

    // Output space, the first frame's hips above the origin.
    let origin = camera_to_output(root_cam[0]);
    let origin = Vec3::new(origin.x, 0.0, origin.z);
    let mut root: Vec<Vec3> = root_cam
        .iter()
        .map(|&r| camera_to_output(r) - origin)
        .collect();
    let mut to_camera = SceneToCamera::shifted(origin);

    // Contacts from the picture and the rig.
    let feet_seen = FeetSeen {
        poses: &poses,
        seen: &observed
            .iter()
            .zip(&filled)
            .map(|(o, f)| *o || *f)
            .collect::<Vec<_>>(),
        times: &span_times,
    };
    let soles = soles_of(&skeleton, &root, &rotations);
    let mut contacts = feet_seen.contacts(&soles);

    // The ground they stood on made level: the camera's tilt taken out of
    // the whole scene (root, hips and the model's own landmarks), and the
    // contacts read again on the level body.
    if let Some(normal) = level::ground_normal(&ground::planted(&contacts, &soles)) {
        let q = level::leveling(normal);
        for r in &mut root {
            *r = q * *r;
        }
        for rot in &mut rotations {
            rot[JointId::Hips.index()] = (q * rot[JointId::Hips.index()]).normalize();
        }
        for w in raw_world.iter_mut().flatten() {
            *w = w.map(|p| q * p);
        }
        to_camera = to_camera.after_rotation(q);
        let shift = -Vec3::new(root[0].x, 0.0, root[0].z);
        for r in &mut root {
            *r += shift;
        }
        to_camera = to_camera.after_translation(shift);
        contacts = feet_seen.contacts(&soles_of(&skeleton, &root, &rotations));
    }

    // The root placed over the whole clip: planted feet held still and
    // soles on the floor mostly by moves along the camera's ray, where the
    // picture hardly tells (see `place`); the rotations are not touched.
    let joints_of = |root: &[Vec3]| -> Vec<Vec<Vec3>> {
        root.iter()
            .zip(&rotations)
            .map(|(r, rot)| global_positions(&skeleton, *r, rot))
            .collect()
    };
    let soles = soles_of(&skeleton, &root, &rotations);
    let floor = match ground::floor(&contacts, &soles) {
        Some(floor) => {
            let weights = place::Weights::default();
            let frames = placement_frames(&PlacementInput {
                skeleton: &skeleton,
                camera: &camera,
                to_camera: &to_camera,
                poses: &poses,
                bridged: &bridged,
                root: &root,
                rotations: &rotations,
                contacts: &contacts,
                floor: &floor,
                share: weights.picture,
            });
            root = place::place(&frames, &weights);
            floor
        }
        // No contact at all: the lowest sole of the clip is the floor.
        None => {
            let lowest = soles
                .iter()
                .flat_map(|s| s.iter().flatten().map(|p| p.y))
                .fold(f32::INFINITY, f32::min);
            vec![if lowest.is_finite() { lowest } else { 0.0 }; n]
        }
    };
    // The lowest floor the person stands on is y = 0.
    let base = floor_reference(&floor, &contacts);
    for r in &mut root {
        r.y -= base;
    }
    to_camera = to_camera.after_translation(-Vec3::Y * base);
    let floor: Vec<f32> = floor.iter().map(|f| f - base).collect();

    let landmarks: Vec<[Vec3; NUM_LANDMARKS]> = root
        .iter()
        .zip(&rotations)
        .map(|(r, rot)| pose_landmarks(&skeleton, *r, rot))
        .collect();
    let world: Vec<[Vec3; NUM_LANDMARKS]> = landmarks
        .iter()
        .zip(&root)
        .map(|(l, r)| l.map(|p| p - *r))
        .collect();
    let joints = joints_of(&root);
    let facing: Vec<Vec3> = rotations
        .iter()
        .map(|rot| hips_facing(rot[JointId::Hips.index()]))
        .collect();
    let observed_poses: Vec<Option<&PoseObservation>> = poses
        .iter()
        .zip(&observed)
        .map(|(p, &o)| p.as_ref().filter(|_| o))
        .collect();
    let mut quality = quality::measure(&quality::Solved {
        joints: &joints,
        landmarks: &landmarks,
        root: &root,
        contacts: &contacts,
        observed: &observed_poses,
        to_camera: &to_camera,
        camera: &camera,
        facing: &facing,
    });
    quality.frames_observed = observed.iter().filter(|&&o| o).count();
    quality.frames_filled = filled.iter().filter(|&&f| f).count();
    quality.frames_bridged = bridged.iter().filter(|&&b| b).count();
    quality.limb_swaps_corrected = corrections.limb_swap_frames;
    quality.facing_flips_corrected = corrections.facing_flip_frames;
    quality.knees_clamped = knees_clamped;
    quality.skeleton = Some(scale);
    // Only the levelling turns the scene, so its turn is the tilt.
    quality.ground_tilt_deg = to_camera
        .rotation
        .angle_between(Quat::IDENTITY)
        .to_degrees();

    let clip = Clip {
        fps,
        root_translation: root.clone(),
        rotations,
    };
    Ok(Motion {
        fps,
        first_frame: first as u64,
        times: span_times,
        poses,
        world,
        raw_world,
        root,
        contacts,
        filled,
        bridged,
        floor,
        camera,
        to_camera,
        scale,
        skeleton,
        clip,
        quality,
    })
}

/// What [`placement_frames`] reads.
struct PlacementInput<'a> {
    skeleton: &'a Skeleton,
    camera: &'a Pinhole,
    to_camera: &'a SceneToCamera,
    poses: &'a [Option<PoseObservation>],
    bridged: &'a [bool],
    root: &'a [Vec3],
    rotations: &'a [Vec<Quat>],
    contacts: &'a [[bool; 2]],
    floor: &'a [f32],
    share: f32,
}

/// A bridged frame's made-up root counts this much of a seen one's.
const BRIDGED_PICTURE: f32 = 0.1;

/// Each frame's evidence for [`place::place`]: the picture's cost of a
/// root move from the posed skeleton and the landmarks' visibility, the
/// ankles and soles relative to the root.
fn placement_frames(input: &PlacementInput) -> Vec<place::Frame> {
    let s = input.skeleton;
    (0..input.root.len())
        .map(|i| {
            let (root, rot) = (input.root[i], &input.rotations[i]);
            let landmarks = pose_landmarks(s, root, rot);
            let seen = input.poses[i].as_ref().filter(|_| !input.bridged[i]);
            let (weights, height, k) = match seen {
                Some(p) => (
                    p.image.map(|l| filter::visibility_weight(l.visibility)),
                    pixel_height(p),
                    1.0,
                ),
                None => (
                    [1.0; NUM_LANDMARKS],
                    place::projected_height(input.camera, input.to_camera, &landmarks),
                    BRIDGED_PICTURE,
                ),
            };
            let picture = place::picture_cost(
                input.camera,
                input.to_camera,
                &landmarks,
                &weights,
                height,
                input.share,
            ) * k;
            let joints = global_positions(s, root, rot);
            let sole = |heel: usize, toe: usize| landmarks[heel].y.min(landmarks[toe].y) - root.y;
            place::Frame {
                root,
                picture,
                feet: [
                    joints[JointId::LeftFoot.index()] - root,
                    joints[JointId::RightFoot.index()] - root,
                ],
                soles: [
                    sole(lm::LEFT_HEEL, lm::LEFT_FOOT_INDEX),
                    sole(lm::RIGHT_HEEL, lm::RIGHT_FOOT_INDEX),
                ],
                contact: input.contacts[i],
                floor: input.floor[i],
            }
        })
        .collect()
}

/// Heel and toe of the posed rig per side, output space.
fn soles_of(skeleton: &Skeleton, root: &[Vec3], rotations: &[Vec<Quat>]) -> Vec<[[Vec3; 2]; 2]> {
    root.iter()
        .zip(rotations)
        .map(|(r, rot)| {
            let l = pose_landmarks(skeleton, *r, rot);
            [
                [l[lm::LEFT_HEEL], l[lm::LEFT_FOOT_INDEX]],
                [l[lm::RIGHT_HEEL], l[lm::RIGHT_FOOT_INDEX]],
            ]
        })
        .collect()
}

/// What the picture shows of the feet, for [`ground::contacts`].
struct FeetSeen<'a> {
    poses: &'a [Option<PoseObservation>],
    /// Frames whose image landmarks count (seen or filled, not bridged).
    seen: &'a [bool],
    times: &'a [f64],
}

impl FeetSeen<'_> {
    fn contacts(&self, soles: &[[[Vec3; 2]; 2]]) -> Vec<[bool; 2]> {
        let frames: Vec<FeetFrame> = soles
            .iter()
            .enumerate()
            .map(|(i, soles)| FeetFrame {
                image: self.poses[i].as_ref().filter(|_| self.seen[i]).map(|p| {
                    let px = |k: usize| Vec2::new(p.image[k].x, p.image[k].y);
                    [
                        [px(lm::LEFT_HEEL), px(lm::LEFT_FOOT_INDEX)],
                        [px(lm::RIGHT_HEEL), px(lm::RIGHT_FOOT_INDEX)],
                    ]
                }),
                pixel_height: self.poses[i].as_ref().map_or(1.0, pixel_height),
                soles: *soles,
            })
            .collect();
        ground::contacts(&frames, self.times, &GroundParams::default())
    }
}

/// Smoothing after the whole-body fit, frames (zero phase).
const FIT_SIGMA: f32 = 2.0;

/// [`fit::fit_frame`] on every frame with a pose and world landmarks,
/// spread over the machine's cores (frames are independent).
fn fit_all(
    skeleton: &Skeleton,
    camera: &Pinhole,
    poses: &[Option<PoseObservation>],
    world: &[Option<[Vec3; NUM_LANDMARKS]>],
    root_cam: &[Vec3],
    rotations: &[Vec<Quat>],
) -> Vec<Option<(Vec3, Vec<Quat>)>> {
    let n = poses.len();
    let fit_one = |i: usize| {
        let p = poses[i].as_ref()?;
        let frame = fit::FrameEvidence {
            skeleton,
            camera,
            image: p.image.map(|l| Vec2::new(l.x, l.y)),
            visibility: p.image.map(|l| filter::visibility_weight(l.visibility)),
            world: world[i]?,
            pixel_height: pixel_height(p),
            root_cam: root_cam[i],
            rotations: &rotations[i],
        };
        Some(fit::fit_frame(&frame, fit::Weights::default()))
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(8);
    let chunk = n.div_ceil(threads).max(1);
    let mut out: Vec<Option<(Vec3, Vec<Quat>)>> = vec![None; n];
    std::thread::scope(|scope| {
        for (c, slot) in out.chunks_mut(chunk).enumerate() {
            let fit_one = &fit_one;
            scope.spawn(move || {
                for (k, s) in slot.iter_mut().enumerate() {
                    *s = fit_one(c * chunk + k);
                }
            });
        }
    });
    out
}

/// The person's height in the image (pixels, at least one).
pub(crate) fn pixel_height(p: &PoseObservation) -> f32 {
    let (lo, hi) = p.image.iter().fold((f32::MAX, f32::MIN), |(lo, hi), l| {
        (lo.min(l.y), hi.max(l.y))
    });
    (hi - lo).max(1.0)
}

/// The floor height called y = 0: the low end (10th percentile) of the
/// floor under the planted frames, so a roof is above it, not the lawn
/// below it; all frames when none is planted.
fn floor_reference(floor: &[f32], contacts: &[[bool; 2]]) -> f32 {
    let mut v: Vec<f32> = floor
        .iter()
        .zip(contacts)
        .filter(|(_, c)| c[0] || c[1])
        .map(|(f, _)| *f)
        .collect();
    if v.is_empty() {
        v = floor.to_vec();
    }
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 10]
}

/// Every frame's rotations: solved frames as they are, frames between two
/// solved ones by a smoothstep slerp per joint, leading and trailing ones
/// held. `None` when no frame is solved.
fn bridge_rotations(solved: &[Option<Vec<Quat>>]) -> Option<Vec<Vec<Quat>>> {
    let first = solved.iter().position(Option::is_some)?;
    let last = solved.iter().rposition(Option::is_some)?;
    let mut out = Vec::with_capacity(solved.len());
    let mut prev = first;
    for i in 0..solved.len() {
        out.push(match &solved[i] {
            Some(r) => {
                prev = i;
                r.clone()
            }
            None if i < first => solved[first].clone()?,
            None if i > last => solved[last].clone()?,
            None => {
                let next = (i..=last).find(|&k| solved[k].is_some())?;
                let s = root::smoothstep((i - prev) as f32 / (next - prev) as f32);
                let (a, b) = (solved[prev].as_ref()?, solved[next].as_ref()?);
                a.iter()
                    .zip(b)
                    .map(|(a, b)| {
                        let b = if a.dot(*b) < 0.0 { -*b } else { *b };
                        a.slerp(b, s)
                    })
                    .collect()
            }
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::consistency::{apply, Reading};

    /// Deterministic noise in [-1, 1].
    fn noise(i: usize, k: usize, axis: usize) -> f32 {
        let x = ((i * 73 + k * 19 + axis * 7) as f32 * 12.9898).sin() * 43758.547;
        2.0 * (x - x.floor()) - 1.0
    }

    struct Case {
        motion: Motion,
        truth: Vec<PoseObservation>,
    }

    /// 150 frames of the synthetic walk with injected limb swaps, facing
    /// flips, noise (±3 px, ±1.5 cm), a short loss and a long one.
    fn solve_case(height_m: Option<f32>) -> Case {
        let n = 150;
        let truth = synthetic::walk(n);
        let mut obs: Vec<(u64, f32, PoseObservation)> = Vec::new();
        for (i, p) in truth.iter().enumerate() {
            if (40..43).contains(&i) || (90..110).contains(&i) {
                continue;
            }
            let mut p = p.clone();
            for (k, l) in p.image.iter_mut().enumerate() {
                l.x += 3.0 * noise(i, k, 0);
                l.y += 3.0 * noise(i, k, 1);
            }
            for (k, w) in p.world.iter_mut().enumerate() {
                *w += 0.015 * Vec3::new(noise(i, k, 2), noise(i, k, 3), noise(i, k, 4));
            }
            let reading = match i {
                20 | 21 | 70 => Reading {
                    legs_swapped: true,
                    facing_flipped: false,
                },
                30..=33 | 120 => Reading {
                    legs_swapped: false,
                    facing_flipped: true,
                },
                _ => Reading {
                    legs_swapped: false,
                    facing_flipped: false,
                },
            };
            obs.push((i as u64, 300.0, apply(&p, reading)));
        }
        let times: Vec<f64> = (0..n)
            .map(|i| i as f64 / f64::from(synthetic::FPS))
            .collect();
        let params = MotionParams {
            max_gap_s: 0.5,
            height_m,
            whole_body_fit: false,
        };
        let motion = solve(&obs, &times, synthetic::FPS, synthetic::camera(), &params).unwrap();
        Case { motion, truth }
    }

    #[test]
    fn a_corrupted_walk_comes_back() {
        let Case { motion, truth } = solve_case(None);
        let q = &motion.quality;
        assert_eq!(motion.times.len(), 150);
        // Every injected swap and flip is undone, nothing else is touched.
        assert_eq!((q.limb_swaps_corrected, q.facing_flips_corrected), (3, 5));
        assert_eq!(q.facing_jumps, 0);
        assert_eq!((q.frames_filled, q.frames_bridged), (3, 20));
        assert!(motion.bridged[90..110].iter().all(|&b| b));
        assert!(!motion.bridged[89] && !motion.bridged[110]);
        // Bone lengths are the rig's: constant over every frame.
        let thigh = |w: &[Vec3; NUM_LANDMARKS]| (w[lm::LEFT_KNEE] - w[lm::LEFT_HIP]).length();
        let t0 = thigh(&motion.world[0]);
        assert!(motion.world.iter().all(|w| (thigh(w) - t0).abs() < 1e-4));
        // The root moves as the truth does (0.9 m/s, diagonally), never
        // jumps, and its bridge through the long loss (made up: the pace
        // either side, not the strides in it) stays near.
        for (i, tolerance) in [(10, 0.12), (60, 0.12), (100, 0.25), (140, 0.12)] {
            let moved = motion.root[i] - motion.root[0];
            let want =
                camera_to_output(synthetic::root_at(i)) - camera_to_output(synthetic::root_at(0));
            assert!(
                (moved - want).length() < tolerance,
                "frame {i}: moved {moved}, truth {want}"
            );
        }
        assert!(q.max_root_step_m < 0.1, "root step {}", q.max_root_step_m);
        // The solved skeleton reprojects onto the (noisy) 2D landmarks.
        assert!(q.reprojection_px < 6.0, "{} px", q.reprojection_px);
        // Wrists and ankles are smooth: near the true motion's own second
        // difference (a few mm/frame²: the swinging foot accelerates); the
        // ±15 mm noise would be ~20.
        let true_ankles = quality::pair_jitter(
            &synthetic::joints(150),
            [JointId::LeftFoot, JointId::RightFoot],
        );
        assert!(
            q.ankle_jitter_mm < true_ankles + 4.0,
            "ankle jitter {}, the truth's own {true_ankles}",
            q.ankle_jitter_mm
        );
        assert!(
            q.wrist_jitter_mm < 8.0,
            "wrist jitter {}",
            q.wrist_jitter_mm
        );
        // Feet land: both feet planted some of the time, planted feet on
        // the floor and no sole below it.
        assert!(
            q.contact_share.iter().all(|&s| s > 0.1),
            "{:?}",
            q.contact_share
        );
        for f in 0..motion.times.len() {
            let w = &motion.world[f];
            let r = motion.root[f];
            for (side, (heel, toe)) in [
                (lm::LEFT_HEEL, lm::LEFT_FOOT_INDEX),
                (lm::RIGHT_HEEL, lm::RIGHT_FOOT_INDEX),
            ]
            .into_iter()
            .enumerate()
            {
                let sole = (w[heel] + r).y.min((w[toe] + r).y);
                assert!(sole >= motion.floor[f] - 1e-3, "frame {f}: sole {sole}");
                if motion.contacts[f][side] {
                    assert!(
                        (sole - motion.floor[f]).abs() < 0.03,
                        "frame {f}: sole {sole}"
                    );
                }
            }
        }
        let _ = truth;
    }

    #[test]
    fn a_given_height_scales_the_skeleton_exactly() {
        let measured = solve_case(None).motion;
        let given = solve_case(Some(1.82)).motion;
        assert!((given.skeleton.height() - 1.82).abs() < 1e-4);
        assert!((given.scale.height_m - 1.82).abs() < 1e-4);
        let k = 1.82 / measured.skeleton.height();
        let (a, b) = (measured.scale.measurements, given.scale.measurements);
        assert!((b.thigh - k * a.thigh).abs() < 1e-4 && (b.torso - k * a.torso).abs() < 1e-4);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let times = [0.0, 0.033];
        let params = MotionParams {
            max_gap_s: 0.5,
            height_m: None,
            whole_body_fit: false,
        };
        let cam = synthetic::camera();
        assert!(matches!(
            solve(&[], &times, 30.0, cam, &params),
            Err(MotionError::NoPose)
        ));
        let p = synthetic::walk(1).remove(0);
        assert!(matches!(
            solve(&[(5, 300.0, p)], &times, 30.0, cam, &params),
            Err(MotionError::NoPose)
        ));
        for h in [0.2, 3.5, f32::NAN] {
            assert!(params.clone().with_height(Some(h)).is_err());
        }
        assert!(params.with_height(Some(1.82)).is_ok());
    }
}
