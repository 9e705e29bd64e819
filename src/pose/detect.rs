//! Decoding the BlazePose person detector: per-anchor boxes and keypoints,
//! score threshold, weighted non-max suppression, and undoing the letterbox.
//! Follows MediaPipe's TensorsToDetections and NonMaxSuppression calculators
//! with the Tasks options (IoU threshold 0.5).

use glam::Vec2;

use super::anchors::{Anchor, INPUT_SIZE};
use super::crop::Letterbox;
use super::roi::{BoxPx, Roi};
use super::sigmoid;

/// Values per anchor in the detector's box output.
pub const COORDS_PER_ANCHOR: usize = 12;

/// A detected person, normalised to the frame (or the letterboxed square
/// before [`Detection::unletterbox`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Detection {
    pub xmin: f32,
    pub ymin: f32,
    pub xmax: f32,
    pub ymax: f32,
    /// kp0: mid-hip centre; kp1: sets body size and direction; kp2/3 unused.
    pub keypoints: [Vec2; 4],
    pub score: f32,
}

impl Detection {
    /// The box alone, to share [`BoxPx::iou`] (units do not matter to IoU).
    pub(crate) fn bbox(&self) -> BoxPx {
        BoxPx {
            xmin: self.xmin,
            ymin: self.ymin,
            xmax: self.xmax,
            ymax: self.ymax,
        }
    }

    /// Maps from the (possibly turned) square `square`, in whose
    /// normalised coordinates the detection is, to the `width`×`height`
    /// frame, normalised.
    pub fn through(&self, square: &Roi, width: f32, height: f32) -> Detection {
        let scale = Vec2::new(width, height);
        let map = |x: f32, y: f32| square.crop_to_frame(x, y) / scale;
        let corners = [
            map(self.xmin, self.ymin),
            map(self.xmax, self.ymin),
            map(self.xmin, self.ymax),
            map(self.xmax, self.ymax),
        ];
        let lo = corners.iter().fold(Vec2::MAX, |a, &c| a.min(c));
        let hi = corners.iter().fold(Vec2::MIN, |a, &c| a.max(c));
        Detection {
            xmin: lo.x,
            ymin: lo.y,
            xmax: hi.x,
            ymax: hi.y,
            keypoints: self.keypoints.map(|k| map(k.x, k.y)),
            score: self.score,
        }
    }

    /// Maps from the letterboxed square back to the frame (still normalised).
    pub fn unletterbox(&self, lb: Letterbox) -> Detection {
        let sx = 1.0 - 2.0 * lb.pad_x;
        let sy = 1.0 - 2.0 * lb.pad_y;
        let fx = |x: f32| (x - lb.pad_x) / sx;
        let fy = |y: f32| (y - lb.pad_y) / sy;
        Detection {
            xmin: fx(self.xmin),
            ymin: fy(self.ymin),
            xmax: fx(self.xmax),
            ymax: fy(self.ymax),
            keypoints: self.keypoints.map(|k| Vec2::new(fx(k.x), fy(k.y))),
            score: self.score,
        }
    }
}

/// Decodes every anchor whose score reaches `min_score`.
pub fn decode(boxes: &[f32], scores: &[f32], anchors: &[Anchor], min_score: f32) -> Vec<Detection> {
    let s = INPUT_SIZE as f32;
    let mut out = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        let (Some(raw), Some(&logit)) = (
            boxes.get(i * COORDS_PER_ANCHOR..(i + 1) * COORDS_PER_ANCHOR),
            scores.get(i),
        ) else {
            break;
        };
        let score = sigmoid(logit.clamp(-100.0, 100.0));
        if score < min_score || !score.is_finite() {
            continue;
        }
        let cx = raw[0] / s + anchor.cx;
        let cy = raw[1] / s + anchor.cy;
        let w = raw[2] / s;
        let h = raw[3] / s;
        let mut keypoints = [Vec2::ZERO; 4];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = Vec2::new(
                raw[4 + 2 * k] / s + anchor.cx,
                raw[5 + 2 * k] / s + anchor.cy,
            );
        }
        out.push(Detection {
            xmin: cx - w / 2.0,
            ymin: cy - h / 2.0,
            xmax: cx + w / 2.0,
            ymax: cy + h / 2.0,
            keypoints,
            score,
        });
    }
    out
}

