//! Zero-phase smoothing of whole tracks.
//!
//! The solve sees the whole clip, so it can smooth without the lag of a
//! causal filter: each value becomes the Gaussian-weighted mean of its
//! neighbours on both sides. Runs are smoothed separately (a loss is a
//! boundary, never averaged across), and near a run's ends the window is
//! truncated and renormalised, so the ends are not pulled towards zero.

use glam::{Quat, Vec3};

/// Gaussian weights for `sigma` frames, out to three sigmas.
fn kernel(sigma: f32) -> Vec<f32> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return vec![1.0];
    }
    let radius = (3.0 * sigma).ceil() as usize;
    (0..=radius)
        .map(|k| (-(k as f32).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect()
}

/// Smooths `values` in place with a Gaussian of `sigma` frames, each run of
/// `Some` on its own.
pub fn gaussian_runs<T: Copy>(
    values: &mut [Option<T>],
    sigma: f32,
    mut combine: impl FnMut(&[(f32, T)]) -> T,
) {
    let k = kernel(sigma);
    let radius = k.len() - 1;
    let mut start = 0;
    while start < values.len() {
        if values[start].is_none() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < values.len() && values[end].is_some() {
            end += 1;
        }
        let run: Vec<T> = values[start..end].iter().flatten().copied().collect();
        let mut window = Vec::with_capacity(2 * radius + 1);
        for i in 0..run.len() {
            window.clear();
            let lo = i.saturating_sub(radius);
            let hi = (i + radius).min(run.len() - 1);
            for (j, v) in run.iter().enumerate().take(hi + 1).skip(lo) {
                window.push((k[i.abs_diff(j)], *v));
            }
            values[start + i] = Some(combine(&window));
        }
        start = end;
    }
}

/// Weighted mean of points (weights need not sum to one).
pub fn mean_vec3(window: &[(f32, Vec3)]) -> Vec3 {
    let (sum, w) = window
        .iter()
        .fold((Vec3::ZERO, 0.0), |(s, w), (k, v)| (s + *v * *k, w + k));
    sum / w
}

/// Smooths a track of points (see [`gaussian_runs`]).
pub fn gaussian_vec3(values: &mut [Option<Vec3>], sigma: f32) {
    gaussian_runs(values, sigma, mean_vec3);
}

/// Smooths a track of joint rotations (one `Vec` of local rotations per
/// frame), each joint on its own: the normalised weighted sum, each
/// neighbour first put in the same hemisphere as the frame's own (`q` and
/// `-q` are one rotation). Close rotations, as neighbouring frames' are,
/// average well this way.
pub fn gaussian_quats(values: &mut [Option<Vec<Quat>>], sigma: f32) {
    let joints = values.iter().flatten().map(Vec::len).max().unwrap_or(0);
    for j in 0..joints {
        let mut track: Vec<Option<Quat>> = values
            .iter()
            .map(|v| v.as_ref().and_then(|v| v.get(j).copied()))
            .collect();
        gaussian_runs(&mut track, sigma, |window| {
            // The run's own value sits at the window's largest weight.
            let own = window
                .iter()
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map_or(Quat::IDENTITY, |w| w.1);
            let sum = window.iter().fold(glam::Vec4::ZERO, |s, (k, q)| {
                let q = if q.dot(own) < 0.0 { -*q } else { *q };
                s + glam::Vec4::from(q) * *k
            });
            Quat::from_vec4(sum).normalize()
        });
        for (v, q) in values.iter_mut().zip(track) {
            if let (Some(v), Some(q)) = (v.as_mut(), q) {
                if let Some(slot) = v.get_mut(j) {
                    *slot = q;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_stay_lines_and_noise_shrinks() {
        let mut line: Vec<Option<Vec3>> = (0..20).map(|i| Some(Vec3::splat(i as f32))).collect();
        let before = line.clone();
        gaussian_vec3(&mut line, 2.0);
        // Interior points of a straight line do not move.
        for i in 6..14 {
            assert!((line[i].unwrap() - before[i].unwrap()).length() < 1e-4);
        }
        let mut noisy: Vec<Option<Vec3>> = (0..40)
            .map(|i| Some(Vec3::X * if i % 2 == 0 { 0.01 } else { -0.01 }))
            .collect();
        gaussian_vec3(&mut noisy, 2.0);
        assert!(noisy[10..30].iter().all(|v| v.unwrap().x.abs() < 1e-4));
    }

    /// Rotations that wobble about a turn come back close to it, and a
    /// neighbour stored as `-q` does not cancel its frame.
    #[test]
    fn rotations_average_across_the_double_cover() {
        let base = Quat::from_rotation_y(0.7);
        let mut track: Vec<Option<Vec<Quat>>> = (0..30)
            .map(|i| {
                let wobble = Quat::from_rotation_x(if i % 2 == 0 { 0.05 } else { -0.05 });
                let q = base * wobble;
                Some(vec![if i % 3 == 0 { -q } else { q }])
            })
            .collect();
        gaussian_quats(&mut track, 1.5);
        for v in &track[5..25] {
            assert!(v.as_ref().unwrap()[0].angle_between(base) < 0.01);
        }
    }

    #[test]
    fn losses_are_boundaries() {
        let mut v = vec![Some(Vec3::ZERO), Some(Vec3::ZERO), None, Some(Vec3::ONE)];
        gaussian_vec3(&mut v, 3.0);
        assert_eq!(
            v,
            vec![Some(Vec3::ZERO), Some(Vec3::ZERO), None, Some(Vec3::ONE)]
        );
    }
}
