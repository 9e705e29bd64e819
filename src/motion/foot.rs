//! Foot contacts and foot locking, in output space (metres, Y up).
//!
//! A root recovered from video wanders by a few centimetres per frame, which
//! shows up as feet skating over the floor. [`detect_contacts`] finds when
//! each foot is planted; [`lock_feet`] then moves the root horizontally so
//! that the planted foot stays put, and hands the correction back smoothly
//! when the foot lifts.
//!
//! [`motion::solve`](super::solve) no longer calls either: contacts come
//! from the picture ([`super::ground`]) and the root is placed by
//! [`super::place`], which holds planted feet mostly by moves in depth
//! (moving the root sideways, as [`lock_feet`] does, pulled the body a
//! median 2.6 % of its height off the picture).
//!
//! Inputs are per-frame global foot positions (`feet[f][side]`, left = 0,
//! right = 1; an ankle or a toe, whichever the caller tracks) which are
//! assumed to move rigidly with the root: shifting the root by `c` shifts
//! the foot by `c`.

use glam::Vec3;
use serde::{Deserialize, Serialize};

use super::root::smoothstep;

/// Left foot index in `[_; 2]` pairs.
pub const LEFT: usize = 0;
/// Right foot index in `[_; 2]` pairs.
pub const RIGHT: usize = 1;

/// Frames over which [`lock_feet`] hands a correction back after a contact.
/// 8 frames (~0.27 s at 30 fps) spread even a 5 cm correction to under
/// 1 cm per frame, yet end well before the next step lands.
pub const BLEND_OUT_FRAMES: usize = 8;

/// Tuning of [`detect_contacts`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContactParams {
    /// How far above the floor estimate a planted foot may be (metres).
    pub height_tolerance_m: f32,
    /// Horizontal speed at or below which a foot may be planted (m/s).
    pub max_speed_mps: f32,
    /// Quantile of a foot's heights taken as the floor (0.05: robust to the
    /// odd frame where a foot dips through the floor).
    pub floor_percentile: f32,
    /// Hysteresis: once planted, a foot stays planted until height or speed
    /// exceed their limits times this factor.
    pub release_factor: f32,
    /// Contacts shorter than this many frames are dropped as flicker.
    pub min_frames: usize,
    /// Breaks in a contact of at most this many frames are bridged, if the
    /// foot stayed low (within the release height): a one-frame speed spike
    /// from landmark noise should not split a stance in two.
    pub max_bridge_frames: usize,
}

impl Default for ContactParams {
    fn default() -> Self {
        Self {
            height_tolerance_m: 0.05,
            max_speed_mps: 0.25,
            floor_percentile: 0.05,
            release_factor: 1.5,
            min_frames: 3,
            max_bridge_frames: 2,
        }
    }
}

/// Per-frame contact flags `[left, right]` for `feet` sampled at `times`
/// (seconds).
///
/// A foot is planted when both hold:
/// - **low**: its height is within `height_tolerance_m` of its floor. The
///   floor is the foot's own `floor_percentile` height, but at most the
///   shared floor (both feet pooled) plus the tolerance: the per-foot value
///   absorbs a landmark that sits systematically higher on one side, the cap
///   stops a foot held up for the whole clip from calling its height "floor";
/// - **still**: its horizontal (XZ) speed, from central differences over the
///   real times (one-sided at the ends), is at most `max_speed_mps`.
///
/// Then: hysteresis (looser limits to stay planted than to become planted),
/// short breaks during which the foot stayed low bridged, and contacts
/// shorter than `min_frames` dropped.
/// Frames with non-finite positions or times, or beyond the end of `times`,
/// are never contacts. The result has one entry per frame of `feet`.
pub fn detect_contacts(
    feet: &[[Vec3; 2]],
    times: &[f64],
    params: &ContactParams,
) -> Vec<[bool; 2]> {
    let n = feet.len();
    let mut out = vec![[false; 2]; n];
    let Some(shared_floor) =
        percentile(feet.iter().flatten().map(|p| p.y), params.floor_percentile)
    else {
        return out;
    };
    let tol = params.height_tolerance_m;
    let release = if params.release_factor.is_finite() {
        params.release_factor.max(1.0)
    } else {
        1.0
    };

    for side in [LEFT, RIGHT] {
        let own = percentile(feet.iter().map(|f| f[side].y), params.floor_percentile);
        let Some(own) = own else { continue };
        let floor = own.min(shared_floor + tol);
        let height = |f: usize| feet[f][side].y - floor;

        // Hysteresis. NaN heights or speeds fail every comparison, so such
        // frames are never planted.
        let mut flags = vec![false; n];
        let mut planted = false;
        for (f, flag) in flags.iter_mut().enumerate() {
            let (h, v) = (height(f), horizontal_speed(feet, times, f, side));
            let (h_max, v_max) = if planted {
                (tol * release, params.max_speed_mps * release)
            } else {
                (tol, params.max_speed_mps)
            };
            planted = h <= h_max && v <= v_max;
            *flag = planted;
        }

        // Bridge before dropping: a one-frame speed spike spoils the central
        // differences of both its neighbours, leaving an island that would
        // otherwise be dropped and the stance split in two.
        bridge_low_breaks(&mut flags, params.max_bridge_frames, |f| {
            height(f) <= tol * release
        });
        drop_short_runs(&mut flags, params.min_frames);
        for (o, c) in out.iter_mut().zip(flags) {
            o[side] = c;
        }
    }
    out
}

