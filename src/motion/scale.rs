//! Skeleton scale: the subject's bone lengths for the whole clip.
//!
//! One set of lengths per clip, left/right symmetric and constant, so the rig
//! never stretches. Proportions are medians over the frames where the model
//! saw the body well (filled frames and poorly visible ones say nothing new
//! and pull the median towards whatever the fill made up). The absolute size
//! comes from the model's metric world landmarks unless the user gives the
//! subject's height, which then sets it exactly: a single camera cannot tell
//! a tall person far away from a short one nearby, and the model's own
//! metric estimate varies little between adults.

use glam::Vec3;
use serde::{Deserialize, Serialize};

use crate::pose::{PoseObservation, NUM_LANDMARKS};
use crate::rig::{BodyMeasurements, Skeleton};

/// Heights `--height` accepts, metres: a child to a very tall adult (the
/// rig's plausibility ranges scale with the person inside these).
pub const HEIGHT_RANGE_M: (f32, f32) = (1.0, 2.3);

/// A frame counts as well seen when the mean visibility of its landmarks is
/// at least this.
const MIN_MEAN_VISIBILITY: f32 = 0.6;

/// Fewer well-seen frames than this: every observed frame is used.
const MIN_FRAMES: usize = 10;

/// Where the skeleton's size came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeightSource {
    /// The model's metric world landmarks.
    Measured,
    /// The subject's height as given by the user.
    Given,
}

/// The clip's skeleton size, as recorded in keypoints.json and the report.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkeletonScale {
    /// Standing height of the rig: floor to the top of the head, metres.
    pub height_m: f32,
    pub height_source: HeightSource,
    /// The segment lengths the rig is built from.
    pub measurements: BodyMeasurements,
}

/// The clip's measurements from `observed` (the model's own frames, not
/// filled ones; world landmarks in output space) scaled to `height_m` when
/// given. `height_m` outside [`HEIGHT_RANGE_M`] is the caller's to refuse.
pub fn measure(
    observed: &[(&PoseObservation, [Vec3; NUM_LANDMARKS])],
    height_m: Option<f32>,
) -> SkeletonScale {
    let well_seen: Vec<[Vec3; NUM_LANDMARKS]> = observed
        .iter()
        .filter(|(p, _)| mean_visibility(p) >= MIN_MEAN_VISIBILITY)
        .map(|(_, w)| *w)
        .collect();
    let frames: Vec<[Vec3; NUM_LANDMARKS]> = if well_seen.len() >= MIN_FRAMES {
        well_seen
    } else {
        observed.iter().map(|(_, w)| *w).collect()
    };
    let measured = Skeleton::t_pose(&BodyMeasurements::from_world_frames(&frames));
    match height_m {
        Some(h) if h.is_finite() && h > 0.0 => {
            let m = measured.measurements().scaled(h / measured.height());
            SkeletonScale {
                height_m: Skeleton::t_pose(&m).height(),
                height_source: HeightSource::Given,
                measurements: m,
            }
        }
        _ => SkeletonScale {
            height_m: measured.height(),
            height_source: HeightSource::Measured,
            measurements: *measured.measurements(),
        },
    }
}

fn mean_visibility(p: &PoseObservation) -> f32 {
    p.image.iter().map(|l| l.visibility).sum::<f32>() / NUM_LANDMARKS as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pose::ImageLandmark;

    fn observation(visibility: f32) -> PoseObservation {
        PoseObservation {
            image: [ImageLandmark {
                visibility,
                ..ImageLandmark::default()
            }; NUM_LANDMARKS],
            world: [Vec3::ZERO; NUM_LANDMARKS],
            presence: 1.0,
        }
    }

    #[test]
    fn a_given_height_is_met_exactly_and_keeps_proportions() {
        let subject = Skeleton::t_pose(&BodyMeasurements {
            thigh: 0.40,
            shin: 0.39,
            torso: 0.47,
            ..BodyMeasurements::default()
        });
        let w = subject.rest_landmarks_hip_centred();
        let seen = observation(0.9);
        let frames = vec![(&seen, w); 12];
        let measured = measure(&frames, None);
        assert_eq!(measured.height_source, HeightSource::Measured);
        assert!((measured.height_m - subject.height()).abs() < 1e-4);
        for h in [HEIGHT_RANGE_M.0, 1.82, HEIGHT_RANGE_M.1] {
            let given = measure(&frames, Some(h));
            assert_eq!(given.height_source, HeightSource::Given);
            assert!((given.height_m - h).abs() < 1e-4, "{h}: {}", given.height_m);
            let rig = Skeleton::t_pose(&given.measurements);
            assert!((rig.height() - h).abs() < 1e-4, "{h}: rig {}", rig.height());
            let ratio = given.measurements.thigh / given.measurements.torso;
            assert!(
                (ratio - 0.40 / 0.47).abs() < 1e-4,
                "{h}: proportions {ratio}"
            );
        }
    }

    #[test]
    fn poorly_seen_frames_are_left_out_when_enough_are_well_seen() {
        let tall = Skeleton::t_pose(&BodyMeasurements {
            thigh: 0.50,
            ..BodyMeasurements::default()
        });
        let short = Skeleton::default();
        let (good, bad) = (observation(0.9), observation(0.2));
        let mut frames = vec![(&good, tall.rest_landmarks_hip_centred()); 10];
        frames.extend(vec![(&bad, short.rest_landmarks_hip_centred()); 15]);
        let m = measure(&frames, None);
        assert!((m.measurements.thigh - 0.50).abs() < 1e-4);
    }
}
