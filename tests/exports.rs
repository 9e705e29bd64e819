//! Exports read back by independent readers: the FBX by `fbxcel` and by
//! assimp (`assimp info`), the BVH by a parser of its own and by assimp,
//! the GLB by the Khronos validator; joint world positions computed from
//! each file's parsed data must match the solved skeleton within 1 mm, for
//! every rig preset, both root-motion options and both up axes.
//!
//! The motion is synthetic (no models); `export_cli.rs` runs the real clip.

#[path = "support/bvh_reader.rs"]
mod bvh_reader;
#[path = "support/fbx_reader.rs"]
mod fbx_reader;
#[path = "support/glb.rs"]
#[allow(dead_code)]
mod glb;
#[path = "support/gltf_validator.rs"]
mod gltf_validator;
#[path = "support/synthetic.rs"]
mod synthetic;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use glam::{DVec3, Vec3};
use vidmocap::export::{
    write_motion_files, ExportOptions, Format, RootMotion, Space, Units, UpAxis,
};
use vidmocap::rig::{global_positions, JointId, RigPreset};

use bvh_reader::Bvh;
use fbx_reader::FbxScene;
use synthetic::{FPS, FRAMES};

/// Frames compared between formats.
const SAMPLES: [usize; 6] = [0, 5, 13, 20, 31, FRAMES - 1];
/// 1 mm, in metres.
const TOLERANCE: f64 = 1e-3;

fn options(rig: RigPreset, root_motion: RootMotion, units: Units, up: UpAxis) -> ExportOptions {
    ExportOptions {
        formats: vec![Format::Glb, Format::Fbx, Format::Bvh],
        rig,
        root_motion,
        space: Space { units, up },
        ..ExportOptions::default()
    }
}

/// A file-space position (BVH) back in metres, Y up.
fn to_output(p: DVec3, units: Units, up: UpAxis) -> DVec3 {
    let p = p / f64::from(units.per_metre());
    match up {
        UpAxis::Y => p,
        UpAxis::Z => DVec3::new(p.x, p.z, -p.y),
    }
}

fn assert_close(what: &str, got: Option<DVec3>, want: Vec3) {
    let got = got.unwrap_or_else(|| panic!("{what}: missing"));
    let err = (got - want.as_dvec3()).length();
    assert!(
        err <= TOLERANCE,
        "{what}: {got} vs {want} ({:.3} mm)",
        err * 1e3
    );
}

#[test]
fn every_format_carries_the_same_motion() {
    let (skel, clip) = synthetic::motion();
    let configs = [
        options(
            RigPreset::Generic,
            RootMotion::Hips,
            Units::Centimetres,
            UpAxis::Y,
        ),
        options(
            RigPreset::Ue5,
            RootMotion::RootBone,
            Units::Metres,
            UpAxis::Z,
        ),
        options(
            RigPreset::Mixamo,
            RootMotion::Hips,
            Units::Centimetres,
            UpAxis::Z,
        ),
        options(
            RigPreset::Mixamo,
            RootMotion::RootBone,
            Units::Metres,
            UpAxis::Y,
        ),
    ];
    for opts in configs {
        let dir = tempfile::tempdir().unwrap();
        let written = write_motion_files(dir.path(), &opts, &skel, &clip, None, &[]).unwrap();
        assert_eq!(written.len(), 3);
        let glb = glb::Glb::read(&dir.path().join("motion.glb"));
        let fbx = FbxScene::read(&dir.path().join("motion.fbx"));
        let bvh = Bvh::parse(&std::fs::read_to_string(dir.path().join("motion.bvh")).unwrap());
        let (units, up) = (opts.space.units, opts.space.up);
        for &k in &SAMPLES {
            let want = global_positions(&skel, clip.root_translation[k], &clip.rotations[k]);
            let from_glb = glb.joint_positions(k);
            let from_fbx = fbx.positions(k);
            let from_bvh = bvh.positions(k);
            for j in JointId::ALL {
                let name = opts.rig.bone_name(j);
                let w = want[j.index()];
                let tag = |f: &str| format!("{:?} {f} frame {k} {name}", opts.rig);
                assert_close(&tag("glb"), from_glb.get(name).map(|v| v.as_dvec3()), w);
                assert_close(&tag("fbx"), from_fbx.get(name).copied(), w);
                let bvh_name = if j.is_end() {
                    format!("{}/End Site", opts.rig.bone_name(j.parent().unwrap()))
                } else {
                    name.to_string()
                };
                let p = from_bvh.get(&bvh_name).map(|p| to_output(*p, units, up));
                assert_close(&tag("bvh"), p, w);
            }
            if opts.root_motion == RootMotion::RootBone {
                // The root bone follows the hips over the floor.
                let hips = clip.root_translation[k];
                let root = Vec3::new(hips.x, 0.0, hips.z);
                let name = opts.rig.root_name();
                assert_close(&format!("fbx {name}"), from_fbx.get(name).copied(), root);
                assert_close(
                    &format!("glb {name}"),
                    from_glb.get(name).map(|v| v.as_dvec3()),
                    root,
                );
            }
        }
        let report = gltf_validator::validate_glb(&dir.path().join("motion.glb"));
        assert_eq!(
            report["issues"]["numErrors"],
            0,
            "{:?}: {}",
            opts.rig,
            serde_json::to_string_pretty(&report["issues"]["messages"]).unwrap()
        );
    }
}

