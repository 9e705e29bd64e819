//! Test helper: reads a binary FBX with the `fbxcel` crate (an independent
//! parser) and computes its bones' world positions from the parsed data:
//! LimbNode models, their `OO` parent links, `Lcl Translation` /
//! `Lcl Rotation` (Euler XYZ degrees) and the animation curves driving them.
//!
//! Include with `#[path = "support/fbx_reader.rs"] mod fbx_reader;`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use fbxcel::low::v7400::AttributeValue;
use fbxcel::tree::any::AnyTree;
use fbxcel::tree::v7400::{NodeHandle, Tree};
use glam::{DQuat, DVec3};

/// One animation curve: key times (FBX ticks) and values.
#[derive(Clone, Debug, Default)]
pub struct Curve {
    pub times: Vec<i64>,
    pub values: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct Bone {
    pub id: i64,
    pub name: String,
    pub parent: Option<usize>,
    pub translation: DVec3,
    pub rotation_deg: DVec3,
}

/// What the tests look at in an FBX file.
pub struct FbxScene {
    pub tree: Tree,
    pub version: u32,
    pub up_axis: i32,
    pub front_axis_sign: i32,
    /// Centimetres per file unit.
    pub unit_scale: f64,
    pub bones: Vec<Bone>,
    /// (bone index, "Lcl Translation" | "Lcl Rotation" | "Lcl Scaling", axis 0..3).
    pub curves: HashMap<(usize, String, usize), Curve>,
    /// Object type name (the record's name) → count under Objects.
    pub object_counts: HashMap<String, usize>,
    /// Names of the AnimationStacks.
    pub stacks: Vec<String>,
    /// Clusters: (bone name, vertex count).
    pub clusters: Vec<(String, usize)>,
    pub bind_pose_nodes: usize,
    pub vertex_count: usize,
}

fn attr_str(a: &AttributeValue) -> Option<&str> {
    match a {
        AttributeValue::String(s) => Some(s.as_str()),
        _ => None,
    }
}

fn attr_f64(a: &AttributeValue) -> f64 {
    match a {
        AttributeValue::F64(v) => *v,
        AttributeValue::F32(v) => f64::from(*v),
        AttributeValue::I32(v) => f64::from(*v),
        AttributeValue::I64(v) => *v as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn attr_i64(a: &AttributeValue) -> i64 {
    match a {
        AttributeValue::I64(v) => *v,
        AttributeValue::I32(v) => i64::from(*v),
        other => panic!("not an integer: {other:?}"),
    }
}

/// The name part of a binary "name\0\x01Class".
fn object_name(a: &AttributeValue) -> String {
    let s = attr_str(a).expect("object name");
    s.split("\u{0}\u{1}").next().unwrap().to_string()
}

/// Properties70 entries of `node`: name → values after the four strings.
fn properties(node: NodeHandle<'_>) -> HashMap<String, Vec<AttributeValue>> {
    let mut out = HashMap::new();
    if let Some(p70) = node.first_child_by_name("Properties70") {
        for p in p70.children_by_name("P") {
            let a = p.attributes();
            out.insert(attr_str(&a[0]).unwrap().to_string(), a[4..].to_vec());
        }
    }
    out
}

fn vec3(values: &[AttributeValue]) -> DVec3 {
    DVec3::new(
        attr_f64(&values[0]),
        attr_f64(&values[1]),
        attr_f64(&values[2]),
    )
}

impl FbxScene {
    pub fn read(path: &Path) -> FbxScene {
        let file = std::fs::File::open(path).expect("open fbx");
        let tree = AnyTree::from_seekable_reader(std::io::BufReader::new(file))
            .unwrap_or_else(|e| panic!("fbxcel cannot parse {}: {e}", path.display()));
        let (version, tree) = match tree {
            AnyTree::V7400(v, tree, footer) => {
                footer.expect("a valid FBX footer");
                let (major, minor) = v.major_minor();
                (major * 1000 + minor * 100, tree)
            }
            _ => panic!("unsupported FBX version"),
        };
        let root = tree.root();
        let settings = properties(
            root.first_child_by_name("GlobalSettings")
                .expect("GlobalSettings"),
        );
        let int = |k: &str| attr_i64(&settings[k][0]) as i32;
        let up_axis = int("UpAxis");
        let front_axis_sign = int("FrontAxisSign");
        let unit_scale = attr_f64(&settings["UnitScaleFactor"][0]);

        let objects = root.first_child_by_name("Objects").expect("Objects");
        let mut object_counts: HashMap<String, usize> = HashMap::new();
        let mut bones = Vec::new();
        let mut bone_of: HashMap<i64, usize> = HashMap::new();
        let mut curve_nodes: HashMap<i64, ()> = HashMap::new();
        let mut curve_data: HashMap<i64, Curve> = HashMap::new();
        let mut stacks = Vec::new();
        let mut cluster_sizes: HashMap<i64, usize> = HashMap::new();
        let mut bind_pose_nodes = 0;
        let mut vertex_count = 0;
        for o in objects.children() {
            *object_counts.entry(o.name().to_string()).or_default() += 1;
            let a = o.attributes();
            let id = attr_i64(&a[0]);
            match o.name() {
                "Model" if attr_str(&a[2]) == Some("LimbNode") => {
                    let props = properties(o);
                    bone_of.insert(id, bones.len());
                    bones.push(Bone {
                        id,
                        name: object_name(&a[1]),
                        parent: None,
                        translation: props
                            .get("Lcl Translation")
                            .map_or(DVec3::ZERO, |v| vec3(v)),
                        rotation_deg: props.get("Lcl Rotation").map_or(DVec3::ZERO, |v| vec3(v)),
                    });
                }
                "AnimationCurveNode" => {
                    curve_nodes.insert(id, ());
                }
                "AnimationCurve" => {
                    let times = o
                        .first_child_by_name("KeyTime")
                        .and_then(|n| n.attributes()[0].get_arr_i64().map(<[i64]>::to_vec))
                        .expect("KeyTime");
                    let values = o
                        .first_child_by_name("KeyValueFloat")
                        .and_then(|n| n.attributes()[0].get_arr_f32().map(<[f32]>::to_vec))
                        .expect("KeyValueFloat");
                    curve_data.insert(id, Curve { times, values });
                }
                "AnimationStack" => stacks.push(object_name(&a[1])),
                "Deformer" if attr_str(&a[2]) == Some("Cluster") => {
                    let n = o
                        .first_child_by_name("Indexes")
                        .and_then(|n| n.attributes()[0].get_arr_i32().map(<[i32]>::len))
                        .unwrap_or(0);
                    cluster_sizes.insert(id, n);
                }
                "Pose" => bind_pose_nodes += o.children_by_name("PoseNode").count(),
                "Geometry" => {
                    vertex_count = o
                        .first_child_by_name("Vertices")
                        .and_then(|n| n.attributes()[0].get_arr_f64().map(<[f64]>::len))
                        .unwrap_or(0)
                        / 3;
                }
                _ => {}
            }
        }

        // Connections: parents, curve → curve node → bone property, bone → cluster.
        let mut node_target: HashMap<i64, (usize, String)> = HashMap::new();
        let mut curve_target: Vec<(i64, i64, String)> = Vec::new();
        let mut clusters = Vec::new();
        let connections = root
            .first_child_by_name("Connections")
            .expect("Connections");
        for c in connections.children_by_name("C") {
            let a = c.attributes();
            let kind = attr_str(&a[0]).unwrap();
            let (child, parent) = (attr_i64(&a[1]), attr_i64(&a[2]));
            match kind {
                "OO" => {
                    if let (Some(&ci), Some(&pi)) = (bone_of.get(&child), bone_of.get(&parent)) {
                        bones[ci].parent = Some(pi);
                    }
                    if let (Some(&bi), Some(&n)) = (bone_of.get(&child), cluster_sizes.get(&parent))
                    {
                        clusters.push((bones[bi].name.clone(), n));
                    }
                }
                "OP" => {
                    let prop = attr_str(&a[3]).unwrap().to_string();
                    if curve_nodes.contains_key(&child) {
                        if let Some(&bi) = bone_of.get(&parent) {
                            node_target.insert(child, (bi, prop));
                        }
                    } else if curve_data.contains_key(&child) {
                        curve_target.push((child, parent, prop));
                    }
                }
                _ => {}
            }
        }
        let mut curves = HashMap::new();
        for (curve, node, channel) in curve_target {
            let Some((bone, prop)) = node_target.get(&node) else {
                continue;
            };
            let axis = match channel.as_str() {
                "d|X" => 0,
                "d|Y" => 1,
                "d|Z" => 2,
                other => panic!("unexpected channel {other}"),
            };
            curves.insert((*bone, prop.clone(), axis), curve_data[&curve].clone());
        }
        FbxScene {
            tree,
            version,
            up_axis,
            front_axis_sign,
            unit_scale,
            bones,
            curves,
            object_counts,
            stacks,
            clusters,
            bind_pose_nodes,
            vertex_count,
        }
    }

    /// Number of keys of the animation (the longest curve).
    pub fn key_count(&self) -> usize {
        self.curves
            .values()
            .map(|c| c.values.len())
            .max()
            .unwrap_or(0)
    }

    /// The value of `prop` on `bone` at key `k`, else `fallback` (the
    /// default pose's value, which is all there is with no key).
    fn channel(&self, bone: usize, prop: &str, k: Option<usize>, fallback: DVec3) -> DVec3 {
        let mut v = fallback;
        let Some(k) = k else { return v };
        for axis in 0..3 {
            if let Some(c) = self.curves.get(&(bone, prop.to_string(), axis)) {
                v[axis] = f64::from(c.values[k]);
            }
        }
        v
    }

    /// World positions of every bone at key `k`, converted back to metres
    /// with Y up (the subject facing +Z), by bone name.
    pub fn positions(&self, k: usize) -> HashMap<String, DVec3> {
        self.positions_at(Some(k))
    }

    /// World positions of every bone in the default (rest) pose, as
    /// [`FbxScene::positions`].
    #[allow(dead_code)]
    pub fn rest_positions(&self) -> HashMap<String, DVec3> {
        self.positions_at(None)
    }

    fn positions_at(&self, k: Option<usize>) -> HashMap<String, DVec3> {
        let mut global: Vec<(DVec3, DQuat)> = Vec::with_capacity(self.bones.len());
        // Parents may come after children in the file: resolve in passes.
        let mut done = vec![None; self.bones.len()];
        while done.iter().any(Option::is_none) {
            for (i, b) in self.bones.iter().enumerate() {
                if done[i].is_some() {
                    continue;
                }
                let t = self.channel(i, "Lcl Translation", k, b.translation);
                let e = self.channel(i, "Lcl Rotation", k, b.rotation_deg);
                // FBX eEulerXYZ: X applied first, R = Rz · Ry · Rx.
                let r = DQuat::from_rotation_z(e.z.to_radians())
                    * DQuat::from_rotation_y(e.y.to_radians())
                    * DQuat::from_rotation_x(e.x.to_radians());
                match b.parent {
                    None => done[i] = Some((t, r)),
                    Some(p) => {
                        if let Some((pt, pr)) = done[p] {
                            done[i] = Some((pt + pr * t, pr * r));
                        }
                    }
                }
            }
        }
        global.extend(done.into_iter().flatten());
        let metres = self.unit_scale / 100.0;
        self.bones
            .iter()
            .zip(global)
            .map(|(b, (t, _))| {
                let p = t * metres;
                let p = match self.up_axis {
                    1 => p,
                    // Z up, front -Y: back to Y up, front +Z.
                    2 => DVec3::new(p.x, p.z, -p.y),
                    other => panic!("up axis {other}"),
                };
                (b.name.clone(), p)
            })
            .collect()
    }
}
