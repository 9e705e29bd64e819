//! Binary glTF 2.0 (GLB) writer for a solved rig [`Clip`].
//!
//! Written by hand with `serde_json` rather than through a glTF crate: the
//! file is small and fixed in shape (one skinned mesh, one skin, one
//! animation), and writing it directly keeps every detail the validator
//! checks (alignment, targets, min/max, unit quaternions) visible here.
//!
//! Layout: nodes `0..J` are the bones of an [`ExportRig`] (node index = bone
//! index, named by its rig preset, rest translations and rotations with the
//! preset's bone axes, see [`super::axes`]), node `J` is the body mesh at
//! the scene root (a skinned mesh must not sit under a joint), the skin
//! binds it to the bones, and the animation "capture" has a rotation
//! channel per bone plus a translation channel per bone whose translation
//! moves (the hips, and the root bone when there is one). Keys are at the
//! rig's times (the video's timestamps by default); the source span is in
//! the animation's and the scene's `extras`. glTF is always metres with Y
//! up.

use std::path::Path;

use glam::{Quat, Vec3};
use serde_json::{json, Map, Value};

use super::axes::OrientedRig;
use super::rig::{ExportRig, RootMotion, Space};
use super::{write_atomic, ExportError};
use crate::rig::{Clip, RigPreset, Skeleton};

/// Name of the single animation in every exported file.
pub const ANIMATION_NAME: &str = "capture";

/// Name of the body mesh node.
pub const MESH_NODE_NAME: &str = "body";

// glTF enums.
const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
const UNSIGNED_BYTE: u32 = 5121;
const UNSIGNED_SHORT: u32 = 5123;
const UNSIGNED_INT: u32 = 5125;
const FLOAT: u32 = 5126;

// GLB framing.
const GLB_MAGIC: &[u8; 4] = b"glTF";
const GLB_VERSION: u32 = 2;
const CHUNK_JSON: u32 = 0x4E4F_534A;
const CHUNK_BIN: u32 = 0x004E_4942;

/// Writes `clip` of `skel` as a GLB file at `path`. The file is written
/// next to `path` first and renamed into place, so a failed export never
/// leaves a truncated file where a good one is expected.
pub fn write_glb(path: &Path, skel: &Skeleton, clip: &Clip) -> Result<(), ExportError> {
    write_atomic(path, &glb_bytes(skel, clip)?)
}

/// The GLB file for `clip` of `skel`, in memory.
///
/// Errors: [`ExportError::EmptyMotion`] for a clip without frames,
/// [`ExportError::Invalid`] for a clip that does not fit the skeleton,
/// holds non-finite values, or would exceed GLB's 4 GiB limit.
pub fn glb_bytes(skel: &Skeleton, clip: &Clip) -> Result<Vec<u8>, ExportError> {
    glb_bytes_rig(&ExportRig::new(
        skel,
        clip,
        RigPreset::Generic,
        RootMotion::Hips,
    )?)
}

