//! The whole-body fit: per frame, Levenberg–Marquardt over the hips'
//! position and every joint's rotation, so that the rig — the clip's
//! constant, symmetric bones — explains all the evidence at once:
//!
//! - the 2D landmarks through the camera (the reprojection error, in
//!   person heights, weighted by the model's visibility);
//! - the model's world landmarks (hip-centred, metres), which hold the depth
//!   the picture cannot tell: firmly along the camera's ray, loosely across
//!   it, where the picture knows better;
//! - staying near the first solve (direction matching on smoothed world
//!   landmarks plus the root trajectory), which is temporally smooth and
//!   settles what nothing else constrains (a twist of the spine chain).
//!
//! The first solve matches bone directions to the model's world landmarks
//! alone, and those disagree with the picture by several percent of the
//! person's height; this fit is what brings the skeleton onto the video.
//! Residuals and their scales are in [`Weights`]; the Jacobian is analytic
//! (a test holds it to central differences), and the steps are
//! Levenberg–Marquardt on the normal equations ([`minimize`]).

use glam::{Mat3, Quat, Vec2, Vec3};
use nalgebra::{DMatrix, DVector};

use super::lift::Pinhole;
use crate::pose::{camera_to_output, NUM_LANDMARKS};
use crate::rig::{forward_kinematics, landmarks_of, JointId, Skeleton};

/// How much each kind of evidence counts: each residual is divided by its
/// scale, so a residual of 1 is "one typical error" of its kind.
#[derive(Clone, Copy, Debug)]
pub struct Weights {
    /// Reprojection error scale, as a fraction of the person's pixel height.
    pub image_fraction: f32,
    /// A landmark the first solve misses by this many reprojection units
    /// counts half (Cauchy: less the further off it is).
    pub image_outlier: f32,
    /// World-landmark error scale along the camera's ray, metres: the depth
    /// the picture cannot tell.
    pub world_m: f32,
    /// The same across the ray, where the picture tells better than the
    /// model's world landmarks (which do not project onto its own image
    /// landmarks by several percent of the person's height).
    pub world_across_m: f32,
    /// How far a joint may turn from the first solve at one "typical
    /// error", radians.
    pub rotation_rad: f32,
    /// The same for the hips' position, metres (depth is what it holds).
    pub root_m: f32,
    /// Weight of the face landmarks against the body's: the rig's face is
    /// a rigid approximation of the model's.
    pub face: f32,
}

impl Default for Weights {
    fn default() -> Self {
        // Measured on walk_outdoor (README, Motion) and the eval take: a
        // looser root let the fit chase the 2D landmarks' noise; without
        // the outlier weights the man's wrists jittered twice as much
        // through his flip.
        Weights {
            image_fraction: 0.015,
            image_outlier: 5.0,
            world_m: 0.04,
            world_across_m: 0.2,
            rotation_rad: 1.0,
            root_m: 0.02,
            face: 0.3,
        }
    }
}

/// One frame's evidence and the first solve to start from.
pub struct FrameEvidence<'a> {
    pub skeleton: &'a Skeleton,
    pub camera: &'a Pinhole,
    /// Image landmarks, upright pixels.
    pub image: [Vec2; NUM_LANDMARKS],
    /// Update weight per landmark (visibility), 0…1.
    pub visibility: [f32; NUM_LANDMARKS],
    /// The model's world landmarks, output space, hip-centred.
    pub world: [Vec3; NUM_LANDMARKS],
    /// The person's height in pixels on this frame.
    pub pixel_height: f32,
    /// The first solve: hips in camera space, local joint rotations.
    pub root_cam: Vec3,
    pub rotations: &'a [Quat],
}

