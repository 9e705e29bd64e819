//! An animation clip of the rig: what every exporter (glTF, later FBX and
//! BVH) consumes.

use glam::{Quat, Vec3};

use super::skeleton::Skeleton;
use super::solve::{make_continuous, solve_frame};
use crate::pose::NUM_LANDMARKS;

/// Sampled motion of a [`Skeleton`]: per frame, the hips' position in output
/// space and one local rotation per joint (relative to the rest pose, joint
/// index order). Frame `i` is at time `i / fps` seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Clip {
    pub fps: f32,
    pub root_translation: Vec<Vec3>,
    pub rotations: Vec<Vec<Quat>>,
}

/// Why a clip cannot be exported.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClipProblem {
    #[error("the clip has no frames")]
    Empty,
    #[error("frame rate {0} is not a positive finite number")]
    BadFps(f32),
    #[error("{translations} root translations for {rotations} rotation frames")]
    LengthMismatch {
        translations: usize,
        rotations: usize,
    },
    #[error("frame {frame} has {got} rotations, the rig has {expected} joints")]
    JointCount {
        frame: usize,
        expected: usize,
        got: usize,
    },
    #[error("frame {frame} has a non-finite or zero-length value")]
    NonFinite { frame: usize },
}

impl Clip {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.rotations.len()
    }

    /// True when there is no frame.
    pub fn is_empty(&self) -> bool {
        self.rotations.is_empty()
    }

    /// Time of the last frame: `(len - 1) / fps` (0 for a single frame).
    pub fn duration(&self) -> f32 {
        if self.len() < 2 || !self.fps.is_finite() || self.fps <= 0.0 {
            0.0
        } else {
            (self.len() - 1) as f32 / self.fps
        }
    }

    /// Checks that the clip fits `skel` and holds only usable numbers.
    pub fn check(&self, skel: &Skeleton) -> Result<(), ClipProblem> {
        if self.is_empty() {
            return Err(ClipProblem::Empty);
        }
        if !(self.fps.is_finite() && self.fps > 0.0) {
            return Err(ClipProblem::BadFps(self.fps));
        }
        if self.root_translation.len() != self.rotations.len() {
            return Err(ClipProblem::LengthMismatch {
                translations: self.root_translation.len(),
                rotations: self.rotations.len(),
            });
        }
        for (frame, (t, rots)) in self
            .root_translation
            .iter()
            .zip(&self.rotations)
            .enumerate()
        {
            if rots.len() != skel.len() {
                return Err(ClipProblem::JointCount {
                    frame,
                    expected: skel.len(),
                    got: rots.len(),
                });
            }
            let bad_rot = |q: &Quat| !q.is_finite() || q.length_squared() <= 1e-12;
            if !t.is_finite() || rots.iter().any(bad_rot) {
                return Err(ClipProblem::NonFinite { frame });
            }
        }
        Ok(())
    }

    /// Solves every frame of hip-centred output-space `world` landmarks and
    /// pairs it with `root_translation` (the hips' positions), with
    /// sign-continuous rotations. Extra entries of the longer input are
    /// dropped.
    pub fn solve(
        skel: &Skeleton,
        fps: f32,
        root_translation: &[Vec3],
        world: &[[Vec3; NUM_LANDMARKS]],
    ) -> Clip {
        let n = root_translation.len().min(world.len());
        let mut rotations: Vec<Vec<Quat>> =
            world[..n].iter().map(|w| solve_frame(skel, w)).collect();
        make_continuous(&mut rotations);
        Clip {
            fps,
            root_translation: root_translation[..n].to_vec(),
            rotations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rest_clip(skel: &Skeleton, n: usize) -> Clip {
        Clip {
            fps: 30.0,
            root_translation: vec![skel.rest_root_translation(); n],
            rotations: vec![vec![Quat::IDENTITY; skel.len()]; n],
        }
    }

    #[test]
    fn check_reports_each_problem() {
        let s = Skeleton::default();
        assert_eq!(rest_clip(&s, 0).check(&s), Err(ClipProblem::Empty));
        assert_eq!(rest_clip(&s, 3).check(&s), Ok(()));
        let mut c = rest_clip(&s, 3);
        c.fps = f32::NAN;
        assert!(matches!(c.check(&s), Err(ClipProblem::BadFps(_))));
        let mut c = rest_clip(&s, 3);
        c.root_translation.pop();
        assert!(matches!(
            c.check(&s),
            Err(ClipProblem::LengthMismatch { .. })
        ));
        let mut c = rest_clip(&s, 3);
        c.rotations[1].pop();
        assert!(matches!(
            c.check(&s),
            Err(ClipProblem::JointCount { frame: 1, .. })
        ));
        let mut c = rest_clip(&s, 3);
        c.rotations[2][4] = Quat::from_xyzw(0.0, 0.0, 0.0, 0.0);
        assert_eq!(c.check(&s), Err(ClipProblem::NonFinite { frame: 2 }));
    }

    #[test]
    fn duration_is_last_frame_time() {
        let s = Skeleton::default();
        assert_eq!(rest_clip(&s, 31).duration(), 1.0);
        assert_eq!(rest_clip(&s, 1).duration(), 0.0);
        assert_eq!(rest_clip(&s, 0).duration(), 0.0);
    }

    #[test]
    fn solve_pairs_frames_and_is_continuous() {
        let s = Skeleton::default();
        let w = s.rest_landmarks_hip_centred();
        let c = Clip::solve(&s, 24.0, &[Vec3::ZERO; 4], &[w; 3]);
        assert_eq!((c.len(), c.root_translation.len()), (3, 3));
        assert_eq!(c.check(&s), Ok(()));
    }
}
