//! Bone local axes as each target expects them, for the formats that carry
//! a rest orientation per bone (FBX, GLB).
//!
//! The solved rig's rest frames are all axis-aligned, so a file that wrote
//! them as they are would have every bone's axes parallel to the world's:
//! Blender, which draws a bone along its local +Y, shows legs pointing up
//! and arms pointing at the sky. Here each bone gets a rest orientation
//! whose primary axis runs towards its child ([`BoneAxis::Y`] for Mixamo
//! and generic, as Mixamo's FBX files; [`BoneAxis::X`] for UE5, as the UE5
//! Mannequin), the secondary axis as close to the subject's forward as the
//! bone allows (to up for bones that point forward, the feet). The motion
//! is converted to those frames, so global poses are unchanged: with `O`
//! a bone's rest orientation and `P` its parent's, a local rotation `q`
//! becomes `P⁻¹·q·O` and a local translation `t` becomes `P⁻¹·t`.
//!
//! BVH has no rest orientation (its rest pose is offsets only) and keeps
//! the axis-aligned frames.

use glam::{Mat3, Mat4, Quat, Vec3};
use serde::{Deserialize, Serialize};

use super::rig::{ExportRig, Space};
use crate::rig::RigPreset;

/// Which local axis runs along each bone, towards its child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoneAxis {
    /// +Y (Mixamo, Blender, Maya's default joint orient for Mixamo rigs).
    Y,
    /// +X (Unreal's Mannequin).
    X,
}

impl BoneAxis {
    /// The convention of `preset`'s target.
    pub fn for_preset(preset: RigPreset) -> BoneAxis {
        match preset {
            RigPreset::Generic | RigPreset::Mixamo => BoneAxis::Y,
            RigPreset::Ue5 => BoneAxis::X,
        }
    }

    /// `y` or `x`.
    pub fn from_id(name: &str) -> Option<BoneAxis> {
        match name.trim().to_ascii_lowercase().as_str() {
            "y" => Some(BoneAxis::Y),
            "x" => Some(BoneAxis::X),
            _ => None,
        }
    }
}

/// An [`ExportRig`] in a file's space with per-bone rest orientations.
pub struct OrientedRig<'a> {
    pub rig: &'a ExportRig,
    pub space: Space,
    /// Per bone: the global rest orientation of its axes (file space).
    pub axes: Vec<Quat>,
}

