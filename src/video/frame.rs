//! A decoded picture kept in its native planar YUV 4:2:0 form.
//!
//! Frames are never converted to RGB as a whole: the pose stages only need a
//! 224² letterbox and a 256² rotated crop per person, so they sample RGB
//! straight from the planes ([`Frame::sample_rgb`]). Phone videos carry a
//! rotation in their metadata instead of rotated pixels; all coordinates the
//! rest of the crate sees are *upright* pixels, and the mapping to stored
//! pixels happens here, once.

use serde::{Deserialize, Serialize};

/// Clockwise rotation, in quarter turns, that makes the stored picture upright.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rotation {
    #[default]
    None,
    Cw90,
    Cw180,
    Cw270,
}

impl Rotation {
    /// From a clockwise angle in degrees (any multiple of 90, negative allowed).
    pub fn from_degrees_cw(deg: i64) -> Rotation {
        match deg.rem_euclid(360) {
            90 => Rotation::Cw90,
            180 => Rotation::Cw180,
            270 => Rotation::Cw270,
            _ => Rotation::None,
        }
    }

    pub fn degrees_cw(self) -> u32 {
        match self {
            Rotation::None => 0,
            Rotation::Cw90 => 90,
            Rotation::Cw180 => 180,
            Rotation::Cw270 => 270,
        }
    }

    /// Whether width and height swap between stored and upright pictures.
    pub fn swaps_axes(self) -> bool {
        matches!(self, Rotation::Cw90 | Rotation::Cw270)
    }
}

/// YUV→RGB matrix of the stream (limited range assumed unless `full_range`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColorMatrix {
    #[default]
    Bt601,
    Bt709,
}

impl ColorMatrix {
    /// The red and blue luma weights (Kr, Kb) of the matrix.
    pub fn kr_kb(self) -> (f32, f32) {
        match self {
            ColorMatrix::Bt601 => (0.299, 0.114),
            ColorMatrix::Bt709 => (0.2126, 0.0722),
        }
    }
}

/// One decoded frame: YUV 4:2:0 planes as stored, plus where it sits in time.
#[derive(Clone, Debug)]
pub struct Frame {
    /// 0-based index in presentation order among the frames delivered.
    pub index: u64,
    /// Presentation time in seconds from the start of the stream.
    pub time_s: f64,
    /// Stored (not upright) size in pixels.
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    pub y_stride: usize,
    pub uv_stride: usize,
    pub rotation: Rotation,
    pub matrix: ColorMatrix,
    pub full_range: bool,
}

