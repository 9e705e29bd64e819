//! Jitter removal: MediaPipe's landmark smoothing, reproduced exactly, plus
//! one visibility-aware extension.
//!
//! What MediaPipe Tasks does to a single tracked pose (BLAZEPOSE.md §8):
//! 1. visibility is low-passed with α = 0.1 (first value passes);
//! 2. image landmarks (pixels) go through a one-euro filter
//!    (min_cutoff 0.05, beta 80, derivate_cutoff 1) whose derivative is
//!    scaled by `1 / object_scale`, the ROI size in pixels, so the filter
//!    behaves the same for a near and a far person;
//! 3. world landmarks (metres) go through a one-euro filter
//!    (min_cutoff 0.1, beta 40, derivate_cutoff 1) without value scaling;
//! 4. every filter restarts after a frame without a pose.
//!
//! [`OneEuroFilter`] follows `mediapipe/util/filtering/one_euro_filter.cc`
//! line by line, quirks included (see its docs), so that our output can be
//! compared with MediaPipe's. [`PoseSmoother`] adds one thing MediaPipe does
//! not do: a landmark the model itself says it cannot see is allowed to move
//! the output only a little (see [`visibility_weight`]). With every
//! landmark visible (≥ 0.5) it is exactly MediaPipe's filter (up to float
//! rounding), and [`PoseSmoother::mediapipe_exact`] turns the extension off
//! altogether.
//!
//! [`Vec3Smoother`] is the same one-euro filter per component, for the root
//! trajectory.

use glam::Vec3;

use crate::pose::{PoseObservation, NUM_LANDMARKS};

/// α of the visibility low-pass (MediaPipe's VisibilitySmoothingCalculator).
pub const VISIBILITY_ALPHA: f32 = 0.1;

/// Below this object scale (pixels) MediaPipe skips image smoothing and
/// returns the landmarks as they are (`min_allowed_object_scale` default).
pub const MIN_ALLOWED_OBJECT_SCALE: f32 = 1e-6;

/// Visibility at and above which a landmark is trusted fully.
pub const CONFIDENT_VISIBILITY: f32 = 0.5;

/// Smallest update weight a barely visible landmark keeps, so that an
/// occluded limb still follows a real move slowly instead of freezing.
pub const MIN_VISIBILITY_WEIGHT: f32 = 0.1;

pub use crate::one_euro::{LowPass, OneEuroFilter, OneEuroParams, INITIAL_FREQUENCY_HZ};

/// Update weight for a landmark of visibility `v` (the rule behind
/// [`PoseSmoother`]'s visibility awareness):
/// `1` for `v ≥ 0.5`, else `max(v / 0.5, 0.1)`; NaN counts as invisible.
///
/// It is linear so that trust fades continuously as the model grows unsure,
/// and floored so an occluded landmark still drifts toward a real new
/// position within a second or two instead of freezing.
pub fn visibility_weight(v: f32) -> f32 {
    if v.is_nan() {
        return MIN_VISIBILITY_WEIGHT;
    }
    if v >= CONFIDENT_VISIBILITY {
        1.0
    } else {
        (v / CONFIDENT_VISIBILITY).max(MIN_VISIBILITY_WEIGHT)
    }
}

/// Smooths one tracked person's [`PoseObservation`] frame after frame.
///
/// Order and parameters are MediaPipe Tasks' (module docs). The
/// visibility-aware rule: each landmark (image and world) is fed to its
/// one-euro filters through [`OneEuroFilter::apply_weighted`] with weight
/// [`visibility_weight`]`(min(raw, low-passed visibility))`, i.e. its new
/// position is believed only that fraction of the way from the current
/// estimate. A one-frame glitch on a hidden landmark thus moves the output
/// ~10× less; a hidden landmark that really moved is followed with a time
/// constant of about half a second; and once it is seen again the jump in
/// input lets the one-euro speed term close the gap within a few frames.
/// The low-passed value keeps a landmark distrusted while it has recently
/// been hidden; the raw value makes a sudden drop count at once, since the
/// low-pass alone would take ~8 frames to fall below 0.5 and the very
/// frames where a limb disappears are those where the model guesses wildly.
///
/// Output visibility is the low-passed one; presence values are passed on.
#[derive(Clone, Debug)]
pub struct PoseSmoother {
    visibility: [LowPass; NUM_LANDMARKS],
    image: [[OneEuroFilter; 3]; NUM_LANDMARKS],
    world: [[OneEuroFilter; 3]; NUM_LANDMARKS],
    visibility_aware: bool,
}