impl<'a> OrientedRig<'a> {
    /// Orients every bone of `rig` by `axis` in `space`.
    pub fn new(rig: &'a ExportRig, space: Space, axis: BoneAxis) -> OrientedRig<'a> {
        let rest: Vec<Vec3> = rig
            .rest_globals()
            .iter()
            .map(|m| space.point(m.w_axis.truncate()))
            .collect();
        let forward = space.point(Vec3::Z).normalize();
        let up = space.point(Vec3::Y).normalize();
        let mut axes: Vec<Quat> = Vec::with_capacity(rig.bones.len());
        for (b, bone) in rig.bones.iter().enumerate() {
            let inherited = bone.parent.map_or(Quat::IDENTITY, |p| axes[p]);
            let along = main_child(rig, b)
                .map(|c| rest[c] - rest[b])
                .filter(|d| d.length() > 1e-6)
                .map(Vec3::normalize);
            let q = match along {
                Some(d) => frame(
                    d,
                    if d.dot(forward).abs() > 0.7 {
                        up
                    } else {
                        forward
                    },
                    axis,
                ),
                // End bones (and zero-length ones) continue their parent.
                None => inherited,
            };
            axes.push(q);
        }
        OrientedRig { rig, space, axes }
    }

    fn parent_axes(&self, b: usize) -> Quat {
        self.rig.bones[b]
            .parent
            .map_or(Quat::IDENTITY, |p| self.axes[p])
    }

    /// Rest translation of bone `b` in its parent's axes.
    pub fn rest_translation(&self, b: usize) -> Vec3 {
        self.translation_of(b, self.rig.bones[b].rest_translation)
    }

    /// Rest rotation of bone `b` relative to its parent's axes.
    pub fn rest_rotation(&self, b: usize) -> Quat {
        (self.parent_axes(b).conjugate() * self.axes[b]).normalize()
    }

    /// Local translation of bone `b` at `frame`.
    pub fn translation(&self, frame: usize, b: usize) -> Vec3 {
        self.translation_of(b, self.rig.translations[frame][b])
    }

    /// Local rotation of bone `b` at `frame` (the whole local rotation, rest
    /// orientation included, as FBX and glTF store it).
    pub fn rotation(&self, frame: usize, b: usize) -> Quat {
        let q = self.space.rotation(self.rig.rotations[frame][b]);
        (self.parent_axes(b).conjugate() * q * self.axes[b]).normalize()
    }

    /// Every bone's global bind matrix (file space).
    pub fn binds(&self) -> Vec<Mat4> {
        let rest = self.rig.rest_globals();
        rest.iter()
            .zip(&self.axes)
            .map(|(m, q)| {
                Mat4::from_rotation_translation(*q, self.space.point(m.w_axis.truncate()))
            })
            .collect()
    }

    fn translation_of(&self, b: usize, t: Vec3) -> Vec3 {
        self.parent_axes(b).conjugate() * self.space.point(t)
    }
}

/// The child bone `b` points at: the one on the body's centre line where
/// there is a choice (the hips point at the spine, the upper chest at the
/// neck), else the first.
fn main_child(rig: &ExportRig, b: usize) -> Option<usize> {
    let centre = |c: &usize| {
        rig.bones[*c]
            .joint
            .is_none_or(|j| !j.name().starts_with("left_") && !j.name().starts_with("right_"))
    };
    let children: Vec<usize> = rig.children(b).collect();
    children
        .iter()
        .copied()
        .find(|c| children.len() > 1 && centre(c))
        .or_else(|| children.first().copied())
}

/// The rotation whose `axis` is `along` and whose Z is as close to
/// `towards` as that allows (right-handed).
fn frame(along: Vec3, towards: Vec3, axis: BoneAxis) -> Quat {
    let z = (towards - along * towards.dot(along)).normalize();
    let m = match axis {
        BoneAxis::Y => Mat3::from_cols(along.cross(z), along, z),
        BoneAxis::X => Mat3::from_cols(along, z.cross(along), z),
    };
    Quat::from_mat3(&m).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::rig::{RootMotion, Units, UpAxis};
    use crate::rig::{Clip, JointId, Skeleton};

    fn rig(preset: RigPreset, motion: RootMotion) -> ExportRig {
        let skel = Skeleton::default();
        let n = 3;
        let clip = Clip {
            fps: 30.0,
            root_translation: vec![skel.rest_root_translation(); n],
            rotations: (0..n)
                .map(|i| {
                    let mut r = vec![Quat::IDENTITY; skel.len()];
                    r[0] = Quat::from_rotation_y(0.4 * i as f32);
                    r[JointId::LeftShin.index()] = Quat::from_rotation_x(0.5 * i as f32);
                    r
                })
                .collect(),
        };
        ExportRig::new(&skel, &clip, preset, motion).unwrap()
    }

    /// Global (position, rotation) of every bone from the oriented locals.
    fn globals(o: &OrientedRig, frame: usize) -> Vec<(Vec3, Quat)> {
        let mut out: Vec<(Vec3, Quat)> = Vec::new();
        for (b, bone) in o.rig.bones.iter().enumerate() {
            let (t, r) = (o.translation(frame, b), o.rotation(frame, b));
            out.push(match bone.parent {
                Some(p) => (out[p].0 + out[p].1 * t, out[p].1 * r),
                None => (t, r),
            });
        }
        out
    }

    #[test]
    fn primary_axis_points_at_the_child_and_motion_is_unchanged() {
        for (preset, axis) in [(RigPreset::Mixamo, Vec3::Y), (RigPreset::Ue5, Vec3::X)] {
            for up in [UpAxis::Y, UpAxis::Z] {
                let r = rig(preset, RootMotion::RootBone);
                let space = Space {
                    units: Units::Centimetres,
                    up,
                };
                let o = OrientedRig::new(&r, space, BoneAxis::for_preset(preset));
                let rest = globals(&o, 0);
                for (b, bone) in r.bones.iter().enumerate() {
                    if let Some(c) = main_child(&r, b) {
                        let d = (rest[c].0 - rest[b].0).normalize();
                        let a = rest[b].1 * axis;
                        assert!(a.dot(d) > 0.9999, "{preset} {}: {a} vs {d}", bone.name);
                    }
                }
                for f in 0..r.frames() {
                    let want = r.global_positions(f);
                    for (b, g) in globals(&o, f).iter().enumerate() {
                        let err = (g.0 - space.point(want[b])).length();
                        assert!(err < 1e-3, "{preset} frame {f} {}: {err}", r.bones[b].name);
                    }
                }
            }
        }
    }

    #[test]
    fn hips_keep_the_world_axes_in_the_y_convention() {
        let r = rig(RigPreset::Mixamo, RootMotion::Hips);
        let o = OrientedRig::new(&r, Space::OUTPUT, BoneAxis::Y);
        assert!(o.axes[0].angle_between(Quat::IDENTITY) < 1e-4);
        // A leg points down: 180 degrees about the forward axis.
        let thigh = JointId::LeftThigh.index();
        assert!((o.axes[thigh] * Vec3::Y - Vec3::NEG_Y).length() < 1e-3);
    }
}
