//! Test helper: a BVH parser written from the format's description (not
//! from vidmocap's writer) and forward kinematics over what it parsed.
//! Position channels give the joint's local translation (replacing its
//! OFFSET, as Blender and assimp read them); rotation channels multiply in
//! the order listed. End sites are named `<parent>/End Site`.
//!
//! Include with `#[path = "support/bvh_reader.rs"] mod bvh_reader;`.

#![allow(dead_code)]

use std::collections::HashMap;

use glam::{DQuat, DVec3};

#[derive(Clone, Debug)]
pub struct Joint {
    pub name: String,
    pub parent: Option<usize>,
    pub offset: DVec3,
    pub channels: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Bvh {
    pub joints: Vec<Joint>,
    pub frame_time: f64,
    pub frames: Vec<Vec<f64>>,
}

impl Bvh {
    pub fn parse(text: &str) -> Bvh {
        let mut tokens = text.split_whitespace().peekable();
        assert_eq!(tokens.next(), Some("HIERARCHY"));
        let mut joints: Vec<Joint> = Vec::new();
        let mut stack: Vec<usize> = Vec::new();
        let mut pending: Option<Joint> = None;
        let num = |t: Option<&str>| -> f64 { t.expect("number").parse().expect("number") };
        loop {
            let t = tokens.next().expect("unexpected end of HIERARCHY");
            match t {
                "ROOT" | "JOINT" => {
                    let name = tokens.next().unwrap().to_string();
                    pending = Some(Joint {
                        name,
                        parent: stack.last().copied(),
                        offset: DVec3::ZERO,
                        channels: Vec::new(),
                    });
                }
                "End" => {
                    assert_eq!(tokens.next(), Some("Site"));
                    let parent = *stack.last().expect("End Site inside a joint");
                    pending = Some(Joint {
                        name: format!("{}/End Site", joints[parent].name),
                        parent: Some(parent),
                        offset: DVec3::ZERO,
                        channels: Vec::new(),
                    });
                }
                "{" => {
                    joints.push(pending.take().expect("{ after a joint"));
                    stack.push(joints.len() - 1);
                }
                "}" => {
                    stack.pop();
                }
                "OFFSET" => {
                    let j = joints.last_mut().unwrap();
                    j.offset =
                        DVec3::new(num(tokens.next()), num(tokens.next()), num(tokens.next()));
                }
                "CHANNELS" => {
                    let n = num(tokens.next()) as usize;
                    let j = joints.last_mut().unwrap();
                    j.channels = (0..n).map(|_| tokens.next().unwrap().to_string()).collect();
                }
                "MOTION" => break,
                other => panic!("unexpected token {other:?}"),
            }
        }
        assert!(stack.is_empty(), "unbalanced braces");
        assert_eq!(tokens.next(), Some("Frames:"));
        let n = num(tokens.next()) as usize;
        assert_eq!(tokens.next(), Some("Frame"));
        assert_eq!(tokens.next(), Some("Time:"));
        let frame_time = num(tokens.next());
        let per_frame: usize = joints.iter().map(|j| j.channels.len()).sum();
        let values: Vec<f64> = tokens.map(|t| t.parse().expect("motion value")).collect();
        assert_eq!(values.len(), n * per_frame, "motion values");
        Bvh {
            joints,
            frame_time,
            frames: values.chunks(per_frame).map(<[f64]>::to_vec).collect(),
        }
    }

    /// World positions at `frame` in the file's units and axes, by name.
    pub fn positions(&self, frame: usize) -> HashMap<String, DVec3> {
        let values = &self.frames[frame];
        let mut next = 0;
        let mut global: Vec<(DVec3, DQuat)> = Vec::with_capacity(self.joints.len());
        for j in &self.joints {
            let mut t = j.offset;
            let mut r = DQuat::IDENTITY;
            for c in &j.channels {
                let v = values[next];
                next += 1;
                match c.as_str() {
                    "Xposition" => t.x = v,
                    "Yposition" => t.y = v,
                    "Zposition" => t.z = v,
                    "Xrotation" => r *= DQuat::from_rotation_x(v.to_radians()),
                    "Yrotation" => r *= DQuat::from_rotation_y(v.to_radians()),
                    "Zrotation" => r *= DQuat::from_rotation_z(v.to_radians()),
                    other => panic!("unknown channel {other}"),
                }
            }
            let g = match j.parent {
                Some(p) => {
                    let (pt, pr) = global[p];
                    (pt + pr * t, pr * r)
                }
                None => (t, r),
            };
            global.push(g);
        }
        self.joints
            .iter()
            .zip(global)
            .map(|(j, g)| (j.name.clone(), g.0))
            .collect()
    }
}