impl Default for PoseSmoother {
    fn default() -> Self {
        Self::new()
    }
}

impl PoseSmoother {
    /// MediaPipe's parameters with the visibility-aware extension.
    pub fn new() -> Self {
        Self::with_params(
            OneEuroParams::MEDIAPIPE_IMAGE,
            OneEuroParams::MEDIAPIPE_WORLD,
            true,
        )
    }

    /// MediaPipe's smoothing and nothing else, for comparisons with it.
    pub fn mediapipe_exact() -> Self {
        Self::with_params(
            OneEuroParams::MEDIAPIPE_IMAGE,
            OneEuroParams::MEDIAPIPE_WORLD,
            false,
        )
    }

    /// Custom parameters for image (pixels) and world (metres) landmarks.
    pub fn with_params(image: OneEuroParams, world: OneEuroParams, visibility_aware: bool) -> Self {
        Self {
            visibility: std::array::from_fn(|_| LowPass::new(VISIBILITY_ALPHA)),
            image: std::array::from_fn(|_| std::array::from_fn(|_| OneEuroFilter::new(image))),
            world: std::array::from_fn(|_| std::array::from_fn(|_| OneEuroFilter::new(world))),
            visibility_aware,
        }
    }

    /// Call on every frame without a pose: the next pose starts afresh.
    pub fn reset(&mut self) {
        self.visibility.iter_mut().for_each(LowPass::reset);
        for f in self.image.iter_mut().chain(self.world.iter_mut()).flatten() {
            f.reset();
        }
    }

    /// Smooths `obs`, seen at `time_s` seconds. `object_scale` is MediaPipe's
    /// `(ROI width + ROI height) / 2` in pixels (Tasks uses the next-frame
    /// ROI); below [`MIN_ALLOWED_OBJECT_SCALE`] or non-finite, the image
    /// landmarks are returned unsmoothed, as MediaPipe does.
    pub fn apply(
        &mut self,
        time_s: f64,
        obs: &PoseObservation,
        object_scale: f32,
    ) -> PoseObservation {
        let mut out = obs.clone();

        // 1. Visibility, and from it each landmark's update weight.
        let mut weights = [1.0f32; NUM_LANDMARKS];
        for (i, lm) in out.image.iter_mut().enumerate() {
            let raw = lm.visibility;
            let smoothed = self.visibility[i].apply(raw);
            lm.visibility = smoothed;
            if self.visibility_aware {
                // f32::min ignores one NaN; two NaNs give NaN → minimum weight.
                weights[i] = visibility_weight(raw.min(smoothed));
            }
        }

        // 2. Image landmarks, derivative scaled by the person's size.
        if object_scale.is_finite() && object_scale >= MIN_ALLOWED_OBJECT_SCALE {
            let value_scale = 1.0 / object_scale;
            for (i, lm) in out.image.iter_mut().enumerate() {
                let [fx, fy, fz] = &mut self.image[i];
                let w = weights[i];
                lm.x = fx.apply_weighted(time_s, lm.x, value_scale, w);
                lm.y = fy.apply_weighted(time_s, lm.y, value_scale, w);
                lm.z = fz.apply_weighted(time_s, lm.z, value_scale, w);
            }
        }

        // 3. World landmarks, no value scaling.
        for (i, p) in out.world.iter_mut().enumerate() {
            let [fx, fy, fz] = &mut self.world[i];
            let w = weights[i];
            *p = Vec3::new(
                fx.apply_weighted(time_s, p.x, 1.0, w),
                fy.apply_weighted(time_s, p.y, 1.0, w),
                fz.apply_weighted(time_s, p.z, 1.0, w),
            );
        }
        out
    }
}

