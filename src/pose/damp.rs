//! Damping the crop that one frame's landmarks hand to the next.
//!
//! Tracking feeds the landmark model's auxiliary landmarks back as the next
//! crop, and the model is very sensitive to its crop (BLAZEPOSE.md §9: half
//! a pixel moves the landmarks by about a pixel). Left undamped, input
//! differences under one code value (CPU against GPU sampling) grow into
//! tens of pixels within a second. MediaPipe's legacy graph smooths the
//! auxiliary landmarks with a one-euro filter (min cutoff 0.01 Hz, beta 10,
//! derivative cutoff 1 Hz) before building the crop; this does the same,
//! with the speed measured in crop sizes per second, so a still person's
//! crop holds still while a fast one's follows with little lag.

use glam::Vec2;

use super::roi::Roi;
use crate::one_euro::{OneEuroFilter, OneEuroParams};

/// MediaPipe's legacy auxiliary-landmark smoothing.
pub const AUX_SMOOTHING: OneEuroParams = OneEuroParams {
    min_cutoff: 0.01,
    beta: 10.0,
    derivate_cutoff: 1.0,
};

/// One track's damped auxiliary landmarks (centre and scale point, x and y).
#[derive(Clone, Debug)]
pub struct RoiDamper {
    filters: [OneEuroFilter; 4],
}

impl Default for RoiDamper {
    fn default() -> Self {
        RoiDamper {
            filters: std::array::from_fn(|_| OneEuroFilter::new(AUX_SMOOTHING)),
        }
    }
}

impl RoiDamper {
    /// The next frame's crop from this frame's auxiliary landmarks (frame
    /// pixels) at `time_s`; `None` when they give no crop.
    pub fn next_roi(&mut self, time_s: f64, aux: [Vec2; 2]) -> Option<Roi> {
        let raw = Roi::from_points(aux[0], aux[1])?;
        let scale = 1.0 / raw.size.max(1.0);
        let values = [aux[0].x, aux[0].y, aux[1].x, aux[1].y];
        let mut out = [0.0; 4];
        for ((f, v), o) in self.filters.iter_mut().zip(values).zip(&mut out) {
            *o = f.apply(time_s, v, scale);
        }
        Roi::from_points(Vec2::new(out[0], out[1]), Vec2::new(out[2], out[3]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_still_crop_stays_still_under_tiny_input_changes() {
        let mut d = RoiDamper::default();
        let mut last = None;
        for i in 0..60 {
            // ±0.4 px of noise on a still person.
            let wobble = if i % 2 == 0 { 0.4 } else { -0.4 };
            let aux = [
                Vec2::new(500.0 + wobble, 400.0),
                Vec2::new(500.0, 300.0 - wobble),
            ];
            last = d.next_roi(i as f64 / 30.0, aux);
        }
        // Measured: the ±0.4 px input wobble comes out as ±0.09 px, the
        // ±1 px size wobble as ±0.22 px (undamped, both pass straight on).
        let roi = last.unwrap();
        assert!((roi.cx - 500.0).abs() < 0.15, "{roi:?}");
        assert!((roi.size - 250.0).abs() < 0.4, "{roi:?}");
    }

    #[test]
    fn a_fast_move_is_followed_within_a_few_frames() {
        let mut d = RoiDamper::default();
        let mut roi = None;
        for i in 0..30 {
            // 10 px per frame, a running pace for a 250 px crop.
            let x = 500.0 + 10.0 * i as f32;
            roi = d.next_roi(i as f64 / 30.0, [Vec2::new(x, 400.0), Vec2::new(x, 300.0)]);
        }
        let lag = 500.0 + 290.0 - roi.unwrap().cx;
        assert!(lag < 25.0, "lags {lag} px");
    }
}