/// The GLB file for an export rig (any preset and root motion), in memory.
pub fn glb_bytes_rig(rig: &ExportRig) -> Result<Vec<u8>, ExportError> {
    if rig.frames() == 0 {
        return Err(ExportError::EmptyMotion);
    }
    let oriented = OrientedRig::new(rig, Space::OUTPUT, rig.bone_axis);
    let mut bin = Bin::default();
    let mesh = mesh_primitive(&mut bin, rig);
    let ibm = inverse_bind_matrices(&mut bin, &oriented);
    let mut animation = animation(&mut bin, &oriented);
    let extras = source_extras(rig);
    if let Some(extras) = &extras {
        animation["extras"] = extras.clone();
    }

    let joint_count = rig.bones.len();
    let mut nodes: Vec<Value> = rig
        .bones
        .iter()
        .enumerate()
        .map(|(i, bone)| {
            let mut node = Map::new();
            node.insert("name".into(), json!(bone.name));
            node.insert("translation".into(), vec3(oriented.rest_translation(i)));
            let r = oriented.rest_rotation(i);
            if r.angle_between(Quat::IDENTITY) > 1e-6 {
                node.insert("rotation".into(), json!(r.to_array()));
            }
            let children: Vec<usize> = rig.children(i).collect();
            if !children.is_empty() {
                node.insert("children".into(), json!(children));
            }
            Value::Object(node)
        })
        .collect();
    let mesh_node = nodes.len();
    nodes.push(json!({ "name": MESH_NODE_NAME, "mesh": 0, "skin": 0 }));

    let root = json!({
        "asset": { "version": "2.0", "generator": "vidmocap" },
        "scene": 0,
        "scenes": [scene(mesh_node, extras)],
        "nodes": nodes,
        "meshes": [{ "name": MESH_NODE_NAME, "primitives": [mesh] }],
        "materials": [{
            "name": "body",
            "pbrMetallicRoughness": {
                "baseColorFactor": [0.72, 0.74, 0.78, 1.0],
                "metallicFactor": 0.0,
                "roughnessFactor": 0.65
            }
        }],
        "skins": [{
            "name": "rig",
            "inverseBindMatrices": ibm,
            "skeleton": 0,
            "joints": (0..joint_count).collect::<Vec<_>>()
        }],
        "animations": [animation],
        "buffers": [{ "byteLength": bin.padded_len() }],
        "bufferViews": bin.views,
        "accessors": bin.accessors,
    });
    assemble_glb(&root, bin.data)
}

/// The binary chunk under construction, with its views and accessors.
#[derive(Default)]
struct Bin {
    data: Vec<u8>,
    views: Vec<Value>,
    accessors: Vec<Value>,
}

impl Bin {
    /// Appends `bytes` as a new buffer view, 4-byte aligned (the largest
    /// component size we use, so every accessor in it is aligned too).
    fn view(&mut self, bytes: &[u8], target: Option<u32>) -> usize {
        self.pad();
        let mut view = json!({
            "buffer": 0,
            "byteOffset": self.data.len(),
            "byteLength": bytes.len(),
        });
        if let Some(t) = target {
            view["target"] = json!(t);
        }
        self.data.extend_from_slice(bytes);
        self.views.push(view);
        self.views.len() - 1
    }

    /// Appends an accessor over the whole of view `view`.
    fn accessor(
        &mut self,
        view: usize,
        component_type: u32,
        count: usize,
        ty: &str,
        extra: Value,
    ) -> usize {
        let mut acc = json!({
            "bufferView": view,
            "componentType": component_type,
            "count": count,
            "type": ty,
        });
        if let (Some(acc), Value::Object(extra)) = (acc.as_object_mut(), extra) {
            acc.extend(extra);
        }
        self.accessors.push(acc);
        self.accessors.len() - 1
    }

    fn pad(&mut self) {
        while !self.data.len().is_multiple_of(4) {
            self.data.push(0);
        }
    }

    fn padded_len(&self) -> usize {
        self.data.len().next_multiple_of(4)
    }
}

fn f32_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values.into_iter().flat_map(f32::to_le_bytes).collect()
}

/// A JSON array for a vector. Components go through f64 so that min/max
/// compare equal to the stored f32 data whichever precision a reader uses.
fn vec3(v: Vec3) -> Value {
    json!([f64::from(v.x), f64::from(v.y), f64::from(v.z)])
}

