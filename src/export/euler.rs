//! Quaternions to Euler angles for the formats that animate angles (FBX,
//! BVH), kept continuous from frame to frame.
//!
//! An order is written as a matrix product: `[Z, Y, X]` means
//! `R = Rz(a) · Ry(b) · Rx(c)`, X applied first (FBX's default "XYZ");
//! `[Z, X, Y]` is BVH's `Zrotation Xrotation Yrotation`. Work is in f64 so
//! the 1 mm agreement between formats is not eaten by angle round-off.

use glam::{DMat3, DQuat, Quat};

/// FBX `eEulerXYZ`: `R = Rz · Ry · Rx`.
pub const FBX_XYZ: [usize; 3] = [2, 1, 0];
/// BVH channels `Zrotation Xrotation Yrotation`: `R = Rz · Rx · Ry`.
pub const BVH_ZXY: [usize; 3] = [2, 0, 1];

/// Angles (radians) of `q` in `order`, one per factor of the product, with
/// the solution nearest `prev` (the previous frame's angles) and each angle
/// unwrapped to within π of it, so interpolating keys never spins.
pub fn to_euler(q: Quat, order: [usize; 3], prev: Option<[f64; 3]>) -> [f64; 3] {
    let q = DQuat::from_xyzw(q.x.into(), q.y.into(), q.z.into(), q.w.into()).normalize();
    let m = DMat3::from_quat(q);
    let at = |r: usize, c: usize| m.col(c)[r];
    let [i, j, k] = order;
    // +1 when (i, j, k) is a cyclic permutation of (x, y, z).
    let s = if (j + 3 - i) % 3 == 1 { 1.0 } else { -1.0 };
    // The last and middle angles from row i; the first from what is left,
    // which stays exact in gimbal lock, where the split between the first
    // and last angle is arbitrary.
    let cos_b = at(i, i).hypot(at(i, j));
    let b = (s * at(i, k)).atan2(cos_b);
    let c = if cos_b < 1e-9 {
        0.0
    } else {
        (-s * at(i, j)).atan2(at(i, i))
    };
    let rest = q * axis_rotation(k, c).inverse() * axis_rotation(j, b).inverse();
    let a = 2.0 * rest.to_array()[i].atan2(rest.w);
    let first = [a, b, c];
    let Some(prev) = prev else { return first };
    let pi = std::f64::consts::PI;
    let second = [a + pi, pi - b, c + pi];
    let unwrap =
        |v: [f64; 3]| -> [f64; 3] { std::array::from_fn(|n| prev[n] + wrap(v[n] - prev[n])) };
    let dist = |u: &[f64; 3]| (0..3).map(|n| (u[n] - prev[n]).powi(2)).sum::<f64>();
    let (u1, u2) = (unwrap(first), unwrap(second));
    if dist(&u1) <= dist(&u2) {
        u1
    } else {
        u2
    }
}

/// `x` wrapped into (-π, π].
fn wrap(x: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    let w = x - tau * (x / tau).round();
    if w <= -std::f64::consts::PI {
        w + tau
    } else {
        w
    }
}

/// The rotation of `angles` in `order` (the inverse of [`to_euler`]).
pub fn from_euler(angles: [f64; 3], order: [usize; 3]) -> DQuat {
    axis_rotation(order[0], angles[0])
        * axis_rotation(order[1], angles[1])
        * axis_rotation(order[2], angles[2])
}

fn axis_rotation(axis: usize, angle: f64) -> DQuat {
    match axis {
        0 => DQuat::from_rotation_x(angle),
        1 => DQuat::from_rotation_y(angle),
        _ => DQuat::from_rotation_z(angle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: DQuat, b: Quat) -> bool {
        let b = DQuat::from_xyzw(b.x.into(), b.y.into(), b.z.into(), b.w.into()).normalize();
        a.dot(b).abs() > 1.0 - 1e-9
    }

    #[test]
    fn round_trips_in_both_orders() {
        let qs = [
            Quat::IDENTITY,
            Quat::from_rotation_z(-1.3) * Quat::from_rotation_x(0.4),
            Quat::from_euler(glam::EulerRot::YXZ, 2.9, -0.7, 1.1),
            Quat::from_rotation_y(std::f32::consts::FRAC_PI_2),
        ];
        for order in [FBX_XYZ, BVH_ZXY] {
            for q in qs {
                let e = to_euler(q, order, None);
                assert!(close(from_euler(e, order), q), "{order:?} {q}");
                let e2 = to_euler(q, order, Some([3.0, 0.5, -3.0]));
                assert!(close(from_euler(e2, order), q), "{order:?} {q}");
            }
        }
    }

    #[test]
    fn a_full_turn_stays_continuous() {
        let mut prev = None;
        for i in 0..=200 {
            let q = Quat::from_rotation_y(i as f32 * 0.05) * Quat::from_rotation_x(0.3);
            let e = to_euler(q, FBX_XYZ, prev);
            if let Some(p) = prev {
                let step: f64 = e.iter().zip(p).map(|(a, b)| (a - b).abs()).sum();
                assert!(step < 0.2, "frame {i}: jump {step}");
            }
            assert!(close(from_euler(e, FBX_XYZ), q));
            prev = Some(e);
        }
    }
}