/// A one-euro filter per component of a 3D point, for the root trajectory
/// (metres, no value scaling; defaults to [`OneEuroParams::ROOT`]).
#[derive(Clone, Debug)]
pub struct Vec3Smoother {
    filters: [OneEuroFilter; 3],
}

impl Default for Vec3Smoother {
    /// [`OneEuroParams::ROOT`].
    fn default() -> Self {
        Self::new(OneEuroParams::ROOT)
    }
}

impl Vec3Smoother {
    /// A fresh smoother.
    pub fn new(params: OneEuroParams) -> Self {
        Self {
            filters: std::array::from_fn(|_| OneEuroFilter::new(params)),
        }
    }

    /// Filters `v` observed at `time_s` seconds.
    pub fn apply(&mut self, time_s: f64, v: Vec3) -> Vec3 {
        let [fx, fy, fz] = &mut self.filters;
        Vec3::new(
            fx.apply(time_s, v.x, 1.0),
            fy.apply(time_s, v.y, 1.0),
            fz.apply(time_s, v.z, 1.0),
        )
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.filters.iter_mut().for_each(OneEuroFilter::reset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::ImageLandmark;

    const FPS: f64 = 30.0;

    fn t(i: usize) -> f64 {
        i as f64 / FPS
    }

    /// Deterministic uniform noise in [-1, 1] (xorshift), no extra crates.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        }
    }

    fn std_dev(xs: &[f32]) -> f32 {
        let n = xs.len() as f32;
        let mean = xs.iter().sum::<f32>() / n;
        (xs.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt()
    }

    fn pose(x: f32, y: f32, vis: f32) -> PoseObservation {
        PoseObservation {
            image: [ImageLandmark {
                x,
                y,
                z: 0.0,
                visibility: vis,
                presence: 0.9,
            }; NUM_LANDMARKS],
            world: [Vec3::new(x / 1000.0, y / 1000.0, 0.0); NUM_LANDMARKS],
            presence: 0.95,
        }
    }

    #[test]
    fn first_sample_passes_through() {
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        assert_eq!(f.apply(1.0, 123.5, 0.01), 123.5);
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_WORLD);
        assert_eq!(f.apply(0.0, -0.25, 1.0), -0.25);
    }

    #[test]
    fn constant_input_stays_constant() {
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        for i in 0..200 {
            assert_eq!(f.apply(t(i), 640.25, 1.0 / 400.0), 640.25);
        }
    }

    /// Three hand-computed steps of MediaPipe's arithmetic, with beta = 0 so
    /// the cutoff is fixed: pins the formula, the frequency update and the
    /// t = 0 quirk.
    #[test]
    fn matches_mediapipe_arithmetic() {
        let params = OneEuroParams {
            min_cutoff: 1.0,
            beta: 0.0,
            derivate_cutoff: 1.0,
        };
        let alpha = |freq: f64| 1.0 / (1.0 + freq / (2.0 * std::f64::consts::PI));
        let mut f = OneEuroFilter::new(params);
        // Sample 0 at t = 0 passes; t = 0 leaves the frequency at 30 Hz for
        // sample 1 although the real rate is 60 Hz.
        assert_eq!(f.apply(0.0, 0.0, 1.0), 0.0);
        let y1 = f.apply(1.0 / 60.0, 10.0, 1.0);
        let e1 = alpha(30.0) * 10.0;
        assert!((f64::from(y1) - e1).abs() < 1e-4, "{y1} vs {e1}");
        // Sample 2: now 1/Δt = 60 Hz.
        let y2 = f.apply(2.0 / 60.0, 10.0, 1.0);
        let e2 = alpha(60.0) * 10.0 + (1.0 - alpha(60.0)) * e1;
        assert!((f64::from(y2) - e2).abs() < 1e-4, "{y2} vs {e2}");
    }

    #[test]
    fn derivative_raises_cutoff() {
        // Same move, beta 0 versus beta > 0: the speed term must follow it
        // more closely, and value_scale must modulate that.
        let slow = OneEuroParams {
            beta: 0.0,
            ..OneEuroParams::MEDIAPIPE_IMAGE
        };
        let mut a = OneEuroFilter::new(slow);
        let mut b = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        let mut c = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        let (mut ya, mut yb, mut yc) = (0.0, 0.0, 0.0);
        for i in 0..10 {
            let x = 5.0 * i as f32;
            ya = a.apply(t(i), x, 1.0 / 300.0);
            yb = b.apply(t(i), x, 1.0 / 300.0);
            yc = c.apply(t(i), x, 1.0 / 3000.0);
        }
        assert!(yb > yc && yc > ya, "{ya} {yb} {yc}");
    }

    #[test]
    fn step_converges() {
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        f.apply(t(0), 0.0, 1.0 / 400.0);
        let mut y = 0.0;
        for i in 1..60 {
            y = f.apply(t(i), 100.0, 1.0 / 400.0);
        }
        assert!((y - 100.0).abs() < 1.0, "after 2 s: {y}");
    }

    /// Std-dev reduction of ±5 px uniform noise on a still point.
    fn jitter_reduction(object_scale: f32) -> f32 {
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        for i in 0..900 {
            let x = 500.0 + 5.0 * noise.next();
            let y = f.apply(t(i), x, 1.0 / object_scale);
            if i >= 30 {
                raw.push(x);
                out.push(y);
            }
        }
        std_dev(&raw) / std_dev(&out)
    }

    #[test]
    fn jitter_is_reduced() {
        // MediaPipe's parameters smooth relative to the person's size (the
        // derivative is scaled by 1/object_scale): ±5 px is 0.3 % of a
        // 1600 px ROI (a person filling a 1080×1920 portrait frame) and is
        // cut more than 3×; on a 1250 px ROI it is still cut ~2.9×.
        let big = jitter_reduction(1600.0);
        assert!(big > 3.0, "{big}");
        let medium = jitter_reduction(1250.0);
        assert!(medium > 2.5 && medium < big, "{medium}");
    }

    #[test]
    fn fast_move_lags_less_than_plain_low_pass() {
        let p = OneEuroParams::MEDIAPIPE_IMAGE;
        let mut euro = OneEuroFilter::new(p);
        // A plain low-pass at the same min cutoff, 30 Hz.
        let alpha = 1.0 / (1.0 + FPS / (2.0 * std::f64::consts::PI * p.min_cutoff));
        let mut lp = LowPass::new(alpha as f32);
        let (mut e, mut l, mut x) = (0.0, 0.0, 0.0);
        for i in 0..30 {
            x = 600.0 * t(i) as f32; // 600 px/s, a quick arm swing
            e = euro.apply(t(i), x, 1.0 / 600.0);
            l = lp.apply(x);
        }
        let (lag_e, lag_l) = (x - e, x - l);
        assert!(
            lag_e < 0.1 * lag_l,
            "one-euro lag {lag_e} px, low-pass {lag_l} px"
        );
        assert!(lag_e < 25.0, "one-euro lag {lag_e} px");
    }

    #[test]
    fn stale_timestamps_pass_input_through() {
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        let mut g = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        for i in 0..5 {
            f.apply(t(i), i as f32, 0.01);
            g.apply(t(i), i as f32, 0.01);
        }
        assert_eq!(f.apply(t(4), 99.0, 0.01), 99.0);
        assert_eq!(f.apply(t(2), -7.0, 0.01), -7.0);
        assert_eq!(f.apply(f64::NAN, 3.0, 0.01), 3.0);
        // Rejected samples left no trace.
        assert_eq!(f.apply(t(5), 5.0, 0.01), g.apply(t(5), 5.0, 0.01));
    }

    #[test]
    fn nan_value_does_not_poison_state() {
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_WORLD);
        f.apply(t(0), 1.0, 1.0);
        assert!(f.apply(t(1), f32::NAN, 1.0).is_nan());
        assert!(f.apply(t(2), f32::INFINITY, 1.0).is_infinite());
        let y = f.apply(t(3), 1.0, 1.0);
        assert_eq!(y, 1.0);
        assert!(f.apply(t(4), 2.0, f32::NAN) == 2.0);
        assert!(f.apply(t(5), 1.0, 1.0).is_finite());
    }

