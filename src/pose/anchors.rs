//! SSD anchors of the BlazePose person detector (MediaPipe's
//! SsdAnchorsCalculator with the pose_detection options).
//!
//! Five layers with strides 8, 16, 32, 32, 32; layers of equal stride share
//! one feature map, each layer adds two anchors per cell, and with
//! `fixed_anchor_size` every anchor is 1×1, so only the centres matter.

/// Anchor centres, normalised to the 224×224 input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anchor {
    pub cx: f32,
    pub cy: f32,
}

/// The detector's input side in pixels.
pub const INPUT_SIZE: usize = 224;

/// Number of anchors (= rows of the detector's outputs).
pub const NUM_ANCHORS: usize = 2254;

const STRIDES: [usize; 5] = [8, 16, 32, 32, 32];

/// The 2254 anchors in the model's output order: group → y → x → anchor.
pub fn pose_detector_anchors() -> Vec<Anchor> {
    let mut anchors = Vec::with_capacity(NUM_ANCHORS);
    let mut layer = 0;
    while layer < STRIDES.len() {
        let stride = STRIDES[layer];
        // Consecutive layers with one stride are one group: their anchors
        // interleave per cell rather than following each other.
        let mut per_cell = 0;
        while layer < STRIDES.len() && STRIDES[layer] == stride {
            per_cell += 2; // one aspect ratio + one interpolated anchor
            layer += 1;
        }
        let fm = INPUT_SIZE.div_ceil(stride);
        for y in 0..fm {
            for x in 0..fm {
                let a = Anchor {
                    cx: (x as f32 + 0.5) / fm as f32,
                    cy: (y as f32 + 0.5) / fm as f32,
                };
                anchors.extend(std::iter::repeat_n(a, per_cell));
            }
        }
    }
    anchors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_matches_the_model_output() {
        assert_eq!(pose_detector_anchors().len(), NUM_ANCHORS);
    }

    #[test]
    fn layout_follows_mediapipe_order() {
        let a = pose_detector_anchors();
        // First cell of the stride-8 map (28×28), two anchors.
        assert_eq!(
            a[0],
            Anchor {
                cx: 0.5 / 28.0,
                cy: 0.5 / 28.0
            }
        );
        assert_eq!(a[0], a[1]);
        assert_eq!(a[2].cx, 1.5 / 28.0);
        // The stride-16 group starts after 28·28·2 anchors.
        assert_eq!(
            a[1568],
            Anchor {
                cx: 0.5 / 14.0,
                cy: 0.5 / 14.0
            }
        );
        // The stride-32 group (three layers) has six anchors per cell.
        assert_eq!(
            a[1960],
            Anchor {
                cx: 0.5 / 7.0,
                cy: 0.5 / 7.0
            }
        );
        assert_eq!(a[1965], a[1960]);
        assert_eq!(a[1966].cx, 1.5 / 7.0);
        let last = a[NUM_ANCHORS - 1];
        assert!((last.cx - 6.5 / 7.0).abs() < 1e-6 && (last.cy - 6.5 / 7.0).abs() < 1e-6);
    }
}
