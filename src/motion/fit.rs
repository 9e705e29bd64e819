//! The whole-body fit: per frame, Levenberg–Marquardt over the hips'
//! position and every joint's rotation, so that the rig — the clip's
//! constant, symmetric bones — explains all the evidence at once:
//!
//! - the 2D landmarks through the camera (the reprojection error, in
//!   person heights, weighted by the model's visibility);
//! - the model's world landmarks (hip-centred, metres), which hold the depth
//!   the picture cannot tell;
//! - staying near the first solve (direction matching on smoothed world
//!   landmarks plus the root trajectory), which is temporally smooth and
//!   settles what neither term constrains (a twist of the spine chain).
//!
//! The first solve matches bone directions to the model's world landmarks
//! alone, and those disagree with the picture by several percent of the
//! person's height; this fit is what brings the skeleton onto the video.
//! Residuals and their scales are in [`Weights`]; the Jacobian is by
//! central differences (69 parameters, a few hundred microseconds a frame).

use glam::{Quat, Vec2, Vec3};
use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt};
use nalgebra::{DMatrix, DVector, Dyn, Owned};

use super::lift::Pinhole;
use crate::pose::{camera_to_output, NUM_LANDMARKS};
use crate::rig::{pose_landmarks, JointId, Skeleton};

/// How much each kind of evidence counts: each residual is divided by its
/// scale, so a residual of 1 is "one typical error" of its kind.
#[derive(Clone, Copy, Debug)]
pub struct Weights {
    /// Reprojection error scale, as a fraction of the person's pixel height.
    pub image_fraction: f32,
    /// World-landmark error scale, metres.
    pub world_m: f32,
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
        // Measured on walk_outdoor's walker (README, Motion): a looser
        // image term or root let the fit chase the 2D landmarks' noise.
        Weights {
            image_fraction: 0.02,
            world_m: 0.04,
            rotation_rad: 0.35,
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

/// Evaluations (in units of parameters + 1) the solver may spend a frame:
/// the fit starts near its answer, and more bought nothing measurable.
const PATIENCE: usize = 5;

/// Landmarks 0–10 are the face.
const FACE: usize = 11;

/// Output space and camera space differ by a sign flip of y and z.
fn to_camera(p: Vec3) -> Vec3 {
    camera_to_output(p)
}

struct Problem<'a> {
    frame: &'a FrameEvidence<'a>,
    weights: Weights,
    x: DVector<f64>,
    /// Square roots of the per-landmark weights, image and world.
    image_w: [f32; NUM_LANDMARKS],
    world_w: [f32; NUM_LANDMARKS],
    residuals_len: usize,
}

impl Problem<'_> {
    /// The pose the parameters `x` describe: hips (camera space) and the
    /// local rotations.
    fn pose(&self, x: &DVector<f64>) -> (Vec3, Vec<Quat>) {
        let f = self.frame;
        let root = f.root_cam + Vec3::new(x[0] as f32, x[1] as f32, x[2] as f32);
        let mut rot = f.rotations.to_vec();
        for (k, j) in FREE.iter().enumerate() {
            let v = Vec3::new(
                x[3 + 3 * k] as f32,
                x[4 + 3 * k] as f32,
                x[5 + 3 * k] as f32,
            );
            let i = j.index();
            rot[i] = (rot[i] * Quat::from_scaled_axis(v)).normalize();
        }
        (root, rot)
    }

    fn residuals_at(&self, x: &DVector<f64>) -> Option<DVector<f64>> {
        let f = self.frame;
        let w = &self.weights;
        let (root, rot) = self.pose(x);
        // Landmarks hip-centred in output space, then placed in the camera.
        let local = pose_landmarks(f.skeleton, Vec3::ZERO, &rot);
        let mut r = Vec::with_capacity(self.residuals_len);
        let image_scale = (w.image_fraction * f.pixel_height).max(1.0);
        for (k, &l) in local.iter().enumerate().take(NUM_LANDMARKS) {
            let p = root + to_camera(l);
            let uv = f.camera.project(p)?;
            let d = (uv - f.image[k]) * (self.image_w[k] / image_scale);
            r.push(d.x as f64);
            r.push(d.y as f64);
        }
        for (k, &l) in local.iter().enumerate().take(NUM_LANDMARKS) {
            let d = (l - f.world[k]) * (self.world_w[k] / w.world_m);
            r.extend([d.x as f64, d.y as f64, d.z as f64]);
        }
        for i in 0..3 {
            r.push(x[i] / w.root_m as f64);
        }
        for v in x.iter().skip(3) {
            r.push(v / w.rotation_rad as f64);
        }
        r.iter()
            .all(|v| v.is_finite())
            .then(|| DVector::from_vec(r))
    }
}

impl LeastSquaresProblem<f64, Dyn, Dyn> for Problem<'_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, x: &DVector<f64>) {
        self.x.copy_from(x);
    }

    fn params(&self) -> DVector<f64> {
        self.x.clone()
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        self.residuals_at(&self.x)
    }

    fn jacobian(&self) -> Option<DMatrix<f64>> {
        // Central differences; the step is large enough for the f32 rig.
        const H: f64 = 1e-3;
        let mut j = DMatrix::zeros(self.residuals_len, PARAMS);
        let mut x = self.x.clone();
        for c in 0..PARAMS {
            let x0 = x[c];
            x[c] = x0 + H;
            let plus = self.residuals_at(&x)?;
            x[c] = x0 - H;
            let minus = self.residuals_at(&x)?;
            x[c] = x0;
            j.set_column(c, &((plus - minus) / (2.0 * H)));
        }
        Some(j)
    }
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
    let problem = Problem {
        frame,
        weights,
        x: DVector::zeros(PARAMS),
        image_w,
        world_w,
        residuals_len: NUM_LANDMARKS * 5 + PARAMS,
    };
    let start = (frame.root_cam, frame.rotations.to_vec());
    if problem.residuals().is_none() {
        return start;
    }
    let (problem, report) = LevenbergMarquardt::new()
        .with_patience(PATIENCE)
        .minimize(problem);
    if !report.objective_function.is_finite() {
        return start;
    }
    problem.pose(&problem.x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::BodyMeasurements;

    /// A posed rig seen by a camera: the fit recovers the pose from its 2D
    /// projection and a distorted copy of its world landmarks, where the
    /// first solve (the distorted landmarks' pose) was off.
    #[test]
    fn the_fit_brings_the_rig_onto_the_picture() {
        let skel = Skeleton::t_pose(&BodyMeasurements::default());
        let cam = Pinhole::from_fov(1280, 720, 60.0);
        let mut truth = vec![Quat::IDENTITY; skel.len()];
        truth[JointId::LeftUpperArm.index()] = Quat::from_rotation_z(-1.0);
        truth[JointId::RightForearm.index()] = Quat::from_rotation_y(0.8);
        truth[JointId::LeftThigh.index()] = Quat::from_rotation_x(-0.5);
        truth[JointId::Hips.index()] = Quat::from_rotation_y(0.4);
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
}