/// Locks planted feet with the default [`BLEND_OUT_FRAMES`]; see
/// [`lock_feet_with`].
pub fn lock_feet(root: &mut [Vec3], feet: &[[Vec3; 2]], contacts: &[[bool; 2]]) -> Vec<Vec3> {
    lock_feet_with(root, feet, contacts, BLEND_OUT_FRAMES)
}

/// Shifts `root` horizontally (X, Z) so planted feet do not slide, and
/// returns the per-frame correction that was added (one per `root` frame;
/// Y always 0).
///
/// - A lock starts when a foot is planted and no lock is held; if both feet
///   are planted, the one whose contact began earlier wins (left on a tie).
///   That foot's position at the lock's first frame is its anchor, and each
///   frame of the lock adds `anchor − foot` (horizontal) to the root, so the
///   foot stays exactly at the anchor.
/// - When the locked foot lifts, the correction in effect is handed back
///   over `blend_frames` frames with a smoothstep, so the root neither pops
///   nor keeps a permanent offset. If the other foot is still planted, a new
///   lock starts on it at once, on top of the fading correction.
/// - Because a lock starts with zero offset and the fading part decays
///   smoothly, the correction is continuous: no frame jumps.
///
/// Frames beyond the shortest input are left alone. A non-finite foot
/// position cannot start a lock and, during one, keeps the last correction.
pub fn lock_feet_with(
    root: &mut [Vec3],
    feet: &[[Vec3; 2]],
    contacts: &[[bool; 2]],
    blend_frames: usize,
) -> Vec<Vec3> {
    let n = root.len().min(feet.len()).min(contacts.len());
    let mut corrections = vec![Vec3::ZERO; root.len()];

    let mut run_start = [0usize; 2];
    // (side, anchor) of the foot currently held in place.
    let mut lock: Option<(usize, Vec3)> = None;
    let mut lock_offset = Vec3::ZERO;
    // Correction being handed back, and frames since that began.
    let mut residual = Vec3::ZERO;
    let mut since_release = usize::MAX;
    let mut previous = Vec3::ZERO;

    for f in 0..n {
        for side in [LEFT, RIGHT] {
            if contacts[f][side] && (f == 0 || !contacts[f - 1][side]) {
                run_start[side] = f;
            }
        }
        if let Some((side, _)) = lock {
            if !contacts[f][side] {
                lock = None;
                lock_offset = Vec3::ZERO;
                // Hand back everything in effect, including any older residue.
                residual = previous;
                since_release = 0;
            }
        }
        if lock.is_none() {
            let planted = [LEFT, RIGHT]
                .into_iter()
                .filter(|&s| contacts[f][s] && feet[f][s].is_finite())
                .min_by_key(|&s| run_start[s]);
            if let Some(side) = planted {
                lock = Some((side, feet[f][side]));
                lock_offset = Vec3::ZERO;
            }
        }
        if let Some((side, anchor)) = lock {
            let foot = feet[f][side];
            if foot.is_finite() {
                lock_offset = horizontal(anchor - foot);
            }
        }

        let fading = if since_release <= blend_frames {
            since_release += 1;
            let x = since_release as f32 / (blend_frames + 1) as f32;
            residual * (1.0 - smoothstep(x))
        } else {
            Vec3::ZERO
        };

        let correction = lock_offset + fading;
        corrections[f] = correction;
        root[f] += correction;
        previous = correction;
    }
    corrections
}