impl Frame {
    /// Upright size (width, height) in pixels.
    pub fn upright_size(&self) -> (u32, u32) {
        if self.rotation.swaps_axes() {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// Maps an upright pixel coordinate to a stored one.
    #[inline]
    fn to_stored(&self, x: f32, y: f32) -> (f32, f32) {
        let (w, h) = (self.width as f32, self.height as f32);
        match self.rotation {
            Rotation::None => (x, y),
            // Upright = stored turned clockwise by 90°: upright (x, y) came
            // from stored (y, h-1-x).
            Rotation::Cw90 => (y, h - 1.0 - x),
            Rotation::Cw180 => (w - 1.0 - x, h - 1.0 - y),
            Rotation::Cw270 => (w - 1.0 - y, x),
        }
    }

    /// Bilinear sample of one plane with replicated borders.
    #[inline]
    pub(crate) fn sample_plane(
        plane: &[u8],
        stride: usize,
        pw: usize,
        ph: usize,
        x: f32,
        y: f32,
    ) -> f32 {
        let x = x.clamp(0.0, (pw - 1) as f32);
        let y = y.clamp(0.0, (ph - 1) as f32);
        let x0 = x as usize;
        let y0 = y as usize;
        let x1 = (x0 + 1).min(pw - 1);
        let y1 = (y0 + 1).min(ph - 1);
        let fx = x - x0 as f32;
        let fy = y - y0 as f32;
        let r0 = y0 * stride;
        let r1 = y1 * stride;
        let a = plane[r0 + x0] as f32;
        let b = plane[r0 + x1] as f32;
        let c = plane[r1 + x0] as f32;
        let d = plane[r1 + x1] as f32;
        let top = a + (b - a) * fx;
        let bot = c + (d - c) * fx;
        top + (bot - top) * fy
    }

    /// RGB in 0…255 at an upright pixel position, bilinear, replicated border.
    ///
    /// Bilinear interpolation commutes with the (affine) YUV→RGB conversion,
    /// so sampling the planes first and converting after gives the same value
    /// as converting the whole frame and sampling RGB, at a fraction of the cost.
    #[inline]
    pub fn sample_rgb(&self, x: f32, y: f32) -> [f32; 3] {
        let (sx, sy) = self.to_stored(x, y);
        let (w, h) = (self.width as usize, self.height as usize);
        let luma = Self::sample_plane(&self.y, self.y_stride, w, h, sx, sy);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        // Chroma samples sit at the centre of each 2×2 luma block (MPEG-2/H.264
        // "left" siting differs by a quarter pixel; not visible at crop scale).
        let cx = (sx + 0.5) * 0.5 - 0.5;
        let cy = (sy + 0.5) * 0.5 - 0.5;
        let u = Self::sample_plane(&self.u, self.uv_stride, cw, ch, cx, cy);
        let v = Self::sample_plane(&self.v, self.uv_stride, cw, ch, cx, cy);
        yuv_to_rgb(luma, u, v, self.matrix, self.full_range)
    }

    /// True when the point lies inside the upright picture.
    #[inline]
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let (w, h) = self.upright_size();
        x >= 0.0 && y >= 0.0 && x <= (w - 1) as f32 && y <= (h - 1) as f32
    }

    /// A frame of one flat colour, for tests and benches.
    pub fn solid(width: u32, height: u32, yuv: [u8; 3]) -> Frame {
        let (cw, ch) = (width.div_ceil(2) as usize, height.div_ceil(2) as usize);
        Frame {
            index: 0,
            time_s: 0.0,
            width,
            height,
            y: vec![yuv[0]; (width * height) as usize],
            u: vec![yuv[1]; cw * ch],
            v: vec![yuv[2]; cw * ch],
            y_stride: width as usize,
            uv_stride: cw,
            rotation: Rotation::None,
            matrix: ColorMatrix::Bt709,
            full_range: false,
        }
    }
}

/// YUV (0…255 code values) to RGB (0…255, clamped).
#[inline]
pub fn yuv_to_rgb(y: f32, u: f32, v: f32, matrix: ColorMatrix, full_range: bool) -> [f32; 3] {
    let (kr, kb) = matrix.kr_kb();
    let kg = 1.0 - kr - kb;
    let (yy, pb, pr) = if full_range {
        (y, (u - 128.0), (v - 128.0))
    } else {
        (
            (y - 16.0) * (255.0 / 219.0),
            (u - 128.0) * (255.0 / 224.0),
            (v - 128.0) * (255.0 / 224.0),
        )
    };
    let r = yy + 2.0 * (1.0 - kr) * pr;
    let b = yy + 2.0 * (1.0 - kb) * pb;
    let g = (yy - kr * r - kb * b) / kg;
    [
        r.clamp(0.0, 255.0),
        g.clamp(0.0, 255.0),
        b.clamp(0.0, 255.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(width: u32, height: u32, rotation: Rotation) -> Frame {
        let mut f = Frame::solid(width, height, [0, 128, 128]);
        for y in 0..height as usize {
            for x in 0..width as usize {
                f.y[y * width as usize + x] = (16 + x * 10 + y) as u8;
            }
        }
        f.rotation = rotation;
        f
    }

    #[test]
    fn grey_converts_to_grey() {
        let f = Frame::solid(8, 8, [126, 128, 128]);
        let [r, g, b] = f.sample_rgb(3.0, 3.0);
        assert!((r - g).abs() < 1e-3 && (g - b).abs() < 1e-3);
        assert!((r - 128.0).abs() < 1.0, "{r}");
    }

    #[test]
    fn bilinear_interpolates_between_pixels() {
        let f = ramp(8, 4, Rotation::None);
        let a = f.sample_rgb(2.0, 1.0)[0];
        let b = f.sample_rgb(3.0, 1.0)[0];
        let mid = f.sample_rgb(2.5, 1.0)[0];
        assert!((mid - (a + b) / 2.0).abs() < 1e-3);
    }

    #[test]
    fn rotation_maps_upright_corners_to_stored_ones() {
        // Stored 8×4; upright 4×8 after a 90° clockwise turn: the upright
        // top-left pixel is the stored bottom-left one.
        let f = ramp(8, 4, Rotation::Cw90);
        assert_eq!(f.upright_size(), (4, 8));
        let plain = ramp(8, 4, Rotation::None);
        assert_eq!(f.sample_rgb(0.0, 0.0), plain.sample_rgb(0.0, 3.0));
        assert_eq!(f.sample_rgb(3.0, 0.0), plain.sample_rgb(0.0, 0.0));
        let f180 = ramp(8, 4, Rotation::Cw180);
        assert_eq!(f180.sample_rgb(0.0, 0.0), plain.sample_rgb(7.0, 3.0));
        let f270 = ramp(8, 4, Rotation::Cw270);
        assert_eq!(f270.sample_rgb(0.0, 0.0), plain.sample_rgb(7.0, 0.0));
    }

    #[test]
    fn samples_outside_replicate_the_border() {
        let f = ramp(8, 4, Rotation::None);
        assert_eq!(f.sample_rgb(-5.0, 1.0), f.sample_rgb(0.0, 1.0));
        assert_eq!(f.sample_rgb(100.0, 1.0), f.sample_rgb(7.0, 1.0));
    }
}