/// Weighted NMS: each cluster of boxes overlapping the best remaining one
/// (IoU above `iou_threshold`) becomes their score-weighted mean, keeping
/// the best score.
pub fn weighted_nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(top) = dets.first().copied() {
        let (cluster, rest): (Vec<Detection>, Vec<Detection>) = dets
            .into_iter()
            .partition(|d| d.bbox().iou(&top.bbox()) > iou_threshold);
        dets = rest;
        if cluster.is_empty() {
            // Degenerate (zero-area) top box overlaps nothing, not even itself.
            dets.retain(|d| *d != top);
            out.push(top);
            continue;
        }
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = Detection {
            xmin: 0.0,
            ymin: 0.0,
            xmax: 0.0,
            ymax: 0.0,
            keypoints: [Vec2::ZERO; 4],
            score: top.score,
        };
        for d in &cluster {
            let w = d.score / total;
            merged.xmin += d.xmin * w;
            merged.ymin += d.ymin * w;
            merged.xmax += d.xmax * w;
            merged.ymax += d.ymax * w;
            for k in 0..4 {
                merged.keypoints[k] += d.keypoints[k] * w;
            }
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::anchors::pose_detector_anchors;

    fn logit(p: f32) -> f32 {
        (p / (1.0 - p)).ln()
    }

    #[test]
    fn decodes_box_and_keypoints_relative_to_the_anchor() {
        let anchors = pose_detector_anchors();
        let mut boxes = vec![0.0; anchors.len() * COORDS_PER_ANCHOR];
        let mut scores = vec![-50.0; anchors.len()];
        let i = 100;
        // cx/cy offset 22.4 px (= 0.1), w 44.8 px (= 0.2), h 67.2 px (= 0.3).
        boxes[i * 12..i * 12 + 6].copy_from_slice(&[22.4, -22.4, 44.8, 67.2, 11.2, 0.0]);
        scores[i] = logit(0.9);
        let d = decode(&boxes, &scores, &anchors, 0.5);
        assert_eq!(d.len(), 1);
        let a = anchors[i];
        let d = d[0];
        assert!((d.xmin - (a.cx + 0.1 - 0.1)).abs() < 1e-5);
        assert!((d.ymax - (a.cy - 0.1 + 0.15)).abs() < 1e-5);
        assert!((d.keypoints[0].x - (a.cx + 0.05)).abs() < 1e-5);
        assert!((d.keypoints[0].y - a.cy).abs() < 1e-5);
        assert!((d.score - 0.9).abs() < 1e-5);
    }

    #[test]
    fn weighted_nms_merges_overlapping_boxes() {
        let mk = |x: f32, score: f32| Detection {
            xmin: x,
            ymin: 0.0,
            xmax: x + 1.0,
            ymax: 1.0,
            keypoints: [Vec2::new(x, 0.0); 4],
            score,
        };
        let out = weighted_nms(vec![mk(0.0, 0.6), mk(0.1, 0.9), mk(5.0, 0.7)], 0.5);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let expected = (0.0 * 0.6 + 0.1 * 0.9) / 1.5;
        assert!((out[0].xmin - expected).abs() < 1e-6);
        assert_eq!(out[1].xmin, 5.0);
    }

    #[test]
    fn unletterbox_maps_padded_square_to_frame() {
        let d = Detection {
            xmin: 0.0,
            ymin: 0.25,
            xmax: 1.0,
            ymax: 0.75,
            keypoints: [Vec2::new(0.5, 0.5); 4],
            score: 1.0,
        };
        let f = d.unletterbox(Letterbox {
            pad_x: 0.0,
            pad_y: 0.25,
        });
        assert_eq!((f.ymin, f.ymax), (0.0, 1.0));
        assert_eq!(f.keypoints[0], Vec2::new(0.5, 0.5));
    }
}
