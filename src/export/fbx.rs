//! FBX binary 7.4 writer for an [`ExportRig`], written from the public
//! description of the format (Blender's io_scene_fbx exporter is the most
//! complete one).
//!
//! The container (records, typed properties, zlib arrays, header and
//! footer) is [`super::fbx_binary`]. Content: every bone is a `LimbNode` Model with a `LimbNode`
//! NodeAttribute, parented through `OO` connections; the body mesh is a
//! Mesh Model with its Geometry, a Skin deformer and one Cluster per bone
//! that moves vertices (rigid weights), and a BindPose; the motion is one
//! AnimationStack "capture" → AnimationLayer → per bone an `R`
//! AnimationCurveNode (Euler XYZ degrees), a `T` node on the bones whose
//! translation moves and an `S` node on the top bone, → one AnimationCurve
//! per channel, keyed at every frame (linear) on FBX's 46186158000 ticks
//! per second, at the rig's times (the video's timestamps by default).
//! Bones carry the preset's rest orientation ([`super::axes`]) in their
//! `Lcl Rotation` and bind matrices. The source span is in user properties
//! (`vidmocap_*`) of the animation stack and the body. Units and up axis
//! follow [`Space`], declared in GlobalSettings (`UnitScaleFactor` is
//! centimetres per file unit).

use glam::{Mat4, Vec3};

use super::axes::OrientedRig;
use super::euler::{to_euler, FBX_XYZ};
pub use super::fbx_binary::{encode, Node, Prop, VERSION};
use super::fbx_binary::{CREATION_TIME, FILE_ID};
use super::gltf::{ANIMATION_NAME, MESH_NODE_NAME};
use super::rig::{ExportRig, Space, UpAxis};
use super::ExportError;

/// FBX time units per second.
pub const KTIME_PER_SECOND: i64 = 46_186_158_000;

/// `KeyAttrFlags` of a linearly interpolated key.
const INTERPOLATION_LINEAR: i32 = 0x0000_0004;

fn s(v: &str) -> Prop {
    Prop::Str(v.to_string())
}

/// `name\0\x01class`: how binary FBX spells an object's "class::name".
fn object_name(name: &str, class: &str) -> Prop {
    Prop::Str(format!("{name}\u{0}\u{1}{class}"))
}

/// A `Properties70` entry: name, type, label, flags, then values.
fn p(name: &str, ty: &str, label: &str, flags: &str, values: Vec<Prop>) -> Node {
    let mut props = vec![s(name), s(ty), s(label), s(flags)];
    props.extend(values);
    Node::new("P", props)
}

fn p_int(name: &str, v: i32) -> Node {
    p(name, "int", "Integer", "", vec![Prop::I32(v)])
}

fn p_double(name: &str, v: f64) -> Node {
    p(name, "double", "Number", "", vec![Prop::F64(v)])
}

fn p_time(name: &str, v: i64) -> Node {
    p(name, "KTime", "Time", "", vec![Prop::I64(v)])
}

fn p_vec(name: &str, v: [f64; 3]) -> Node {
    p(name, name, "", "A", v.map(Prop::F64).to_vec())
}

fn leaf(name: &'static str, v: Prop) -> Node {
    Node::new(name, vec![v])
}

fn v64(v: Vec3) -> [f64; 3] {
    [v.x.into(), v.y.into(), v.z.into()]
}

fn mat(m: Mat4) -> Prop {
    Prop::ArrF64(m.to_cols_array().iter().map(|&x| f64::from(x)).collect())
}

/// FBX time of frame `i` at `fps`.
pub fn ktime(i: usize, fps: f32) -> i64 {
    (i as f64 * KTIME_PER_SECOND as f64 / f64::from(fps)).round() as i64
}

/// FBX `TimeMode` for a frame rate: a named mode where there is one,
/// otherwise "custom" with `CustomFrameRate`.
fn time_mode(fps: f32) -> i32 {
    let modes: [(f32, i32); 10] = [
        (120.0, 1),
        (100.0, 2),
        (60.0, 3),
        (50.0, 4),
        (48.0, 5),
        (30.0, 6),
        (25.0, 10),
        (24.0, 11),
        (1000.0, 12),
        (96.0, 15),
    ];
    modes
        .iter()
        .find(|(f, _)| (f - fps).abs() < 1e-3)
        .map_or(14, |m| m.1)
}

