//! Decoding the BlazePose GHUM 3D landmark model for one rotated crop:
//! sigmoid on visibility/presence, heatmap refinement of x/y, projection from
//! the crop to frame pixels, and rotation of the world landmarks by the crop
//! angle (MediaPipe's Tasks behaviour, BLAZEPOSE.md §5).

use glam::{Vec2, Vec3};

use super::roi::Roi;
use super::sigmoid;
use super::{ImageLandmark, PoseObservation, NUM_LANDMARKS};

/// The landmark model's input side in pixels.
pub const INPUT_SIZE: usize = 256;
/// Landmarks the model emits (33 body + 6 auxiliary).
pub const MODEL_LANDMARKS: usize = 39;
/// Heatmap side and refinement window.
pub const HEATMAP_SIZE: usize = 64;
const REFINE_KERNEL: usize = 7;
const REFINE_MIN_CONFIDENCE: f32 = 0.5;

/// Output names in the order [`decode`] takes them.
pub const OUTPUT_NAMES: [&str; 4] = ["Identity", "Identity_1", "Identity_3", "Identity_4"];

/// One crop's result: the pose in frame terms plus the two auxiliary
/// landmarks that place the next frame's crop.
#[derive(Clone, Debug, PartialEq)]
pub struct LandmarkResult {
    pub pose: PoseObservation,
    /// Landmarks 33 (centre) and 34 (size/direction), frame pixels.
    pub aux: [Vec2; 2],
}

/// Refines normalised crop coordinates with the heatmap (MediaPipe's
/// RefineLandmarksFromHeatmapCalculator, kernel 7, min confidence 0.5).
fn refine(xn: f32, yn: f32, heatmap: &[f32], k: usize) -> (f32, f32) {
    let hs = HEATMAP_SIZE as i64;
    let col = (xn * HEATMAP_SIZE as f32).trunc() as i64;
    let row = (yn * HEATMAP_SIZE as f32).trunc() as i64;
    if !(0..hs).contains(&col) || !(0..hs).contains(&row) {
        return (xn, yn);
    }
    let half = (REFINE_KERNEL / 2) as i64;
    let (mut sum, mut sx, mut sy, mut max) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for r in (row - half).max(0)..=(row + half).min(hs - 1) {
        for c in (col - half).max(0)..=(col + half).min(hs - 1) {
            let idx = (r as usize * HEATMAP_SIZE + c as usize) * MODEL_LANDMARKS + k;
            let conf = sigmoid(heatmap[idx]);
            sum += conf;
            sx += c as f32 * conf;
            sy += r as f32 * conf;
            max = max.max(conf);
        }
    }
    if max >= REFINE_MIN_CONFIDENCE && sum > 0.0 {
        (
            sx / sum / HEATMAP_SIZE as f32,
            sy / sum / HEATMAP_SIZE as f32,
        )
    } else {
        (xn, yn)
    }
}

