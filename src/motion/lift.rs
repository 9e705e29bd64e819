//! Root recovery: where the person stands relative to the camera.
//!
//! BlazePose gives two views of the same body: image landmarks (pixels) and
//! world landmarks (metres, hip-centred, camera-space axes). The world
//! landmarks lack only a translation `t`; under a pinhole camera there is one
//! `t` for which `world_i + t` projects onto `image_i`, and its size is set
//! by how big the metric body looks in pixels. [`solve_translation`] finds
//! it: a linear least-squares start, then Gauss–Newton on the true
//! reprojection error.
//!
//! Conventions: camera space as in [`crate::pose`] (metres, x right, y down,
//! z away from the camera); pixels with x right, y down, and pixel centres at
//! half-integers, so the principal point of a W×H frame is (W/2, H/2).
//!
//! Field of view rule: [`Pinhole::from_fov`] applies the FOV to the image's
//! **longer side**. A phone records portrait and landscape with the same
//! lens and sensor, so the angle spanned by the long side is the property of
//! the camera; the focal length in pixels then comes out the same either
//! way. Pixels are square (fx = fy) and the principal point is centred.

use glam::{Vec2, Vec3};
use serde::{Deserialize, Serialize};

/// Default FOV across the image's longer side, in degrees: a typical phone
/// main camera filming video (≈ 26 mm equivalent, narrowed a little by video
/// stabilisation's crop), i.e. the horizontal FOV in landscape.
pub const DEFAULT_FOV_DEG: f32 = 60.0;

/// Landmarks less visible than this are left out of the fit.
pub const MIN_VISIBILITY: f32 = 0.3;

/// Fewer usable landmarks than this: no answer. Three unknowns need at least
/// two points, but a handful more keeps one bad landmark from steering.
pub const MIN_POINTS: usize = 6;

/// A solution closer than this (metres) is rejected as degenerate: no one is
/// filmed full-body from 10 cm.
pub const MIN_DEPTH_M: f32 = 0.1;

/// Gauss–Newton refinement steps; the linear start is already close, so the
/// error stops changing after two or three.
const GAUSS_NEWTON_ITERATIONS: usize = 8;

/// A point must stay this far in front of the camera to enter a refinement
/// step (metres); keeps 1/Z finite.
const MIN_POINT_DEPTH: f64 = 1e-3;

/// A pinhole camera: `u = fx·X/Z + cx`, `v = fy·Y/Z + cy` (pixels, camera
/// space as in [`crate::pose`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pinhole {
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
}

impl Pinhole {
    /// Camera for a `width`×`height` frame whose **longer side** spans
    /// `fov_deg` degrees (module docs). A FOV that is not finite falls back
    /// to [`DEFAULT_FOV_DEG`]; others are clamped to [1°, 179°].
    pub fn from_fov(width: u32, height: u32, fov_deg: f32) -> Self {
        let fov = if fov_deg.is_finite() {
            fov_deg.clamp(1.0, 179.0)
        } else {
            DEFAULT_FOV_DEG
        };
        let long_side = width.max(height) as f32;
        let f = 0.5 * long_side / (0.5 * fov.to_radians()).tan();
        Self {
            fx: f,
            fy: f,
            cx: 0.5 * width as f32,
            cy: 0.5 * height as f32,
        }
    }

    /// Projects a camera-space point; `None` if it is not in front of the
    /// camera or not finite.
    pub fn project(&self, p: Vec3) -> Option<Vec2> {
        if !p.is_finite() || p.z <= 0.0 {
            return None;
        }
        let uv = Vec2::new(self.fx * p.x / p.z + self.cx, self.fy * p.y / p.z + self.cy);
        uv.is_finite().then_some(uv)
    }

    /// The camera-space point at depth `z` (metres) seen at pixel `px`.
    pub fn unproject(&self, px: Vec2, z: f32) -> Vec3 {
        Vec3::new(
            (px.x - self.cx) / self.fx * z,
            (px.y - self.cy) / self.fy * z,
            z,
        )
    }

