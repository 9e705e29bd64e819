//! Zero-phase smoothing of whole tracks.
//!
//! The solve sees the whole clip, so it can smooth without the lag of a
//! causal filter: each value becomes the Gaussian-weighted mean of its
//! neighbours on both sides. Runs are smoothed separately (a loss is a
//! boundary, never averaged across), and near a run's ends the window is
//! truncated and renormalised, so the ends are not pulled towards zero.

use glam::Vec3;

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