/// Decodes one run of the landmark model on `roi`. `raw` is `Identity`
/// (195), `presence` `Identity_1`, `heatmap` `Identity_3` (64·64·39) and
/// `world` `Identity_4` (117). Returns `None` when the buffers are short or
/// hold non-finite values.
pub fn decode(
    raw: &[f32],
    presence: f32,
    heatmap: &[f32],
    world: &[f32],
    roi: &Roi,
) -> Option<LandmarkResult> {
    if raw.len() < MODEL_LANDMARKS * 5
        || world.len() < NUM_LANDMARKS * 3
        || heatmap.len() < HEATMAP_SIZE * HEATMAP_SIZE * MODEL_LANDMARKS
    {
        return None;
    }
    let n = INPUT_SIZE as f32;
    let (s, c) = roi.rotation.sin_cos();
    let project = |k: usize| -> (Vec2, f32) {
        let r = &raw[k * 5..k * 5 + 5];
        let (xn, yn) = refine(r[0] / n, r[1] / n, heatmap, k);
        (roi.crop_to_frame(xn, yn), r[2] / n * roi.size)
    };
    let mut image = [ImageLandmark::default(); NUM_LANDMARKS];
    let mut world_out = [Vec3::ZERO; NUM_LANDMARKS];
    for k in 0..NUM_LANDMARKS {
        let (p, z) = project(k);
        image[k] = ImageLandmark {
            x: p.x,
            y: p.y,
            z,
            visibility: sigmoid(raw[k * 5 + 3]),
            presence: sigmoid(raw[k * 5 + 4]),
        };
        let w = &world[k * 3..k * 3 + 3];
        // World landmarks come in the crop's frame; turning them by the crop
        // angle puts them back in the camera's (BLAZEPOSE.md §5).
        world_out[k] = Vec3::new(c * w[0] - s * w[1], s * w[0] + c * w[1], w[2]);
    }
    let aux = [project(33).0, project(34).0];
    let finite = image.iter().all(|l| l.x.is_finite() && l.y.is_finite())
        && world_out.iter().all(|w| w.is_finite())
        && aux.iter().all(|a| a.is_finite());
    finite.then_some(LandmarkResult {
        pose: PoseObservation {
            image,
            world: world_out,
            presence,
        },
        aux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank_heatmap() -> Vec<f32> {
        vec![-20.0; HEATMAP_SIZE * HEATMAP_SIZE * MODEL_LANDMARKS]
    }

    #[test]
    fn refinement_moves_to_the_heatmap_peak_centroid() {
        let mut hm = blank_heatmap();
        // Peak for landmark 2 spread over cells (10, 20) and (11, 20).
        for col in [10usize, 11] {
            hm[(20 * HEATMAP_SIZE + col) * MODEL_LANDMARKS + 2] = 20.0;
        }
        let (x, y) = refine(10.2 / 64.0, 20.9 / 64.0, &hm, 2);
        assert!((x - 10.5 / 64.0).abs() < 1e-3, "{x}");
        assert!((y - 20.0 / 64.0).abs() < 1e-3, "{y}");
        // Without confident cells nothing changes.
        let (x2, y2) = refine(0.3, 0.4, &blank_heatmap(), 2);
        assert_eq!((x2, y2), (0.3, 0.4));
        // Outside the grid nothing changes.
        assert_eq!(refine(1.2, 0.5, &hm, 2), (1.2, 0.5));
    }

    #[test]
    fn projection_and_world_rotation_follow_the_roi() {
        let mut raw = vec![0.0; MODEL_LANDMARKS * 5];
        let mut world = vec![0.0; NUM_LANDMARKS * 3];
        // Landmark 0 at the crop's top centre, visible.
        raw[0] = 128.0;
        raw[1] = 0.0;
        raw[2] = 64.0;
        raw[3] = 10.0;
        world[0] = 0.0;
        world[1] = -0.5;
        let roi = Roi {
            cx: 100.0,
            cy: 100.0,
            size: 80.0,
            rotation: std::f32::consts::FRAC_PI_2,
        };
        let r = decode(&raw, 0.9, &blank_heatmap(), &world, &roi).unwrap();
        let l = r.pose.image[0];
        // A quarter turn puts the crop's top on the frame's right.
        assert!(
            (l.x - 140.0).abs() < 1e-3 && (l.y - 100.0).abs() < 1e-3,
            "{l:?}"
        );
        assert!((l.z - 20.0).abs() < 1e-4);
        assert!(l.visibility > 0.99);
        // World "up" (−y) in the crop becomes +x in the camera frame.
        let w = r.pose.world[0];
        assert!((w.x - 0.5).abs() < 1e-6 && w.y.abs() < 1e-6, "{w:?}");
        assert_eq!(r.pose.presence, 0.9);
    }

    #[test]
    fn short_or_nan_outputs_are_rejected() {
        let roi = Roi {
            cx: 0.0,
            cy: 0.0,
            size: 10.0,
            rotation: 0.0,
        };
        assert!(decode(&[0.0; 10], 1.0, &blank_heatmap(), &[0.0; 117], &roi).is_none());
        let mut raw = vec![0.0; 195];
        raw[0] = f32::NAN;
        assert!(decode(&raw, 1.0, &blank_heatmap(), &[0.0; 117], &roi).is_none());
    }
}
