//! BVH (Biovision hierarchy) writer for an [`ExportRig`].
//!
//! HIERARCHY: one `ROOT`, `JOINT`s with `OFFSET`s from the T-pose rest
//! pose, the end bones as `End Site`s. Bones whose translation moves (the
//! hips, and the root bone when there is one) carry
//! `Xposition Yposition Zposition Zrotation Xrotation Yrotation`; the
//! others `Zrotation Xrotation Yrotation`, meaning the local rotation is
//! `Rz · Rx · Ry` in degrees. Position channels hold the bone's whole local
//! translation (they replace its OFFSET, as Blender and assimp read them).
//! MOTION: one line per frame at the clip rate, values in hierarchy order.

use std::fmt::Write;

use super::euler::{to_euler, BVH_ZXY};
use super::rig::{ExportRig, Space};

/// The BVH text for `rig` in `space`.
pub fn bvh_string(rig: &ExportRig, space: Space) -> String {
    let order = hierarchy_order(rig);
    let mut out = String::with_capacity(4096 + rig.frames() * order.len() * 40);
    out.push_str("HIERARCHY\n");
    for root in (0..rig.bones.len()).filter(|&b| rig.bones[b].parent.is_none()) {
        write_bone(&mut out, rig, space, root, 0);
    }
    let _ = writeln!(out, "MOTION\nFrames: {}", rig.frames());
    let _ = writeln!(out, "Frame Time: {:.8}", 1.0 / f64::from(rig.fps));
    let mut prev: Vec<Option<[f64; 3]>> = vec![None; rig.bones.len()];
    for f in 0..rig.frames() {
        let mut line = String::with_capacity(order.len() * 40);
        for &b in &order {
            if rig.animated_translation[b] {
                let t = space.point(rig.translations[f][b]);
                let _ = write!(line, "{:.6} {:.6} {:.6} ", t.x, t.y, t.z);
            }
            let e = to_euler(space.rotation(rig.rotations[f][b]), BVH_ZXY, prev[b]);
            prev[b] = Some(e);
            let _ = write!(
                line,
                "{:.6} {:.6} {:.6} ",
                e[0].to_degrees(),
                e[1].to_degrees(),
                e[2].to_degrees()
            );
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// True for bones written as an `End Site` (no channels).
fn is_end_site(rig: &ExportRig, b: usize) -> bool {
    rig.bones[b].joint.is_some_and(|j| j.is_end()) && rig.children(b).next().is_none()
}

/// Bones with channels, in the order their values appear on a frame line.
pub fn hierarchy_order(rig: &ExportRig) -> Vec<usize> {
    fn visit(rig: &ExportRig, b: usize, out: &mut Vec<usize>) {
        if is_end_site(rig, b) {
            return;
        }
        out.push(b);
        for c in rig.children(b) {
            visit(rig, c, out);
        }
    }
    let mut out = Vec::with_capacity(rig.bones.len());
    for root in (0..rig.bones.len()).filter(|&b| rig.bones[b].parent.is_none()) {
        visit(rig, root, &mut out);
    }
    out
}

fn write_bone(out: &mut String, rig: &ExportRig, space: Space, b: usize, depth: usize) {
    let pad = "  ".repeat(depth);
    let bone = &rig.bones[b];
    let o = space.point(bone.rest_translation);
    if is_end_site(rig, b) {
        let _ = writeln!(
            out,
            "{pad}End Site\n{pad}{{\n{pad}  OFFSET {:.6} {:.6} {:.6}\n{pad}}}",
            o.x, o.y, o.z
        );
        return;
    }
    let kind = if bone.parent.is_none() {
        "ROOT"
    } else {
        "JOINT"
    };
    // BVH names are single words.
    let name: String = bone
        .name
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    let _ = writeln!(out, "{pad}{kind} {name}\n{pad}{{");
    let _ = writeln!(out, "{pad}  OFFSET {:.6} {:.6} {:.6}", o.x, o.y, o.z);
    if rig.animated_translation[b] {
        let _ = writeln!(
            out,
            "{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
        );
    } else {
        let _ = writeln!(out, "{pad}  CHANNELS 3 Zrotation Xrotation Yrotation");
    }
    for c in rig.children(b) {
        write_bone(out, rig, space, c, depth + 1);
    }
    let _ = writeln!(out, "{pad}}}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::RootMotion;
    use crate::rig::{Clip, RigPreset, Skeleton};
    use glam::{Quat, Vec3};

    #[test]
    fn hierarchy_and_motion_line_up() {
        let skel = Skeleton::default();
        let clip = Clip {
            fps: 25.0,
            root_translation: vec![Vec3::new(0.0, 1.0, 0.0); 3],
            rotations: vec![vec![Quat::IDENTITY; skel.len()]; 3],
        };
        let rig = ExportRig::new(&skel, &clip, RigPreset::Mixamo, RootMotion::Hips).unwrap();
        let text = bvh_string(&rig, Space::OUTPUT);
        assert!(text.starts_with("HIERARCHY\nROOT mixamorig:Hips\n"));
        assert_eq!(text.matches("End Site").count(), 5);
        assert!(text.contains("Frames: 3\nFrame Time: 0.04000000\n"));
        let channels: usize = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("CHANNELS "))
            .map(|l| l.split(' ').next().unwrap().parse::<usize>().unwrap())
            .sum();
        let last = text.lines().last().unwrap();
        assert_eq!(last.split(' ').count(), channels);
        assert!(last.starts_with("0.000000 1.000000 0.000000 "));
    }
}