/// `v` with its vertical component dropped.
fn horizontal(v: Vec3) -> Vec3 {
    Vec3::new(v.x, 0.0, v.z)
}

/// Horizontal speed of one foot at frame `f` (m/s); infinite when it cannot
/// be measured (no neighbours, bad times), which keeps such frames unplanted.
fn horizontal_speed(feet: &[[Vec3; 2]], times: &[f64], f: usize, side: usize) -> f32 {
    let n = feet.len().min(times.len());
    if f >= n {
        return f32::INFINITY;
    }
    let (a, b) = (f.saturating_sub(1), (f + 1).min(n - 1));
    let dt = times[b] - times[a];
    if a == b || !dt.is_finite() || dt <= 0.0 {
        return f32::INFINITY;
    }
    let d = horizontal(feet[b][side] - feet[a][side]).length();
    let v = (f64::from(d) / dt) as f32;
    if v.is_nan() {
        f32::INFINITY
    } else {
        v
    }
}

/// The `q`-quantile (nearest rank) of the finite values, `None` if there are
/// none.
fn percentile(values: impl Iterator<Item = f32>, q: f32) -> Option<f32> {
    let mut v: Vec<f32> = values.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    let q = if q.is_finite() {
        q.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let i = (q * (v.len() - 1) as f32).round() as usize;
    Some(v[i.min(v.len() - 1)])
}

/// Index ranges `[start, end)` of the runs of `true`.
pub(super) fn runs(flags: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &c) in flags.iter().enumerate() {
        match (c, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, flags.len()));
    }
    out
}

pub(super) fn drop_short_runs(flags: &mut [bool], min_len: usize) {
    for (s, e) in runs(flags) {
        if e - s < min_len {
            flags[s..e].fill(false);
        }
    }
}

