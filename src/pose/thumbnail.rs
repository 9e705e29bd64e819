//! One picture per person, for choosing whom to solve after the fact: the
//! frame where the tracker saw her largest and surest, cropped square
//! around her and encoded as JPEG.
//!
//! Crops are sampled with the landmark crop's own sampler (upright, edge
//! pixels repeated), so no second colour conversion exists to drift from
//! the model's input.

use std::collections::BTreeMap;

use super::crop::{crop_square, Border};
use super::roi::Roi;
use super::track::TrackedPose;
use crate::video::sample::ValueRange;
use crate::video::Frame;

/// Thumbnail side, pixels.
pub const SIZE: usize = 160;

/// A new candidate replaces the kept one only when this much better, so a
/// steady person is cropped a handful of times, not on every frame.
const IMPROVEMENT: f32 = 1.25;

/// The thumbnail's margin around the landmark crop: the crop is already
/// the body's square ×1.25; a little more keeps hands and feet inside.
const MARGIN: f32 = 1.1;

/// How good a picture of someone the crop `roi` makes: larger and surer
/// is better, and the share of it inside the picture counts twice. A crop
/// half outside is mostly repeated edge pixels (someone walking in behind
/// a tree at the picture's side showed as the tree).
fn picture_score(presence: f32, roi: &Roi, width: f32, height: f32) -> f32 {
    let half = 0.5 * roi.size * MARGIN;
    let span = |c: f32, limit: f32| ((c + half).min(limit) - (c - half).max(0.0)).max(0.0);
    let inside = span(roi.cx, width) * span(roi.cy, height) / (2.0 * half).powi(2).max(1.0);
    presence * roi.size * inside * inside
}

/// RGB 0…255, unchanged.
const RGB: ValueRange = ValueRange {
    scale: 1.0,
    offset: 0.0,
};

/// The best crop so far of each track.
#[derive(Default)]
pub struct ThumbnailPicker {
    best: BTreeMap<u32, (f32, Vec<u8>)>,
}

impl ThumbnailPicker {
    /// Considers `pose` on `frame` (the frame the pose belongs to).
    pub fn offer(&mut self, pose: &TrackedPose, frame: &Frame) {
        if pose.frame_index != frame.index {
            return;
        }
        let (w, h) = frame.upright_size();
        let score = picture_score(pose.pose.presence, &pose.roi, w as f32, h as f32);
        if let Some((kept, _)) = self.best.get(&pose.track_id) {
            if score < kept * IMPROVEMENT {
                return;
            }
        }
        // Slid into the picture where it fits, so the picture shows more of
        // the scene around her rather than repeated edge pixels.
        let size = pose.roi.size * MARGIN;
        let slide = |c: f32, limit: f32| {
            if size <= limit {
                c.clamp(size / 2.0, limit - size / 2.0)
            } else {
                c
            }
        };
        let roi = Roi {
            cx: slide(pose.roi.cx, w as f32),
            cy: slide(pose.roi.cy, h as f32),
            size,
            rotation: 0.0,
        };
        let mut rgb = vec![0f32; SIZE * SIZE * 3];
        crop_square(frame, &roi, SIZE, Border::Replicate, RGB, &mut rgb);
        let bytes = rgb
            .iter()
            .map(|v| v.round().clamp(0.0, 255.0) as u8)
            .collect();
        self.best.insert(pose.track_id, (score, bytes));
    }

    /// Each track's thumbnail as JPEG bytes.
    pub fn finish(self) -> BTreeMap<u32, Vec<u8>> {
        self.best
            .into_iter()
            .filter_map(|(id, (_, rgb))| Some((id, encode_jpeg(&rgb, SIZE)?)))
            .collect()
    }
}

/// `rgb` (side×side×3) as a JPEG at quality 85; `None` only if the encoder
/// refuses the buffer, which a correct size never makes it do.
pub fn encode_jpeg(rgb: &[u8], side: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    let side = u16::try_from(side).ok()?;
    encoder
        .encode(rgb, side, side, jpeg_encoder::ColorType::Rgb)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_inside_the_picture_beats_a_larger_one_half_out_of_it() {
        let roi = |cx: f32, size: f32| Roi {
            cx,
            cy: 500.0,
            size,
            rotation: 0.0,
        };
        let (w, h) = (1768.0, 994.0);
        let half_out = picture_score(1.0, &roi(1768.0, 400.0), w, h);
        let inside = picture_score(1.0, &roi(1000.0, 300.0), w, h);
        assert!(inside > half_out, "{inside} vs {half_out}");
        // Wholly inside, the larger and surer crop still wins.
        assert!(picture_score(1.0, &roi(1000.0, 350.0), w, h) > inside);
        assert!(picture_score(0.5, &roi(1000.0, 300.0), w, h) < inside);
    }

    #[test]
    fn jpeg_has_markers_and_size() {
        let rgb: Vec<u8> = (0..SIZE * SIZE * 3).map(|i| (i % 251) as u8).collect();
        let jpg = encode_jpeg(&rgb, SIZE).unwrap();
        assert_eq!(&jpg[..2], &[0xFF, 0xD8], "SOI");
        assert_eq!(&jpg[jpg.len() - 2..], &[0xFF, 0xD9], "EOI");
        assert!(jpg.len() > 500);
    }
}