/// The skinned body mesh primitive (attributes, indices, material).
fn mesh_primitive(bin: &mut Bin, rig: &ExportRig) -> Value {
    let mesh = &rig.mesh;
    let n = mesh.positions.len();
    let (lo, hi) = mesh.bounds();

    let positions = bin.view(
        &f32_bytes(mesh.positions.iter().flat_map(|p| p.to_array())),
        Some(ARRAY_BUFFER),
    );
    let position = bin.accessor(
        positions,
        FLOAT,
        n,
        "VEC3",
        json!({ "min": vec3(lo), "max": vec3(hi) }),
    );
    let normals = bin.view(
        &f32_bytes(mesh.normals.iter().flat_map(|p| p.to_array())),
        Some(ARRAY_BUFFER),
    );
    let normal = bin.accessor(normals, FLOAT, n, "VEC3", json!({}));

    // Rigid binding: one joint at full weight, the unused slots zero.
    let (joint_bytes, joint_type) = if rig.bones.len() <= 256 {
        let bytes = mesh
            .joints
            .iter()
            .flat_map(|&j| [j as u8, 0, 0, 0])
            .collect::<Vec<u8>>();
        (bytes, UNSIGNED_BYTE)
    } else {
        let bytes = mesh
            .joints
            .iter()
            .flat_map(|&j| [j, 0, 0, 0])
            .flat_map(u16::to_le_bytes)
            .collect();
        (bytes, UNSIGNED_SHORT)
    };
    let joints_view = bin.view(&joint_bytes, Some(ARRAY_BUFFER));
    let joints = bin.accessor(joints_view, joint_type, n, "VEC4", json!({}));
    let weights_view = bin.view(
        &f32_bytes((0..n).flat_map(|_| [1.0, 0.0, 0.0, 0.0])),
        Some(ARRAY_BUFFER),
    );
    let weights = bin.accessor(weights_view, FLOAT, n, "VEC4", json!({}));

    // 65535 is the primitive-restart value, so 16-bit indices stop below it.
    let (index_bytes, index_type) = if n < usize::from(u16::MAX) {
        let bytes = mesh
            .indices
            .iter()
            .flat_map(|&i| (i as u16).to_le_bytes())
            .collect::<Vec<u8>>();
        (bytes, UNSIGNED_SHORT)
    } else {
        (
            mesh.indices.iter().flat_map(|&i| i.to_le_bytes()).collect(),
            UNSIGNED_INT,
        )
    };
    let index_view = bin.view(&index_bytes, Some(ELEMENT_ARRAY_BUFFER));
    let indices = bin.accessor(
        index_view,
        index_type,
        mesh.indices.len(),
        "SCALAR",
        json!({}),
    );

    json!({
        "attributes": {
            "POSITION": position,
            "NORMAL": normal,
            "JOINTS_0": joints,
            "WEIGHTS_0": weights,
        },
        "indices": indices,
        "material": 0,
        "mode": 4,
    })
}

/// Inverse global rest transforms, column-major, joint index order. Views
/// holding inverse bind matrices take no target (they are not vertex data).
fn inverse_bind_matrices(bin: &mut Bin, rig: &OrientedRig) -> usize {
    let rest = rig.binds();
    let bytes = f32_bytes(rest.iter().flat_map(|m| m.inverse().to_cols_array()));
    let view = bin.view(&bytes, None);
    bin.accessor(view, FLOAT, rest.len(), "MAT4", json!({}))
}

/// The "capture" animation: shared keyframe times, one rotation sampler
/// per bone, one translation sampler per bone whose translation moves.
fn animation(bin: &mut Bin, oriented: &OrientedRig) -> Value {
    let rig = oriented.rig;
    let n = rig.frames();
    let times: Vec<f32> = rig.times.iter().map(|&t| t as f32).collect();
    let (first, last) = (times[0], times[n - 1]);
    let time_view = bin.view(&f32_bytes(times), None);
    let input = bin.accessor(
        time_view,
        FLOAT,
        n,
        "SCALAR",
        json!({ "min": [f64::from(first)], "max": [f64::from(last)] }),
    );

    let mut samplers = Vec::with_capacity(rig.bones.len() + 2);
    let mut channels = Vec::with_capacity(rig.bones.len() + 2);
    for joint in 0..rig.bones.len() {
        // Normalised (glTF requires unit quaternions) and sign-continuous, so
        // players that interpolate component-wise take the short way too.
        let mut prev = Quat::IDENTITY;
        let track: Vec<f32> = (0..n)
            .flat_map(|f| {
                let mut q = oriented.rotation(f, joint);
                if q.dot(prev) < 0.0 {
                    q = -q;
                }
                prev = q;
                q.to_array()
            })
            .collect();
        let view = bin.view(&f32_bytes(track), None);
        let output = bin.accessor(view, FLOAT, n, "VEC4", json!({}));
        channels.push(json!({
            "sampler": samplers.len(),
            "target": { "node": joint, "path": "rotation" },
        }));
        samplers.push(json!({ "input": input, "output": output, "interpolation": "LINEAR" }));
    }

    for bone in (0..rig.bones.len()).filter(|&b| rig.animated_translation[b]) {
        let view = bin.view(
            &f32_bytes((0..n).flat_map(|f| oriented.translation(f, bone).to_array())),
            None,
        );
        let output = bin.accessor(view, FLOAT, n, "VEC3", json!({}));
        channels.push(json!({
            "sampler": samplers.len(),
            "target": { "node": bone, "path": "translation" },
        }));
        samplers.push(json!({ "input": input, "output": output, "interpolation": "LINEAR" }));
    }

    json!({ "name": ANIMATION_NAME, "samplers": samplers, "channels": channels })
}