/// Sequential object ids (0 is the scene root).
struct Ids(i64);

impl Ids {
    fn next(&mut self) -> i64 {
        self.0 += 1;
        self.0
    }
}

/// The FBX file for `rig` in `space`, in memory.
pub fn fbx_bytes(rig: &ExportRig, space: Space) -> Result<Vec<u8>, ExportError> {
    if rig.frames() == 0 {
        return Err(ExportError::EmptyMotion);
    }
    if rig.bones.iter().any(|b| b.name.contains('\0')) {
        return Err(ExportError::Invalid("unusable bone names".into()));
    }
    Ok(encode(&document(rig, space)))
}

/// The whole node tree.
fn document(rig: &ExportRig, space: Space) -> Vec<Node> {
    let mut ids = Ids(1_000_000);
    let mut objects: Vec<Node> = Vec::new();
    let mut links: Vec<Node> = Vec::new();
    let oo = |child: i64, parent: i64| {
        Node::new("C", vec![s("OO"), Prop::I64(child), Prop::I64(parent)])
    };
    let op = |child: i64, parent: i64, prop: &str| {
        Node::new(
            "C",
            vec![s("OP"), Prop::I64(child), Prop::I64(parent), s(prop)],
        )
    };
    let n = rig.frames();
    let times: Vec<i64> = rig.times.iter().map(|&t| seconds_to_ktime(t)).collect();
    let (start, stop) = (times[0], times[n - 1]);
    let oriented = OrientedRig::new(rig, space, rig.bone_axis);

    // Bones.
    let bone_ids: Vec<i64> = rig.bones.iter().map(|_| ids.next()).collect();
    for (i, bone) in rig.bones.iter().enumerate() {
        let attr = ids.next();
        objects.push(
            Node::new(
                "NodeAttribute",
                vec![
                    Prop::I64(attr),
                    object_name(&bone.name, "NodeAttribute"),
                    s("LimbNode"),
                ],
            )
            .with(vec![
                Node::new("Properties70", vec![]).with(vec![p_double("Size", 1.0)]),
                leaf("TypeFlags", s("Skeleton")),
            ]),
        );
        let t_rest = oriented.rest_translation(i);
        let r_rest = fbx_angles(to_euler(oriented.rest_rotation(i), FBX_XYZ, None));
        objects.push(
            Node::new(
                "Model",
                vec![
                    Prop::I64(bone_ids[i]),
                    object_name(&bone.name, "Model"),
                    s("LimbNode"),
                ],
            )
            .with(vec![
                leaf("Version", Prop::I32(232)),
                Node::new("Properties70", vec![]).with(vec![
                    // The T-pose: what engines take as the default pose
                    // (Unity's humanoid avatar, Unreal's reference pose);
                    // the animation curves carry the motion.
                    p_vec("Lcl Translation", v64(t_rest)),
                    p_vec("Lcl Rotation", r_rest),
                    p_vec("Lcl Scaling", [1.0; 3]),
                    p_int("DefaultAttributeIndex", 0),
                    p("InheritType", "enum", "", "", vec![Prop::I32(1)]),
                ]),
                leaf("Shading", Prop::Bool(true)),
                leaf("Culling", s("CullingOff")),
            ]),
        );
        links.push(oo(attr, bone_ids[i]));
        links.push(oo(bone_ids[i], bone.parent.map_or(0, |p| bone_ids[p])));
    }

    // The body: Model, Geometry, Skin with a Cluster per moving bone.
    let mesh = &rig.mesh;
    let (model, geometry, skin, pose) = (ids.next(), ids.next(), ids.next(), ids.next());
    objects.push(
        Node::new(
            "Model",
            vec![
                Prop::I64(model),
                object_name(MESH_NODE_NAME, "Model"),
                s("Mesh"),
            ],
        )
        .with(vec![
            leaf("Version", Prop::I32(232)),
            Node::new("Properties70", vec![]).with(
                std::iter::once(p_int("DefaultAttributeIndex", 0))
                    .chain(source_properties(rig))
                    .collect(),
            ),
            leaf("Shading", Prop::Bool(true)),
            leaf("Culling", s("CullingOff")),
        ]),
    );
    links.push(oo(model, 0));
    let vertices: Vec<f64> = mesh
        .positions
        .iter()
        .flat_map(|&v| v64(space.point(v)))
        .collect();
    let polygon_index: Vec<i32> = mesh
        .indices
        .chunks(3)
        .flat_map(|t| [t[0] as i32, t[1] as i32, -(t[2] as i32) - 1])
        .collect();
    let unit = Space {
        units: super::rig::Units::Metres,
        up: space.up,
    };
    let normals: Vec<f64> = mesh
        .indices
        .iter()
        .flat_map(|&i| v64(unit.point(mesh.normals[i as usize])))
        .collect();
    objects.push(
        Node::new(
            "Geometry",
            vec![
                Prop::I64(geometry),
                object_name(MESH_NODE_NAME, "Geometry"),
                s("Mesh"),
            ],
        )
        .with(vec![
            leaf("GeometryVersion", Prop::I32(124)),
            leaf("Vertices", Prop::ArrF64(vertices)),
            leaf("PolygonVertexIndex", Prop::ArrI32(polygon_index)),
            Node::new("LayerElementNormal", vec![Prop::I32(0)]).with(vec![
                leaf("Version", Prop::I32(101)),
                leaf("Name", s("")),
                leaf("MappingInformationType", s("ByPolygonVertex")),
                leaf("ReferenceInformationType", s("Direct")),
                leaf("Normals", Prop::ArrF64(normals)),
            ]),
            Node::new("LayerElementMaterial", vec![Prop::I32(0)]).with(vec![
                leaf("Version", Prop::I32(101)),
                leaf("Name", s("")),
                leaf("MappingInformationType", s("AllSame")),
                leaf("ReferenceInformationType", s("IndexToDirect")),
                leaf("Materials", Prop::ArrI32(vec![0])),
            ]),
            Node::new("Layer", vec![Prop::I32(0)]).with(vec![
                leaf("Version", Prop::I32(100)),
                Node::new("LayerElement", vec![]).with(vec![
                    leaf("Type", s("LayerElementNormal")),
                    leaf("TypedIndex", Prop::I32(0)),
                ]),
                Node::new("LayerElement", vec![]).with(vec![
                    leaf("Type", s("LayerElementMaterial")),
                    leaf("TypedIndex", Prop::I32(0)),
                ]),
            ]),
        ]),
    );
    links.push(oo(geometry, model));
    // The same matte grey as the GLB's body.
    let material = ids.next();
    objects.push(
        Node::new(
            "Material",
            vec![
                Prop::I64(material),
                object_name(MESH_NODE_NAME, "Material"),
                s(""),
            ],
        )
        .with(vec![
            leaf("Version", Prop::I32(102)),
            leaf("ShadingModel", s("lambert")),
            leaf("MultiLayer", Prop::I32(0)),
            Node::new("Properties70", vec![]).with(vec![
                p(
                    "DiffuseColor",
                    "Color",
                    "",
                    "A",
                    [0.72, 0.74, 0.78].map(Prop::F64).to_vec(),
                ),
                p_double("DiffuseFactor", 1.0),
            ]),
        ]),
    );
    links.push(oo(material, model));
    objects.push(
        Node::new(
            "Deformer",
            vec![Prop::I64(skin), object_name("Skin", "Deformer"), s("Skin")],
        )
        .with(vec![
            leaf("Version", Prop::I32(101)),
            leaf("Link_DeformAcuracy", Prop::F64(50.0)),
        ]),
    );
    links.push(oo(skin, geometry));
    let bind: Vec<Mat4> = oriented.binds();
    let mut clusters = 0;
    for (b, bone) in rig.bones.iter().enumerate() {
        let indexes: Vec<i32> = (0..mesh.joints.len())
            .filter(|&v| usize::from(mesh.joints[v]) == b)
            .map(|v| v as i32)
            .collect();
        if indexes.is_empty() {
            continue;
        }
        clusters += 1;
        let cluster = ids.next();
        let weights = vec![1.0f64; indexes.len()];
        objects.push(
            Node::new(
                "Deformer",
                vec![
                    Prop::I64(cluster),
                    object_name(&bone.name, "SubDeformer"),
                    s("Cluster"),
                ],
            )
            .with(vec![
                leaf("Version", Prop::I32(100)),
                Node::new("UserData", vec![s(""), s("")]),
                leaf("Indexes", Prop::ArrI32(indexes)),
                leaf("Weights", Prop::ArrF64(weights)),
                // The mesh sits at the origin, so its bind matrix is the
                // identity and Transform is the bone's inverse bind matrix.
                leaf("Transform", mat(bind[b].inverse())),
                leaf("TransformLink", mat(bind[b])),
            ]),
        );
        links.push(oo(cluster, skin));
        links.push(oo(bone_ids[b], cluster));
    }
    let mut pose_nodes = vec![
        leaf("Type", s("BindPose")),
        leaf("Version", Prop::I32(100)),
        leaf("NbPoseNodes", Prop::I32(rig.bones.len() as i32 + 1)),
        Node::new("PoseNode", vec![]).with(vec![
            leaf("Node", Prop::I64(model)),
            leaf("Matrix", mat(Mat4::IDENTITY)),
        ]),
    ];
    for (b, m) in bind.iter().enumerate() {
        pose_nodes.push(Node::new("PoseNode", vec![]).with(vec![
            leaf("Node", Prop::I64(bone_ids[b])),
            leaf("Matrix", mat(*m)),
        ]));
    }
    objects.push(
        Node::new(
            "Pose",
            vec![
                Prop::I64(pose),
                object_name("BindPose", "Pose"),
                s("BindPose"),
            ],
        )
        .with(pose_nodes),
    );

    // Animation.
    let (stack, layer) = (ids.next(), ids.next());
    objects.push(
        Node::new(
            "AnimationStack",
            vec![
                Prop::I64(stack),
                object_name(ANIMATION_NAME, "AnimStack"),
                s(""),
            ],
        )
        .with(vec![Node::new("Properties70", vec![]).with(
            [
                p_time("LocalStart", start),
                p_time("LocalStop", stop),
                p_time("ReferenceStart", start),
                p_time("ReferenceStop", stop),
            ]
            .into_iter()
            .chain(source_properties(rig))
            .collect(),
        )]),
    );
    // Readers (assimp) require every object record to have a scope, so the
    // layer carries its (default) weight.
    objects.push(
        Node::new(
            "AnimationLayer",
            vec![
                Prop::I64(layer),
                object_name("BaseLayer", "AnimLayer"),
                s(""),
            ],
        )
        .with(vec![Node::new("Properties70", vec![]).with(vec![p(
            "Weight",
            "Number",
            "",
            "A",
            vec![Prop::F64(100.0)],
        )])]),
    );
    links.push(oo(layer, stack));
    let mut curve_nodes = 0;
    let mut curves = 0;
    for (b, _) in rig.bones.iter().enumerate() {
        let mut channels: Vec<(&str, &str, [Vec<f32>; 3])> = Vec::new();
        if rig.animated_translation[b] {
            let mut t: [Vec<f32>; 3] = Default::default();
            for f in 0..n {
                let v = oriented.translation(f, b);
                for a in 0..3 {
                    t[a].push(v[a]);
                }
            }
            channels.push(("T", "Lcl Translation", t));
        }
        let mut r: [Vec<f32>; 3] = Default::default();
        let mut prev = None;
        for f in 0..n {
            let e = to_euler(oriented.rotation(f, b), FBX_XYZ, prev);
            prev = Some(e);
            let deg = fbx_angles(e);
            for a in 0..3 {
                r[a].push(deg[a] as f32);
            }
        }
        channels.push(("R", "Lcl Rotation", r));
        if b == 0 {
            channels.push((
                "S",
                "Lcl Scaling",
                [vec![1.0; n], vec![1.0; n], vec![1.0; n]],
            ));
        }
        for (short, property, values) in channels {
            let node = ids.next();
            curve_nodes += 1;
            let defaults: Vec<Node> = ["d|X", "d|Y", "d|Z"]
                .iter()
                .zip(&values)
                .map(|(d, v)| p(d, "Number", "", "A", vec![Prop::F64(f64::from(v[0]))]))
                .collect();
            objects.push(
                Node::new(
                    "AnimationCurveNode",
                    vec![Prop::I64(node), object_name(short, "AnimCurveNode"), s("")],
                )
                .with(vec![Node::new("Properties70", vec![]).with(defaults)]),
            );
            links.push(oo(node, layer));
            links.push(op(node, bone_ids[b], property));
            for (axis, v) in ["d|X", "d|Y", "d|Z"].iter().zip(values) {
                let curve = ids.next();
                curves += 1;
                objects.push(
                    Node::new(
                        "AnimationCurve",
                        vec![Prop::I64(curve), object_name("", "AnimCurve"), s("")],
                    )
                    .with(vec![
                        leaf("Default", Prop::F64(f64::from(v[0]))),
                        leaf("KeyVer", Prop::I32(4008)),
                        leaf("KeyTime", Prop::ArrI64(times.clone())),
                        leaf("KeyValueFloat", Prop::ArrF32(v)),
                        leaf("KeyAttrFlags", Prop::ArrI32(vec![INTERPOLATION_LINEAR])),
                        leaf("KeyAttrDataFloat", Prop::ArrF32(vec![0.0; 4])),
                        leaf("KeyAttrRefCount", Prop::ArrI32(vec![n as i32])),
                    ]),
                );
                links.push(op(curve, node, axis));
            }
        }
    }

    let definitions = {
        let kinds: [(&str, usize); 11] = [
            ("GlobalSettings", 1),
            ("Model", rig.bones.len() + 1),
            ("NodeAttribute", rig.bones.len()),
            ("Geometry", 1),
            ("Material", 1),
            ("Deformer", 1 + clusters),
            ("Pose", 1),
            ("AnimationStack", 1),
            ("AnimationLayer", 1),
            ("AnimationCurveNode", curve_nodes),
            ("AnimationCurve", curves),
        ];
        let mut d = vec![
            leaf("Version", Prop::I32(100)),
            leaf("Count", Prop::I32(kinds.iter().map(|k| k.1 as i32).sum())),
        ];
        for (kind, count) in kinds {
            d.push(
                Node::new("ObjectType", vec![s(kind)])
                    .with(vec![leaf("Count", Prop::I32(count as i32))]),
            );
        }
        Node::new("Definitions", vec![]).with(d)
    };

    let creator = format!("vidmocap {}", env!("CARGO_PKG_VERSION"));
    vec![
        Node::new("FBXHeaderExtension", vec![]).with(vec![
            leaf("FBXHeaderVersion", Prop::I32(1003)),
            leaf("FBXVersion", Prop::I32(VERSION as i32)),
            leaf("EncryptionType", Prop::I32(0)),
            Node::new("CreationTimeStamp", vec![]).with(
                [
                    ("Version", 1000),
                    ("Year", 1970),
                    ("Month", 1),
                    ("Day", 1),
                    ("Hour", 10),
                    ("Minute", 0),
                    ("Second", 0),
                    ("Millisecond", 0),
                ]
                .into_iter()
                .map(|(k, v)| leaf(k, Prop::I32(v)))
                .collect(),
            ),
            leaf("Creator", s(&creator)),
        ]),
        leaf("FileId", Prop::Raw(FILE_ID.to_vec())),
        leaf("CreationTime", s(CREATION_TIME)),
        leaf("Creator", s(&creator)),
        global_settings(rig, space, start, stop),
        Node::new("Documents", vec![]).with(vec![
            leaf("Count", Prop::I32(1)),
            Node::new(
                "Document",
                vec![Prop::I64(ids.next()), s("Scene"), s("Scene")],
            )
            .with(vec![
                Node::new("Properties70", vec![]).with(vec![
                    p("SourceObject", "object", "", "", vec![]),
                    p(
                        "ActiveAnimStackName",
                        "KString",
                        "",
                        "",
                        vec![s(ANIMATION_NAME)],
                    ),
                ]),
                leaf("RootNode", Prop::I64(0)),
            ]),
        ]),
        Node::new("References", vec![]),
        definitions,
        Node::new("Objects", vec![]).with(objects),
        Node::new("Connections", vec![]).with(links),
        Node::new("Takes", vec![]).with(vec![
            leaf("Current", s(ANIMATION_NAME)),
            Node::new("Take", vec![s(ANIMATION_NAME)]).with(vec![
                leaf("FileName", s(&format!("{ANIMATION_NAME}.tak"))),
                Node::new("LocalTime", vec![Prop::I64(start), Prop::I64(stop)]),
                Node::new("ReferenceTime", vec![Prop::I64(start), Prop::I64(stop)]),
            ]),
        ]),
    ]
}

