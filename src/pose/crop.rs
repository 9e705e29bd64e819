//! Model inputs sampled straight from the YUV frame: the detector's
//! letterboxed square and the landmark model's rotated crop.
//!
//! Both follow MediaPipe's ImageToTensorCalculator: output pixel (u, v) of an
//! N×N tensor samples the frame at `c + R(θ)·((u/N − ½)·w, (v/N − ½)·h)`
//! bilinearly, then maps 0…255 linearly to the model's range. This is the
//! CPU path (and the reference twin for a GPU kernel); the per-pixel
//! sampling lives in [`crate::video::sample`].

use glam::Vec2;

use super::roi::Roi;
use crate::video::sample::RowSampler;
pub use crate::video::sample::ValueRange;
use crate::video::Frame;

/// What a sample outside the frame becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Border {
    /// Pixel value 0 (the detector's letterbox padding).
    Zero,
    /// The nearest edge pixel (the landmark crop).
    Replicate,
}

/// The detector's input range, [-1, 1].
pub const DETECTOR_RANGE: ValueRange = ValueRange {
    scale: 1.0 / 127.5,
    offset: -1.0,
};

/// The landmark model's input range, [0, 1].
pub const LANDMARK_RANGE: ValueRange = ValueRange {
    scale: 1.0 / 255.0,
    offset: 0.0,
};

/// Where an `n`×`n` crop of a rotated square samples the upright frame:
/// tensor pixel (u, v) reads `origin + u·du + v·dv`. Shared by the CPU
/// sampler and the GPU kernel so both walk the same points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropGeometry {
    pub origin: Vec2,
    pub du: Vec2,
    pub dv: Vec2,
    pub n: usize,
}

impl CropGeometry {
    pub fn new(roi: &Roi, n: usize) -> CropGeometry {
        let (s, c) = roi.rotation.sin_cos();
        let step = roi.size / n as f32;
        let half = -0.5 * roi.size;
        CropGeometry {
            origin: Vec2::new(roi.cx + c * half - s * half, roi.cy + s * half + c * half),
            du: Vec2::new(c * step, s * step),
            dv: Vec2::new(-s * step, c * step),
            n,
        }
    }
}

/// One model input to sample: where, with which border rule and range.
/// The CPU path ([`CropRequest::sample_cpu`]) and the GPU kernel
/// (`gpu::GpuCrops`, shaders/crop.wgsl) take the same requests.
#[derive(Clone, Copy, Debug)]
pub struct CropRequest {
    pub geometry: CropGeometry,
    pub border: Border,
    pub range: ValueRange,
}

impl CropRequest {
    /// The landmark model's input for `roi`.
    pub fn landmark(roi: &Roi, n: usize) -> CropRequest {
        CropRequest {
            geometry: CropGeometry::new(roi, n),
            border: Border::Replicate,
            range: LANDMARK_RANGE,
        }
    }

    /// The detector's letterboxed input, and where the picture sits in it.
    pub fn letterbox(frame: &Frame, n: usize) -> (CropRequest, Letterbox) {
        let (roi, letterbox) = letterbox_roi(frame);
        let request = CropRequest {
            geometry: CropGeometry::new(&roi, n),
            border: Border::Zero,
            range: DETECTOR_RANGE,
        };
        (request, letterbox)
    }

    /// Values in the tensor: n·n·3.
    pub fn len(&self) -> usize {
        self.geometry.n * self.geometry.n * 3
    }

    pub fn is_empty(&self) -> bool {
        self.geometry.n == 0
    }

    /// The CPU twin of the GPU kernel: fills `out` (n·n·3 NHWC values).
    pub fn sample_cpu(&self, frame: &Frame, out: &mut [f32]) {
        assert_eq!(
            out.len(),
            self.len(),
            "output buffer must hold n·n·3 values"
        );
        let g = &self.geometry;
        let sampler = RowSampler::new(frame, self.range);
        let outside = (self.border == Border::Zero).then_some(self.range.offset);
        // The inner loop steps along a row instead of rotating every pixel.
        let mut row_start = g.origin;
        for row in out.chunks_exact_mut(g.n * 3) {
            sampler.row(row_start, g.du, outside, row);
            row_start += g.dv;
        }
    }
}

/// Samples the rotated square `roi` into an `n`×`n` NHWC RGB tensor.
pub fn crop_square(
    frame: &Frame,
    roi: &Roi,
    n: usize,
    border: Border,
    range: ValueRange,
    out: &mut [f32],
) {
    let request = CropRequest {
        geometry: CropGeometry::new(roi, n),
        border,
        range,
    };
    request.sample_cpu(frame, out);
}

