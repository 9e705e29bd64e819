//! The solved skeleton and clip as one exporter sees them: bones named by a
//! [`RigPreset`], an optional separate root bone for root motion, per-frame
//! local transforms, and the body mesh bound to those bones.
//!
//! Every writer (GLB, FBX, BVH) consumes an [`ExportRig`], so every format
//! carries the same motion. The rig is built in vidmocap's output space
//! (metres, Y up, facing +Z); [`Space`] maps it into a file's units and axes.

use glam::{Mat4, Quat, Vec3};
use serde::{Deserialize, Serialize};

use super::axes::BoneAxis;
use super::ExportError;
use crate::rig::{body_mesh, BodyMesh, Clip, ClipProblem, JointId, RigPreset, Skeleton};

/// Where the root motion (the subject moving through the scene) lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootMotion {
    /// The hips carry the whole translation (what Mixamo files do).
    #[default]
    Hips,
    /// A `root` bone on the floor under the hips carries the horizontal
    /// translation; the hips keep only their height (Unreal's convention).
    RootBone,
    /// As [`RootMotion::RootBone`], and the root also turns with the
    /// subject's heading (yaw about up); the hips keep the rest of their
    /// rotation. What engines that extract root rotation expect.
    RootBoneHeading,
}

impl RootMotion {
    /// The motion called `name` on the command line (`hips`, `root` or
    /// `root-heading`).
    pub fn from_id(name: &str) -> Option<RootMotion> {
        match name.trim().to_ascii_lowercase().as_str() {
            "hips" => Some(RootMotion::Hips),
            "root" | "root_bone" | "root-bone" => Some(RootMotion::RootBone),
            "root-heading" | "root_heading" | "root-yaw" => Some(RootMotion::RootBoneHeading),
            _ => None,
        }
    }

    /// What `preset`'s target expects: a root bone for Unreal, the hips
    /// for the others.
    pub fn for_preset(preset: RigPreset) -> RootMotion {
        match preset {
            RigPreset::Ue5 => RootMotion::RootBone,
            RigPreset::Generic | RigPreset::Mixamo => RootMotion::Hips,
        }
    }

    /// Whether a separate root bone carries the motion.
    pub fn has_root_bone(self) -> bool {
        self != RootMotion::Hips
    }
}

/// Length unit of FBX and BVH files (GLB is always metres).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Centimetres: what Unity, Unreal and Mixamo expect of FBX.
    #[default]
    Centimetres,
    Metres,
}

impl Units {
    /// File units per metre.
    pub fn per_metre(self) -> f32 {
        match self {
            Units::Centimetres => 100.0,
            Units::Metres => 1.0,
        }
    }

    /// `cm` or `m` (also the long spellings).
    pub fn from_id(name: &str) -> Option<Units> {
        match name.trim().to_ascii_lowercase().as_str() {
            "cm" | "centimetres" | "centimeters" => Some(Units::Centimetres),
            "m" | "metres" | "meters" => Some(Units::Metres),
            _ => None,
        }
    }
}

/// Which axis points up in FBX and BVH files (GLB is always Y up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpAxis {
    /// Y up, the subject facing +Z (Unity, Maya, Mixamo, glTF).
    #[default]
    Y,
    /// Z up, the subject facing -Y (Blender, 3ds Max, Unreal's world).
    Z,
}

impl UpAxis {
    /// `y` or `z`.
    pub fn from_id(name: &str) -> Option<UpAxis> {
        match name.trim().to_ascii_lowercase().as_str() {
            "y" => Some(UpAxis::Y),
            "z" => Some(UpAxis::Z),
            _ => None,
        }
    }
}

/// A file's coordinate space relative to vidmocap's output space.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Space {
    pub units: Units,
    pub up: UpAxis,
}

impl Space {
    /// Metres and Y up: output space itself.
    pub const OUTPUT: Space = Space {
        units: Units::Metres,
        up: UpAxis::Y,
    };

    /// The rotation taking output space's axes to this space's.
    pub fn basis(self) -> Quat {
        match self.up {
            UpAxis::Y => Quat::IDENTITY,
            // +90° about X: up (+Y) goes to +Z, forward (+Z) to -Y.
            UpAxis::Z => Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
        }
    }

