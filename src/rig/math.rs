//! Small numeric helpers shared by the rig modules. Every function here
//! answers `None` (or a neutral value) for degenerate input instead of
//! producing NaN, because landmarks can be missing, NaN or coincident.

use glam::{Mat3, Quat, Vec3};

/// Below this length (metres) a vector carries no usable direction; a
/// millimetre is far under landmark noise, so it never rejects real bones.
pub(crate) const MIN_LEN: f32 = 1e-4;

/// The unit vector along `v`, if `v` is finite and long enough.
pub(crate) fn unit(v: Vec3) -> Option<Vec3> {
    if !v.is_finite() {
        return None;
    }
    let len = v.length();
    (len.is_finite() && len > MIN_LEN).then(|| v / len)
}

/// Minimal-arc rotation taking direction `from` onto direction `to`.
/// `None` if either is degenerate.
pub(crate) fn swing(from: Vec3, to: Vec3) -> Option<Quat> {
    let (a, b) = (unit(from)?, unit(to)?);
    finite_quat(Quat::from_rotation_arc(a, b))
}

/// Right-handed orthonormal basis whose first axis is `primary` and whose
/// second lies in the plane of `primary` and `secondary` (Gram-Schmidt).
/// `None` when the two are degenerate or (nearly) parallel.
pub(crate) fn basis(primary: Vec3, secondary: Vec3) -> Option<Mat3> {
    let e0 = unit(primary)?;
    // Parallel axes leave the roll undefined; 2% of a unit vector is about
    // 1 degree, below which noise would decide the roll.
    let rest = secondary - e0 * e0.dot(secondary);
    // Non-finite input makes `rest` non-finite, which the second test catches.
    if rest.length() <= 0.02 * secondary.length() || !rest.is_finite() {
        return None;
    }
    let e1 = unit(rest)?;
    let e2 = e0.cross(e1);
    Some(Mat3::from_cols(e0, e1, e2))
}

/// Rotation that carries the rest basis built from (`rest_primary`,
/// `rest_secondary`) onto the observed basis built the same way from
/// (`primary`, `secondary`). Building both sides identically is what makes
/// the rest pose solve to exactly the identity, whatever the rest offsets.
pub(crate) fn frame_rotation(
    rest_primary: Vec3,
    rest_secondary: Vec3,
    primary: Vec3,
    secondary: Vec3,
) -> Option<Quat> {
    let rest = basis(rest_primary, rest_secondary)?;
    let obs = basis(primary, secondary)?;
    finite_quat(Quat::from_mat3(&(obs * rest.transpose())))
}

/// `q` normalised, if it is finite and not (near) zero.
pub(crate) fn finite_quat(q: Quat) -> Option<Quat> {
    if !q.is_finite() {
        return None;
    }
    let len = q.length();
    (len.is_finite() && len > 1e-6).then(|| q / len)
}

/// Median of the finite values in `values` (`None` when there are none).
pub(crate) fn median(mut values: Vec<f32>) -> Option<f32> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        0.5 * (values[mid - 1] + values[mid])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_give_none() {
        assert!(unit(Vec3::ZERO).is_none());
        assert!(unit(Vec3::new(f32::NAN, 0.0, 1.0)).is_none());
        assert!(unit(Vec3::splat(f32::MAX)).is_none());
        assert!(swing(Vec3::X, Vec3::ZERO).is_none());
        assert!(basis(Vec3::X, Vec3::X * 2.0).is_none());
        assert!(basis(Vec3::X, Vec3::ZERO).is_none());
    }

    #[test]
    fn swing_handles_opposite_directions() {
        let q = swing(Vec3::X, -Vec3::X).unwrap();
        assert!((q * Vec3::X + Vec3::X).length() < 1e-5);
    }

    #[test]
    fn frame_rotation_is_identity_on_equal_frames() {
        let q = frame_rotation(Vec3::Y, Vec3::X, Vec3::Y * 3.0, Vec3::new(2.0, 0.5, 0.0)).unwrap();
        assert!(q.angle_between(Quat::IDENTITY) < 1e-5);
    }

    #[test]
    fn median_ignores_non_finite() {
        assert_eq!(median(vec![3.0, f32::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f32::INFINITY]), None);
        assert_eq!(median(Vec::new()), None);
    }
}