/// Fills breaks of at most `max_len` frames between two runs when every
/// frame of the break passes `low`.
pub(super) fn bridge_low_breaks(flags: &mut [bool], max_len: usize, low: impl Fn(usize) -> bool) {
    let r = runs(flags);
    for pair in r.windows(2) {
        let (gap_start, gap_end) = (pair[0].1, pair[1].0);
        if gap_end - gap_start <= max_len && (gap_start..gap_end).all(&low) {
            flags[gap_start..gap_end].fill(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FPS: f64 = 30.0;

    fn times(n: usize) -> Vec<f64> {
        (0..n).map(|i| i as f64 / FPS).collect()
    }

    /// One foot's path: planted (sliding at `slide` m/s along X) for
    /// `stance` frames, then a fast, lifted swing for `swing` frames,
    /// repeated; `phase` frames of offset.
    fn gait_foot(
        n: usize,
        stance: usize,
        swing: usize,
        phase: usize,
        x0: f32,
        slide: f32,
    ) -> Vec<Vec3> {
        let period = stance + swing;
        let stride = 0.7;
        (0..n)
            .map(|f| {
                let g = f + phase;
                let (cycle, k) = (g / period, g % period);
                let base = cycle as f32 * stride;
                if k < stance {
                    Vec3::new(x0, 0.0, base + slide * k as f32 / FPS as f32)
                } else {
                    let s = (k - stance) as f32 / swing as f32;
                    let lift = 0.15 * (std::f32::consts::PI * s).sin();
                    let start = base + slide * stance as f32 / FPS as f32;
                    Vec3::new(x0, lift, start + (base + stride - start) * s)
                }
            })
            .collect()
    }

    #[test]
    fn sliding_stance_is_locked() {
        // Left foot stands for 30 frames while sliding 0.1 m/s (a root
        // error), then swings; right foot is up in the air meanwhile.
        let n = 45;
        let feet: Vec<[Vec3; 2]> = (0..n)
            .map(|f| {
                let t = f as f32 / 30.0;
                let left = if f < 30 {
                    Vec3::new(0.1 + 0.1 * t, 0.02, 0.0)
                } else {
                    Vec3::new(0.2 + 2.0 * (t - 1.0), 0.2, 0.0)
                };
                [left, Vec3::new(-0.1, 0.3, 0.0)]
            })
            .collect();
        let mut floor_feet = feet.clone();
        // Give the clip a floor reference: the right foot lands at the end.
        for f in floor_feet.iter_mut().skip(40) {
            f[RIGHT] = Vec3::new(-0.1, 0.0, 0.0);
        }
        let contacts = detect_contacts(&floor_feet, &times(n), &ContactParams::default());
        assert!(contacts[..30].iter().all(|c| c[LEFT]), "{contacts:?}");
        assert!(contacts[32..].iter().all(|c| !c[LEFT]));
        assert!(contacts[..38].iter().all(|c| !c[RIGHT]));

        let mut root: Vec<Vec3> = (0..n)
            .map(|f| Vec3::new(0.1 * f as f32 / 30.0, 0.9, 0.0))
            .collect();
        let original = root.clone();
        let corr = lock_feet(&mut root, &feet, &contacts);
        let locked: Vec<Vec3> = (0..30).map(|f| feet[f][LEFT] + corr[f]).collect();
        let slide = locked
            .iter()
            .map(|p| (*p - locked[0]).length())
            .fold(0.0, f32::max);
        assert!(slide < 1e-3, "locked foot still slides {slide} m");
        // Vertical untouched everywhere.
        assert!(corr.iter().all(|c| c.y == 0.0));
        assert!(root.iter().zip(&original).all(|(a, b)| a.y == b.y));
        // Correction handed back within the blend.
        assert_eq!(corr[30 + BLEND_OUT_FRAMES], Vec3::ZERO);
        assert!(corr[30].length() > 0.05);
    }

    #[test]
    fn swinging_or_raised_foot_is_not_a_contact() {
        let n = 40;
        let feet: Vec<[Vec3; 2]> = (0..n)
            .map(|f| {
                let t = f as f32 / 30.0;
                // Left: at floor height but moving 2 m/s. Right: held still
                // 20 cm up for the whole clip (standing on one leg).
                [Vec3::new(2.0 * t, 0.0, 0.0), Vec3::new(0.0, 0.2, 0.0)]
            })
            .collect();
        let c = detect_contacts(&feet, &times(n), &ContactParams::default());
        assert!(c.iter().all(|c| !c[LEFT] && !c[RIGHT]), "{c:?}");
    }

    #[test]
    fn still_feet_on_floor_are_contacts() {
        let n = 20;
        // A small side bias (right ankle 3 cm higher) is absorbed.
        let feet = vec![[Vec3::new(0.1, 0.0, 0.0), Vec3::new(-0.1, 0.08, 0.0)]; n];
        let c = detect_contacts(&feet, &times(n), &ContactParams::default());
        assert!(c.iter().all(|c| c[LEFT] && c[RIGHT]));
    }

    #[test]
    fn uses_real_times() {
        // 1 cm per frame is 0.3 m/s at 30 fps (moving) but 0.1 m/s at 10 fps.
        let n = 12;
        let feet: Vec<[Vec3; 2]> = (0..n)
            .map(|f| [Vec3::new(0.01 * f as f32, 0.0, 0.0); 2])
            .collect();
        let at30 = detect_contacts(&feet, &times(n), &ContactParams::default());
        assert!(at30.iter().all(|c| !c[LEFT]));
        let t10: Vec<f64> = (0..n).map(|i| i as f64 / 10.0).collect();
        let at10 = detect_contacts(&feet, &t10, &ContactParams::default());
        assert!(at10.iter().all(|c| c[LEFT]));
    }

    #[test]
    fn flicker_is_removed() {
        let n = 30;
        let mut feet = vec![[Vec3::new(0.0, 0.3, 0.0), Vec3::ZERO]; n];
        // Left foot touches down for only 2 frames: dropped.
        feet[10][LEFT] = Vec3::new(0.0, 0.0, 0.0);
        feet[11][LEFT] = Vec3::new(0.0, 0.0, 0.0);
        // Right foot planted, with one frame of fake speed from noise.
        feet[20][RIGHT] = Vec3::new(0.03, 0.0, 0.0);
        let c = detect_contacts(&feet, &times(n), &ContactParams::default());
        assert!(c.iter().all(|c| !c[LEFT]), "{c:?}");
        assert!(c.iter().all(|c| c[RIGHT]), "{c:?}");
    }

    #[test]
    fn walking_root_stays_continuous() {
        let n = 120;
        let left = gait_foot(n, 18, 12, 0, 0.1, 0.06);
        let right = gait_foot(n, 18, 12, 15, -0.1, 0.06);
        let feet: Vec<[Vec3; 2]> = left.iter().zip(&right).map(|(l, r)| [*l, *r]).collect();
        let contacts = detect_contacts(&feet, &times(n), &ContactParams::default());
        let spans = runs(&contacts.iter().map(|c| c[LEFT]).collect::<Vec<_>>());
        assert!(spans.len() >= 3, "{spans:?}");

        let mut root: Vec<Vec3> = (0..n)
            .map(|f| Vec3::new(0.0, 0.9, 0.7 * f as f32 / 30.0))
            .collect();
        let original = root.clone();
        let corr = lock_feet(&mut root, &feet, &contacts);
        for f in 1..n {
            let step = (root[f] - root[f - 1]).length();
            let orig = (original[f] - original[f - 1]).length();
            assert!(step <= orig + 5e-3, "frame {f}: step {step} vs {orig}");
            assert!((corr[f] - corr[f - 1]).length() < 5e-3, "frame {f}");
        }
        // Corrections stay bounded: no accumulation over the walk.
        assert!(corr.iter().all(|c| c.length() < 0.05));
        assert!(corr.iter().any(|c| c.length() > 0.01));
    }

    #[test]
    fn earlier_planted_foot_wins() {
        let n = 20;
        // Right planted from frame 0, left from frame 5; both drift, in
        // opposite directions.
        let feet: Vec<[Vec3; 2]> = (0..n)
            .map(|f| {
                let d = 0.003 * f as f32;
                let left = if f < 5 {
                    Vec3::new(0.1, 0.4, 0.0)
                } else {
                    Vec3::new(0.1 - d, 0.0, 0.0)
                };
                [left, Vec3::new(-0.1 + d, 0.0, 0.0)]
            })
            .collect();
        let contacts: Vec<[bool; 2]> = (0..n).map(|f| [f >= 5, true]).collect();
        let mut root = vec![Vec3::ZERO; n];
        let corr = lock_feet(&mut root, &feet, &contacts);
        for f in 0..n {
            assert!((feet[f][RIGHT] + corr[f] - feet[0][RIGHT]).length() < 1e-6);
        }
    }

    #[test]
    fn switching_feet_has_no_pop() {
        // Left planted 0..10, right planted 6..20: the lock passes to the
        // right foot at frame 10 without a jump.
        let n = 20;
        let feet: Vec<[Vec3; 2]> = (0..n)
            .map(|f| {
                let d = 0.004 * f as f32;
                [Vec3::new(0.1 + d, 0.0, 0.0), Vec3::new(-0.1, 0.0, d)]
            })
            .collect();
        let contacts: Vec<[bool; 2]> = (0..n).map(|f| [f < 10, f >= 6]).collect();
        let mut root = vec![Vec3::ZERO; n];
        let corr = lock_feet(&mut root, &feet, &contacts);
        for f in 1..n {
            assert!((corr[f] - corr[f - 1]).length() < 0.008, "frame {f}");
        }
        assert!((corr[9] + Vec3::new(0.036, 0.0, 0.0)).length() < 1e-5);
    }

    #[test]
    fn degenerate_inputs() {
        let p = ContactParams::default();
        assert!(detect_contacts(&[], &[], &p).is_empty());
        assert!(lock_feet(&mut [], &[], &[]).is_empty());
        // NaN everywhere, short times, mismatched lengths: no panic, no NaN
        // corrections.
        let mut feet = vec![[Vec3::ZERO; 2]; 10];
        feet[4] = [Vec3::NAN; 2];
        let c = detect_contacts(&feet, &times(6), &p);
        assert_eq!(c.len(), 10);
        assert!(!c[4][LEFT] && !c[8][LEFT]);
        let all_nan = vec![[Vec3::NAN; 2]; 5];
        assert!(detect_contacts(&all_nan, &times(5), &p)
            .iter()
            .all(|c| !c[0] && !c[1]));
        let mut root = vec![Vec3::ONE; 12];
        let corr = lock_feet(&mut root, &feet, &[[true; 2]; 10]);
        assert_eq!(corr.len(), 12);
        assert!(corr.iter().all(|c| c.is_finite()));
        let single = detect_contacts(&[[Vec3::ZERO; 2]], &[0.0], &p);
        assert_eq!(single, vec![[false; 2]]);
        let weird = ContactParams {
            floor_percentile: f32::NAN,
            release_factor: f32::NAN,
            ..p
        };
        assert_eq!(detect_contacts(&feet, &times(10), &weird).len(), 10);
    }
}
