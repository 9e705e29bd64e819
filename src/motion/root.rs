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
    /// Fastest the hips may move (m/s): a sprint or a fall.
    pub max_speed_mps: f32,
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
    limit_speed(&mut full, times, p.max_speed_mps);
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

/// 3x² − 2x³ on [0, 1].
pub fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Every frame a value: interior losses by a smoothstep from the last value
/// to the next (continuous, starting and ending at rest relative to the
/// ends), leading and trailing ones by the nearest value.
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
                let s = (i - prev) as f32 / (next - prev) as f32;
                values[prev]?.lerp(values[next]?, smoothstep(s))
            }
        };
    }
    Some(out)
}

/// Caps every step at `max_speed` times the frame's duration, carrying the
/// excess to later frames (the trajectory catches up instead of jumping).
fn limit_speed(values: &mut [Vec3], times: &[f64], max_speed: f32) {
    for i in 1..values.len().min(times.len()) {
        let dt = (times[i] - times[i - 1]) as f32;
        if !(dt.is_finite() && dt > 0.0) {
            continue;
        }
        let step = values[i] - values[i - 1];
        let max = max_speed * dt;
        if step.length() > max {
            values[i] = values[i - 1] + step.normalize() * max;
        }
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
    fn speed_is_capped() {
        let mut v = vec![Vec3::ZERO, Vec3::X * 5.0, Vec3::X * 5.0];
        limit_speed(&mut v, &times(3), 9.0);
        assert!((v[1].x - 0.3).abs() < 1e-5);
        assert!((v[2].x - 0.6).abs() < 1e-5);
    }
}
