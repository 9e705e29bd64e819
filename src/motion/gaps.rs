//! Short-loss repair: bridges brief runs of frames without a pose by linear
//! interpolation in time.
//!
//! The tracker loses the person for a frame or two now and then (motion
//! blur, a passing occluder). Leaving those frames empty makes the animation
//! pop or the smoothers reset, so a gap bounded on both sides by a pose is
//! filled, provided it is short: over a long gap the person may have done
//! anything, and a straight line would be an invention.
//!
//! Rules, shared by every variant:
//! - a gap is a run of `None` with a value on both sides; leading and
//!   trailing runs are left alone (nothing to interpolate towards);
//! - its length is the time between the two bounding frames,
//!   `times[next] − times[prev]`, i.e. the span over which motion is made
//!   up; it is filled only if that is at most `max_gap_s` (at 30 fps and
//!   `max_gap_s = 0.5`, up to 14 missing frames);
//! - a frame at time t gets `lerp(prev, next, (t − t_prev)/(t_next − t_prev))`
//!   with the fraction clamped to [0, 1];
//! - if `times` is shorter than `frames`, only the frames that have a time
//!   are considered; non-finite or non-increasing bounding times mean the
//!   gap is left alone.

use glam::Vec3;

use crate::pose::{ImageLandmark, PoseObservation};

/// Fills short gaps in a pose track (see the module rules). Image and world
/// landmarks are interpolated linearly; visibility and presence, per
/// landmark and for the pose, are the minimum of the two ends, since an
/// invented pose should be trusted no more than the weaker of its sources.
/// Returns the number of frames filled.
pub fn fill_gaps(frames: &mut [Option<PoseObservation>], times: &[f64], max_gap_s: f64) -> usize {
    fill_gaps_by(frames, times, max_gap_s, lerp_pose)
}

/// Fills short gaps in a root trajectory (see the module rules). Returns the
/// number of frames filled.
pub fn fill_gaps_vec3(values: &mut [Option<Vec3>], times: &[f64], max_gap_s: f64) -> usize {
    fill_gaps_by(values, times, max_gap_s, |a, b, s| a.lerp(*b, s))
}

/// The generic form: fills short gaps of any track with `lerp(a, b, s)`,
/// `s` in [0, 1] from `a` to `b`. Returns the number of frames filled.
pub fn fill_gaps_by<T>(
    frames: &mut [Option<T>],
    times: &[f64],
    max_gap_s: f64,
    mut lerp: impl FnMut(&T, &T, f32) -> T,
) -> usize {
    let n = frames.len().min(times.len());
    // NaN or negative limits fill nothing (every comparison below fails).
    let mut filled = 0;
    let mut prev: Option<usize> = None;
    for i in 0..n {
        if frames[i].is_none() {
            continue;
        }
        if let Some(p) = prev {
            if i > p + 1 {
                filled += fill_one_gap(frames, times, p, i, max_gap_s, &mut lerp);
            }
        }
        prev = Some(i);
    }
    filled
}

/// Fills `frames[a+1..b]` from `frames[a]` and `frames[b]` if the gap is
/// short enough; returns how many frames were filled.
fn fill_one_gap<T>(
    frames: &mut [Option<T>],
    times: &[f64],
    a: usize,
    b: usize,
    max_gap_s: f64,
    lerp: &mut impl FnMut(&T, &T, f32) -> T,
) -> usize {
    let (ta, tb) = (times[a], times[b]);
    let span = tb - ta;
    // `!(span <= max)` also rejects NaN.
    if !(span > 0.0 && span.is_finite() && span <= max_gap_s) {
        return 0;
    }
    let (head, tail) = frames.split_at_mut(b);
    let (before, gap) = head.split_at_mut(a + 1);
    let (Some(start), Some(end)) = (before[a].as_ref(), tail[0].as_ref()) else {
        return 0;
    };
    for (k, slot) in gap.iter_mut().enumerate() {
        let t = times[a + 1 + k];
        // A NaN time inside the gap falls back to the midpoint.
        let s = if t.is_finite() {
            ((t - ta) / span).clamp(0.0, 1.0)
        } else {
            0.5
        };
        *slot = Some(lerp(start, end, s as f32));
    }
    b - a - 1
}