/// The joints whose rotation moves a landmark (the chain ends only carry
/// their parent's bone).
const FREE: [JointId; 22] = [
    JointId::Hips,
    JointId::Spine,
    JointId::Chest,
    JointId::UpperChest,
    JointId::Neck,
    JointId::Head,
    JointId::LeftShoulder,
    JointId::LeftUpperArm,
    JointId::LeftForearm,
    JointId::LeftHand,
    JointId::RightShoulder,
    JointId::RightUpperArm,
    JointId::RightForearm,
    JointId::RightHand,
    JointId::LeftThigh,
    JointId::LeftShin,
    JointId::LeftFoot,
    JointId::LeftToe,
    JointId::RightThigh,
    JointId::RightShin,
    JointId::RightFoot,
    JointId::RightToe,
];

/// Parameters: the hips' camera-space offset from the first solve, then a
/// rotation vector per free joint applied after its first-solve rotation.
const PARAMS: usize = 3 + 3 * FREE.len();

/// Steps the solver may take a frame: the fit starts near its answer and
/// stops at [`TOLERANCE`] long before this on walk_outdoor.
const MAX_ITERATIONS: usize = 30;

/// Damping increases tried before a step is given up.
const MAX_DAMPING_TRIES: usize = 8;

/// Relative change in the residuals and the parameters at which a frame's
/// fit stops: the fit is smoothed over frames after, and on walk_outdoor
/// a tighter one (1e-8) moved no figure while costing four times the
/// evaluations.
const TOLERANCE: f64 = 1e-2;

/// Landmarks 0–10 are the face.
const FACE: usize = 11;

/// Output space and camera space differ by a sign flip of y and z.
fn to_camera(p: Vec3) -> Vec3 {
    camera_to_output(p)
}

struct Problem<'a> {
    frame: &'a FrameEvidence<'a>,
    weights: Weights,
    /// Square roots of the per-landmark weights, image and world.
    image_w: [f32; NUM_LANDMARKS],
    world_w: [f32; NUM_LANDMARKS],
    /// Per landmark, the [`FREE`] joints whose rotation moves it (the
    /// joint it is bound to and every joint above that one).
    chains: [Vec<usize>; NUM_LANDMARKS],
    residuals_len: usize,
}

/// The right Jacobian of SO(3)'s exponential map:
/// `exp(v + d) ≈ exp(v) · exp(J_r(v) d)`. The parameters are rotation
/// vectors applied after the first solve, so this turns a step in them into
/// a turn about the joint's own axes.
fn right_jacobian(v: Vec3) -> Mat3 {
    let t = v.length();
    let k = Mat3::from_cols(
        Vec3::new(0.0, v.z, -v.y),
        Vec3::new(-v.z, 0.0, v.x),
        Vec3::new(v.y, -v.x, 0.0),
    );
    let (a, b) = if t < 1e-4 {
        (0.5, 1.0 / 6.0)
    } else {
        ((1.0 - t.cos()) / (t * t), (t - t.sin()) / (t * t * t))
    };
    Mat3::IDENTITY - k * a + k * k * b
}