/// Radians to FBX degrees.
fn fbx_angles(e: [f64; 3]) -> [f64; 3] {
    // `to_euler` returns the factors of Rz·Ry·Rx; FBX stores X, Y, Z.
    [e[2].to_degrees(), e[1].to_degrees(), e[0].to_degrees()]
}

fn global_settings(rig: &ExportRig, space: Space, start: i64, stop: i64) -> Node {
    // Axis system: (up, front, coord) axes and signs. Y up faces +Z;
    // Z up is Blender's (front -Y), which `Space` maps into.
    let (up, front, front_sign) = match space.up {
        UpAxis::Y => (1, 2, 1),
        UpAxis::Z => (2, 1, -1),
    };
    let cm_per_unit = 100.0 / f64::from(space.units.per_metre());
    Node::new("GlobalSettings", vec![]).with(vec![
        leaf("Version", Prop::I32(1000)),
        Node::new("Properties70", vec![]).with(vec![
            p_int("UpAxis", up),
            p_int("UpAxisSign", 1),
            p_int("FrontAxis", front),
            p_int("FrontAxisSign", front_sign),
            p_int("CoordAxis", 0),
            p_int("CoordAxisSign", 1),
            p_int("OriginalUpAxis", up),
            p_int("OriginalUpAxisSign", 1),
            p_double("UnitScaleFactor", cm_per_unit),
            p_double("OriginalUnitScaleFactor", cm_per_unit),
            p(
                "AmbientColor",
                "ColorRGB",
                "Color",
                "",
                vec![Prop::F64(0.0), Prop::F64(0.0), Prop::F64(0.0)],
            ),
            p(
                "DefaultCamera",
                "KString",
                "",
                "",
                vec![s("Producer Perspective")],
            ),
            p(
                "TimeMode",
                "enum",
                "",
                "",
                vec![Prop::I32(time_mode(rig.fps))],
            ),
            p_time("TimeSpanStart", start),
            p_time("TimeSpanStop", stop),
            p_double("CustomFrameRate", f64::from(rig.fps)),
        ]),
    ])
}

