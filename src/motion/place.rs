//! Root placement: where the hips go in every frame, chosen for the whole
//! clip at once by linear least squares over the root's corrections.
//!
//! Three kinds of evidence disagree by centimetres: the picture (the
//! root fitted to the 2D landmarks), planted feet (they should not move)
//! and the floor (planted soles on it, none under it). Holding a foot by
//! moving the root sideways, as a lock would, pulls the whole body off the
//! picture; putting soles on the floor by moving it straight up does too.
//! But the picture hardly constrains one direction: along the camera's
//! ray, where only the body's size in pixels tells depth. So each demand
//! is a weighted residual and one solve trades them, the picture's cost of
//! a root move being its reprojection error's Gauss–Newton form — dear
//! across the view, cheap along the ray — so feet are held and soles
//! floored mostly by moves in depth, which one camera cannot see. The
//! correction is kept smooth (its second difference), and a sole the
//! solution leaves under the floor gets a floor residual of its own (an
//! active set, a few rounds).
//!
//! The joint rotations are not touched: only the root moves.

use glam::{Mat3, Vec2, Vec3};

use super::level::SceneToCamera;
use super::lift::Pinhole;

/// What one frame offers the placement (output space, metres, Y up).
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// The root the picture gives.
    pub root: Vec3,
    /// The picture's cost of moving the root by `d`: `dᵀ·picture·d`
    /// (see [`picture_cost`]).
    pub picture: Mat3,
    /// Each ankle relative to the root, `[left, right]`.
    pub feet: [Vec3; 2],
    /// Each foot's lower sole point (heel or toe) relative to the root's
    /// height.
    pub soles: [f32; 2],
    /// Each foot planted.
    pub contact: [bool; 2],
    /// The floor's height under the person.
    pub floor: f32,
}

/// How much each demand counts: the error at which its residual is one.
#[derive(Clone, Copy, Debug)]
pub struct Weights {
    /// Reprojection error, as a share of the person's pixel height.
    pub picture: f32,
    /// A planted ankle's horizontal move between frames, metres.
    pub slide_m: f32,
    /// A planted (or sunk) sole's height off the floor, metres.
    pub floor_m: f32,
    /// The correction's second difference, metres per frame².
    pub accel_m: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            picture: 0.01,
            slide_m: 0.002,
            floor_m: 0.002,
            accel_m: 0.002,
        }
    }
}

/// The picture's cost of moving the root by `d` (output space) is
/// `dᵀ·M·d` with this `M`: the mean over the weighted landmarks of their
/// squared image moves (Gauss–Newton, the projection's Jacobian at the
/// current pose), in units of `share` of the person's `pixel_height`.
/// `landmarks` are the posed skeleton's, output space; `weights` one per
/// landmark.
pub fn picture_cost(
    camera: &Pinhole,
    to_camera: &SceneToCamera,
    landmarks: &[Vec3],
    weights: &[f32],
    pixel_height: f32,
    share: f32,
) -> Mat3 {
    // Output space to camera space: a rotation, then y and z negated.
    let turn =
        Mat3::from_diagonal(Vec3::new(1.0, -1.0, -1.0)) * Mat3::from_quat(to_camera.rotation);
    let mut m = Mat3::ZERO;
    let mut total = 0.0;
    for (&p, &w) in landmarks.iter().zip(weights) {
        let c = to_camera.apply(p);
        if !(w > 0.0 && c.is_finite() && c.z > 0.1) {
            continue;
        }
        let (jx, jy) = (
            Vec3::new(camera.fx / c.z, 0.0, -camera.fx * c.x / (c.z * c.z)),
            Vec3::new(0.0, camera.fy / c.z, -camera.fy * c.y / (c.z * c.z)),
        );
        // Rows of the 2×3 Jacobian with respect to an output-space move.
        let (rx, ry) = (turn.transpose() * jx, turn.transpose() * jy);
        m += w * (outer(rx, rx) + outer(ry, ry));
        total += w;
    }
    let scale = (pixel_height.max(1.0) * share).powi(2) * total;
    if scale > 0.0 {
        m * (1.0 / scale)
    } else {
        Mat3::ZERO
    }
}

/// The person's height in the picture (pixels) as the posed skeleton
/// projects, for frames without image landmarks.
pub fn projected_height(camera: &Pinhole, to_camera: &SceneToCamera, landmarks: &[Vec3]) -> f32 {
    let ys: Vec<f32> = landmarks
        .iter()
        .filter_map(|&p| camera.project(to_camera.apply(p)))
        .map(|uv: Vec2| uv.y)
        .collect();
    let lo = ys.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = ys.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi > lo {
        hi - lo
    } else {
        1.0
    }
}

