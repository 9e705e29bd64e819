//! Decoding YOLOX-nano, the general person detector: its letterboxed BGR
//! input, the per-cell boxes on three strides, the person class, hard NMS,
//! and the detection expressed the way the tracker builds a crop from it.
//!
//! The model is a COCO detector: it finds people side by side, small and
//! far, which BlazePose's own detector (built for one person close to the
//! camera) merges or misses. It gives a box only, so the crop for a new
//! person is the box's square grown by [`super::roi::ROI_SCALE`]; the
//! landmarks place every crop after that.
//!
//! The input square may be turned (a multiple of 90° for the rotated
//! passes that look for someone upside down or lying): boxes are mapped
//! back through the same [`Roi`] the input was sampled from.

use glam::Vec2;

use super::detect::Detection;
use super::roi::{BoxPx, Roi};
use crate::video::sample::ValueRange;

/// The model's input side in pixels.
pub const INPUT_SIZE: usize = 416;
/// Values per cell: box (4), objectness, 80 class scores.
const VALUES_PER_CELL: usize = 85;
/// COCO class 0.
const PERSON: usize = 0;
/// Strides of the three output grids, in input pixels.
const STRIDES: [usize; 3] = [8, 16, 32];
/// IoU above which a weaker box is the same person (YOLOX's demo value).
pub const NMS_IOU: f32 = 0.45;
/// Output read.
pub const OUTPUTS: [&str; 1] = ["output"];

/// Pixel values as the model was trained on them: 0…255, no scaling.
pub const RANGE: ValueRange = ValueRange {
    scale: 1.0,
    offset: 0.0,
};

/// NHWC RGB (what the crop sampler writes) to NCHW BGR (what YOLOX reads).
pub fn to_nchw_bgr(nhwc_rgb: &[f32], out: &mut [f32]) {
    let plane = nhwc_rgb.len() / 3;
    for (i, px) in nhwc_rgb.chunks_exact(3).enumerate() {
        out[i] = px[2];
        out[plane + i] = px[1];
        out[2 * plane + i] = px[0];
    }
}

/// People in one run's `output`, as boxes in input pixels with scores,
/// best first, after NMS.
pub fn decode(output: &[f32], min_score: f32) -> Vec<(BoxPx, f32)> {
    let mut found = Vec::new();
    let mut cell = 0;
    for stride in STRIDES {
        let side = INPUT_SIZE / stride;
        for gy in 0..side {
            for gx in 0..side {
                let Some(v) = output.get(cell * VALUES_PER_CELL..(cell + 1) * VALUES_PER_CELL)
                else {
                    return nms(found);
                };
                cell += 1;
                let score = v[4] * v[5 + PERSON];
                if score < min_score || score.is_nan() {
                    continue;
                }
                let s = stride as f32;
                let cx = (v[0] + gx as f32) * s;
                let cy = (v[1] + gy as f32) * s;
                let (w, h) = (v[2].exp() * s, v[3].exp() * s);
                if !(w.is_finite() && h.is_finite()) {
                    continue;
                }
                let b = BoxPx::around(Vec2::new(cx, cy), Vec2::new(w, h));
                found.push((b, score));
            }
        }
    }
    nms(found)
}

/// Hard NMS, best first.
fn nms(mut boxes: Vec<(BoxPx, f32)>) -> Vec<(BoxPx, f32)> {
    boxes.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut kept: Vec<(BoxPx, f32)> = Vec::new();
    for (b, s) in boxes {
        if kept.iter().all(|(k, _)| k.iou(&b) <= NMS_IOU) {
            kept.push((b, s));
        }
    }
    kept
}