    /// A position (or offset) in this space.
    pub fn point(self, v: Vec3) -> Vec3 {
        match self.up {
            UpAxis::Y => v * self.units.per_metre(),
            UpAxis::Z => Vec3::new(v.x, -v.z, v.y) * self.units.per_metre(),
        }
    }

    /// A local rotation in this space: the same rotation seen in the new
    /// axes (rest frames are axis-aligned, so conjugating is enough).
    pub fn rotation(self, q: Quat) -> Quat {
        match self.up {
            UpAxis::Y => q,
            UpAxis::Z => {
                let b = self.basis();
                (b * q * b.conjugate()).normalize()
            }
        }
    }
}

/// The stretch of the source video a motion covers, recorded in each
/// file's metadata so the motion can be lined up with the footage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceSpan {
    /// First and last video frame of the followed span (0-based, inclusive).
    pub first_frame: u64,
    pub last_frame: u64,
    /// The video's frame rate.
    pub fps: f64,
    /// Per motion frame: its time in the video, seconds.
    pub times: Vec<f64>,
}

impl SourceSpan {
    /// The video time of the span's first frame.
    pub fn start_s(&self) -> f64 {
        self.times.first().copied().unwrap_or(0.0)
    }
}

/// Where the keys' times start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBase {
    /// At the source video's timestamps: the first key is at the span's
    /// first video time.
    #[default]
    Video,
    /// At 0: the first key at 0 s, the rest at the video's spacing.
    Zero,
}

impl TimeBase {
    /// `video` or `zero`.
    pub fn from_id(name: &str) -> Option<TimeBase> {
        match name.trim().to_ascii_lowercase().as_str() {
            "video" => Some(TimeBase::Video),
            "zero" | "0" => Some(TimeBase::Zero),
            _ => None,
        }
    }
}

/// One bone of an export rig.
#[derive(Clone, Debug, PartialEq)]
pub struct Bone {
    pub name: String,
    pub parent: Option<usize>,
    /// Rest translation relative to the parent (output space).
    pub rest_translation: Vec3,
    /// The solved joint this bone carries; `None` for the extra root bone.
    pub joint: Option<JointId>,
}

/// A rig ready to write: bones parents-first, local transforms per frame.
#[derive(Clone, Debug)]
pub struct ExportRig {
    pub preset: RigPreset,
    pub root_motion: RootMotion,
    /// The local axis along each bone in FBX and GLB (see [`super::axes`]).
    pub bone_axis: BoneAxis,
    pub fps: f32,
    /// Per frame: the key's time in seconds (frame `i` at `i / fps` until
    /// [`ExportRig::with_source`] sets the video's timestamps).
    pub times: Vec<f64>,
    /// The stretch of video the motion covers, when known.
    pub source: Option<SourceSpan>,
    pub bones: Vec<Bone>,
    /// Per bone: whether its translation is animated (otherwise it keeps
    /// its rest translation in every frame).
    pub animated_translation: Vec<bool>,
    /// Per frame, per bone: local translation (output space).
    pub translations: Vec<Vec<Vec3>>,
    /// Per frame, per bone: local rotation relative to the rest pose.
    pub rotations: Vec<Vec<Quat>>,
    /// The body mesh in the bind (rest) pose; `joints` index `bones`.
    pub mesh: BodyMesh,
}

