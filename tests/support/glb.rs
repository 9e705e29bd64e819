//! Test helper: a minimal GLB reader (JSON chunk + float accessors) and the
//! forward kinematics of its skin, to check what a viewer would show.

use std::collections::HashMap;
use std::path::Path;

use glam::{Mat4, Quat, Vec3};
use serde_json::Value;

pub struct Glb {
    pub json: Value,
    pub bin: Vec<u8>,
}

impl Glb {
    pub fn read(path: &Path) -> Glb {
        let bytes = std::fs::read(path).expect("read glb");
        assert_eq!(&bytes[0..4], b"glTF", "GLB magic");
        let json_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        let json: Value = serde_json::from_slice(&bytes[20..20 + json_len]).expect("json chunk");
        let bin_start = 20 + json_len;
        let bin_len =
            u32::from_le_bytes(bytes[bin_start..bin_start + 4].try_into().unwrap()) as usize;
        let bin = bytes[bin_start + 8..bin_start + 8 + bin_len].to_vec();
        Glb { json, bin }
    }

    /// All f32 values of accessor `index` (tightly packed float accessors).
    pub fn floats(&self, index: usize) -> Vec<f32> {
        let acc = &self.json["accessors"][index];
        let view = &self.json["bufferViews"][acc["bufferView"].as_u64().unwrap() as usize];
        let comps = match acc["type"].as_str().unwrap() {
            "SCALAR" => 1,
            "VEC3" => 3,
            "VEC4" => 4,
            "MAT4" => 16,
            t => panic!("accessor type {t}"),
        };
        assert_eq!(acc["componentType"], 5126, "float accessor");
        let count = acc["count"].as_u64().unwrap() as usize;
        let start = view["byteOffset"].as_u64().unwrap_or(0) as usize
            + acc["byteOffset"].as_u64().unwrap_or(0) as usize;
        (0..count * comps)
            .map(|i| {
                let o = start + i * 4;
                f32::from_le_bytes(self.bin[o..o + 4].try_into().unwrap())
            })
            .collect()
    }

    /// Duration of the first animation, seconds (its keys start at the
    /// video's time of the first frame, not necessarily at 0).
    pub fn animation_duration(&self) -> f32 {
        let anim = &self.json["animations"][0];
        let sampler = &anim["samplers"][0];
        let input = &self.json["accessors"][sampler["input"].as_u64().unwrap() as usize];
        (input["max"][0].as_f64().unwrap() - input["min"][0].as_f64().unwrap()) as f32
    }

    /// Global joint positions at keyframe `k`, by joint node name.
    pub fn joint_positions(&self, k: usize) -> HashMap<String, Vec3> {
        let nodes = self.json["nodes"].as_array().unwrap();
        let mut local: Vec<(Vec3, Quat)> = nodes
            .iter()
            .map(|n| {
                let t = n["translation"]
                    .as_array()
                    .map(|a| Vec3::new(f(&a[0]), f(&a[1]), f(&a[2])))
                    .unwrap_or(Vec3::ZERO);
                let r = n["rotation"]
                    .as_array()
                    .map(|a| Quat::from_xyzw(f(&a[0]), f(&a[1]), f(&a[2]), f(&a[3])))
                    .unwrap_or(Quat::IDENTITY);
                (t, r)
            })
            .collect();
        let anim = &self.json["animations"][0];
        for ch in anim["channels"].as_array().unwrap() {
            let node = ch["target"]["node"].as_u64().unwrap() as usize;
            let sampler = &anim["samplers"][ch["sampler"].as_u64().unwrap() as usize];
            let out = self.floats(sampler["output"].as_u64().unwrap() as usize);
            match ch["target"]["path"].as_str().unwrap() {
                "translation" => {
                    local[node].0 = Vec3::new(out[k * 3], out[k * 3 + 1], out[k * 3 + 2])
                }
                "rotation" => {
                    local[node].1 =
                        Quat::from_xyzw(out[k * 4], out[k * 4 + 1], out[k * 4 + 2], out[k * 4 + 3])
                }
                _ => {}
            }
        }
        let mut parent = vec![None; nodes.len()];
        for (i, n) in nodes.iter().enumerate() {
            for c in n["children"].as_array().into_iter().flatten() {
                parent[c.as_u64().unwrap() as usize] = Some(i);
            }
        }
        let global = |mut i: usize| {
            let mut m = Mat4::IDENTITY;
            loop {
                let (t, r) = local[i];
                m = Mat4::from_rotation_translation(r, t) * m;
                match parent[i] {
                    Some(p) => i = p,
                    None => return m,
                }
            }
        };
        let skin = &self.json["skins"][0];
        skin["joints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                let i = j.as_u64().unwrap() as usize;
                let name = nodes[i]["name"].as_str().unwrap().to_string();
                (name, global(i).transform_point3(Vec3::ZERO))
            })
            .collect()
    }
}

fn f(v: &Value) -> f32 {
    v.as_f64().unwrap() as f32
}