/// Linear blend of two poses, confidences taken as the smaller end.
fn lerp_pose(a: &PoseObservation, b: &PoseObservation, s: f32) -> PoseObservation {
    let lerp = |x: f32, y: f32| x + (y - x) * s;
    let image = std::array::from_fn(|i| {
        let (p, q) = (&a.image[i], &b.image[i]);
        ImageLandmark {
            x: lerp(p.x, q.x),
            y: lerp(p.y, q.y),
            z: lerp(p.z, q.z),
            visibility: p.visibility.min(q.visibility),
            presence: p.presence.min(q.presence),
        }
    });
    let world = std::array::from_fn(|i| a.world[i].lerp(b.world[i], s));
    PoseObservation {
        image,
        world,
        presence: a.presence.min(b.presence),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::NUM_LANDMARKS;

    fn times(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 / 30.0).collect()
    }

    /// A pose whose every coordinate is a simple function of `k`.
    fn pose(k: f32, vis: f32) -> PoseObservation {
        PoseObservation {
            image: std::array::from_fn(|i| ImageLandmark {
                x: 100.0 + 10.0 * k + i as f32,
                y: 200.0 - 5.0 * k,
                z: k,
                visibility: vis,
                presence: vis + 0.05,
            }),
            world: std::array::from_fn(|i| Vec3::new(0.1 * k, -0.01 * i as f32, 0.02 * k)),
            presence: vis,
        }
    }

    #[test]
    fn short_gap_gets_exact_linear_values() {
        let mut frames = vec![Some(pose(0.0, 0.9)), None, None, None, Some(pose(4.0, 0.6))];
        let n = fill_gaps(&mut frames, &times(5), 0.5);
        assert_eq!(n, 3);
        for (k, f) in frames.iter().enumerate() {
            let f = f.as_ref().unwrap();
            let e = pose(k as f32, 0.6);
            for i in 0..NUM_LANDMARKS {
                assert!((f.image[i].x - e.image[i].x).abs() < 1e-4);
                assert!((f.image[i].y - e.image[i].y).abs() < 1e-4);
                assert!((f.image[i].z - e.image[i].z).abs() < 1e-5);
                assert!((f.world[i] - e.world[i]).length() < 1e-6);
            }
            if k > 0 && k < 4 {
                assert_eq!(f.image[7].visibility, 0.6);
                assert!((f.image[7].presence - 0.65).abs() < 1e-6);
                assert_eq!(f.presence, 0.6);
            }
        }
    }

    #[test]
    fn uses_real_times_not_indices() {
        let mut v = vec![Some(Vec3::ZERO), None, Some(Vec3::X)];
        // The middle frame is 3/4 of the way in time.
        let n = fill_gaps_vec3(&mut v, &[0.0, 0.075, 0.1], 0.5);
        assert_eq!(n, 1);
        assert!((v[1].unwrap() - Vec3::new(0.75, 0.0, 0.0)).length() < 1e-6);
    }

    #[test]
    fn long_gap_untouched() {
        let mut frames: Vec<Option<PoseObservation>> = vec![None; 40];
        frames[0] = Some(pose(0.0, 0.9));
        frames[39] = Some(pose(1.0, 0.9));
        // 39 frames at 30 fps = 1.3 s > 0.5 s.
        assert_eq!(fill_gaps(&mut frames, &times(40), 0.5), 0);
        assert!(frames[1..39].iter().all(Option::is_none));
        // The limit is inclusive on the bounding-frame span.
        let mut v = vec![Some(Vec3::ZERO), None, None, Some(Vec3::ONE)];
        assert_eq!(fill_gaps_vec3(&mut v, &[0.0, 0.25, 0.5, 0.75], 0.74), 0);
        assert_eq!(fill_gaps_vec3(&mut v, &[0.0, 0.25, 0.5, 0.75], 0.75), 2);
    }

    #[test]
    fn leading_and_trailing_none_untouched() {
        let mut v = vec![None, None, Some(Vec3::ONE), None, Some(Vec3::ZERO), None];
        assert_eq!(fill_gaps_vec3(&mut v, &times(6), 0.5), 1);
        assert!(v[0].is_none() && v[1].is_none() && v[5].is_none());
        assert!((v[3].unwrap() - Vec3::splat(0.5)).length() < 1e-6);
    }

    #[test]
    fn several_gaps_counted() {
        let mut v = vec![
            Some(Vec3::ZERO),
            None,
            Some(Vec3::ONE),
            None,
            None,
            Some(Vec3::ZERO),
        ];
        assert_eq!(fill_gaps_vec3(&mut v, &times(6), 0.5), 3);
        assert!(v.iter().all(Option::is_some));
    }

    #[test]
    fn degenerate_inputs() {
        let mut empty: Vec<Option<Vec3>> = Vec::new();
        assert_eq!(fill_gaps_vec3(&mut empty, &[], 1.0), 0);
        let mut v = vec![Some(Vec3::ZERO), None, Some(Vec3::ONE)];
        // Times too short: the last frame has no time, nothing bounds the gap.
        assert_eq!(fill_gaps_vec3(&mut v, &[0.0, 0.1], 1.0), 0);
        // NaN, reversed or equal bounding times, NaN limit.
        assert_eq!(fill_gaps_vec3(&mut v, &[f64::NAN, 0.1, 0.2], 1.0), 0);
        assert_eq!(fill_gaps_vec3(&mut v, &[0.2, 0.1, 0.0], 1.0), 0);
        assert_eq!(fill_gaps_vec3(&mut v, &[0.1, 0.1, 0.1], 1.0), 0);
        assert_eq!(fill_gaps_vec3(&mut v, &[0.0, 0.1, 0.2], f64::NAN), 0);
        assert!(v[1].is_none());
        // NaN time inside the gap: midpoint, no panic.
        assert_eq!(fill_gaps_vec3(&mut v, &[0.0, f64::NAN, 0.2], 1.0), 1);
        assert!((v[1].unwrap() - Vec3::splat(0.5)).length() < 1e-6);
    }
}