impl ExportRig {
    /// Renames `skel`'s joints by `preset`, adds a root bone if
    /// `root_motion` asks for one, and samples `clip` onto the bones.
    ///
    /// Errors: [`ExportError::EmptyMotion`] for a clip without frames,
    /// [`ExportError::Invalid`] for one that does not fit the skeleton.
    pub fn new(
        skel: &Skeleton,
        clip: &Clip,
        preset: RigPreset,
        root_motion: RootMotion,
    ) -> Result<ExportRig, ExportError> {
        clip.check(skel).map_err(|p| match p {
            ClipProblem::Empty => ExportError::EmptyMotion,
            other => ExportError::Invalid(other.to_string()),
        })?;
        let offset = usize::from(root_motion.has_root_bone());
        let mut bones = Vec::with_capacity(skel.len() + offset);
        if offset == 1 {
            bones.push(Bone {
                name: preset.root_name().to_string(),
                parent: None,
                rest_translation: Vec3::ZERO,
                joint: None,
            });
        }
        for joint in skel.joints() {
            bones.push(Bone {
                name: preset.bone_name(joint.id).to_string(),
                parent: match joint.parent {
                    Some(p) => Some(p + offset),
                    None if offset == 1 => Some(0),
                    None => None,
                },
                rest_translation: joint.rest_translation,
                joint: Some(joint.id),
            });
        }
        let hips = offset;
        let mut animated_translation = vec![false; bones.len()];
        animated_translation[..=hips].fill(true);

        let rest: Vec<Vec3> = bones.iter().map(|b| b.rest_translation).collect();
        let mut translations = Vec::with_capacity(clip.len());
        let mut rotations = Vec::with_capacity(clip.len());
        let mut heading = Heading::default();
        for (root, rots) in clip.root_translation.iter().zip(&clip.rotations) {
            let mut t = rest.clone();
            let mut r = Vec::with_capacity(bones.len());
            r.push(Quat::IDENTITY);
            r.extend(rots.iter().map(|q| q.normalize()));
            if offset == 1 {
                // The root follows the hips over the floor; the hips keep
                // their height, so root + hips is exactly the solved root.
                t[0] = Vec3::new(root.x, 0.0, root.z);
                t[hips] = Vec3::new(0.0, root.y, 0.0);
                if root_motion == RootMotion::RootBoneHeading {
                    // A turn about up leaves the hips' height where it is.
                    let yaw = heading.next(r[hips]);
                    r[0] = yaw;
                    r[hips] = (yaw.conjugate() * r[hips]).normalize();
                }
            } else {
                r.remove(0);
                t[hips] = *root;
            }
            translations.push(t);
            rotations.push(r);
        }

        let mut mesh = body_mesh(skel);
        for j in &mut mesh.joints {
            *j += offset as u16;
        }
        Ok(ExportRig {
            preset,
            root_motion,
            bone_axis: BoneAxis::for_preset(preset),
            fps: clip.fps,
            times: (0..clip.len())
                .map(|i| i as f64 / f64::from(clip.fps))
                .collect(),
            source: None,
            bones,
            animated_translation,
            translations,
            rotations,
            mesh,
        })
    }

    /// Records `source` and puts the keys at its video times (`Video`) or
    /// at the same spacing from 0 (`Zero`). A span that does not match the
    /// clip's frame count is refused.
    pub fn with_source(mut self, source: SourceSpan, base: TimeBase) -> Result<Self, ExportError> {
        if source.times.len() != self.frames() || source.times.iter().any(|t| !t.is_finite()) {
            return Err(ExportError::Invalid(format!(
                "the source span has {} times for {} frames",
                source.times.len(),
                self.frames()
            )));
        }
        let start = match base {
            TimeBase::Video => 0.0,
            TimeBase::Zero => source.start_s(),
        };
        self.times = source.times.iter().map(|t| t - start).collect();
        self.source = Some(source);
        Ok(self)
    }

    /// Time of the first key, seconds.
    pub fn start_s(&self) -> f64 {
        self.times.first().copied().unwrap_or(0.0)
    }

    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.rotations.len()
    }

    /// Children of bone `i`, in bone order.
    pub fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.bones.len()).filter(move |&c| self.bones[c].parent == Some(i))
    }

    /// Global rest transforms of every bone (bind pose), output space.
    pub fn rest_globals(&self) -> Vec<Mat4> {
        let mut out: Vec<Mat4> = Vec::with_capacity(self.bones.len());
        for b in &self.bones {
            let local = Mat4::from_translation(b.rest_translation);
            let g = match b.parent {
                Some(p) => out[p] * local,
                None => local,
            };
            out.push(g);
        }
        out
    }

    /// Global positions of every bone at `frame`, output space.
    pub fn global_positions(&self, frame: usize) -> Vec<Vec3> {
        let mut globals: Vec<(Vec3, Quat)> = Vec::with_capacity(self.bones.len());
        for (i, b) in self.bones.iter().enumerate() {
            let (t, r) = (self.translations[frame][i], self.rotations[frame][i]);
            let g = match b.parent {
                Some(p) => {
                    let (pt, pr) = globals[p];
                    (pt + pr * t, pr * r)
                }
                None => (t, r),
            };
            globals.push(g);
        }
        globals.into_iter().map(|g| g.0).collect()
    }
}