    #[test]
    fn bad_params_and_tiny_dt_stay_finite() {
        let mut f = OneEuroFilter::new(OneEuroParams {
            min_cutoff: 0.0,
            beta: f64::NAN,
            derivate_cutoff: -1.0,
        });
        f.apply(0.0, 1.0, 1.0);
        assert!(f.apply(1e-12, 1e30, 1e30).is_finite());
        assert!(f.apply(1e300, -1e30, 1.0).is_finite());
    }

    #[test]
    fn reset_restarts() {
        let mut f = OneEuroFilter::new(OneEuroParams::MEDIAPIPE_IMAGE);
        f.apply(t(0), 0.0, 0.01);
        f.apply(t(1), 0.0, 0.01);
        f.reset();
        assert_eq!(f.last_value(), None);
        // Earlier time accepted after reset, and passes through.
        assert_eq!(f.apply(t(0), 50.0, 0.01), 50.0);
    }

    #[test]
    fn low_pass_alpha() {
        let mut lp = LowPass::new(VISIBILITY_ALPHA);
        assert_eq!(lp.apply(1.0), 1.0);
        assert!((lp.apply(0.0) - 0.9).abs() < 1e-6);
        assert!((lp.apply(0.0) - 0.81).abs() < 1e-6);
        assert!(lp.apply(f32::NAN).is_nan());
        assert!((lp.apply(0.0) - 0.729).abs() < 1e-6);
        lp.reset();
        assert_eq!(lp.apply(0.3), 0.3);
    }