/// A box found in the input square sampled from `square` (frame pixels),
/// as a [`Detection`] normalised to the `width`×`height` frame: the box
/// around the mapped corners, keypoint 0 its centre and keypoint 1 half
/// its long side towards the square's top (the person's head when she
/// stood upright in that square).
pub fn to_detection(b: &BoxPx, score: f32, square: &Roi, width: f32, height: f32) -> Detection {
    let n = INPUT_SIZE as f32;
    let c = b.center() / n;
    let half = (b.xmax - b.xmin).max(b.ymax - b.ymin) / 2.0 / n;
    Detection {
        xmin: b.xmin / n,
        ymin: b.ymin / n,
        xmax: b.xmax / n,
        ymax: b.ymax / n,
        keypoints: [c, c - Vec2::new(0.0, half), Vec2::ZERO, Vec2::ZERO],
        score,
    }
    .through(square, width, height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::FRAC_PI_2;

    fn output_with(cells: &[(usize, [f32; 6])]) -> Vec<f32> {
        let mut out = vec![0.0; 3549 * VALUES_PER_CELL];
        for &(cell, v) in cells {
            out[cell * VALUES_PER_CELL..cell * VALUES_PER_CELL + 6].copy_from_slice(&v);
        }
        out
    }

    #[test]
    fn decodes_cells_on_every_stride_and_keeps_the_best_of_overlaps() {
        // Cell (x 3, y 2) of the stride-8 grid; the first stride-16 cell;
        // and a weaker copy of the first box one cell over.
        let first16 = 52 * 52;
        let out = output_with(&[
            (2 * 52 + 3, [0.5, 0.5, 2f32.ln(), 3f32.ln(), 0.9, 0.9]),
            (2 * 52 + 4, [-0.5, 0.5, 2f32.ln(), 3f32.ln(), 0.8, 0.9]),
            (first16, [0.0, 0.0, 1f32.ln(), 1f32.ln(), 0.9, 0.2]),
        ]);
        let found = decode(&out, 0.5);
        assert_eq!(found.len(), 1, "{found:?}");
        let (b, s) = found[0];
        assert!((s - 0.81).abs() < 1e-6);
        assert!((b.center().x - 28.0).abs() < 1e-4 && (b.center().y - 20.0).abs() < 1e-4);
        assert!((b.xmax - b.xmin - 16.0).abs() < 1e-3 && (b.ymax - b.ymin - 24.0).abs() < 1e-3);
        // The stride-16 cell passes a lower threshold: it is decoded too.
        assert_eq!(decode(&out, 0.1).len(), 2);
    }

    #[test]
    fn a_box_in_a_turned_square_maps_back_with_its_head_direction() {
        // The square covers a 416-pixel frame, turned a quarter: a person
        // standing upright in it lies in the frame.
        let square = Roi {
            cx: 208.0,
            cy: 208.0,
            size: 416.0,
            rotation: FRAC_PI_2,
        };
        let b = BoxPx {
            xmin: 188.0,
            ymin: 108.0,
            xmax: 228.0,
            ymax: 308.0,
        };
        let d = to_detection(&b, 0.9, &square, 416.0, 416.0);
        // Tall in the square, wide in the frame.
        assert!((d.xmax - d.xmin) * 416.0 > 190.0 && (d.ymax - d.ymin) * 416.0 < 50.0);
        let centre = d.keypoints[0] * 416.0;
        let head = d.keypoints[1] * 416.0;
        assert!((centre - Vec2::new(208.0, 208.0)).length() < 1e-3);
        // Up in the square (−y) is +x in the frame for this turn.
        assert!((head - Vec2::new(308.0, 208.0)).length() < 1e-3, "{head}");
        let roi = Roi::from_points(centre, head).unwrap();
        assert!((roi.rotation - square.rotation).abs() < 1e-5);
    }

    #[test]
    fn nchw_bgr_swaps_channels_into_planes() {
        let nhwc = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mut out = [0.0; 6];
        to_nchw_bgr(&nhwc, &mut out);
        assert_eq!(out, [3.0, 6.0, 2.0, 5.0, 1.0, 4.0]);
    }
}