impl Problem<'_> {
    /// The pose the parameters `x` describe: hips (camera space) and the
    /// local rotations.
    fn pose(&self, x: &DVector<f64>) -> (Vec3, Vec<Quat>) {
        let f = self.frame;
        let root = f.root_cam + Vec3::new(x[0] as f32, x[1] as f32, x[2] as f32);
        let mut rot = f.rotations.to_vec();
        for (k, j) in FREE.iter().enumerate() {
            let i = j.index();
            rot[i] = (rot[i] * Quat::from_scaled_axis(rotation_param(x, k))).normalize();
        }
        (root, rot)
    }

    /// The residuals at `x`, and their Jacobian into `jacobian` when given:
    /// analytic, since a landmark moved by a joint's turn `w` moves by
    /// `w × (landmark − joint)` (a numerical one cost 2 × 69 rig
    /// evaluations an iteration, seconds a clip).
    fn evaluate(
        &self,
        x: &DVector<f64>,
        mut jacobian: Option<&mut DMatrix<f64>>,
    ) -> Option<DVector<f64>> {
        let f = self.frame;
        let w = &self.weights;
        let (root, rot) = self.pose(x);
        // Landmarks hip-centred in output space, then placed in the camera.
        let globals = forward_kinematics(f.skeleton, Vec3::ZERO, &rot);
        let local = landmarks_of(f.skeleton, &globals);
        // Each free joint's three turn axes, in output space.
        let axes: Vec<(Vec3, [Vec3; 3])> = FREE
            .iter()
            .enumerate()
            .map(|(k, j)| {
                let g = globals[j.index()];
                let jr = right_jacobian(rotation_param(x, k));
                (g.translation, [0, 1, 2].map(|c| g.rotation * jr.col(c)))
            })
            .collect();
        let mut r = Vec::with_capacity(self.residuals_len);
        let image_scale = (w.image_fraction * f.pixel_height).max(1.0);
        for (k, &l) in local.iter().enumerate() {
            let p = root + to_camera(l);
            let uv = f.camera.project(p)?;
            let s = self.image_w[k] / image_scale;
            let d = (uv - f.image[k]) * s;
            if let Some(jac) = jacobian.as_deref_mut() {
                // d(uv)/d(camera point), scaled like the residual.
                let (fx, fy) = (f.camera.fx / p.z, f.camera.fy / p.z);
                let du = Vec3::new(fx, 0.0, -fx * p.x / p.z) * s;
                let dv = Vec3::new(0.0, fy, -fy * p.y / p.z) * s;
                let row = r.len();
                for c in 0..3 {
                    jac[(row, c)] = du[c] as f64;
                    jac[(row + 1, c)] = dv[c] as f64;
                }
                for &m in &self.chains[k] {
                    let (origin, turns) = &axes[m];
                    for (c, a) in turns.iter().enumerate() {
                        let moved = to_camera(a.cross(l - *origin));
                        jac[(row, 3 + 3 * m + c)] = du.dot(moved) as f64;
                        jac[(row + 1, 3 + 3 * m + c)] = dv.dot(moved) as f64;
                    }
                }
            }
            r.push(d.x as f64);
            r.push(d.y as f64);
        }
        // World errors split along and across the ray to the first solve's
        // hips (output space; fixed, so the split does not move with the
        // parameters), each at its own scale.
        let ray = to_camera(f.root_cam).normalize_or(Vec3::Z);
        let along = Mat3::from_cols(ray * ray.x, ray * ray.y, ray * ray.z);
        let world_scale = along / w.world_m + (Mat3::IDENTITY - along) / w.world_across_m;
        for (k, &l) in local.iter().enumerate() {
            let s = world_scale * self.world_w[k];
            let d = s * (l - f.world[k]);
            if let Some(jac) = jacobian.as_deref_mut() {
                let row = r.len();
                for &m in &self.chains[k] {
                    let (origin, turns) = &axes[m];
                    for (c, a) in turns.iter().enumerate() {
                        let moved = s * a.cross(l - *origin);
                        for e in 0..3 {
                            jac[(row + e, 3 + 3 * m + c)] = moved[e] as f64;
                        }
                    }
                }
            }
            r.extend([d.x as f64, d.y as f64, d.z as f64]);
        }
        for (i, v) in x.iter().enumerate() {
            let scale = if i < 3 { w.root_m } else { w.rotation_rad } as f64;
            if let Some(jac) = jacobian.as_deref_mut() {
                jac[(r.len(), i)] = 1.0 / scale;
            }
            r.push(v / scale);
        }
        r.iter()
            .all(|v| v.is_finite())
            .then(|| DVector::from_vec(r))
    }
}

/// The rotation vector of free joint `k` in the parameters `x`.
fn rotation_param(x: &DVector<f64>, k: usize) -> Vec3 {
    Vec3::new(
        x[3 + 3 * k] as f32,
        x[4 + 3 * k] as f32,
        x[5 + 3 * k] as f32,
    )
}

