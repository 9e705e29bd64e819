//! The root trajectory in camera space, robust and continuous.
//!
//! Each frame's hips come from fitting the solved skeleton (its known size)
//! to the frame's 2D landmarks ([`super::lift::solve_translation`]). Single
//! frames go wrong — a bad pose fits at the wrong depth — and depth is the
//! noisiest axis by far (a few pixels of size error are tens of centimetres
//! of depth). So: frames far from the median of their neighbours are
//! dropped, the rest smoothed without lag (depth more strongly), every
//! frame without a value bridged by a smooth transition (never held and then
//! jumped), and no step is allowed faster than a person moves.

use glam::Vec3;

use super::smooth::{gaussian_runs, mean_vec3};

/// Tuning of [`trajectory`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RootParams {
    /// Neighbours on each side whose median a frame is checked against.
    pub median_radius: usize,
    /// A frame further than this from that median (metres, plus
    /// `outlier_depth_fraction` of its depth) is dropped.
    pub outlier_m: f32,
    pub outlier_depth_fraction: f32,
    /// Gaussian smoothing, frames: across the image and in depth.
    pub sigma_lateral: f32,
    pub sigma_depth: f32,
    /// Fastest the hips may move (m/s): a fall.
    pub max_speed_mps: f32,
    /// Fastest they may move across the ground (m/s): a run. Depth from
    /// one camera is worst on a curled-up body (walk_outdoor's man in his
    /// fall read 3.5 m nearer within 12 frames), and only falling is faster.
    pub max_ground_speed_mps: f32,
}

impl Default for RootParams {
    fn default() -> Self {
        RootParams {
            median_radius: 4,
            outlier_m: 0.25,
            outlier_depth_fraction: 0.08,
            sigma_lateral: 1.5,
            sigma_depth: 3.0,
            max_speed_mps: 9.0,
            max_ground_speed_mps: 6.0,
        }
    }
}

/// A value for every frame of `raw` (camera space, metres), or `None` when
/// no frame has one. `times` are the frames' seconds.
pub fn trajectory(raw: &[Option<Vec3>], times: &[f64], p: &RootParams) -> Option<Vec<Vec3>> {
    let mut kept = reject_outliers(raw, p);
    if kept.iter().all(Option::is_none) {
        kept = raw.to_vec();
    }
    let mut lateral = kept.clone();
    gaussian_runs(&mut lateral, p.sigma_lateral, mean_vec3);
    let mut depth = kept;
    gaussian_runs(&mut depth, p.sigma_depth, mean_vec3);
    let smoothed: Vec<Option<Vec3>> = lateral
        .iter()
        .zip(&depth)
        .map(|(l, d)| match (l, d) {
            (Some(l), Some(d)) => Some(Vec3::new(l.x, l.y, d.z)),
            _ => None,
        })
        .collect();
    let mut full = bridge(&smoothed)?;
    limit_speed(&mut full, times, p.max_speed_mps, p.max_ground_speed_mps);
    Some(full)
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// `raw` without the frames far from their neighbours' median.
fn reject_outliers(raw: &[Option<Vec3>], p: &RootParams) -> Vec<Option<Vec3>> {
    let valid: Vec<(usize, Vec3)> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)))
        .collect();
    let mut out = vec![None; raw.len()];
    for (j, &(i, v)) in valid.iter().enumerate() {
        let lo = j.saturating_sub(p.median_radius);
        let hi = (j + p.median_radius).min(valid.len() - 1);
        let around = &valid[lo..=hi];
        let m = Vec3::new(
            median(around.iter().map(|(_, v)| v.x).collect()),
            median(around.iter().map(|(_, v)| v.y).collect()),
            median(around.iter().map(|(_, v)| v.z).collect()),
        );
        if (v - m).length() <= p.outlier_m + p.outlier_depth_fraction * m.z.abs() {
            out[i] = Some(v);
        }
    }
    out
}

/// 3x² − 2x³ on [0, 1]: starts and ends with zero slope.
pub fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Frames either side of a loss whose mean velocity its bridge keeps.
const BRIDGE_VELOCITY_FRAMES: usize = 5;

/// Mean step per frame over the run of up to [`BRIDGE_VELOCITY_FRAMES`]
/// values that ends at `end` (`before`) or starts there (after).
fn run_velocity(values: &[Option<Vec3>], end: usize, before: bool) -> Vec3 {
    let mut far = end;
    for _ in 0..BRIDGE_VELOCITY_FRAMES {
        let next = if before {
            far.checked_sub(1)
        } else {
            Some(far + 1).filter(|&k| k < values.len())
        };
        match next {
            Some(k) if values[k].is_some() => far = k,
            _ => break,
        }
    }
    match (values[end], values[far]) {
        (Some(a), Some(b)) if far != end => (a - b) / (end as f32 - far as f32),
        _ => Vec3::ZERO,
    }
}

