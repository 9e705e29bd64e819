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
        let score = pose.pose.presence * pose.roi.size;
        if let Some((kept, _)) = self.best.get(&pose.track_id) {
            if score < kept * IMPROVEMENT {
                return;
            }
        }
        let roi = Roi {
            rotation: 0.0,
            size: pose.roi.size * MARGIN,
            ..pose.roi
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
    fn jpeg_has_markers_and_size() {
        let rgb: Vec<u8> = (0..SIZE * SIZE * 3).map(|i| (i % 251) as u8).collect();
        let jpg = encode_jpeg(&rgb, SIZE).unwrap();
        assert_eq!(&jpg[..2], &[0xFF, 0xD8], "SOI");
        assert_eq!(&jpg[jpg.len() - 2..], &[0xFF, 0xD9], "EOI");
        assert!(jpg.len() > 500);
    }
}
