//! Optimal one-to-one matching between two sets (tracks and detections)
//! by the Hungarian method, so that who gets which detection does not
//! depend on the order they are looked at in.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// Scores are scaled to integers for the solver at this resolution.
const SCALE: f32 = 1_000_000.0;

/// The pairs `(row, column)` that maximise the summed `similarity` over a
/// one-to-one matching, leaving out pairs whose similarity is `None`
/// (not allowed) or not positive.
pub fn best_pairs(
    rows: usize,
    cols: usize,
    similarity: impl Fn(usize, usize) -> Option<f32>,
) -> Vec<(usize, usize)> {
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    // The solver wants no more rows than columns: transpose if needed.
    let transposed = rows > cols;
    let (r, c) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let at = |i: usize, j: usize| {
        let (a, b) = if transposed { (j, i) } else { (i, j) };
        similarity(a, b).filter(|s| s.is_finite() && *s > 0.0)
    };
    let weights = Matrix::from_fn(r, c, |(i, j)| {
        at(i, j).map_or(0, |s| (s.min(1e6) * SCALE) as i64)
    });
    let (_, assignment) = kuhn_munkres(&weights);
    assignment
        .into_iter()
        .enumerate()
        .filter(|&(i, j)| at(i, j).is_some())
        .map(|(i, j)| if transposed { (j, i) } else { (i, j) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_total_wins_over_the_greedy_first_choice() {
        // Row 0 likes column 0 best (0.9), but row 1 can only use column
        // 0: greedy order would leave row 1 without a match.
        let s = [[0.9, 0.8], [0.85, 0.0]];
        let mut pairs = best_pairs(2, 2, |i, j| Some(s[i][j]));
        pairs.sort_unstable();
        assert_eq!(pairs, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn forbidden_pairs_stay_unmatched_whatever_the_shape() {
        let pairs = best_pairs(3, 1, |i, _| (i == 2).then_some(0.5));
        assert_eq!(pairs, vec![(2, 0)]);
        assert!(best_pairs(2, 3, |_, _| None).is_empty());
        assert!(best_pairs(0, 3, |_, _| Some(1.0)).is_empty());
    }
}