    fn is_valid(&self) -> bool {
        self.fx.is_finite()
            && self.fy.is_finite()
            && self.cx.is_finite()
            && self.cy.is_finite()
            && self.fx > 0.0
            && self.fy > 0.0
    }
}

/// One usable correspondence, in f64 for the normal equations.
#[derive(Clone, Copy)]
struct Point {
    u: f64,
    v: f64,
    world: [f64; 3],
    w: f64,
}

/// The camera-space translation `t` such that `world_i + t` projects (with
/// `cam`) closest to `image_px_i`, each landmark weighted by `weights_i`
/// (its visibility; below [`MIN_VISIBILITY`], or any non-finite input, the
/// landmark is left out).
///
/// Method: the 2N linear equations
/// `fx·tx − (u−cx)·tz = (u−cx)·Z − fx·X` and
/// `fy·ty − (v−cy)·tz = (v−cy)·Z − fy·Y`
/// solved by weighted least squares (3×3 normal equations), then
/// Gauss–Newton on the reprojection error in pixels, which the linear form
/// only approximates (it weights each point's error by its depth).
///
/// `None` when fewer than [`MIN_POINTS`] landmarks are usable, the system is
/// singular (e.g. all image points coincide), or the depth `t.z` is not
/// above [`MIN_DEPTH_M`]. Slices of different lengths are read up to the
/// shortest.
pub fn solve_translation(
    cam: &Pinhole,
    image_px: &[Vec2],
    world: &[Vec3],
    weights: &[f32],
) -> Option<Vec3> {
    if !cam.is_valid() {
        return None;
    }
    let points: Vec<Point> = image_px
        .iter()
        .zip(world)
        .zip(weights)
        .filter(|((px, p), w)| {
            px.is_finite() && p.is_finite() && w.is_finite() && **w >= MIN_VISIBILITY
        })
        .map(|((px, p), w)| Point {
            u: f64::from(px.x),
            v: f64::from(px.y),
            world: [f64::from(p.x), f64::from(p.y), f64::from(p.z)],
            w: f64::from(*w),
        })
        .collect();
    if points.len() < MIN_POINTS {
        return None;
    }
    let cam = [cam.fx, cam.fy, cam.cx, cam.cy].map(f64::from);

    // `solve3` only returns finite values.
    let mut t = linear_solve(&cam, &points)?;
    if t[2] <= f64::from(MIN_DEPTH_M) {
        return None;
    }
    refine(&cam, &points, &mut t);

    let t = Vec3::new(t[0] as f32, t[1] as f32, t[2] as f32);
    (t.is_finite() && t.z > MIN_DEPTH_M).then_some(t)
}

/// Weighted linear least squares on the algebraic equations.
fn linear_solve(cam: &[f64; 4], points: &[Point]) -> Option<[f64; 3]> {
    let [fx, fy, cx, cy] = *cam;
    let mut ata = [[0.0f64; 3]; 3];
    let mut atb = [0.0f64; 3];
    for p in points {
        let [x, y, z] = p.world;
        let (a, c) = (p.u - cx, p.v - cy);
        let rows = [
            ([fx, 0.0, -a], a * z - fx * x),
            ([0.0, fy, -c], c * z - fy * y),
        ];
        for (row, rhs) in rows {
            accumulate(&mut ata, &mut atb, &row, rhs, p.w);
        }
    }
    solve3(&ata, &atb)
}