/// The source span as glTF `extras`: `first_frame`, `last_frame`,
/// `video_fps`, `start_s` (the first key's video time), `fps`.
fn source_extras(rig: &ExportRig) -> Option<Value> {
    let src = rig.source.as_ref()?;
    Some(json!({
        "vidmocap_source": {
            "first_frame": src.first_frame,
            "last_frame": src.last_frame,
            "video_fps": src.fps,
            "start_s": src.start_s(),
            "fps": rig.fps,
        }
    }))
}

fn scene(mesh_node: usize, extras: Option<Value>) -> Value {
    let mut scene = json!({ "name": "capture", "nodes": [0, mesh_node] });
    if let Some(extras) = extras {
        scene["extras"] = extras;
    }
    scene
}

/// Frames the JSON and binary chunks into a GLB container.
fn assemble_glb(root: &Value, mut bin: Vec<u8>) -> Result<Vec<u8>, ExportError> {
    let mut json =
        serde_json::to_vec(root).map_err(|e| ExportError::Invalid(format!("glTF JSON: {e}")))?;
    // Chunks must be 4-byte aligned: JSON pads with spaces, BIN with zeros.
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let too_big = || {
        ExportError::Invalid(format!(
            "the GLB would be {total} bytes, over the 4 GiB limit"
        ))
    };
    let total32 = u32::try_from(total).map_err(|_| too_big())?;
    let json_len = u32::try_from(json.len()).map_err(|_| too_big())?;
    let bin_len = u32::try_from(bin.len()).map_err(|_| too_big())?;

    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(GLB_MAGIC);
    out.extend_from_slice(&GLB_VERSION.to_le_bytes());
    out.extend_from_slice(&total32.to_le_bytes());
    out.extend_from_slice(&json_len.to_le_bytes());
    out.extend_from_slice(&CHUNK_JSON.to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bin_len.to_le_bytes());
    out.extend_from_slice(&CHUNK_BIN.to_le_bytes());
    out.extend_from_slice(&bin);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rig::{global_positions, JointId};
    use glam::Mat4;

    /// Minimal GLB reader: (JSON chunk, BIN chunk), checking the framing.
    fn read_glb(bytes: &[u8]) -> (Value, Vec<u8>) {
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        assert_eq!(&bytes[0..4], GLB_MAGIC);
        assert_eq!(u32_at(4), 2);
        assert_eq!(u32_at(8) as usize, bytes.len());
        let json_len = u32_at(12) as usize;
        assert_eq!(u32_at(16), CHUNK_JSON);
        assert_eq!(json_len % 4, 0);
        let json = serde_json::from_slice(&bytes[20..20 + json_len]).unwrap();
        let b = 20 + json_len;
        let bin_len = u32_at(b) as usize;
        assert_eq!(u32_at(b + 4), CHUNK_BIN);
        assert_eq!(bin_len % 4, 0);
        assert_eq!(b + 8 + bin_len, bytes.len());
        (json, bytes[b + 8..].to_vec())
    }

    /// The floats of FLOAT accessor `index`.
    fn floats(json: &Value, bin: &[u8], index: usize) -> Vec<f32> {
        let acc = &json["accessors"][index];
        assert_eq!(acc["componentType"], FLOAT);
        let view = &json["bufferViews"][acc["bufferView"].as_u64().unwrap() as usize];
        let start = view["byteOffset"].as_u64().unwrap() as usize
            + acc["byteOffset"].as_u64().unwrap_or(0) as usize;
        let width = match acc["type"].as_str().unwrap() {
            "SCALAR" => 1,
            "VEC3" => 3,
            "VEC4" => 4,
            "MAT4" => 16,
            t => panic!("unexpected type {t}"),
        };
        let count = acc["count"].as_u64().unwrap() as usize * width;
        assert!(count * 4 <= view["byteLength"].as_u64().unwrap() as usize);
        bin[start..start + count * 4]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn swinging_clip(skel: &Skeleton, n: usize, fps: f32) -> Clip {
        let rotations = (0..n)
            .map(|i| {
                let mut q = vec![Quat::IDENTITY; skel.len()];
                let a = (i as f32 * 0.4).sin();
                q[JointId::LeftThigh.index()] = Quat::from_rotation_x(0.6 * a);
                q[JointId::RightThigh.index()] = Quat::from_rotation_x(-0.6 * a);
                // Deliberately unnormalised and sign-flipped: the writer
                // must clean both up.
                q[JointId::LeftUpperArm.index()] = Quat::from_rotation_z(-1.2) * (2.0 + a);
                if i % 2 == 1 {
                    q[JointId::Head.index()] = -Quat::from_rotation_y(0.3 * a);
                }
                q
            })
            .collect();
        let root_translation = (0..n)
            .map(|i| skel.rest_root_translation() + Vec3::Z * (i as f32 / fps))
            .collect();
        Clip {
            fps,
            root_translation,
            rotations,
        }
    }

    #[test]
    fn empty_and_mismatched_clips_are_rejected() {
        let skel = Skeleton::default();
        let empty = Clip {
            fps: 30.0,
            ..Clip::default()
        };
        let err = glb_bytes(&skel, &empty).unwrap_err();
        assert_eq!(err.code(), "export.empty_motion");
        let mut bad = swinging_clip(&skel, 3, 30.0);
        bad.rotations[1].truncate(5);
        assert_eq!(glb_bytes(&skel, &bad).unwrap_err().code(), "export.invalid");
        let mut bad = swinging_clip(&skel, 3, 30.0);
        bad.root_translation[2].y = f32::NAN;
        assert_eq!(glb_bytes(&skel, &bad).unwrap_err().code(), "export.invalid");
        let mut bad = swinging_clip(&skel, 3, 30.0);
        bad.fps = 0.0;
        assert_eq!(glb_bytes(&skel, &bad).unwrap_err().code(), "export.invalid");
    }

    #[test]
    fn document_structure() {
        let skel = Skeleton::default();
        let clip = swinging_clip(&skel, 25, 24.0);
        let (json, bin) = read_glb(&glb_bytes(&skel, &clip).unwrap());
        let j = skel.len();
        assert_eq!(json["asset"]["version"], "2.0");
        assert_eq!(json["asset"]["generator"], "vidmocap");
        assert_eq!(
            json["buffers"][0]["byteLength"].as_u64().unwrap() as usize,
            bin.len()
        );
        let nodes = json["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), j + 1);
        for (i, id) in JointId::ALL.iter().enumerate() {
            assert_eq!(nodes[i]["name"], id.name());
        }
        assert_eq!(nodes[j]["name"], MESH_NODE_NAME);
        assert_eq!(json["scenes"][0]["nodes"], json!([0, j]));
        assert_eq!(json["skins"][0]["joints"].as_array().unwrap().len(), j);
        for view in json["bufferViews"].as_array().unwrap() {
            assert_eq!(view["byteOffset"].as_u64().unwrap() % 4, 0);
            assert!(view.get("byteStride").is_none());
        }

        let anim = &json["animations"][0];
        assert_eq!(anim["name"], ANIMATION_NAME);
        assert_eq!(anim["channels"].as_array().unwrap().len(), j + 1);
        let input = anim["samplers"][0]["input"].as_u64().unwrap() as usize;
        let times = floats(&json, &bin, input);
        assert_eq!(times.len(), 25);
        assert_eq!(times[0], 0.0);
        assert!((times[24] - 1.0).abs() < 1e-6);
        assert_eq!(
            json["accessors"][input]["max"][0].as_f64().unwrap() as f32,
            times[24]
        );
    }

    #[test]
    fn binary_data_is_consistent() {
        let skel = Skeleton::default();
        let clip = swinging_clip(&skel, 10, 30.0);
        let (json, bin) = read_glb(&glb_bytes(&skel, &clip).unwrap());

        // POSITION min/max match the data exactly.
        let prim = &json["meshes"][0]["primitives"][0];
        let pos_acc = prim["attributes"]["POSITION"].as_u64().unwrap() as usize;
        let pos = floats(&json, &bin, pos_acc);
        for axis in 0..3 {
            let vals = pos.iter().skip(axis).step_by(3);
            let lo = vals.clone().copied().fold(f32::INFINITY, f32::min);
            let hi = vals.copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(
                json["accessors"][pos_acc]["min"][axis].as_f64().unwrap() as f32,
                lo
            );
            assert_eq!(
                json["accessors"][pos_acc]["max"][axis].as_f64().unwrap() as f32,
                hi
            );
        }

        // Inverse bind matrices undo the rest pose.
        let ibm = floats(
            &json,
            &bin,
            json["skins"][0]["inverseBindMatrices"].as_u64().unwrap() as usize,
        );
        let rest = global_positions(&skel, skel.rest_root_translation(), &[]);
        for (i, m) in ibm.chunks_exact(16).enumerate() {
            let m = Mat4::from_cols_slice(m);
            assert!(m.transform_point3(rest[i]).length() < 1e-5);
        }

        // Rotation tracks: unit length and sign-continuous.
        let anim = &json["animations"][0];
        for s in anim["samplers"].as_array().unwrap().iter().take(skel.len()) {
            let track = floats(&json, &bin, s["output"].as_u64().unwrap() as usize);
            let quats: Vec<Quat> = track.chunks_exact(4).map(Quat::from_slice).collect();
            assert_eq!(quats.len(), 10);
            for w in quats.windows(2) {
                assert!((w[1].length() - 1.0).abs() < 1e-5);
                assert!(w[0].dot(w[1]) >= 0.0);
            }
        }
        let hips_translation = floats(
            &json,
            &bin,
            anim["samplers"][skel.len()]["output"].as_u64().unwrap() as usize,
        );
        assert_eq!(hips_translation.len(), 30);
        assert_eq!(
            anim["channels"][skel.len()]["target"],
            json!({ "node": 0, "path": "translation" })
        );
    }

    #[test]
    fn single_frame_clip_has_zero_duration() {
        let skel = Skeleton::default();
        let clip = swinging_clip(&skel, 1, 30.0);
        let (json, _) = read_glb(&glb_bytes(&skel, &clip).unwrap());
        let input = json["animations"][0]["samplers"][0]["input"]
            .as_u64()
            .unwrap() as usize;
        assert_eq!(json["accessors"][input]["max"], json!([0.0]));
    }

    #[test]
    fn write_glb_writes_the_bytes_or_reports_io() {
        let skel = Skeleton::default();
        let clip = swinging_clip(&skel, 4, 30.0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.glb");
        write_glb(&path, &skel, &clip).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            glb_bytes(&skel, &clip).unwrap()
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "temporary file left behind"
        );
        let missing = dir.path().join("no/such/dir/out.glb");
        assert_eq!(
            write_glb(&missing, &skel, &clip).unwrap_err().code(),
            "export.io"
        );
        let empty = Clip::default();
        assert_eq!(
            write_glb(&path, &skel, &empty).unwrap_err().code(),
            "export.empty_motion"
        );
    }
}