/// `assimp info` on `path`: its stdout, after checking it ran.
fn assimp_info(path: &Path) -> String {
    let out = Command::new("assimp")
        .arg("info")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run assimp (scripts/setup.sh installs assimp-utils): {e}")
        });
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "assimp info {} failed: {text}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// `assimp dump` of `path` (XML, shortened): the `(duration in ticks,
/// ticks per second)` of each animation and the key counts of each channel.
fn assimp_animations(path: &Path, dir: &Path) -> (Vec<(f64, f64)>, Vec<usize>) {
    let xml = dir.join(format!(
        "{}.xml",
        path.extension().unwrap().to_string_lossy()
    ));
    let out = Command::new("assimp")
        .arg("dump")
        .arg(path)
        .arg(&xml)
        .arg("-s")
        .output()
        .expect("assimp dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&xml).unwrap();
    let attr = |line: &str, key: &str| -> f64 {
        let start = line.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
        let end = start + line[start..].find('"').unwrap();
        line[start..end].parse().unwrap()
    };
    let animations = text
        .lines()
        .filter(|l| l.trim_start().starts_with("<Animation "))
        .map(|l| (attr(l, "duration"), attr(l, "tick_cnt")))
        .collect();
    let keys = text
        .lines()
        .filter(|l| l.contains("KeyList num="))
        .map(|l| attr(l, "num") as usize)
        .collect();
    (animations, keys)
}

/// Lines of `assimp info`'s node hierarchy (names only).
fn hierarchy_names(info: &str) -> Vec<String> {
    info.lines()
        .skip_while(|l| !l.starts_with("Node hierarchy"))
        .skip(1)
        .map(|l| {
            l.trim_start_matches(|c: char| !c.is_alphanumeric())
                .split(" (mesh")
                .next()
                .unwrap()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

fn info_count(info: &str, key: &str) -> usize {
    info.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in assimp info:\n{info}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn fbx_and_bvh_read_back_in_fbxcel_and_assimp() {
    let (skel, clip) = synthetic::motion();
    let dir = tempfile::tempdir().unwrap();
    let opts = options(
        RigPreset::Mixamo,
        RootMotion::Hips,
        Units::Centimetres,
        UpAxis::Y,
    );
    write_motion_files(dir.path(), &opts, &skel, &clip, None, &[]).unwrap();
    let fbx_path = dir.path().join("motion.fbx");
    let bvh_path = dir.path().join("motion.bvh");
    let duration = (FRAMES - 1) as f64 / f64::from(FPS);

    // fbxcel: the whole structure the issue asks for.
    let fbx = FbxScene::read(&fbx_path);
    assert_eq!(fbx.version, 7400);
    assert_eq!((fbx.up_axis, fbx.unit_scale), (1, 1.0));
    assert_eq!(fbx.bones.len(), JointId::COUNT);
    assert_eq!(fbx.object_counts["NodeAttribute"], JointId::COUNT);
    assert_eq!(fbx.object_counts["Geometry"], 1);
    assert_eq!(fbx.stacks, vec!["capture".to_string()]);
    assert_eq!(fbx.object_counts["AnimationLayer"], 1);
    // R on every bone, T on the hips, S on the top bone.
    assert_eq!(fbx.object_counts["AnimationCurveNode"], JointId::COUNT + 2);
    assert_eq!(
        fbx.object_counts["AnimationCurve"],
        3 * (JointId::COUNT + 2)
    );
    assert!(fbx.curves.values().all(|c| c.values.len() == FRAMES));
    let ticks = &fbx.curves.values().next().unwrap().times;
    assert_eq!(ticks[1], 46_186_158_000 / 30);
    assert_eq!(*ticks.last().unwrap(), 46_186_158_000 * 39 / 30);
    // A cluster for every bone that moves part of the body, a bind pose
    // node for every bone and the mesh.
    assert!(fbx.clusters.len() >= 20, "{:?}", fbx.clusters);
    assert!(fbx.clusters.iter().all(|(_, n)| *n > 0));
    assert_eq!(fbx.object_counts["Deformer"], 1 + fbx.clusters.len());
    assert_eq!(fbx.bind_pose_nodes, JointId::COUNT + 1);
    let clustered: usize = fbx.clusters.iter().map(|c| c.1).sum();
    assert_eq!(clustered, fbx.vertex_count, "every vertex in one cluster");

    // assimp: bones listed, one animation of the right length.
    let info = assimp_info(&fbx_path);
    assert_eq!(info_count(&info, "Animations:"), 1);
    assert_eq!(info_count(&info, "Bones:"), fbx.clusters.len());
    assert_eq!(info_count(&info, "Meshes:"), 1);
    let names = hierarchy_names(&info);
    for j in JointId::ALL {
        assert!(
            names.iter().any(|n| n == opts.rig.bone_name(j)),
            "{j}: {names:?}"
        );
    }
    assert!(info.contains("'capture'"), "{info}");
    let (anims, keys) = assimp_animations(&fbx_path, dir.path());
    assert_eq!(anims.len(), 1);
    let (ticks, per_second) = anims[0];
    assert!((ticks / per_second - duration).abs() < 1e-6, "{anims:?}");
    assert!((per_second - f64::from(FPS)).abs() < 1e-6, "{anims:?}");
    assert!(keys.iter().all(|&k| k == FRAMES), "{keys:?}");

    // BVH: our parser and assimp.
    let bvh = Bvh::parse(&std::fs::read_to_string(&bvh_path).unwrap());
    assert_eq!(bvh.frames.len(), FRAMES);
    assert!((bvh.frame_time - 1.0 / f64::from(FPS)).abs() < 1e-8);
    let info = assimp_info(&bvh_path);
    assert_eq!(info_count(&info, "Animations:"), 1);
    let names = hierarchy_names(&info);
    for j in JointId::ALL.into_iter().filter(|j| !j.is_end()) {
        assert!(
            names.iter().any(|n| n == opts.rig.bone_name(j)),
            "{j}: {names:?}"
        );
    }
    let (anims, keys) = assimp_animations(&bvh_path, dir.path());
    assert_eq!(anims.len(), 1);
    assert!(
        (anims[0].0 / anims[0].1 - duration).abs() < 1e-3,
        "{anims:?}"
    );
    // assimp keys BVH's unanimated channels (offsets, scale) once.
    assert!(keys.iter().all(|&k| k == FRAMES || k == 1), "{keys:?}");
    let rotating = JointId::ALL.iter().filter(|j| !j.is_end()).count();
    assert!(keys.iter().filter(|&&k| k == FRAMES).count() >= rotating);
}

/// Bone names and parents each preset must have, from the vendors'
/// published skeletons (Mixamo's rig, Unreal's Mannequin).
fn published(preset: RigPreset) -> Vec<(&'static str, Option<&'static str>)> {
    match preset {
        RigPreset::Mixamo => {
            let mut v = vec![
                ("mixamorig:Hips", None),
                ("mixamorig:Spine", Some("mixamorig:Hips")),
                ("mixamorig:Spine1", Some("mixamorig:Spine")),
                ("mixamorig:Spine2", Some("mixamorig:Spine1")),
                ("mixamorig:Neck", Some("mixamorig:Spine2")),
                ("mixamorig:Head", Some("mixamorig:Neck")),
                ("mixamorig:HeadTop_End", Some("mixamorig:Head")),
            ];
            for side in ["Left", "Right"] {
                let n = |s: &str| -> &'static str {
                    Box::leak(format!("mixamorig:{side}{s}").into_boxed_str())
                };
                v.extend([
                    (n("Shoulder"), Some("mixamorig:Spine2")),
                    (n("Arm"), Some(n("Shoulder"))),
                    (n("ForeArm"), Some(n("Arm"))),
                    (n("Hand"), Some(n("ForeArm"))),
                    (n("UpLeg"), Some("mixamorig:Hips")),
                    (n("Leg"), Some(n("UpLeg"))),
                    (n("Foot"), Some(n("Leg"))),
                    (n("ToeBase"), Some(n("Foot"))),
                    (n("Toe_End"), Some(n("ToeBase"))),
                ]);
            }
            v
        }
        RigPreset::Ue5 => {
            let mut v = vec![
                ("root", None),
                ("pelvis", Some("root")),
                ("spine_01", Some("pelvis")),
                ("spine_02", Some("spine_01")),
                ("spine_03", Some("spine_02")),
                ("neck_01", Some("spine_03")),
                ("head", Some("neck_01")),
            ];
            for side in ["l", "r"] {
                let n =
                    |s: &str| -> &'static str { Box::leak(format!("{s}_{side}").into_boxed_str()) };
                v.extend([
                    (n("clavicle"), Some("spine_03")),
                    (n("upperarm"), Some(n("clavicle"))),
                    (n("lowerarm"), Some(n("upperarm"))),
                    (n("hand"), Some(n("lowerarm"))),
                    (n("thigh"), Some("pelvis")),
                    (n("calf"), Some(n("thigh"))),
                    (n("foot"), Some(n("calf"))),
                    (n("ball"), Some(n("foot"))),
                ]);
            }
            v
        }
        RigPreset::Generic => JointId::ALL
            .iter()
            .map(|j| (j.name(), j.parent().map(|p| p.name())))
            .collect(),
    }
}

#[test]
fn presets_have_published_names_hierarchy_and_a_t_pose_rest() {
    let (skel, clip) = synthetic::motion();
    for preset in RigPreset::ALL {
        // UE5 rigs carry root motion on `root`, as the Mannequin does.
        let root_motion = if preset == RigPreset::Ue5 {
            RootMotion::RootBone
        } else {
            RootMotion::Hips
        };
        let dir = tempfile::tempdir().unwrap();
        let opts = options(preset, root_motion, Units::Metres, UpAxis::Y);
        write_motion_files(dir.path(), &opts, &skel, &clip, None, &[]).unwrap();

        // Names and parents as the FBX reader sees them.
        let fbx = FbxScene::read(&dir.path().join("motion.fbx"));
        let parent_of: HashMap<&str, Option<&str>> = fbx
            .bones
            .iter()
            .map(|b| {
                (
                    b.name.as_str(),
                    b.parent.map(|p| fbx.bones[p].name.as_str()),
                )
            })
            .collect();
        for (name, parent) in published(preset) {
            assert_eq!(parent_of.get(name), Some(&parent), "{preset}: {name}");
        }
        // The GLB has the same bones.
        let glb = glb::Glb::read(&dir.path().join("motion.glb"));
        let glb_names = glb.joint_positions(0);
        for b in &fbx.bones {
            assert!(
                glb_names.contains_key(&b.name),
                "{preset}: {} not in GLB",
                b.name
            );
        }

        // Rest pose from the BVH's offsets (the hierarchy without motion):
        // arms straight out along ±X, legs straight down.
        let bvh = Bvh::parse(&std::fs::read_to_string(dir.path().join("motion.bvh")).unwrap());
        let offset = |j: JointId| {
            let name = if j.is_end() {
                format!("{}/End Site", preset.bone_name(j.parent().unwrap()))
            } else {
                preset.bone_name(j).to_string()
            };
            bvh.joints
                .iter()
                .find(|b| b.name == name)
                .unwrap_or_else(|| panic!("{name}"))
                .offset
        };
        for (j, sign) in [
            (JointId::LeftForearm, 1.0),
            (JointId::LeftHand, 1.0),
            (JointId::LeftHandEnd, 1.0),
            (JointId::RightForearm, -1.0),
            (JointId::RightHand, -1.0),
            (JointId::RightHandEnd, -1.0),
        ] {
            let o = offset(j).normalize();
            assert!(o.x * sign > 0.999, "{preset}: {j} arm not horizontal: {o}");
        }
        for j in [
            JointId::LeftShin,
            JointId::LeftFoot,
            JointId::RightShin,
            JointId::RightFoot,
        ] {
            let o = offset(j).normalize();
            assert!(o.y < -0.999, "{preset}: {j} leg not vertical: {o}");
        }
        // The FBX's default pose (what Unity's avatar and Unreal's
        // reference pose read) is the same T-pose, now reached through the
        // bones' rest orientations: arms along ±X, legs down.
        let rest = fbx.rest_positions();
        for (j, axis) in [
            (JointId::LeftForearm, DVec3::X),
            (JointId::RightHand, -DVec3::X),
            (JointId::LeftShin, -DVec3::Y),
            (JointId::RightFoot, -DVec3::Y),
        ] {
            let parent = preset.bone_name(j.parent().unwrap());
            let d = rest[preset.bone_name(j)] - rest[parent];
            assert!(d.normalize().dot(axis) > 0.999, "{preset}: {j}: {d}");
        }
        // Mixamo and generic bones run along their local +Y, UE5's along
        // +X: each child's rest offset lies on that axis of its parent.
        let along = if preset == RigPreset::Ue5 {
            DVec3::X
        } else {
            DVec3::Y
        };
        for j in [JointId::LeftForearm, JointId::RightShin, JointId::Neck] {
            let bone = fbx
                .bones
                .iter()
                .find(|b| b.name == preset.bone_name(j))
                .unwrap();
            assert!(
                bone.translation.normalize().dot(along) > 0.999,
                "{preset}: {j}: {}",
                bone.translation
            );
        }
    }
}
