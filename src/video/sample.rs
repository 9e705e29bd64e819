//! Fast RGB sampling of a frame along straight lines of upright pixels.
//!
//! The model inputs walk the frame in straight rows (a rotated square), so
//! everything that does not change per pixel is done once per crop: the
//! upright→stored rotation is folded into the row's start and step, and the
//! YUV→RGB matrix, range expansion and the model's value range into a few
//! coefficients. The per-pixel work is then three bilinear taps and a few
//! multiply-adds, with the clamping of [`Frame::sample_rgb`] only near the
//! picture's edges. [`Frame::sample_rgb`] stays the reference it must match.

use glam::Vec2;

use super::frame::{ColorMatrix, Frame, Rotation};

/// Linear map from 0…255 RGB to a model's input range: `p·scale + offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRange {
    pub scale: f32,
    pub offset: f32,
}

/// YUV code values to RGB, pre-multiplied for one frame's matrix and range.
/// Shared with the GPU kernels (src/gpu/planes.rs), which take them as-is.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Coefficients {
    pub y_offset: f32,
    pub y_gain: f32,
    pub r_v: f32,
    pub g_u: f32,
    pub g_v: f32,
    pub b_u: f32,
}

impl Coefficients {
    pub(crate) fn new(matrix: ColorMatrix, full_range: bool) -> Coefficients {
        let (kr, kb) = matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (y_offset, y_gain, c_gain) = if full_range {
            (0.0, 1.0, 1.0)
        } else {
            (16.0, 255.0 / 219.0, 255.0 / 224.0)
        };
        // Same algebra as `yuv_to_rgb`, expanded: r = Y' + 2(1−kr)·Pr,
        // b = Y' + 2(1−kb)·Pb, g = (Y' − kr·r − kb·b)/kg.
        let r_v = 2.0 * (1.0 - kr) * c_gain;
        let b_u = 2.0 * (1.0 - kb) * c_gain;
        Coefficients {
            y_offset,
            y_gain,
            r_v,
            g_u: -kb * b_u / kg,
            g_v: -kr * r_v / kg,
            b_u,
        }
    }
}

/// One plane with the bounds its bilinear taps need.
struct Plane<'a> {
    data: &'a [u8],
    stride: usize,
    max_x: f32,
    max_y: f32,
}

impl Plane<'_> {
    /// Bilinear tap with replicated borders, for the samples near the
    /// picture's edge: the reference sampler's own arithmetic.
    #[inline]
    fn tap(&self, x: f32, y: f32) -> f32 {
        let (pw, ph) = (self.max_x as usize + 1, self.max_y as usize + 1);
        Frame::sample_plane(self.data, self.stride, pw, ph, x, y)
    }
}

/// Where a bilinear tap at 16.16 fixed-point (x, y) reads: the top-left
/// index and 12-bit weights.
#[inline(always)]
fn tap_at(stride: usize, x: i32, y: i32) -> (usize, u32, u32) {
    let i = (y >> 16) as usize * stride + (x >> 16) as usize;
    (i, ((x >> 4) & 0xfff) as u32, ((y >> 4) & 0xfff) as u32)
}

/// Bilinear tap known to be inside the plane; the value × 2^24.
#[inline(always)]
fn lerp2(data: &[u8], stride: usize, (i, fx, fy): (usize, u32, u32)) -> u32 {
    let (top, bottom) = (&data[i..i + 2], &data[i + stride..i + stride + 2]);
    let t = top[0] as u32 * (4096 - fx) + top[1] as u32 * fx;
    let b = bottom[0] as u32 * (4096 - fx) + bottom[1] as u32 * fx;
    t * (4096 - fy) + b * fy
}

