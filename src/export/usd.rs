//! USD (text, `.usda`) writer for an [`ExportRig`], as UsdSkel: for
//! Omniverse, Houdini and Apple's pipelines.
//!
//! Layout: `/capture` is a SkelRoot (the default prim) holding the
//! `Skeleton` (joint paths from the bone hierarchy, world bind transforms,
//! local rest transforms: the T-pose with the preset's bone axes, as in
//! the GLB), its `SkelAnimation` `Motion` (per-joint local translations,
//! rotations and scales sampled at every key) and the `body` Mesh bound
//! rigidly to it (one joint per vertex, weight 1). Metres, Y up, the
//! subject facing +Z, as the GLB; time codes are frames of the clip's rate
//! (`timeCodesPerSecond`), so with video timestamps the first sample is the
//! span's first video frame. The source span is in the layer's
//! `customLayerData`.
//!
//! USD names joints by path, and prim names cannot hold `:`, so Mixamo's
//! `mixamorig:Hips` is `mixamorig_Hips` here.

use std::fmt::Write;

use glam::{Mat4, Quat, Vec3};

use super::axes::OrientedRig;
use super::gltf::{ANIMATION_NAME, MESH_NODE_NAME};
use super::rig::{ExportRig, Space};
use super::ExportError;

/// A bone name as a USD prim name (identifier characters only).
pub fn joint_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The `.usda` text for `rig`.
pub fn usda_string(rig: &ExportRig) -> Result<String, ExportError> {
    let n = rig.frames();
    if n == 0 {
        return Err(ExportError::EmptyMotion);
    }
    let o = OrientedRig::new(rig, Space::OUTPUT, rig.bone_axis);
    let fps = f64::from(rig.fps);
    let codes: Vec<f64> = rig.times.iter().map(|t| round6(t * fps)).collect();
    let paths = joint_paths(rig);
    let joints = token_array(&paths);
    let mut s = String::with_capacity(4096 + n * rig.bones.len() * 80);

    let _ = writeln!(s, "#usda 1.0\n(");
    let _ = writeln!(s, "    defaultPrim = \"{ANIMATION_NAME}\"");
    let _ = writeln!(s, "    metersPerUnit = 1\n    upAxis = \"Y\"");
    let _ = writeln!(s, "    timeCodesPerSecond = {}", num(fps));
    let _ = writeln!(s, "    framesPerSecond = {}", num(fps));
    let _ = writeln!(s, "    startTimeCode = {}", num(codes[0]));
    let _ = writeln!(s, "    endTimeCode = {}", num(codes[n - 1]));
    let _ = writeln!(
        s,
        "    doc = \"vidmocap {}: one captured motion\"",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(src) = &rig.source {
        let _ = writeln!(
            s,
            "    customLayerData = {{\n        dictionary vidmocap_source = {{"
        );
        let _ = writeln!(s, "            int first_frame = {}", src.first_frame);
        let _ = writeln!(s, "            int last_frame = {}", src.last_frame);
        let _ = writeln!(s, "            double video_fps = {}", num(src.fps));
        let _ = writeln!(s, "            double start_s = {}", num(src.start_s()));
        let _ = writeln!(s, "        }}\n    }}");
    }
    let _ = writeln!(s, ")\n");

    let _ = writeln!(
        s,
        "def SkelRoot \"{ANIMATION_NAME}\" (\n    kind = \"component\"\n)\n{{"
    );
    // The skeleton.
    let _ = writeln!(
        s,
        "    def Skeleton \"Skeleton\" (\n        prepend apiSchemas = [\"SkelBindingAPI\"]\n    )\n    {{"
    );
    let _ = writeln!(s, "        uniform token[] joints = {joints}");
    let binds: Vec<Mat4> = o.binds();
    let _ = writeln!(
        s,
        "        uniform matrix4d[] bindTransforms = {}",
        matrices(&binds)
    );
    let rest: Vec<Mat4> = (0..rig.bones.len())
        .map(|b| Mat4::from_rotation_translation(o.rest_rotation(b), o.rest_translation(b)))
        .collect();
    let _ = writeln!(
        s,
        "        uniform matrix4d[] restTransforms = {}",
        matrices(&rest)
    );
    let _ = writeln!(
        s,
        "        rel skel:animationSource = </{ANIMATION_NAME}/Skeleton/Motion>\n"
    );

    // The animation.
    let _ = writeln!(s, "        def SkelAnimation \"Motion\"\n        {{");
    let _ = writeln!(s, "            uniform token[] joints = {joints}");
    let _ = writeln!(s, "            float3[] translations.timeSamples = {{");
    for (f, code) in codes.iter().enumerate() {
        let values: Vec<Vec3> = (0..rig.bones.len()).map(|b| o.translation(f, b)).collect();
        let _ = writeln!(s, "                {}: {},", num(*code), vectors(&values));
    }
    let _ = writeln!(s, "            }}");
    let _ = writeln!(s, "            quatf[] rotations.timeSamples = {{");
    for (f, code) in codes.iter().enumerate() {
        let values: Vec<Quat> = (0..rig.bones.len()).map(|b| o.rotation(f, b)).collect();
        let _ = writeln!(s, "                {}: {},", num(*code), quats(&values));
    }
    let _ = writeln!(s, "            }}");
    let ones = vec![Vec3::ONE; rig.bones.len()];
    let _ = writeln!(s, "            half3[] scales = {}", vectors(&ones));
    let _ = writeln!(s, "        }}\n    }}\n");

    // The body.
    let mesh = &rig.mesh;
    let (lo, hi) = mesh.bounds();
    let _ = writeln!(
        s,
        "    def Mesh \"{MESH_NODE_NAME}\" (\n        prepend apiSchemas = [\"SkelBindingAPI\"]\n    )\n    {{"
    );
    let _ = writeln!(s, "        uniform bool doubleSided = 0");
    let _ = writeln!(s, "        float3[] extent = {}", vectors(&[lo, hi]));
    let counts = vec!["3"; mesh.indices.len() / 3].join(", ");
    let _ = writeln!(s, "        int[] faceVertexCounts = [{counts}]");
    let _ = writeln!(
        s,
        "        int[] faceVertexIndices = {}",
        ints(&mesh.indices)
    );
    let _ = writeln!(s, "        point3f[] points = {}", vectors(&mesh.positions));
    let _ = writeln!(
        s,
        "        normal3f[] normals = {} (\n            interpolation = \"vertex\"\n        )",
        vectors(&mesh.normals)
    );
    let _ = writeln!(s, "        uniform token orientation = \"rightHanded\"");
    let _ = writeln!(
        s,
        "        color3f[] primvars:displayColor = [(0.72, 0.74, 0.78)] (\n            interpolation = \"constant\"\n        )"
    );
    let joint_of: Vec<u32> = mesh.joints.iter().map(|&j| u32::from(j)).collect();
    let _ = writeln!(
        s,
        "        int[] primvars:skel:jointIndices = {} (\n            elementSize = 1\n            interpolation = \"vertex\"\n        )",
        ints(&joint_of)
    );
    let weights = vec!["1"; joint_of.len()].join(", ");
    let _ = writeln!(
        s,
        "        float[] primvars:skel:jointWeights = [{weights}] (\n            elementSize = 1\n            interpolation = \"vertex\"\n        )"
    );
    let _ = writeln!(
        s,
        "        matrix4d primvars:skel:geomBindTransform = {}",
        matrix(Mat4::IDENTITY)
    );
    let _ = writeln!(
        s,
        "        rel skel:skeleton = </{ANIMATION_NAME}/Skeleton>"
    );
    let _ = writeln!(s, "    }}\n}}");
    Ok(s)
}

/// Each bone's path from the top bone, `hips/spine/chest`, in bone order.
fn joint_paths(rig: &ExportRig) -> Vec<String> {
    let mut paths: Vec<String> = Vec::with_capacity(rig.bones.len());
    for bone in &rig.bones {
        let name = joint_name(&bone.name);
        paths.push(match bone.parent {
            Some(p) => format!("{}/{name}", paths[p]),
            None => name,
        });
    }
    paths
}

/// Up to 6 decimals, no trailing zeros: exact for the frame codes and
/// well under a micrometre for positions.
fn num(v: f64) -> String {
    let s = format!("{:.6}", round6(v));
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

fn token_array(tokens: &[String]) -> String {
    let quoted: Vec<String> = tokens.iter().map(|t| format!("\"{t}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

fn ints(values: &[u32]) -> String {
    let items: Vec<String> = values.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(", "))
}

fn vectors(values: &[Vec3]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            format!(
                "({}, {}, {})",
                num(v.x.into()),
                num(v.y.into()),
                num(v.z.into())
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Quaternions as USD writes them: real part first.
fn quats(values: &[Quat]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|q| {
            format!(
                "({}, {}, {}, {})",
                num(q.w.into()),
                num(q.x.into()),
                num(q.y.into()),
                num(q.z.into())
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// USD matrices act on row vectors, so its rows are glam's columns.
fn matrix(m: Mat4) -> String {
    let rows: Vec<String> = m
        .to_cols_array_2d()
        .iter()
        .map(|c| {
            let c: Vec<String> = c.iter().map(|&x| num(x.into())).collect();
            format!("({})", c.join(", "))
        })
        .collect();
    format!("( {} )", rows.join(", "))
}

fn matrices(ms: &[Mat4]) -> String {
    let items: Vec<String> = ms.iter().map(|&m| matrix(m)).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::RootMotion;
    use crate::rig::{Clip, RigPreset, Skeleton};

    #[test]
    fn names_paths_and_numbers_are_valid_usd() {
        assert_eq!(joint_name("mixamorig:LeftArm"), "mixamorig_LeftArm");
        assert_eq!(joint_name("3d"), "_3d");
        assert_eq!(num(30.0), "30");
        assert_eq!(num(-0.0000001), "0");
        assert_eq!(num(1.25), "1.25");
        let skel = Skeleton::default();
        let clip = Clip {
            fps: 30.0,
            root_translation: vec![skel.rest_root_translation(); 2],
            rotations: vec![vec![Quat::IDENTITY; skel.len()]; 2],
        };
        let rig = ExportRig::new(&skel, &clip, RigPreset::Mixamo, RootMotion::Hips).unwrap();
        let text = usda_string(&rig).unwrap();
        assert!(text.contains("\"mixamorig_Hips/mixamorig_Spine\""));
        assert!(text.contains("timeCodesPerSecond = 30"));
        assert!(
            text.contains("                1: ["),
            "frame 1 at time code 1"
        );
    }
}