fn outer(a: Vec3, b: Vec3) -> Mat3 {
    Mat3::from_cols(a * b.x, a * b.y, a * b.z)
}

/// Rounds of the floor's active set.
const FLOOR_ROUNDS: usize = 4;

/// Every frame's root (module docs). No sole ends under the floor.
pub fn place(frames: &[Frame], w: &Weights) -> Vec<Vec3> {
    let corrections = solve_clip(frames, w);
    // The soft floor may leave a sole a little under it.
    frames
        .iter()
        .zip(corrections)
        .map(|(f, c)| {
            let mut r = f.root + c;
            let under = f.floor - (r.y + f.soles[0].min(f.soles[1]));
            if under > 0.0 {
                r.y += under;
            }
            r
        })
        .collect()
}

/// Unknowns per frame (the correction to its root) and how far apart two
/// coupled unknowns can be: the second difference ties a frame to the two
/// either side.
const PER_FRAME: usize = 3;
const BAND: usize = 2 * PER_FRAME + 2;

/// The normal equations of the whole clip: symmetric, banded (every term
/// ties frames at most two apart), solved by a banded Cholesky in O(n).
/// The clip cannot be cut into windows: planted feet overlap (double
/// support), so every stance is tied to the next and a correction in
/// depth runs through the whole walk. nalgebra has no banded solver and a
/// dense one is O(n³); the band is the textbook Cholesky restricted to it
/// (tested against nalgebra's dense one).
struct Normal {
    /// `lower[i][k]` is `A[i][i − k]`, `k ≤ BAND`.
    lower: Vec<[f64; BAND + 1]>,
    b: Vec<f64>,
}

impl Normal {
    fn new(unknowns: usize) -> Self {
        Normal {
            lower: vec![[0.0; BAND + 1]; unknowns],
            b: vec![0.0; unknowns],
        }
    }

    /// Adds `v` to `A[i][j]` (and so to `A[j][i]`).
    fn add(&mut self, i: usize, j: usize, v: f64) {
        let (i, j) = if i >= j { (i, j) } else { (j, i) };
        self.lower[i][i - j] += v;
    }

    /// Adds `weight·(Σ coeffs·d − target)²` for terms on one axis.
    fn add_row(&mut self, axis: usize, coeffs: &[(usize, f64)], target: f64, weight: f64) {
        for (k, &(f, cf)) in coeffs.iter().enumerate() {
            let i = PER_FRAME * f + axis;
            self.b[i] += weight * cf * target;
            for &(g, cg) in &coeffs[k..] {
                let j = PER_FRAME * g + axis;
                self.add(i, j, weight * cf * cg);
            }
        }
    }

    /// `A⁻¹ b`; `None` unless `A` is positive definite.
    fn solve(mut self) -> Option<Vec<f64>> {
        let n = self.b.len();
        // In place: `lower` becomes L (A = L Lᵀ), same band.
        for i in 0..n {
            for k in (0..=BAND.min(i)).rev() {
                let j = i - k;
                let mut sum = self.lower[i][k];
                for m in j.saturating_sub(BAND).max(i.saturating_sub(BAND))..j {
                    sum -= self.lower[i][i - m] * self.lower[j][j - m];
                }
                if k == 0 {
                    if sum.is_nan() || sum <= 0.0 {
                        return None;
                    }
                    self.lower[i][0] = sum.sqrt();
                } else {
                    self.lower[i][k] = sum / self.lower[j][0];
                }
            }
        }
        let l = &self.lower;
        let mut y = self.b;
        for i in 0..n {
            for m in i.saturating_sub(BAND)..i {
                y[i] -= l[i][i - m] * y[m];
            }
            y[i] /= l[i][0];
        }
        for i in (0..n).rev() {
            for m in i + 1..(i + BAND + 1).min(n) {
                y[i] -= l[m][m - i] * y[m];
            }
            y[i] /= l[i][0];
        }
        Some(y)
    }
}

