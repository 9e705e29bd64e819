//! A simple visible body for the rig: one tapered octagonal prism per bone,
//! rigidly bound to the bone's parent joint.
//!
//! Exported files need *something* to look at, and rigid per-bone pieces
//! show the solved motion honestly (no skinning smear hides a bad joint).
//! The mesh is in the rest (bind) pose, in output space.

use glam::Vec3;

use super::joint::JointId;
use super::skeleton::Skeleton;

/// Triangle mesh in the bind pose. Every vertex follows exactly one joint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BodyMesh {
    pub positions: Vec<Vec3>,
    /// Unit normals, one per vertex.
    pub normals: Vec<Vec3>,
    /// Joint index (into the skeleton) each vertex is bound to.
    pub joints: Vec<u16>,
    /// Counter-clockwise triangles (seen from outside).
    pub indices: Vec<u32>,
}

/// Sides of each prism: enough to read as round, few enough to stay tiny.
const SIDES: usize = 8;

impl BodyMesh {
    /// Smallest and largest corner of the positions' bounding box.
    pub fn bounds(&self) -> (Vec3, Vec3) {
        self.positions.iter().fold(
            (Vec3::splat(f32::INFINITY), Vec3::splat(f32::NEG_INFINITY)),
            |(lo, hi), p| (lo.min(*p), hi.max(*p)),
        )
    }

    /// Appends a prism from `a` (radius `ra`) to `b` (radius `rb`), bound to
    /// `joint`. Degenerate bones are skipped.
    fn add_prism(&mut self, a: Vec3, b: Vec3, ra: f32, rb: f32, joint: u16) {
        let d = b - a;
        let len = d.length();
        let usable = len.is_finite() && len > 1e-3 && ra > 0.0 && rb > 0.0;
        if !usable {
            return;
        }
        let axis = d / len;
        let (u, _) = axis.any_orthonormal_pair();
        // v = axis × u makes (u, v, axis) right-handed, so increasing angle
        // runs counter-clockwise seen from the `b` end.
        let v = axis.cross(u);
        let radial: Vec<Vec3> = (0..SIDES)
            .map(|k| {
                let t = k as f32 / SIDES as f32 * std::f32::consts::TAU;
                u * t.cos() + v * t.sin()
            })
            .collect();

        let base = self.positions.len() as u32;
        // Side ring: smooth normals, tilted by the taper.
        for r in &radial {
            let n = (*r * len + axis * (ra - rb)).normalize();
            self.push_vertex(a + *r * ra, n, joint);
            self.push_vertex(b + *r * rb, n, joint);
        }
        for k in 0..SIDES as u32 {
            let next = (k + 1) % SIDES as u32;
            let (a0, b0, a1, b1) = (
                base + 2 * k,
                base + 2 * k + 1,
                base + 2 * next,
                base + 2 * next + 1,
            );
            self.indices.extend_from_slice(&[a0, a1, b1, a0, b1, b0]);
        }
        // Caps: flat normals along the axis, triangle fans.
        let cap_a = self.positions.len() as u32;
        for r in &radial {
            self.push_vertex(a + *r * ra, -axis, joint);
        }
        let cap_b = self.positions.len() as u32;
        for r in &radial {
            self.push_vertex(b + *r * rb, axis, joint);
        }
        for k in 1..SIDES as u32 - 1 {
            self.indices
                .extend_from_slice(&[cap_a, cap_a + k + 1, cap_a + k]);
            self.indices
                .extend_from_slice(&[cap_b, cap_b + k, cap_b + k + 1]);
        }
    }

    fn push_vertex(&mut self, p: Vec3, n: Vec3, joint: u16) {
        self.positions.push(p);
        self.normals.push(n);
        self.joints.push(joint);
    }
}

/// The body mesh of `skel`: a prism per parent→child bone, bound to the
/// parent (the joint whose rotation moves that bone).
pub fn body_mesh(skel: &Skeleton) -> BodyMesh {
    let m = skel.measurements();
    // Limb thicknesses are not observed; scale an adult's with body size.
    let k = (m.torso + m.leg_length()) / (0.50 + 0.83);
    let mut mesh = BodyMesh::default();
    for joint in skel.joints() {
        let Some(parent) = joint.id.parent() else {
            continue;
        };
        use JointId::*;
        let (ra, rb) = match (parent, joint.id) {
            (Hips, Spine) => (0.55 * m.hip_width, 0.55 * m.hip_width),
            (Spine, Chest) => (0.55 * m.hip_width, 0.30 * m.shoulder_width),
            (Chest, UpperChest) => (0.30 * m.shoulder_width, 0.33 * m.shoulder_width),
            (UpperChest, Neck) => (0.33 * m.shoulder_width, 0.05 * k),
            // The upper chest already covers the clavicle roots.
            (UpperChest, _) => continue,
            (Neck, Head) => (0.05 * k, 0.05 * k),
            (Head, HeadEnd) => (0.42 * m.ear_width, 0.36 * m.ear_width),
            (LeftShoulder | RightShoulder, _) => (0.04 * k, 0.045 * k),
            (LeftUpperArm | RightUpperArm, _) => (0.045 * k, 0.035 * k),
            (LeftForearm | RightForearm, _) => (0.035 * k, 0.025 * k),
            (LeftHand | RightHand, _) => (0.025 * k, 0.02 * k),
            (Hips, _) => (0.06 * k, 0.075 * k),
            (LeftThigh | RightThigh, _) => (0.075 * k, 0.05 * k),
            (LeftShin | RightShin, _) => (0.05 * k, 0.035 * k),
            (LeftFoot | RightFoot, _) => (0.035 * k, 0.03 * k),
            (LeftToe | RightToe, _) => (0.03 * k, 0.02 * k),
            _ => (0.03 * k, 0.03 * k),
        };
        mesh.add_prism(
            skel.rest_position(parent),
            skel.rest_position(joint.id),
            ra,
            rb,
            parent.index() as u16,
        );
    }
    mesh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesh_is_well_formed() {
        let s = Skeleton::default();
        let mesh = body_mesh(&s);
        let n = mesh.positions.len();
        assert!(n > 0 && n < u16::MAX as usize);
        assert_eq!(mesh.normals.len(), n);
        assert_eq!(mesh.joints.len(), n);
        assert_eq!(mesh.indices.len() % 3, 0);
        assert!(mesh.indices.iter().all(|&i| (i as usize) < n));
        assert!(mesh.joints.iter().all(|&j| (j as usize) < s.len()));
        assert!(mesh.normals.iter().all(|v| (v.length() - 1.0).abs() < 1e-4));
        // Standing on the floor, roughly human sized.
        let (lo, hi) = mesh.bounds();
        assert!(lo.y > -0.05 && lo.y < 0.02, "{lo}");
        assert!(hi.y > 1.5 && hi.y < 1.9, "{hi}");
    }

    #[test]
    fn triangles_face_outwards() {
        let s = Skeleton::default();
        let mesh = body_mesh(&s);
        for t in mesh.indices.chunks(3) {
            let [a, b, c] = [t[0], t[1], t[2]].map(|i| mesh.positions[i as usize]);
            let face = (b - a).cross(c - a);
            let n = mesh.normals[t[0] as usize]
                + mesh.normals[t[1] as usize]
                + mesh.normals[t[2] as usize];
            assert!(face.dot(n) > 0.0);
        }
    }
}
