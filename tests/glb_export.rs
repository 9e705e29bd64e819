//! End-to-end GLB export: a synthetic walk goes landmarks → rig solve →
//! GLB, and the file must pass the Khronos glTF-Validator with no errors.

#[path = "support/gltf_validator.rs"]
mod gltf_validator;

use std::f32::consts::TAU;

use glam::{Quat, Vec3};
use vidmocap::export::gltf::{glb_bytes, write_glb};
use vidmocap::pose::lm;
use vidmocap::rig::{pose_landmarks, BodyMeasurements, Clip, JointId, Skeleton};

const FPS: f32 = 30.0;
const FRAMES: usize = 48;

/// One step cycle per second: swinging legs and arms, bending knees and
/// elbows, a little hip sway and head turn, moving forward along +Z.
fn walk_pose(skel: &Skeleton, frame: usize) -> (Vec3, Vec<Quat>) {
    let phase = TAU * frame as f32 / FPS;
    let s = phase.sin();
    let mut q = vec![Quat::IDENTITY; skel.len()];
    let mut set = |j: JointId, r: Quat| q[j.index()] = r;
    set(JointId::Hips, Quat::from_rotation_y(0.15 * s));
    set(JointId::Chest, Quat::from_rotation_y(-0.1 * s));
    set(
        JointId::Head,
        Quat::from_rotation_y(0.2 * (0.5 * phase).sin()),
    );
    set(JointId::LeftThigh, Quat::from_rotation_x(-0.5 * s));
    set(JointId::RightThigh, Quat::from_rotation_x(0.5 * s));
    set(
        JointId::LeftShin,
        Quat::from_rotation_x(0.3 + 0.3 * s.max(0.0)),
    );
    set(
        JointId::RightShin,
        Quat::from_rotation_x(0.3 + 0.3 * (-s).max(0.0)),
    );
    set(JointId::LeftFoot, Quat::from_rotation_x(-0.2 * s));
    // Arms down by the sides, swinging opposite to the legs.
    set(
        JointId::LeftUpperArm,
        Quat::from_rotation_x(0.4 * s) * Quat::from_rotation_z(-1.3),
    );
    set(
        JointId::RightUpperArm,
        Quat::from_rotation_x(-0.4 * s) * Quat::from_rotation_z(1.3),
    );
    set(JointId::LeftForearm, Quat::from_rotation_y(0.4));
    set(JointId::RightForearm, Quat::from_rotation_y(-0.4));
    let root = Vec3::new(
        0.03 * s,
        skel.rest_root_translation().y - 0.04 + 0.02 * (2.0 * phase).cos(),
        1.2 * frame as f32 / FPS,
    );
    (root, q)
}

/// Hip-centred landmarks of the posed rig, as the pose stage hands them over.
fn observed(skel: &Skeleton, root: Vec3, pose: &[Quat]) -> [Vec3; 33] {
    let l = pose_landmarks(skel, root, pose);
    let mid_hip = 0.5 * (l[lm::LEFT_HIP] + l[lm::RIGHT_HIP]);
    l.map(|p| p - mid_hip)
}

fn walking_clip() -> (Skeleton, Clip) {
    // The "subject" is taller than average; the rig is measured from her.
    let subject = Skeleton::t_pose(&BodyMeasurements {
        thigh: 0.46,
        shin: 0.44,
        upper_arm: 0.31,
        ..BodyMeasurements::default()
    });
    let mut roots = Vec::new();
    let mut world = Vec::new();
    for f in 0..FRAMES {
        let (root, pose) = walk_pose(&subject, f);
        roots.push(root);
        world.push(observed(&subject, root, &pose));
    }
    let rig = Skeleton::t_pose(&BodyMeasurements::from_world_frames(&world));
    let clip = Clip::solve(&rig, FPS, &roots, &world);
    (rig, clip)
}

#[test]
fn walking_clip_exports_a_valid_glb() {
    let (rig, clip) = walking_clip();
    assert_eq!(clip.len(), FRAMES);
    assert!(
        (rig.measurements().thigh - 0.46).abs() < 1e-4,
        "rig measured from the subject"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("walk.glb");
    write_glb(&path, &rig, &clip).expect("export");

    let report = gltf_validator::validate_glb(&path);
    let issues = &report["issues"];
    assert_eq!(
        issues["numErrors"],
        0,
        "glTF validator errors:\n{}",
        serde_json::to_string_pretty(&issues["messages"]).unwrap()
    );
    assert_eq!(
        issues["numWarnings"],
        0,
        "glTF validator warnings:\n{}",
        serde_json::to_string_pretty(&issues["messages"]).unwrap()
    );
    assert_eq!(report["info"]["animationCount"], 1);
    assert_eq!(report["info"]["hasSkins"], true);

    // Read the file back and check what players rely on.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        bytes,
        glb_bytes(&rig, &clip).unwrap(),
        "write_glb writes glb_bytes"
    );
    let json = json_chunk(&bytes);
    let anim = &json["animations"][0];
    assert_eq!(anim["name"], "capture");
    let input = anim["samplers"][0]["input"].as_u64().unwrap() as usize;
    let max = json["accessors"][input]["max"][0].as_f64().unwrap();
    let expected = (FRAMES - 1) as f64 / f64::from(FPS);
    assert!(
        (max - expected).abs() < 1e-6,
        "duration {max}, expected {expected}"
    );
    assert_eq!(json["accessors"][input]["count"], FRAMES);

    let joints = json["skins"][0]["joints"].as_array().unwrap();
    assert_eq!(joints.len(), JointId::COUNT);
    for (slot, node) in joints.iter().enumerate() {
        let node = node.as_u64().unwrap() as usize;
        assert_eq!(json["nodes"][node]["name"], JointId::ALL[slot].name());
    }
    // The mesh node sits at the scene root, not under a joint.
    let mesh_node = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|n| n.get("mesh").is_some())
        .unwrap();
    assert!(json["scenes"][0]["nodes"]
        .as_array()
        .unwrap()
        .contains(&mesh_node.into()));
}

/// The JSON chunk of a GLB.
fn json_chunk(bytes: &[u8]) -> serde_json::Value {
    assert_eq!(&bytes[..4], b"glTF");
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    assert_eq!(&bytes[16..20], b"JSON");
    serde_json::from_slice(&bytes[20..20 + len]).unwrap()
}
