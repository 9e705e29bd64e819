//! What a person looks like, cheaply: the mean colours of the middle of
//! the upper and of the lower half of their box (shirt and trousers for
//! someone upright). Enough to tell two people apart after they cross or
//! one hides the other, where position alone is ambiguous. Tracks and
//! detections are described the same way, from a box, so they compare.

use super::roi::BoxPx;
use crate::video::Frame;

/// Samples per region side.
const GRID: usize = 4;
/// The regions, as fractions of the box: (x from, x to, y from, y to).
const REGIONS: [[f32; 4]; 2] = [[0.3, 0.7, 0.2, 0.45], [0.3, 0.7, 0.55, 0.8]];

/// Mean RGB (0…1) of the two regions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Appearance {
    regions: [[f32; 3]; 2],
}

impl Appearance {
    /// The colours inside `b` (frame pixels), or `None` when it lies
    /// outside the picture.
    pub fn of(frame: &Frame, b: &BoxPx) -> Option<Appearance> {
        let mut regions = [[0.0; 3]; 2];
        for (r, out) in REGIONS.iter().zip(&mut regions) {
            let mut n = 0.0;
            for i in 0..GRID {
                for j in 0..GRID {
                    let s = r[0] + (r[1] - r[0]) * (i as f32 + 0.5) / GRID as f32;
                    let t = r[2] + (r[3] - r[2]) * (j as f32 + 0.5) / GRID as f32;
                    let x = b.xmin + (b.xmax - b.xmin) * s;
                    let y = b.ymin + (b.ymax - b.ymin) * t;
                    if !frame.contains(x, y) {
                        continue;
                    }
                    let rgb = frame.sample_rgb(x, y);
                    for c in 0..3 {
                        out[c] += rgb[c] / 255.0;
                    }
                    n += 1.0;
                }
            }
            if n == 0.0 {
                return None;
            }
            out.iter_mut().for_each(|v| *v /= n);
        }
        Some(Appearance { regions })
    }

    /// 1 for the same colours, falling to 0 as they differ by about a
    /// fifth of the range per channel.
    pub fn similarity(&self, other: &Appearance) -> f32 {
        let d: f32 = self
            .regions
            .iter()
            .flatten()
            .zip(other.regions.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / 6.0;
        (1.0 - d / 0.2).max(0.0)
    }

    /// Running blend towards a new look (light changes, turning round).
    pub fn blend(&mut self, new: &Appearance, weight: f32) {
        for (a, b) in self
            .regions
            .iter_mut()
            .flatten()
            .zip(new.regions.iter().flatten())
        {
            *a += (b - *a) * weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(x: f32) -> BoxPx {
        BoxPx {
            xmin: x - 30.0,
            ymin: 20.0,
            xmax: x + 30.0,
            ymax: 180.0,
        }
    }

    #[test]
    fn two_shirts_are_told_apart_and_one_matches_itself() {
        // Left half dark, right half bright.
        let mut f = Frame::solid(200, 200, [40, 128, 128]);
        for y in 0..200 {
            for x in 100..200 {
                f.y[y * f.y_stride + x] = 220;
            }
        }
        let a = Appearance::of(&f, &bx(50.0)).unwrap();
        let b = Appearance::of(&f, &bx(150.0)).unwrap();
        assert!(a.similarity(&a) > 0.99);
        assert!(a.similarity(&b) < 0.01, "{}", a.similarity(&b));
        let mut c = a;
        c.blend(&b, 0.1);
        assert!(c.similarity(&a) < 1.0 && c.similarity(&a) > a.similarity(&b));
        assert!(Appearance::of(&f, &bx(-500.0)).is_none());
    }
}