    #[test]
    fn visibility_weight_rule() {
        assert_eq!(visibility_weight(0.9), 1.0);
        assert_eq!(visibility_weight(0.5), 1.0);
        assert!((visibility_weight(0.25) - 0.5).abs() < 1e-6);
        assert_eq!(visibility_weight(0.01), MIN_VISIBILITY_WEIGHT);
        assert_eq!(visibility_weight(f32::NAN), MIN_VISIBILITY_WEIGHT);
    }

    #[test]
    fn pose_smoother_visibility_low_pass_and_first_frame() {
        let mut s = PoseSmoother::new();
        let p0 = pose(100.0, 200.0, 0.9);
        let o0 = s.apply(t(0), &p0, 500.0);
        assert_eq!(o0, p0, "first frame passes through");
        let o1 = s.apply(t(1), &pose(100.0, 200.0, 0.1), 500.0);
        assert!((o1.image[0].visibility - 0.82).abs() < 1e-5);
        assert_eq!(o1.image[0].presence, 0.9);
        assert_eq!(o1.presence, 0.95);
    }

    #[test]
    fn pose_smoother_equals_mediapipe_when_visible() {
        let mut a = PoseSmoother::new();
        let mut b = PoseSmoother::mediapipe_exact();
        let mut noise = Noise(7);
        for i in 0..40 {
            let p = pose(300.0 + 4.0 * noise.next(), 200.0 + 3.0 * i as f32, 0.8);
            assert_eq!(a.apply(t(i), &p, 700.0), b.apply(t(i), &p, 700.0));
        }
    }

    #[test]
    fn low_visibility_outlier_moves_output_less() {
        let run = |outlier_vis: f32| {
            let mut s = PoseSmoother::new();
            let mut out = None;
            for i in 0..30 {
                s.apply(t(i), &pose(400.0, 300.0, 0.95), 800.0);
            }
            let mut p = pose(400.0, 300.0, outlier_vis);
            p.image[5].x = 480.0; // an 80 px glitch on one landmark
            p.world[5].x = 0.48;
            out.replace(s.apply(t(30), &p, 800.0));
            out.unwrap()
        };
        let seen = run(0.95);
        let hidden = run(0.05);
        let d_seen = seen.image[5].x - 400.0;
        let d_hidden = hidden.image[5].x - 400.0;
        assert!(d_seen > 0.0 && d_hidden > 0.0);
        assert!(
            d_hidden < 0.2 * d_seen,
            "hidden {d_hidden} vs seen {d_seen}"
        );
        let w_seen = seen.world[5].x - 0.4;
        let w_hidden = hidden.world[5].x - 0.4;
        assert!(
            w_hidden < 0.2 * w_seen,
            "world: hidden {w_hidden} vs seen {w_seen}"
        );
        // Untouched landmarks stay put either way.
        assert_eq!(hidden.image[6].x, 400.0);
    }