/// Per landmark, the indices into [`FREE`] of the joints that move it.
fn chains(skeleton: &Skeleton) -> [Vec<usize>; NUM_LANDMARKS] {
    let joints = skeleton.joints();
    let bindings = skeleton.landmark_bindings();
    std::array::from_fn(|k| {
        let mut above = Vec::new();
        let mut j = Some(bindings[k].joint.index());
        while let Some(i) = j {
            above.push(i);
            j = joints[i].parent;
        }
        FREE.iter()
            .enumerate()
            .filter(|(_, f)| above.contains(&f.index()))
            .map(|(m, _)| m)
            .collect()
    })
}

/// Levenberg–Marquardt on the normal equations: `(JᵀJ + λ·diag JᵀJ) δ =
/// −Jᵀr`, solved by nalgebra's Cholesky. The `levenberg-marquardt` crate
/// solves each step by a pivoted QR of the whole 234 × 69 Jacobian, which
/// was three quarters of the solve stage on walk_outdoor; the 69 × 69
/// normal matrix is a quarter of the work, and this problem is always well
/// conditioned (every parameter has a prior row). `None` when the start
/// has no finite residuals.
fn minimize(problem: &Problem) -> Option<DVector<f64>> {
    let mut x = DVector::zeros(PARAMS);
    let mut jac = DMatrix::zeros(problem.residuals_len, PARAMS);
    let mut r = problem.evaluate(&x, Some(&mut jac))?;
    let mut cost = r.norm_squared();
    let mut lambda = 1e-3;
    for _ in 0..MAX_ITERATIONS {
        let normal = jac.tr_mul(&jac);
        let gradient = jac.tr_mul(&r);
        let mut accepted = None;
        for _ in 0..MAX_DAMPING_TRIES {
            let mut a = normal.clone();
            for i in 0..PARAMS {
                a[(i, i)] += lambda * normal[(i, i)].max(1e-12);
            }
            let step = a.cholesky().map(|c| -c.solve(&gradient));
            let trial = step.as_ref().map(|d| &x + d);
            match trial.as_ref().and_then(|t| problem.evaluate(t, None)) {
                Some(rt) if rt.norm_squared() < cost => {
                    accepted = step.zip(trial).map(|(d, t)| (d, t, rt.norm_squared()));
                    lambda = (lambda / 3.0).max(1e-9);
                    break;
                }
                _ => lambda *= 4.0,
            }
        }
        let Some((step, trial, trial_cost)) = accepted else {
            break;
        };
        let settled = cost - trial_cost <= TOLERANCE * cost
            || step.norm() <= TOLERANCE * (trial.norm() + TOLERANCE);
        x = trial;
        cost = trial_cost;
        if settled {
            break;
        }
        r = problem.evaluate(&x, Some(&mut jac))?;
    }
    Some(x)
}