fn solve_clip(frames: &[Frame], w: &Weights) -> Vec<Vec3> {
    let n = frames.len();
    let mut floored: Vec<bool> = frames
        .iter()
        .map(|f| f.contact[0] || f.contact[1])
        .collect();
    let mut out = vec![Vec3::ZERO; n];
    for _ in 0..FLOOR_ROUNDS {
        out = solve_once(frames, w, &floored);
        let mut added = false;
        for (f, fr) in frames.iter().enumerate() {
            let lowest = fr.root.y + out[f].y + fr.soles[0].min(fr.soles[1]);
            if !floored[f] && lowest < fr.floor - 1e-3 {
                floored[f] = true;
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    out
}

/// The floor's target for frame `f`: the lower planted sole, or the lowest
/// sole where none is planted (a sole the solution sank).
fn floor_sole(fr: &Frame) -> f32 {
    let planted = (0..2)
        .filter(|&s| fr.contact[s])
        .map(|s| fr.soles[s])
        .reduce(f32::min);
    planted.unwrap_or(fr.soles[0].min(fr.soles[1]))
}

fn solve_once(frames: &[Frame], w: &Weights, floored: &[bool]) -> Vec<Vec3> {
    let n = frames.len();
    let mut eq = Normal::new(PER_FRAME * n);
    let inv2 = |s: f32| 1.0 / f64::from(s).powi(2);
    for (f, fr) in frames.iter().enumerate() {
        for r in 0..3 {
            for c in 0..=r {
                let v = f64::from(fr.picture.col(c)[r]);
                eq.add(PER_FRAME * f + r, PER_FRAME * f + c, v);
            }
            // Keeps the system definite where the picture says nothing.
            eq.add(PER_FRAME * f + r, PER_FRAME * f + r, 1e-3);
        }
        if floored[f] {
            let target = fr.floor - fr.root.y - floor_sole(fr);
            eq.add_row(1, &[(f, 1.0)], f64::from(target), inv2(w.floor_m));
        }
    }
    for f in 0..n.saturating_sub(1) {
        let (a, b) = (&frames[f], &frames[f + 1]);
        for side in 0..2 {
            if !(a.contact[side] && b.contact[side]) {
                continue;
            }
            let moved = (b.root + b.feet[side]) - (a.root + a.feet[side]);
            for (axis, m) in [(0, moved.x), (2, moved.z)] {
                eq.add_row(
                    axis,
                    &[(f + 1, 1.0), (f, -1.0)],
                    f64::from(-m),
                    inv2(w.slide_m),
                );
            }
        }
    }
    for f in 1..n.saturating_sub(1) {
        for axis in 0..3 {
            eq.add_row(
                axis,
                &[(f - 1, 1.0), (f, -2.0), (f + 1, 1.0)],
                0.0,
                inv2(w.accel_m),
            );
        }
    }
    let Some(d) = eq.solve() else {
        return vec![Vec3::ZERO; n];
    };
    (0..n)
        .map(|f| Vec3::new(d[3 * f] as f32, d[3 * f + 1] as f32, d[3 * f + 2] as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A camera at hip height 5 m along +z from the person (output space),
    /// looking at her; her landmarks a 1.7 m column around the root.
    fn setup() -> (Pinhole, SceneToCamera) {
        (
            Pinhole::from_fov(1280, 720, 60.0),
            SceneToCamera::shifted(Vec3::new(0.0, -1.0, -5.0)),
        )
    }

    fn column(root: Vec3) -> Vec<Vec3> {
        (0..10)
            .map(|k| root + Vec3::new(0.1 * (k % 2) as f32, -0.9 + 0.19 * k as f32, 0.0))
            .collect()
    }

    #[test]
    fn moving_along_the_ray_costs_the_picture_far_less_than_across_it() {
        let (cam, to_cam) = setup();
        let root = Vec3::new(0.0, 1.0, 0.0);
        let ph = projected_height(&cam, &to_cam, &column(root));
        let m = picture_cost(&cam, &to_cam, &column(root), &[1.0; 10], ph, 0.01);
        let cost = |d: Vec3| d.dot(m * d);
        let camera_at = -to_cam.offset;
        let ray = (root - camera_at).normalize();
        let across = ray.cross(Vec3::Y).normalize();
        assert!(cost(0.05 * across) > 20.0 * cost(0.05 * ray));
        // 1 % of her height across the view costs about one unit.
        let one = cost(0.017 * across);
        assert!((0.5..2.0).contains(&one), "{one}");
    }

    /// A stance of `n` frames whose planted ankle drifts 1 cm a frame along
    /// the ray and 1 mm across it, the picture's root still, the sole 3 cm
    /// under the floor.
    fn stance(n: usize) -> Vec<Frame> {
        let (cam, to_cam) = setup();
        (0..n)
            .map(|f| {
                let root = Vec3::new(0.0, 1.0, 0.0);
                let drift = Vec3::new(0.001, 0.0, -0.01) * f as f32;
                let lm = column(root);
                let ph = projected_height(&cam, &to_cam, &lm);
                Frame {
                    root,
                    picture: picture_cost(&cam, &to_cam, &lm, &[1.0; 10], ph, 0.01),
                    feet: [
                        Vec3::new(-0.1, -0.9, 0.0) + drift,
                        Vec3::new(0.1, -0.8, 0.3),
                    ],
                    soles: [-0.98, -0.85],
                    contact: [true, false],
                    floor: 0.05,
                }
            })
            .collect()
    }

    #[test]
    fn a_planted_foot_is_held_mostly_by_moving_in_depth() {
        let frames = stance(20);
        let roots = place(&frames, &Weights::default());
        let ankle = |f: usize| roots[f] + frames[f].feet[0];
        let slide: f32 = (1..20)
            .map(|f| (ankle(f) - ankle(f - 1)).length())
            .sum::<f32>()
            / 19.0;
        assert!(slide < 0.003, "slide {slide} m/frame");
        // Depth took the drift; across the view the root stayed within
        // 1 % of her height of the picture's.
        let moved = roots[19] - roots[0];
        assert!(moved.z > 0.15, "{moved}");
        assert!(roots.iter().all(|r| r.x.abs() < 0.017), "{roots:?}");
        // The sole is near the floor (the camera is at hip height: only
        // an upward move, which the picture sees, can lift it) and never
        // under it.
        for (r, f) in roots.iter().zip(&frames) {
            let sole = r.y + f.soles[0];
            assert!(sole >= f.floor - 1e-5 && sole - f.floor < 0.015, "{sole}");
        }
    }

    #[test]
    fn the_banded_solve_is_nalgebra_s_dense_one() {
        // A random-looking definite system with the placement's band.
        let n = 40;
        let mut eq = Normal::new(n);
        let mut dense = nalgebra::DMatrix::<f64>::zeros(n, n);
        let x = |k: usize| ((k as f64 * 12.9898).sin() * 43758.547).fract();
        for i in 0..n {
            for j in i.saturating_sub(BAND)..=i {
                let v = if i == j {
                    4.0 + x(i)
                } else {
                    0.1 * x(i * 97 + j)
                };
                eq.add(i, j, v);
                dense[(i, j)] += v;
                if i != j {
                    dense[(j, i)] += v;
                }
            }
            eq.b[i] = x(1000 + i);
        }
        let b = nalgebra::DVector::from_vec(eq.b.clone());
        let want = dense.cholesky().unwrap().solve(&b);
        let got = eq.solve().unwrap();
        for i in 0..n {
            assert!(
                (got[i] - want[i]).abs() < 1e-9,
                "{i}: {} vs {}",
                got[i],
                want[i]
            );
        }
        // Not definite: no answer.
        let mut bad = Normal::new(3);
        bad.add(0, 0, -1.0);
        assert!(bad.solve().is_none());
    }

    #[test]
    fn a_long_walk_is_solved_whole_and_no_sole_ends_under_the_floor() {
        // Eight stances, each drifting as in `stance`, feet alternating.
        let mut frames = Vec::new();
        for k in 0..8 {
            let mut more = stance(20);
            for (i, f) in more.iter_mut().enumerate() {
                f.root.x += 0.3 * k as f32;
                f.contact = if i < 15 {
                    [k % 2 == 0, k % 2 == 1]
                } else {
                    [false; 2]
                };
            }
            frames.extend(more);
        }
        let roots = place(&frames, &Weights::default());
        assert_eq!(roots.len(), 160);
        for (r, f) in roots.iter().zip(&frames) {
            assert!(r.is_finite());
            assert!(r.y + f.soles[0].min(f.soles[1]) >= f.floor - 1e-5);
        }
        // Planted ankles held: under 3 mm a frame on average.
        let mut slide = Vec::new();
        for f in 1..160 {
            for side in 0..2 {
                if frames[f].contact[side] && frames[f - 1].contact[side] {
                    let a = roots[f] + frames[f].feet[side];
                    let b = roots[f - 1] + frames[f - 1].feet[side];
                    slide.push((a - b).length());
                }
            }
        }
        let mean = slide.iter().sum::<f32>() / slide.len() as f32;
        assert!(mean < 0.003, "slide {mean} m/frame");
    }
}