/// FBX time of `t` seconds.
pub fn seconds_to_ktime(t: f64) -> i64 {
    (t * KTIME_PER_SECOND as f64).round() as i64
}

/// The source span as user properties of the animation stack, where
/// Blender (custom properties), Maya (extra attributes) and the FBX SDK
/// show them: `vidmocap_first_frame`, `vidmocap_last_frame`,
/// `vidmocap_video_fps`, `vidmocap_start_s`.
fn source_properties(rig: &ExportRig) -> Vec<Node> {
    let Some(src) = &rig.source else {
        return Vec::new();
    };
    let user_int = |name: &str, v: u64| {
        p(
            name,
            "int",
            "Integer",
            "U",
            vec![Prop::I32(i32::try_from(v).unwrap_or(i32::MAX))],
        )
    };
    let user_double = |name: &str, v: f64| p(name, "double", "Number", "U", vec![Prop::F64(v)]);
    vec![
        user_int("vidmocap_first_frame", src.first_frame),
        user_int("vidmocap_last_frame", src.last_frame),
        user_double("vidmocap_video_fps", src.fps),
        user_double("vidmocap_start_s", src.start_s()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_times_use_fbx_ticks() {
        assert_eq!(ktime(30, 30.0), KTIME_PER_SECOND);
        assert_eq!(ktime(1, 24.0), 1_924_423_250);
        assert_eq!(time_mode(30.0), 6);
        assert_eq!(time_mode(29.97), 14);
    }
}
