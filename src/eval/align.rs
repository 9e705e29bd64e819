//! Aligning one point set to another: the similarity (rotation, translation
//! and optionally scale) that minimises the squared distances, by Horn's
//! closed form (1987): the rotation is the unit quaternion of the largest
//! eigenvalue of a symmetric 4×4 matrix built from the cross-covariance,
//! found by Jacobi rotations (exact to round-off for a 4×4).

use glam::{DQuat, DVec3};

/// Eigenvector of the largest eigenvalue of the symmetric `a`.
fn largest_eigenvector(mut a: [[f64; 4]; 4]) -> [f64; 4] {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..50 {
        let off: f64 = (0..4)
            .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..4 {
            for q in p + 1..4 {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (rp, rq) = (a[p], a[q]);
                a[p] = std::array::from_fn(|k| c * rp[k] - s * rq[k]);
                a[q] = std::array::from_fn(|k| s * rp[k] + c * rq[k]);
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let best = (0..4)
        .max_by(|&i, &j| a[i][i].total_cmp(&a[j][j]))
        .unwrap_or(0);
    [v[0][best], v[1][best], v[2][best], v[3][best]]
}

/// `pred` moved onto `reference` by the best similarity (`with_scale`) or
/// rigid transform. Both slices must be the same length (at least 3
/// points); `None` when the fit is degenerate.
pub fn align(pred: &[DVec3], reference: &[DVec3], with_scale: bool) -> Option<Vec<DVec3>> {
    let n = pred.len();
    if n < 3 || n != reference.len() {
        return None;
    }
    let mp = pred.iter().copied().sum::<DVec3>() / n as f64;
    let mr = reference.iter().copied().sum::<DVec3>() / n as f64;
    let mut s = [[0.0f64; 3]; 3];
    let mut var = 0.0;
    for (p, r) in pred.iter().zip(reference) {
        let (p, r) = ((*p - mp).to_array(), (*r - mr).to_array());
        for a in 0..3 {
            for b in 0..3 {
                s[a][b] += p[a] * r[b];
            }
        }
        var += p.iter().map(|x| x * x).sum::<f64>();
    }
    if var <= 1e-12 {
        return None;
    }
    let [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = s;
    let m = [
        [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
        [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
        [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
        [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
    ];
    let [w, x, y, z] = largest_eigenvector(m);
    let rotation = DQuat::from_xyzw(x, y, z, w).normalize();
    let scale = if with_scale {
        pred.iter()
            .zip(reference)
            .map(|(p, r)| (*r - mr).dot(rotation * (*p - mp)))
            .sum::<f64>()
            / var
    } else {
        1.0
    };
    let out: Vec<DVec3> = pred
        .iter()
        .map(|p| mr + scale * (rotation * (*p - mp)))
        .collect();
    out.iter().all(|p| p.is_finite()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_similarity_exactly() {
        let reference: Vec<DVec3> = (0..6)
            .map(|i| DVec3::new(i as f64, (i * i) as f64 * 0.3, (i % 3) as f64))
            .collect();
        let r = DQuat::from_euler(glam::EulerRot::XYZ, 0.3, -1.1, 2.0);
        let pred: Vec<DVec3> = reference
            .iter()
            .map(|p| 0.5 * (r * *p) + DVec3::new(4.0, -2.0, 7.0))
            .collect();
        let aligned = align(&pred, &reference, true).unwrap();
        for (a, b) in aligned.iter().zip(&reference) {
            assert!((*a - *b).length() < 1e-9, "{a} vs {b}");
        }
        // Without scale the shape stays half the size.
        let rigid = align(&pred, &reference, false).unwrap();
        assert!((rigid[0] - reference[0]).length() > 0.1);
        assert!(align(&pred[..2], &reference[..2], true).is_none());
    }
}