/// Fits one frame (module docs). Returns the hips in camera space and the
/// local rotations; the first solve unchanged when the fit fails (a point
/// behind the camera, no convergence to something finite).
pub fn fit_frame(frame: &FrameEvidence, weights: Weights) -> (Vec3, Vec<Quat>) {
    let weight = |k: usize| {
        let v = frame.visibility[k].clamp(0.0, 1.0);
        let face = if k < FACE { weights.face } else { 1.0 };
        (v * face).sqrt()
    };
    let image_w = std::array::from_fn(weight);
    let world_w = std::array::from_fn(weight);
    let mut problem = Problem {
        frame,
        weights,
        image_w,
        world_w,
        chains: chains(frame.skeleton),
        residuals_len: NUM_LANDMARKS * 5 + PARAMS,
    };
    // A landmark the first solve misses by far is more likely the model's
    // mistake (a tumble, glare) than the pose's: Cauchy weights from the
    // start's residuals, fixed for the frame.
    if let Some(r) = problem.evaluate(&DVector::zeros(PARAMS), None) {
        for k in 0..NUM_LANDMARKS {
            let e = (r[2 * k].powi(2) + r[2 * k + 1].powi(2)).sqrt() as f32;
            problem.image_w[k] *= (1.0 + (e / weights.image_outlier).powi(2)).recip().sqrt();
        }
    }
    match minimize(&problem) {
        Some(x) => problem.pose(&x),
        None => (frame.root_cam, frame.rotations.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::{pose_landmarks, BodyMeasurements};

    /// The default rig, a 1280 × 720 camera and the rig posed by `turns`
    /// (every other joint at rest).
    fn posed(turns: &[(JointId, Quat)]) -> (Skeleton, Pinhole, Vec<Quat>) {
        let skel = Skeleton::t_pose(&BodyMeasurements::default());
        let mut rotations = vec![Quat::IDENTITY; skel.len()];
        for (joint, turn) in turns {
            rotations[joint.index()] = *turn;
        }
        (skel, Pinhole::from_fov(1280, 720, 60.0), rotations)
    }

    /// The analytic Jacobian against central differences of the residuals,
    /// away from zero (where the right Jacobian of the turns matters) and
    /// with world landmarks that disagree with the rig.
    #[test]
    fn the_analytic_jacobian_matches_central_differences() {
        let (skel, cam, first) = posed(&[
            (JointId::LeftUpperArm, Quat::from_rotation_z(-1.0)),
            (JointId::RightShin, Quat::from_rotation_x(0.7)),
            (JointId::Hips, Quat::from_rotation_y(2.5)),
        ]);
        let local = pose_landmarks(&skel, Vec3::ZERO, &first);
        let root = Vec3::new(0.3, -0.2, 3.5);
        let image = std::array::from_fn(|k| {
            cam.project(root + to_camera(local[k])).unwrap() + Vec2::new(3.0, -2.0) * (k % 4) as f32
        });
        let world =
            std::array::from_fn(|k| local[k] + Vec3::new(0.02, -0.01, 0.05) * (k % 3) as f32);
        let frame = FrameEvidence {
            skeleton: &skel,
            camera: &cam,
            image,
            visibility: std::array::from_fn(|k| 0.2 + 0.8 * ((k % 5) as f32 / 4.0)),
            world,
            pixel_height: 300.0,
            root_cam: root,
            rotations: &first,
        };
        let problem = Problem {
            frame: &frame,
            weights: Weights::default(),
            image_w: std::array::from_fn(|k| frame.visibility[k].sqrt()),
            world_w: std::array::from_fn(|k| frame.visibility[k].sqrt()),
            chains: chains(&skel),
            residuals_len: NUM_LANDMARKS * 5 + PARAMS,
        };
        let mut x = DVector::from_fn(PARAMS, |i, _| 0.3 * ((i * 7 % 11) as f64 / 10.0 - 0.5));
        let mut analytic = DMatrix::zeros(problem.residuals_len, PARAMS);
        problem.evaluate(&x, Some(&mut analytic)).unwrap();
        let h = 1e-3;
        // Each column against its own largest entry: the residuals are f32,
        // so central differences carry rounding noise of about 1e-3 of it.
        let mut worst = 0.0f64;
        for c in 0..PARAMS {
            let x0 = x[c];
            x[c] = x0 + h;
            let plus = problem.evaluate(&x, None).unwrap();
            x[c] = x0 - h;
            let minus = problem.evaluate(&x, None).unwrap();
            x[c] = x0;
            let numeric = (plus - minus) / (2.0 * h);
            let scale = numeric.amax().max(1.0);
            for row in 0..numeric.len() {
                worst = worst.max((analytic[(row, c)] - numeric[row]).abs() / scale);
            }
        }
        assert!(worst < 0.01, "largest relative difference {worst}");
    }

    /// A posed rig seen by a camera: the fit recovers the pose from its 2D
    /// projection and a distorted copy of its world landmarks, where the
    /// first solve (the distorted landmarks' pose) was off.
    #[test]
    fn the_fit_brings_the_rig_onto_the_picture() {
        let (skel, cam, truth) = posed(&[
            (JointId::LeftUpperArm, Quat::from_rotation_z(-1.0)),
            (JointId::RightForearm, Quat::from_rotation_y(0.8)),
            (JointId::LeftThigh, Quat::from_rotation_x(-0.5)),
            (JointId::Hips, Quat::from_rotation_y(0.4)),
        ]);
        let root = Vec3::new(0.2, -0.1, 4.0);
        let local = pose_landmarks(&skel, Vec3::ZERO, &truth);
        let image: [Vec2; NUM_LANDMARKS] =
            std::array::from_fn(|k| cam.project(root + to_camera(local[k])).unwrap());
        let (lo, hi) = image.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
            (lo.min(p.y), hi.max(p.y))
        });
        // The first solve: the left arm 0.3 rad off, the hips 20 cm deep.
        let mut first = truth.clone();
        first[JointId::LeftUpperArm.index()] = Quat::from_rotation_z(-0.7);
        let frame = FrameEvidence {
            skeleton: &skel,
            camera: &cam,
            image,
            visibility: [1.0; NUM_LANDMARKS],
            world: local,
            pixel_height: hi - lo,
            root_cam: root + Vec3::new(0.0, 0.0, 0.2),
            rotations: &first,
        };
        let err = |root: Vec3, rot: &[Quat]| {
            let l = pose_landmarks(&skel, Vec3::ZERO, rot);
            (0..NUM_LANDMARKS)
                .map(|k| (cam.project(root + to_camera(l[k])).unwrap() - image[k]).length())
                .fold(0.0f32, f32::max)
        };
        let before = err(frame.root_cam, &first);
        // The defaults hold the hips near the first solve (2 cm); this
        // test's first solve is 20 cm off, so the hips are let go.
        let weights = Weights {
            root_m: 0.2,
            ..Weights::default()
        };
        let (fit_root, fit_rot) = fit_frame(&frame, weights);
        let after = err(fit_root, &fit_rot);
        assert!(before > 10.0, "the first solve is visibly off: {before} px");
        assert!(
            after < 2.0,
            "the fit lands on the picture: {after} px (was {before})"
        );
        assert!((fit_root - root).length() < 0.02, "{fit_root} vs {root}");
    }

    /// One wrist thrown far off in the picture (the model's mistake): the
    /// fit leaves the arm where the rest of the evidence has it, where
    /// without the outlier weights it reaches for the wrong point.
    #[test]
    fn a_far_off_landmark_does_not_pull_the_limb() {
        let (skel, cam, truth) = posed(&[(JointId::RightUpperArm, Quat::from_rotation_z(1.0))]);
        let root = Vec3::new(0.0, 0.0, 4.0);
        let local = pose_landmarks(&skel, Vec3::ZERO, &truth);
        let seen: [Vec2; NUM_LANDMARKS] =
            std::array::from_fn(|k| cam.project(root + to_camera(local[k])).unwrap());
        let mut image = seen;
        image[16] += Vec2::new(0.0, -120.0);
        let frame = FrameEvidence {
            skeleton: &skel,
            camera: &cam,
            image,
            visibility: [1.0; NUM_LANDMARKS],
            world: local,
            pixel_height: 300.0,
            root_cam: root,
            rotations: &truth,
        };
        let wrist_off = |weights: Weights| {
            let (r, rot) = fit_frame(&frame, weights);
            let l = pose_landmarks(&skel, Vec3::ZERO, &rot);
            (cam.project(r + to_camera(l[16])).unwrap() - seen[16]).length()
        };
        let robust = wrist_off(Weights::default());
        let plain = wrist_off(Weights {
            image_outlier: f32::INFINITY,
            ..Weights::default()
        });
        assert!(
            plain > 20.0,
            "without outlier weights the wrist follows: {plain} px"
        );
        assert!(
            robust < 0.5 * plain,
            "wrist {robust} px off its true place (plain {plain})"
        );
    }
}