    #[test]
    fn hidden_move_is_caught_up_once_visible_again() {
        let mut s = PoseSmoother::new();
        for i in 0..30 {
            s.apply(t(i), &pose(400.0, 300.0, 0.95), 800.0);
        }
        // The model guesses a new place for 1 s while it cannot see: no
        // yank (a visible landmark gets ~90 % of the way in the first
        // frame), only a drift with a time constant of about half a second.
        let mut trace = Vec::new();
        for i in 30..60 {
            trace.push(s.apply(t(i), &pose(500.0, 300.0, 0.05), 800.0).image[0].x);
        }
        assert!(trace[0] < 410.0 && trace[4] < 430.0, "yanked: {trace:?}");
        // Seen again: trust returns over ~6 frames (visibility low-pass),
        // then the jump in input drives the one-euro derivative term.
        let mut trace = Vec::new();
        for i in 60..80 {
            trace.push(s.apply(t(i), &pose(500.0, 300.0, 0.95), 800.0).image[0].x);
        }
        assert!(
            (trace[14] - 500.0).abs() < 2.0,
            "catch-up too slow: {trace:?}"
        );
    }

    #[test]
    fn pose_smoother_tiny_object_scale_and_reset() {
        let mut s = PoseSmoother::new();
        s.apply(t(0), &pose(100.0, 100.0, 0.9), 500.0);
        let p = pose(200.0, 100.0, 0.9);
        for scale in [0.0, -3.0, f32::NAN, f32::INFINITY] {
            let o = s.apply(t(1), &p, scale);
            assert_eq!(o.image[0].x, 200.0, "scale {scale}");
        }
        s.reset();
        let p = pose(10.0, 20.0, 0.3);
        assert_eq!(s.apply(t(0), &p, 500.0), p);
    }

    #[test]
    fn pose_smoother_survives_nan() {
        let mut s = PoseSmoother::new();
        s.apply(t(0), &pose(100.0, 100.0, 0.9), 500.0);
        let mut bad = pose(f32::NAN, 100.0, f32::NAN);
        bad.world[3] = Vec3::NAN;
        s.apply(t(1), &bad, 500.0);
        let o = s.apply(t(2), &pose(101.0, 100.0, 0.9), 500.0);
        for lm in o.image {
            assert!(lm.x.is_finite() && lm.y.is_finite() && lm.visibility.is_finite());
        }
        assert!(o.world.iter().all(|p| p.is_finite()));
    }

    #[test]
    fn vec3_smoother() {
        let mut s = Vec3Smoother::default();
        let v = Vec3::new(0.1, -0.2, 3.0);
        assert_eq!(s.apply(t(0), v), v);
        assert_eq!(s.apply(t(1), v), v);
        // ±2 cm of depth noise on a still root: cut more than 3×.
        let mut noise = Noise(99);
        let (mut raw, mut out) = (Vec::new(), Vec::new());
        for i in 2..600 {
            let z = 3.0 + 0.02 * noise.next();
            let o = s.apply(t(i), Vec3::new(0.1, -0.2, z));
            assert_eq!((o.x, o.y), (0.1, -0.2));
            if i >= 30 {
                raw.push(z);
                out.push(o.z);
            }
        }
        let ratio = std_dev(&raw) / std_dev(&out);
        assert!(ratio > 3.0, "{ratio}");
        s.reset();
        assert_eq!(s.apply(t(0), Vec3::ONE), Vec3::ONE);
    }

    #[test]
    fn vec3_smoother_walking_lag() {
        // 1.4 m/s walk: the root may trail by a few centimetres, not more.
        let mut s = Vec3Smoother::default();
        let mut lag = 0.0;
        for i in 0..90 {
            let x = 1.4 * t(i) as f32;
            lag = x - s.apply(t(i), Vec3::new(x, 0.0, 3.0)).x;
        }
        assert!(lag > 0.0 && lag < 0.1, "{lag}");
    }
}