/// Gauss–Newton on the pixel reprojection error, with step halving so that a
/// poor start can never make things worse.
fn refine(cam: &[f64; 4], points: &[Point], t: &mut [f64; 3]) {
    let mut cost = reprojection_cost(cam, points, t);
    for _ in 0..GAUSS_NEWTON_ITERATIONS {
        let Some(step) = gauss_newton_step(cam, points, t) else {
            return;
        };
        let mut scale = 1.0;
        let mut improved = false;
        for _ in 0..8 {
            let trial = [
                t[0] + scale * step[0],
                t[1] + scale * step[1],
                t[2] + scale * step[2],
            ];
            let trial_cost = reprojection_cost(cam, points, &trial);
            if trial_cost <= cost {
                *t = trial;
                cost = trial_cost;
                improved = true;
                break;
            }
            scale *= 0.5;
        }
        let step_len = (step[0] * step[0] + step[1] * step[1] + step[2] * step[2]).sqrt() * scale;
        if !improved || step_len < 1e-9 {
            return;
        }
    }
}

/// Weighted sum of squared pixel errors; points at or behind the camera cost
/// a fixed large amount so a step that pushes them there is never taken.
fn reprojection_cost(cam: &[f64; 4], points: &[Point], t: &[f64; 3]) -> f64 {
    let [fx, fy, cx, cy] = *cam;
    points
        .iter()
        .map(|p| {
            let (x, y, z) = (p.world[0] + t[0], p.world[1] + t[1], p.world[2] + t[2]);
            if z <= MIN_POINT_DEPTH {
                return p.w * 1e12;
            }
            let du = fx * x / z + cx - p.u;
            let dv = fy * y / z + cy - p.v;
            p.w * (du * du + dv * dv)
        })
        .sum()
}

/// One Gauss–Newton step `δ` solving `(JᵀWJ)·δ = −JᵀW·r`.
fn gauss_newton_step(cam: &[f64; 4], points: &[Point], t: &[f64; 3]) -> Option<[f64; 3]> {
    let [fx, fy, cx, cy] = *cam;
    let mut jtj = [[0.0f64; 3]; 3];
    let mut jtr = [0.0f64; 3];
    let mut used = 0;
    for p in points {
        let (x, y, z) = (p.world[0] + t[0], p.world[1] + t[1], p.world[2] + t[2]);
        if z <= MIN_POINT_DEPTH {
            continue;
        }
        used += 1;
        let iz = 1.0 / z;
        let ru = fx * x * iz + cx - p.u;
        let rv = fy * y * iz + cy - p.v;
        // Residual r, Jacobian row j: accumulate JᵀWJ and −JᵀWr.
        accumulate(
            &mut jtj,
            &mut jtr,
            &[fx * iz, 0.0, -fx * x * iz * iz],
            -ru,
            p.w,
        );
        accumulate(
            &mut jtj,
            &mut jtr,
            &[0.0, fy * iz, -fy * y * iz * iz],
            -rv,
            p.w,
        );
    }
    if used < MIN_POINTS {
        return None;
    }
    solve3(&jtj, &jtr)
}

/// `m += w·row·rowᵀ`, `v += w·row·rhs`.
fn accumulate(m: &mut [[f64; 3]; 3], v: &mut [f64; 3], row: &[f64; 3], rhs: f64, w: f64) {
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] += w * row[i] * row[j];
        }
        v[i] += w * row[i] * rhs;
    }
}

