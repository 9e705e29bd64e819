//! Regions of interest: the rotated square crop the landmark model sees.
//!
//! MediaPipe's recipe (AlignmentPointsRectsCalculator + RectTransformation):
//! centre on a body-centre point, size twice its distance to a second point,
//! rotate so the second point is straight "up", then enlarge by 1.25. The
//! same recipe builds the ROI from a detection (keypoints 0 and 1) and, when
//! tracking, from the landmark model's auxiliary landmarks 33 and 34.

use glam::Vec2;
use serde::{Deserialize, Serialize};

/// Scale applied to the aligned square (MediaPipe's 1.25 × 1.25).
pub const ROI_SCALE: f32 = 1.25;

/// A rotated square in upright frame pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Roi {
    pub cx: f32,
    pub cy: f32,
    /// Side length in pixels.
    pub size: f32,
    /// Rotation in radians, image coordinates (y down), in [-π, π).
    pub rotation: f32,
}

/// Axis-aligned box in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoxPx {
    pub xmin: f32,
    pub ymin: f32,
    pub xmax: f32,
    pub ymax: f32,
}

impl BoxPx {
    /// The box of `size` (width, height) centred on `center`.
    pub fn around(center: Vec2, size: Vec2) -> BoxPx {
        let half = 0.5 * size;
        BoxPx {
            xmin: center.x - half.x,
            ymin: center.y - half.y,
            xmax: center.x + half.x,
            ymax: center.y + half.y,
        }
    }

    /// Width and height.
    pub fn size(&self) -> Vec2 {
        Vec2::new(self.xmax - self.xmin, self.ymax - self.ymin)
    }

    pub fn area(&self) -> f32 {
        (self.xmax - self.xmin).max(0.0) * (self.ymax - self.ymin).max(0.0)
    }

    /// Area the two boxes share.
    pub fn intersection(&self, other: &BoxPx) -> f32 {
        let ix = (self.xmax.min(other.xmax) - self.xmin.max(other.xmin)).max(0.0);
        let iy = (self.ymax.min(other.ymax) - self.ymin.max(other.ymin)).max(0.0);
        ix * iy
    }

    pub fn iou(&self, other: &BoxPx) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union > 0.0 {
            inter / union
        } else {
            0.0
        }
    }

    pub fn center(&self) -> Vec2 {
        Vec2::new((self.xmin + self.xmax) * 0.5, (self.ymin + self.ymax) * 0.5)
    }
}

/// Wraps an angle to [-π, π).
pub fn normalize_angle(a: f32) -> f32 {
    use std::f32::consts::PI;
    a - 2.0 * PI * ((a + PI) / (2.0 * PI)).floor()
}

impl Roi {
    /// The ROI from a centre point and a size/direction point, both in pixels.
    /// `None` when the points coincide or are not finite.
    pub fn from_points(center: Vec2, scale_point: Vec2) -> Option<Roi> {
        let d = scale_point - center;
        let dist = d.length();
        if !dist.is_finite() || dist < 1e-3 || !center.is_finite() {
            return None;
        }
        let target = std::f32::consts::FRAC_PI_2;
        let rotation = normalize_angle(target - (-d.y).atan2(d.x));
        Some(Roi {
            cx: center.x,
            cy: center.y,
            size: 2.0 * dist * ROI_SCALE,
            rotation,
        })
    }

    /// Maps normalised crop coordinates (0…1 across the square) to frame pixels.
    #[inline]
    pub fn crop_to_frame(&self, xn: f32, yn: f32) -> Vec2 {
        let (s, c) = self.rotation.sin_cos();
        let dx = (xn - 0.5) * self.size;
        let dy = (yn - 0.5) * self.size;
        Vec2::new(self.cx + c * dx - s * dy, self.cy + s * dx + c * dy)
    }

    /// The axis-aligned box around the rotated square.
    pub fn bounding_box(&self) -> BoxPx {
        let corners = [
            self.crop_to_frame(0.0, 0.0),
            self.crop_to_frame(1.0, 0.0),
            self.crop_to_frame(0.0, 1.0),
            self.crop_to_frame(1.0, 1.0),
        ];
        let mut b = BoxPx {
            xmin: f32::MAX,
            ymin: f32::MAX,
            xmax: f32::MIN,
            ymax: f32::MIN,
        };
        for p in corners {
            b.xmin = b.xmin.min(p.x);
            b.ymin = b.ymin.min(p.y);
            b.xmax = b.xmax.max(p.x);
            b.ymax = b.ymax.max(p.y);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::{FRAC_PI_2, PI};

    #[test]
    fn upright_person_has_no_rotation() {
        // Scale point straight above the hip centre.
        let roi = Roi::from_points(Vec2::new(100.0, 200.0), Vec2::new(100.0, 120.0)).unwrap();
        assert!(roi.rotation.abs() < 1e-6);
        assert!((roi.size - 2.0 * 80.0 * 1.25).abs() < 1e-4);
        assert_eq!((roi.cx, roi.cy), (100.0, 200.0));
    }

    #[test]
    fn person_lying_to_the_right_is_rotated_a_quarter_turn() {
        // Head to the right of the hips: the crop must turn by +90° (image
        // coordinates, y down) so that the head ends up at the crop's top.
        let roi = Roi::from_points(Vec2::new(0.0, 0.0), Vec2::new(50.0, 0.0)).unwrap();
        assert!((roi.rotation - FRAC_PI_2).abs() < 1e-6, "{}", roi.rotation);
        // The crop's top-centre maps onto the scale point's side.
        let top = roi.crop_to_frame(0.5, 0.0);
        assert!(top.x > 0.0 && top.y.abs() < 1e-3);
    }

    #[test]
    fn upside_down_wraps_to_minus_pi() {
        let roi = Roi::from_points(Vec2::ZERO, Vec2::new(0.0, 10.0)).unwrap();
        assert!((roi.rotation + PI).abs() < 1e-6, "{}", roi.rotation);
    }

    #[test]
    fn degenerate_points_give_no_roi() {
        assert!(Roi::from_points(Vec2::ONE, Vec2::ONE).is_none());
        assert!(Roi::from_points(Vec2::new(f32::NAN, 0.0), Vec2::ONE).is_none());
    }

    #[test]
    fn crop_corners_and_bounding_box() {
        let roi = Roi {
            cx: 10.0,
            cy: 20.0,
            size: 8.0,
            rotation: 0.0,
        };
        assert_eq!(roi.crop_to_frame(0.0, 0.0), Vec2::new(6.0, 16.0));
        let b = roi.bounding_box();
        assert_eq!((b.xmin, b.ymin, b.xmax, b.ymax), (6.0, 16.0, 14.0, 24.0));
        let rotated = Roi {
            rotation: PI / 4.0,
            ..roi
        };
        let rb = rotated.bounding_box();
        assert!((rb.xmax - rb.xmin - 8.0 * 2f32.sqrt()).abs() < 1e-3);
    }

    #[test]
    fn iou_of_boxes() {
        let a = BoxPx {
            xmin: 0.0,
            ymin: 0.0,
            xmax: 2.0,
            ymax: 2.0,
        };
        let b = BoxPx {
            xmin: 1.0,
            ymin: 0.0,
            xmax: 3.0,
            ymax: 2.0,
        };
        assert!((a.iou(&b) - 2.0 / 6.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
    }
}