/// How the frame sits inside the detector's letterboxed square, as fractions
/// of the square on each side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub pad_x: f32,
    pub pad_y: f32,
}

/// The whole frame grown to a centred square of side max(W, H), sampled to
/// `n`×`n` with zero padding, in the detector's range.
pub fn letterbox_square(frame: &Frame, n: usize, out: &mut [f32]) -> Letterbox {
    let (request, letterbox) = CropRequest::letterbox(frame, n);
    request.sample_cpu(frame, out);
    letterbox
}

/// The square the detector sees: the whole frame grown to a centred square
/// of side max(W, H), and where the picture sits inside it.
pub fn letterbox_roi(frame: &Frame) -> (Roi, Letterbox) {
    let (w, h) = frame.upright_size();
    let (w, h) = (w as f32, h as f32);
    let side = w.max(h);
    // MediaPipe's rect centre is (0.5, 0.5) of the frame scaled by its size,
    // in the same coordinates where sample (u, v) = (0, 0) hits pixel 0.
    let roi = Roi {
        cx: w / 2.0,
        cy: h / 2.0,
        size: side,
        rotation: 0.0,
    };
    let letterbox = Letterbox {
        pad_x: (1.0 - w / side) / 2.0,
        pad_y: (1.0 - h / side) / 2.0,
    };
    (roi, letterbox)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::Rotation;

    /// Frame whose luma is x + 2·y (grey, chroma neutral).
    fn gradient(w: u32, h: u32) -> Frame {
        let mut f = Frame::solid(w, h, [0, 128, 128]);
        f.full_range = true;
        for y in 0..h as usize {
            for x in 0..w as usize {
                f.y[y * w as usize + x] = (x + 2 * y) as u8;
            }
        }
        f
    }

    #[test]
    fn axis_aligned_crop_samples_the_expected_pixels() {
        let f = gradient(64, 64);
        let roi = Roi {
            cx: 20.0,
            cy: 30.0,
            size: 16.0,
            rotation: 0.0,
        };
        let mut out = vec![0.0; 16 * 16 * 3];
        crop_square(&f, &roi, 16, Border::Replicate, LANDMARK_RANGE, &mut out);
        // u = v = 0 samples (cx − 8, cy − 8) = (12, 22): luma 12 + 44 = 56.
        assert!((out[0] * 255.0 - 56.0).abs() < 0.01, "{}", out[0] * 255.0);
        // u = 3, v = 5 samples (15, 27): 15 + 54 = 69.
        let i = (5 * 16 + 3) * 3;
        assert!((out[i] * 255.0 - 69.0).abs() < 0.01);
    }

    #[test]
    fn rotated_crop_turns_the_picture() {
        let f = gradient(64, 64);
        let roi = Roi {
            cx: 32.0,
            cy: 32.0,
            size: 16.0,
            rotation: std::f32::consts::FRAC_PI_2,
        };
        let mut out = vec![0.0; 16 * 16 * 3];
        crop_square(&f, &roi, 16, Border::Replicate, LANDMARK_RANGE, &mut out);
        // With a quarter turn, moving along u walks down the frame (+y):
        // luma grows by 2 per tensor pixel instead of 1.
        let a = out[0] * 255.0;
        let b = out[3] * 255.0;
        assert!((b - a - 2.0).abs() < 0.01, "{a} {b}");
    }

    #[test]
    fn letterbox_pads_with_minus_one_and_reports_padding() {
        let f = gradient(200, 100);
        let mut out = vec![0.0; 8 * 8 * 3];
        let lb = letterbox_square(&f, 8, &mut out);
        assert_eq!(lb.pad_x, 0.0);
        assert!((lb.pad_y - 0.25).abs() < 1e-6);
        // Row 0 lies in the top padding; the middle rows hold the picture.
        assert!(out[..8 * 3].iter().all(|&v| v == -1.0));
        assert!(out[4 * 8 * 3] > -1.0);
    }

    #[test]
    fn rotated_frames_are_cropped_upright() {
        let mut f = gradient(32, 16);
        f.rotation = Rotation::Cw90;
        let mut out = vec![0.0; 4 * 4 * 3];
        let lb = letterbox_square(&f, 4, &mut out);
        // Upright it is 16 wide and 32 high: padding is left and right.
        assert!((lb.pad_x - 0.25).abs() < 1e-6);
        assert_eq!(lb.pad_y, 0.0);
    }
}