/// Solves a symmetric positive semi-definite 3×3 system by Cramer's rule.
/// `None` if it is (nearly) singular: by Hadamard's inequality such a
/// matrix has `det ≤ a11·a22·a33`, so their ratio is a scale-free measure
/// of how close to singular it is.
fn solve3(m: &[[f64; 3]; 3], b: &[f64; 3]) -> Option<[f64; 3]> {
    let det3 = |c0: [f64; 3], c1: [f64; 3], c2: [f64; 3]| {
        c0[0] * (c1[1] * c2[2] - c2[1] * c1[2]) - c1[0] * (c0[1] * c2[2] - c2[1] * c0[2])
            + c2[0] * (c0[1] * c1[2] - c1[1] * c0[2])
    };
    let col = |j: usize| [m[0][j], m[1][j], m[2][j]];
    let (c0, c1, c2) = (col(0), col(1), col(2));
    let det = det3(c0, c1, c2);
    let diag = m[0][0] * m[1][1] * m[2][2];
    if !diag.is_finite() || !det.is_finite() || diag <= 0.0 || det / diag <= 1e-12 {
        return None;
    }
    let x = [
        det3(*b, c1, c2) / det,
        det3(c0, *b, c2) / det,
        det3(c0, c1, *b) / det,
    ];
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::NUM_LANDMARKS;

    /// A standing person facing the camera, hip-centred camera space (y down,
    /// z away; the subject's left is the camera's +x), right arm raised a
    /// little so the body is not symmetric.
    fn body() -> [Vec3; NUM_LANDMARKS] {
        let l = |x: f32, y: f32, z: f32| Vec3::new(x, y, z);
        [
            l(0.0, -0.60, -0.10),    // nose
            l(0.015, -0.64, -0.08),  // left eye inner
            l(0.03, -0.64, -0.08),   // left eye
            l(0.045, -0.64, -0.07),  // left eye outer
            l(-0.015, -0.64, -0.08), // right eye inner
            l(-0.03, -0.64, -0.08),  // right eye
            l(-0.045, -0.64, -0.07), // right eye outer
            l(0.075, -0.62, 0.0),    // left ear
            l(-0.075, -0.62, 0.0),   // right ear
            l(0.02, -0.56, -0.09),   // mouth left
            l(-0.02, -0.56, -0.09),  // mouth right
            l(0.18, -0.45, 0.0),     // left shoulder
            l(-0.18, -0.45, 0.01),   // right shoulder
            l(0.22, -0.18, 0.03),    // left elbow
            l(-0.30, -0.30, -0.05),  // right elbow
            l(0.24, 0.06, 0.0),      // left wrist
            l(-0.38, -0.55, -0.12),  // right wrist
            l(0.25, 0.14, 0.0),      // left pinky
            l(-0.40, -0.63, -0.13),  // right pinky
            l(0.24, 0.15, -0.02),    // left index
            l(-0.39, -0.64, -0.15),  // right index
            l(0.22, 0.12, -0.03),    // left thumb
            l(-0.36, -0.61, -0.16),  // right thumb
            l(0.10, 0.0, 0.0),       // left hip
            l(-0.10, 0.0, 0.0),      // right hip
            l(0.11, 0.42, -0.02),    // left knee
            l(-0.12, 0.41, -0.05),   // right knee
            l(0.11, 0.82, 0.02),     // left ankle
            l(-0.13, 0.80, 0.05),    // right ankle
            l(0.11, 0.87, 0.06),     // left heel
            l(-0.13, 0.85, 0.09),    // right heel
            l(0.12, 0.88, -0.10),    // left foot index
            l(-0.14, 0.87, -0.07),   // right foot index
        ]
    }

    fn project_all(cam: &Pinhole, world: &[Vec3], t: Vec3) -> Vec<Vec2> {
        world.iter().map(|p| cam.project(*p + t).unwrap()).collect()
    }

    /// Deterministic noise in [-1, 1] (xorshift).
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        }
    }

    #[test]
    fn from_fov_long_side_rule() {
        let land = Pinhole::from_fov(1920, 1080, 60.0);
        let expected = 960.0 / 30f32.to_radians().tan();
        assert!((land.fx - expected).abs() < 1e-3 && land.fx == land.fy);
        assert_eq!((land.cx, land.cy), (960.0, 540.0));
        let port = Pinhole::from_fov(1080, 1920, 60.0);
        assert_eq!(port.fx, land.fx);
        assert_eq!((port.cx, port.cy), (540.0, 960.0));
        // Nonsense FOVs do not produce nonsense cameras.
        assert_eq!(
            Pinhole::from_fov(1920, 1080, f32::NAN),
            Pinhole::from_fov(1920, 1080, DEFAULT_FOV_DEG)
        );
        assert!(Pinhole::from_fov(1920, 1080, 0.0).fx.is_finite());
        assert!(Pinhole::from_fov(1920, 1080, 500.0).fx > 0.0);
    }

    #[test]
    fn project_unproject_round_trip() {
        let cam = Pinhole::from_fov(1280, 720, 70.0);
        let p = Vec3::new(0.4, -0.3, 2.5);
        let px = cam.project(p).unwrap();
        assert!((cam.unproject(px, 2.5) - p).length() < 1e-5);
        assert_eq!(cam.project(Vec3::new(0.0, 0.0, 0.0)), None);
        assert_eq!(cam.project(Vec3::new(0.0, 0.0, -1.0)), None);
        assert_eq!(cam.project(Vec3::NAN), None);
        assert_eq!(
            cam.project(Vec3::ZERO.with_z(1.0)),
            Some(Vec2::new(640.0, 360.0))
        );
    }

    #[test]
    fn recovers_exact_translation() {
        let w = body();
        let weights = [0.9; NUM_LANDMARKS];
        for (cam, t) in [
            (
                Pinhole::from_fov(1920, 1080, 60.0),
                Vec3::new(0.3, 0.2, 4.0),
            ),
            (
                Pinhole::from_fov(1080, 1920, 60.0),
                Vec3::new(-0.2, 0.1, 3.0),
            ),
            (Pinhole::from_fov(640, 480, 90.0), Vec3::new(1.0, -0.3, 7.5)),
        ] {
            let px = project_all(&cam, &w, t);
            let got = solve_translation(&cam, &px, &w, &weights).unwrap();
            assert!((got - t).length() < 1e-3, "{got} vs {t}");
        }
    }

    #[test]
    fn one_pixel_noise_costs_centimetres() {
        let cam = Pinhole::from_fov(1920, 1080, 60.0);
        let w = body();
        let t = Vec3::new(0.3, 0.2, 4.0);
        let weights = [0.9; NUM_LANDMARKS];
        let mut noise = Noise(12345);
        let mut worst: f32 = 0.0;
        for _ in 0..50 {
            let px: Vec<Vec2> = project_all(&cam, &w, t)
                .into_iter()
                .map(|p| p + Vec2::new(noise.next(), noise.next()))
                .collect();
            let got = solve_translation(&cam, &px, &w, &weights).unwrap();
            worst = worst.max((got - t).length());
        }
        assert!(worst < 0.05, "worst error {worst} m at 4 m");
    }

    #[test]
    fn refinement_beats_linear_start_under_noise() {
        // The algebraic solution weights errors by depth; Gauss–Newton must
        // land at a reprojection cost no higher than the linear start.
        let cam = Pinhole::from_fov(1920, 1080, 60.0);
        let w = body();
        let mut noise = Noise(777);
        let px: Vec<Vec2> = project_all(&cam, &w, Vec3::new(-0.5, 0.3, 2.0))
            .into_iter()
            .map(|p| p + 3.0 * Vec2::new(noise.next(), noise.next()))
            .collect();
        let weights = [1.0; NUM_LANDMARKS];
        let points: Vec<Point> = px
            .iter()
            .zip(&w)
            .map(|(p, q)| Point {
                u: p.x.into(),
                v: p.y.into(),
                world: [q.x.into(), q.y.into(), q.z.into()],
                w: 1.0,
            })
            .collect();
        let c = [cam.fx, cam.fy, cam.cx, cam.cy].map(f64::from);
        let lin = linear_solve(&c, &points).unwrap();
        let got = solve_translation(&cam, &px, &w, &weights).unwrap();
        let got = [got.x, got.y, got.z].map(f64::from);
        assert!(
            reprojection_cost(&c, &points, &got)
                <= reprojection_cost(&c, &points, &lin) * (1.0 + 1e-6)
        );
    }

    #[test]
    fn low_visibility_landmarks_are_ignored() {
        let cam = Pinhole::from_fov(1920, 1080, 60.0);
        let w = body();
        let t = Vec3::new(0.0, 0.1, 5.0);
        let mut px = project_all(&cam, &w, t);
        let mut weights = [0.95; NUM_LANDMARKS];
        for i in [15, 17, 19, 21, 27, 29, 31] {
            px[i] += Vec2::new(300.0, -200.0); // garbage guesses
            weights[i] = 0.1;
        }
        px[3] = Vec2::NAN;
        let got = solve_translation(&cam, &px, &w, &weights).unwrap();
        assert!((got - t).length() < 1e-3, "{got}");
    }

    #[test]
    fn motion_direction_across_frames() {
        // Walking towards the camera and to the right.
        let cam = Pinhole::from_fov(1920, 1080, 60.0);
        let w = body();
        let weights = [0.9; NUM_LANDMARKS];
        let mut noise = Noise(4242);
        let path: Vec<Vec3> = (0..30)
            .map(|i| Vec3::new(-0.5 + 0.03 * i as f32, 0.1, 6.0 - 0.08 * i as f32))
            .collect();
        let solved: Vec<Vec3> = path
            .iter()
            .map(|t| {
                let px: Vec<Vec2> = project_all(&cam, &w, *t)
                    .into_iter()
                    .map(|p| p + 0.5 * Vec2::new(noise.next(), noise.next()))
                    .collect();
                solve_translation(&cam, &px, &w, &weights).unwrap()
            })
            .collect();
        let true_dir = (path[29] - path[0]).normalize();
        let got_dir = (solved[29] - solved[0]).normalize();
        assert!(true_dir.dot(got_dir) > 0.99, "{got_dir} vs {true_dir}");
        // Depth decreases frame over frame on average.
        let closer = solved.windows(2).filter(|p| p[1].z < p[0].z).count();
        assert!(closer > 20, "{closer}");
    }

    #[test]
    fn refuses_degenerate_input() {
        let cam = Pinhole::from_fov(1920, 1080, 60.0);
        let w = body();
        let px = project_all(&cam, &w, Vec3::new(0.0, 0.0, 3.0));
        // Too few usable points.
        let mut weights = [0.0; NUM_LANDMARKS];
        weights[..5].fill(0.9);
        assert_eq!(solve_translation(&cam, &px, &w, &weights), None);
        assert_eq!(
            solve_translation(&cam, &px[..5], &w, &[0.9; NUM_LANDMARKS]),
            None
        );
        assert_eq!(solve_translation(&cam, &[], &[], &[]), None);
        // All image points at one pixel: scale, hence depth, is unknowable.
        let same = vec![Vec2::new(900.0, 500.0); NUM_LANDMARKS];
        assert_eq!(
            solve_translation(&cam, &same, &w, &[0.9; NUM_LANDMARKS]),
            None
        );
        // A flat body 8 cm from the lens: rejected as too close.
        let flat: Vec<Vec3> = w.iter().map(|p| p.with_z(0.0)).collect();
        let near = project_all(&cam, &flat, Vec3::new(0.0, 0.0, 0.08));
        assert_eq!(
            solve_translation(&cam, &near, &flat, &[0.9; NUM_LANDMARKS]),
            None
        );
        // Broken cameras and NaN everywhere: no answer, no panic.
        let bad = Pinhole { fx: 0.0, ..cam };
        assert_eq!(
            solve_translation(&bad, &px, &w, &[0.9; NUM_LANDMARKS]),
            None
        );
        let nan_px = vec![Vec2::NAN; NUM_LANDMARKS];
        assert_eq!(
            solve_translation(&cam, &nan_px, &w, &[0.9; NUM_LANDMARKS]),
            None
        );
        assert_eq!(
            solve_translation(&cam, &px, &w, &[f32::NAN; NUM_LANDMARKS]),
            None
        );
    }
}