/// Every frame a value: interior losses by a cubic Hermite from the last
/// value to the next that leaves and arrives at the velocities either side
/// (someone walking through a loss keeps walking; someone standing still
/// either side gets a smoothstep), leading and trailing ones by the nearest
/// value.
pub fn bridge(values: &[Option<Vec3>]) -> Option<Vec<Vec3>> {
    let first = values.iter().position(Option::is_some)?;
    let last = values.iter().rposition(Option::is_some)?;
    let mut out = vec![Vec3::ZERO; values.len()];
    let mut prev = first;
    for i in 0..values.len() {
        out[i] = match values[i] {
            Some(v) => {
                prev = i;
                v
            }
            None if i < first => values[first]?,
            None if i > last => values[last]?,
            None => {
                let next = (i..=last).find(|&k| values[k].is_some())?;
                let span = (next - prev) as f32;
                let s = (i - prev) as f32 / span;
                let (s2, s3) = (s * s, s * s * s);
                let v0 = run_velocity(values, prev, true) * span;
                let v1 = run_velocity(values, next, false) * span;
                values[prev]? * (2.0 * s3 - 3.0 * s2 + 1.0)
                    + v0 * (s3 - 2.0 * s2 + s)
                    + values[next]? * (3.0 * s2 - 2.0 * s3)
                    + v1 * (s3 - s2)
            }
        };
    }
    Some(out)
}

/// Caps every step at `max_speed` times the frame's duration, and its part
/// across the ground (camera x and z) at `max_ground_speed`, carrying the
/// excess to later frames (the trajectory catches up instead of jumping).
fn limit_speed(values: &mut [Vec3], times: &[f64], max_speed: f32, max_ground_speed: f32) {
    for i in 1..values.len().min(times.len()) {
        let dt = (times[i] - times[i - 1]) as f32;
        if !(dt.is_finite() && dt > 0.0) {
            continue;
        }
        let mut step = values[i] - values[i - 1];
        let ground = Vec3::new(step.x, 0.0, step.z);
        if ground.length() > max_ground_speed * dt {
            let capped = ground.normalize() * max_ground_speed * dt;
            step = Vec3::new(capped.x, step.y, capped.z);
        }
        if step.length() > max_speed * dt {
            step = step.normalize() * max_speed * dt;
        }
        values[i] = values[i - 1] + step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 / 30.0).collect()
    }

    #[test]
    fn a_teleporting_frame_is_ignored_and_losses_are_bridged() {
        let n = 60;
        let mut raw: Vec<Option<Vec3>> = (0..n)
            .map(|i| Some(Vec3::new(0.02 * i as f32, 0.0, 4.0)))
            .collect();
        raw[10] = Some(Vec3::new(0.2, 0.0, 7.0));
        for v in &mut raw[30..45] {
            *v = None;
        }
        let root = trajectory(&raw, &times(n), &RootParams::default()).unwrap();
        assert!((root[10].z - 4.0).abs() < 0.01, "{}", root[10]);
        for w in root.windows(2) {
            assert!((w[1] - w[0]).length() < 0.05, "{} -> {}", w[0], w[1]);
        }
        assert!(trajectory(&[None, None], &times(2), &RootParams::default()).is_none());
    }

    #[test]
    fn a_walk_keeps_its_pace_through_a_loss_and_a_stand_eases_in_and_out() {
        let walk: Vec<Option<Vec3>> = (0..30)
            .map(|i| (!(10..20).contains(&i)).then(|| Vec3::new(0.03 * i as f32, 0.0, 4.0)))
            .collect();
        let out = bridge(&walk).unwrap();
        for (i, p) in out.iter().enumerate() {
            assert!((p.x - 0.03 * i as f32).abs() < 1e-5, "frame {i}: {p}");
        }
        // Still before, still after: starts and ends at rest.
        let mut stand = vec![Some(Vec3::ZERO); 5];
        stand.extend([None; 9]);
        stand.extend(vec![Some(Vec3::X); 5]);
        let out = bridge(&stand).unwrap();
        assert!(out[5].x < 0.05 && out[13].x > 0.95, "{out:?}");
        assert!((out[9].x - 0.5).abs() < 1e-5);
        assert!(out.windows(2).all(|w| w[1].x >= w[0].x));
    }

    #[test]
    fn speed_is_capped() {
        let mut v = vec![Vec3::ZERO, Vec3::Y * 5.0, Vec3::Y * 5.0];
        limit_speed(&mut v, &times(3), 9.0, 6.0);
        assert!((v[1].y - 0.3).abs() < 1e-5);
        assert!((v[2].y - 0.6).abs() < 1e-5);
        // Across the ground, a run's pace; falling keeps its own.
        let mut v = vec![Vec3::ZERO, Vec3::new(5.0, 0.1, 0.0)];
        limit_speed(&mut v, &times(2), 9.0, 6.0);
        assert!(
            (v[1].x - 0.2).abs() < 1e-5 && (v[1].y - 0.1).abs() < 1e-5,
            "{}",
            v[1]
        );
    }
}