/// The rotations of `Frame::to_stored` as an affine map: stored pixel =
/// `origin + x·ax + y·ay` for upright pixel (x, y).
pub(crate) fn upright_to_stored(frame: &Frame) -> (Vec2, Vec2, Vec2) {
    let (wf, hf) = (frame.width as f32, frame.height as f32);
    match frame.rotation {
        Rotation::None => (Vec2::ZERO, Vec2::X, Vec2::Y),
        Rotation::Cw90 => (Vec2::new(0.0, hf - 1.0), -Vec2::Y, Vec2::X),
        Rotation::Cw180 => (Vec2::new(wf - 1.0, hf - 1.0), -Vec2::X, -Vec2::Y),
        Rotation::Cw270 => (Vec2::new(wf - 1.0, 0.0), Vec2::Y, -Vec2::X),
    }
}

/// Samples RGB of one frame along rows, in a model's value range.
pub struct RowSampler<'a> {
    luma: Plane<'a>,
    u: Plane<'a>,
    v: Plane<'a>,
    k: Coefficients,
    range: ValueRange,
    /// Upright → stored as `stored = origin + x·ax + y·ay`.
    ax: Vec2,
    ay: Vec2,
    origin: Vec2,
}

impl<'a> RowSampler<'a> {
    pub fn new(frame: &'a Frame, range: ValueRange) -> RowSampler<'a> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let plane = |data: &'a [u8], stride: usize, pw: usize, ph: usize| Plane {
            data,
            stride,
            max_x: (pw - 1) as f32,
            max_y: (ph - 1) as f32,
        };
        let (origin, ax, ay) = upright_to_stored(frame);
        RowSampler {
            luma: plane(&frame.y, frame.y_stride, w, h),
            u: plane(&frame.u, frame.uv_stride, cw, ch),
            v: plane(&frame.v, frame.uv_stride, cw, ch),
            k: Coefficients::new(frame.matrix, frame.full_range),
            range,
            ax,
            ay,
            origin,
        }
    }

    /// Fills `out` (RGB triples) with samples at upright `start`,
    /// `start + step`, … Samples outside the picture take `outside` when
    /// given, else the nearest edge pixel's colour.
    pub fn row(&self, start: Vec2, step: Vec2, outside: Option<f32>, out: &mut [f32]) {
        let p = self.origin + start.x * self.ax + start.y * self.ay;
        let d = step.x * self.ax + step.y * self.ay;
        let n = out.len() / 3;
        if n == 0 {
            return;
        }
        // A row is a straight segment, so the samples whose taps all lie
        // inside the picture form one run [lo, hi); only the samples
        // before and after it need clamping.
        let (lo, hi) = self.inside_run(p, d, n);
        let (head, rest) = out.split_at_mut(lo * 3);
        let (middle, tail) = rest.split_at_mut((hi - lo) * 3);
        self.row_clamped(p, d, outside, head);
        self.row_inside(p + d * lo as f32, d, middle);
        self.row_clamped(p + d * hi as f32, d, outside, tail);
    }

    /// The samples `lo..hi` of `p + i·d` (i < n) whose luma and chroma taps
    /// need no clamping, with a margin for the fixed-point stepping.
    fn inside_run(&self, p: Vec2, d: Vec2, n: usize) -> (usize, usize) {
        const MARGIN: f32 = 0.02;
        // Luma taps need 0 ≤ x < max_x; chroma taps x/2 − ¼ ≥ 0 (x ≥ ½)
        // and x/2 − ¼ < chroma max_x.
        let x_lo = 0.5 + MARGIN;
        let x_hi = self.luma.max_x.min(2.0 * self.u.max_x + 0.5) - MARGIN;
        let y_lo = 0.5 + MARGIN;
        let y_hi = self.luma.max_y.min(2.0 * self.u.max_y + 0.5) - MARGIN;
        let (mut t0, mut t1) = (0.0f32, n as f32 - 1.0);
        for (start, step, lo, hi) in [(p.x, d.x, x_lo, x_hi), (p.y, d.y, y_lo, y_hi)] {
            if step.abs() < 1e-9 {
                if start < lo || start > hi {
                    return (0, 0);
                }
                continue;
            }
            let (a, b) = ((lo - start) / step, (hi - start) / step);
            t0 = t0.max(a.min(b));
            t1 = t1.min(a.max(b));
        }
        if t1 < t0 {
            return (0, 0);
        }
        let lo = (t0.ceil() as usize).min(n);
        let hi = (t1.floor() as usize + 1).min(n);
        (lo, hi.max(lo))
    }

    /// Samples whose taps are all inside: positions step in 16.16 fixed
    /// point and taps interpolate in integers with 12-bit weights (a fraction
    /// of a code value off the float taps), no clamping.
    fn row_inside(&self, p: Vec2, d: Vec2, out: &mut [f32]) {
        const ONE: f32 = 65536.0;
        let (mut x, mut y) = ((p.x * ONE).round() as i32, (p.y * ONE).round() as i32);
        let (dx, dy) = ((d.x * ONE).round() as i32, (d.y * ONE).round() as i32);
        // Taps come back scaled by 2^24; fold that into the coefficients.
        let unit = 1.0 / (1u32 << 24) as f32;
        let k = &self.k;
        let ValueRange { scale, offset } = self.range;
        let (ls, cs) = (self.luma.stride, self.u.stride);
        for px in out.chunks_exact_mut(3) {
            let luma = lerp2(self.luma.data, ls, tap_at(ls, x, y)) as f32 * unit;
            // Chroma sits at the centre of each 2×2 luma block: c = p/2 − ¼;
            // both chroma planes share the tap.
            let c = tap_at(cs, (x >> 1) - (1 << 14), (y >> 1) - (1 << 14));
            let u = lerp2(self.u.data, cs, c) as f32 * unit - 128.0;
            let v = lerp2(self.v.data, cs, c) as f32 * unit - 128.0;
            let yy = (luma - k.y_offset) * k.y_gain;
            let r = (yy + k.r_v * v).clamp(0.0, 255.0);
            let g = (yy + k.g_u * u + k.g_v * v).clamp(0.0, 255.0);
            let b = (yy + k.b_u * u).clamp(0.0, 255.0);
            px[0] = r * scale + offset;
            px[1] = g * scale + offset;
            px[2] = b * scale + offset;
            x += dx;
            y += dy;
        }
    }

    /// Rows touching the picture's edge: float taps with clamping.
    fn row_clamped(&self, mut p: Vec2, d: Vec2, outside: Option<f32>, out: &mut [f32]) {
        let (max_x, max_y) = (self.luma.max_x, self.luma.max_y);
        for px in out.chunks_exact_mut(3) {
            let inside = p.x >= 0.0 && p.y >= 0.0 && p.x <= max_x && p.y <= max_y;
            match outside {
                Some(fill) if !inside => px.fill(fill),
                _ => px.copy_from_slice(&self.rgb_at(p)),
            }
            p += d;
        }
    }

    /// RGB in the output range at a stored pixel position.
    #[inline(always)]
    fn rgb_at(&self, p: Vec2) -> [f32; 3] {
        let k = &self.k;
        let y = (self.luma.tap(p.x, p.y) - k.y_offset) * k.y_gain;
        // Chroma samples sit at the centre of each 2×2 luma block.
        let (cx, cy) = (p.x * 0.5 - 0.25, p.y * 0.5 - 0.25);
        let u = self.u.tap(cx, cy) - 128.0;
        let v = self.v.tap(cx, cy) - 128.0;
        let ValueRange { scale, offset } = self.range;
        let r = (y + k.r_v * v).clamp(0.0, 255.0);
        let g = (y + k.g_u * u + k.g_v * v).clamp(0.0, 255.0);
        let b = (y + k.b_u * u).clamp(0.0, 255.0);
        [r * scale + offset, g * scale + offset, b * scale + offset]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame with detail in every plane, so any tap or coefficient error shows.
    fn textured(w: u32, h: u32, rotation: Rotation, matrix: ColorMatrix, full: bool) -> Frame {
        let mut f = Frame::solid(w, h, [0, 0, 0]);
        for (i, p) in f.y.iter_mut().enumerate() {
            *p = ((i * 37 + i / w as usize * 11) % 256) as u8;
        }
        for (i, p) in f.u.iter_mut().enumerate() {
            *p = ((i * 53 + 7) % 256) as u8;
        }
        for (i, p) in f.v.iter_mut().enumerate() {
            *p = ((i * 29 + 100) % 256) as u8;
        }
        f.rotation = rotation;
        f.matrix = matrix;
        f.full_range = full;
        f
    }

    const UNIT: ValueRange = ValueRange {
        scale: 1.0,
        offset: 0.0,
    };

    /// `n` samples of the row from `start` by `step` are within half a code
    /// value of [`Frame::sample_rgb`] at the same points. (Inside the
    /// picture the fixed-point weights are truncated to 1/4096 px; on a
    /// texture that jumps by up to 255 per pixel, times the chroma gain of
    /// about 2, that is at most ~0.3 of a code value.)
    fn assert_row_matches_reference(
        f: &Frame,
        s: &RowSampler,
        start: Vec2,
        step: Vec2,
        outside: Option<f32>,
        n: usize,
        what: &str,
    ) {
        let mut out = vec![0.0; n * 3];
        s.row(start, step, outside, &mut out);
        for (i, px) in out.chunks_exact(3).enumerate() {
            let p = start + step * i as f32;
            let want = f.sample_rgb(p.x, p.y);
            for c in 0..3 {
                assert!(
                    (px[c] - want[c]).abs() < 0.5,
                    "{what} sample {i} channel {c}: {} vs {}",
                    px[c],
                    want[c]
                );
            }
        }
    }

    #[test]
    fn rows_match_the_reference_sampler_everywhere() {
        let rotations = [
            Rotation::None,
            Rotation::Cw90,
            Rotation::Cw180,
            Rotation::Cw270,
        ];
        for rotation in rotations {
            for (matrix, full) in [(ColorMatrix::Bt601, false), (ColorMatrix::Bt709, true)] {
                let f = textured(37, 22, rotation, matrix, full);
                let s = RowSampler::new(&f, UNIT);
                // A slanted row that starts outside, crosses the picture and
                // leaves it again: edges, interior and replicated border.
                // (The interior's fixed-point taps are within half a code
                // value; see the next test.)
                let (start, step) = (Vec2::new(-3.3, -2.7), Vec2::new(0.73, 0.41));
                let what = format!("{rotation:?} {matrix:?}");
                assert_row_matches_reference(&f, &s, start, step, None, 80, &what);
            }
        }
    }

    #[test]
    fn rows_inside_the_picture_match_the_reference_sampler() {
        // Rows wholly inside take the fixed-point path.
        for rotation in [Rotation::None, Rotation::Cw90, Rotation::Cw270] {
            let f = textured(64, 48, rotation, ColorMatrix::Bt709, false);
            let s = RowSampler::new(&f, UNIT);
            let (w, h) = f.upright_size();
            let start = Vec2::new(2.3, 1.9);
            let step = Vec2::new((w as f32 - 5.0) / 100.0, (h as f32 - 5.0) / 100.0);
            let what = format!("{rotation:?}");
            assert_row_matches_reference(&f, &s, start, step, Some(-1.0), 100, &what);
        }
    }

    #[test]
    fn outside_samples_take_the_fill_value() {
        let f = textured(16, 16, Rotation::Cw90, ColorMatrix::Bt709, false);
        let s = RowSampler::new(&f, UNIT);
        let mut out = vec![0.0; 4 * 3];
        s.row(
            Vec2::new(14.5, 3.0),
            Vec2::new(1.0, 0.0),
            Some(-7.0),
            &mut out,
        );
        assert_ne!(out[0], -7.0, "15.5 > 15 lies outside, 14.5 does not");
        assert!(out[3..].iter().all(|&v| v == -7.0));
    }

    #[test]
    fn value_range_is_applied() {
        let f = Frame::solid(4, 4, [235, 128, 128]);
        let s = RowSampler::new(
            &f,
            ValueRange {
                scale: 1.0 / 127.5,
                offset: -1.0,
            },
        );
        let mut out = vec![0.0; 3];
        s.row(Vec2::new(1.0, 1.0), Vec2::X, None, &mut out);
        // Limited-range white is 255, which maps to +1.
        assert!(out.iter().all(|&v| (v - 1.0).abs() < 1e-4), "{out:?}");
    }
}