/// The subject's heading as a turn about up, unwrapped frame to frame.
#[derive(Default)]
struct Heading {
    last: Option<f32>,
}

impl Heading {
    /// The yaw of `hips` (a rotation from the rest pose, which faces +Z):
    /// where its forward axis points over the floor. A forward axis that
    /// points straight up or down keeps the last heading.
    fn next(&mut self, hips: Quat) -> Quat {
        let f = hips * Vec3::Z;
        let flat = (f.x * f.x + f.z * f.z).sqrt();
        let yaw = if flat > 1e-3 {
            let raw = f.x.atan2(f.z);
            match self.last {
                // Nearest to the last one, so it never jumps by a turn.
                Some(last) => {
                    let tau = std::f32::consts::TAU;
                    raw + ((last - raw) / tau).round() * tau
                }
                None => raw,
            }
        } else {
            self.last.unwrap_or(0.0)
        };
        self.last = Some(yaw);
        Quat::from_rotation_y(yaw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::global_positions;

    fn moving_clip(skel: &Skeleton) -> Clip {
        let n = 5;
        Clip {
            fps: 30.0,
            root_translation: (0..n)
                .map(|i| skel.rest_root_translation() + Vec3::new(0.1, -0.02, 0.3) * i as f32)
                .collect(),
            rotations: (0..n)
                .map(|i| {
                    let mut r = vec![Quat::IDENTITY; skel.len()];
                    r[0] = Quat::from_rotation_y(0.3 * i as f32);
                    r[JointId::LeftUpperArm.index()] = Quat::from_rotation_z(-0.2 * i as f32);
                    r
                })
                .collect(),
        }
    }

    #[test]
    fn both_root_motions_give_the_solved_positions() {
        let skel = Skeleton::default();
        let clip = moving_clip(&skel);
        for motion in [
            RootMotion::Hips,
            RootMotion::RootBone,
            RootMotion::RootBoneHeading,
        ] {
            let rig = ExportRig::new(&skel, &clip, RigPreset::Ue5, motion).unwrap();
            let offset = rig.bones.len() - skel.len();
            for f in 0..clip.len() {
                let want = global_positions(&skel, clip.root_translation[f], &clip.rotations[f]);
                let got = rig.global_positions(f);
                for (j, w) in want.iter().enumerate() {
                    assert!((got[j + offset] - *w).length() < 1e-5, "{motion:?} {f} {j}");
                }
            }
            if motion.has_root_bone() {
                assert_eq!(rig.bones[0].name, "root");
                assert_eq!(rig.bones[1].parent, Some(0));
                assert_eq!(rig.translations[3][0].y, 0.0);
            }
            if motion == RootMotion::RootBoneHeading {
                // The clip turns the hips 0.3 rad a frame about up: the
                // root takes the turn, the hips none of it.
                let yaw = rig.rotations[3][0];
                assert!(yaw.angle_between(Quat::from_rotation_y(0.9)) < 1e-4);
                assert!(rig.rotations[3][1].angle_between(Quat::IDENTITY) < 1e-4);
            }
        }
    }

    #[test]
    fn empty_clip_is_empty_motion() {
        let skel = Skeleton::default();
        let clip = Clip {
            fps: 30.0,
            ..Clip::default()
        };
        let err = ExportRig::new(&skel, &clip, RigPreset::Generic, RootMotion::Hips).unwrap_err();
        assert_eq!(err.code(), "export.empty_motion");
    }

    #[test]
    fn z_up_space_is_a_rotation_of_y_up() {
        let s = Space {
            units: Units::Metres,
            up: UpAxis::Z,
        };
        let q = Quat::from_rotation_y(0.7) * Quat::from_rotation_x(0.2);
        let v = Vec3::new(0.3, -0.4, 1.2);
        // Rotating then mapping equals mapping then rotating.
        let a = s.point(q * v);
        let b = s.rotation(q) * s.point(v);
        assert!((a - b).length() < 1e-5);
        assert_eq!(s.point(Vec3::Y), Vec3::Z);
        assert_eq!(s.point(Vec3::Z), -Vec3::Y);
    }
}
