//! Foot contacts and the ground they stand on.
//!
//! Contacts are read where the evidence is steadiest: a planted foot is
//! still *in the picture* (the camera does not move), while its depth from
//! a single camera wobbles by centimetres a frame. So a foot is planted when
//! its heel or its toe stands still in the image (speed in person heights
//! per second) and it is the low foot (its sole within a few centimetres of
//! the other's, on the solved skeleton). The ground is then where the
//! planted feet are, contact by contact — not a single plane set from the
//! first frame — so a clip may go from a roof to the lawn below it; between
//! contacts it follows a straight line from one level to the next.

use std::ops::Range;

use glam::{Vec2, Vec3};

/// Left foot index in `[_; 2]` pairs.
pub const LEFT: usize = 0;
/// Right foot index in `[_; 2]` pairs.
pub const RIGHT: usize = 1;

/// Tuning of [`contacts`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroundParams {
    /// Image speed (person heights per second) at or below which a heel or
    /// toe may be planted; a walker's swinging foot moves at well over one.
    pub max_image_speed: f32,
    /// How far a planted sole may be above the other foot's (metres).
    pub height_tolerance_m: f32,
    /// Hysteresis: a planted foot stays planted until its limits times this.
    pub release_factor: f32,
    /// Contacts shorter than this many frames are dropped as flicker.
    pub min_frames: usize,
    /// Breaks of at most this many frames inside a contact are bridged.
    pub max_bridge_frames: usize,
}

impl Default for GroundParams {
    fn default() -> Self {
        GroundParams {
            max_image_speed: 0.3,
            height_tolerance_m: 0.03,
            release_factor: 1.5,
            min_frames: 3,
            max_bridge_frames: 2,
        }
    }
}

/// What one frame shows of the feet.
#[derive(Clone, Copy, Debug)]
pub struct FeetFrame {
    /// Heel and toe in the image (pixels) per side, where the model saw
    /// the person this frame.
    pub image: Option<[[Vec2; 2]; 2]>,
    /// The person's height in the image, pixels.
    pub pixel_height: f32,
    /// Heel and toe of the solved skeleton per side (output space, any
    /// common origin: only differences are used).
    pub soles: [[Vec3; 2]; 2],
}

fn sole_height(soles: &[[Vec3; 2]; 2], side: usize) -> f32 {
    soles[side][0].y.min(soles[side][1].y)
}

/// Image speed of a side's heel or toe, whichever is slower, at frame `f`
/// (central differences; infinite where a neighbour has no image).
fn image_speed(frames: &[FeetFrame], times: &[f64], f: usize, side: usize) -> f32 {
    let n = frames.len().min(times.len());
    let (a, b) = (f.saturating_sub(1), (f + 1).min(n.saturating_sub(1)));
    let (Some(ia), Some(ib)) = (frames[a].image, frames[b].image) else {
        return f32::INFINITY;
    };
    let dt = (times[b] - times[a]) as f32;
    if a == b || !(dt.is_finite() && dt > 0.0) {
        return f32::INFINITY;
    }
    let size = frames[f].pixel_height.max(1.0);
    let v = (0..2)
        .map(|k| (ib[side][k] - ia[side][k]).length() / dt / size)
        .fold(f32::INFINITY, f32::min);
    if v.is_nan() {
        f32::INFINITY
    } else {
        v
    }
}

/// A break in a contact is bridged only where the foot moved at most this
/// many times the planted speed limit (3 person heights a second): flicker
/// around the limit is far slower, a sole dropping off a roof much faster.
const BRIDGE_SPEED_FACTOR: f32 = 10.0;

/// Per-frame `[left, right]` contacts (module docs). Frames the model did
/// not see are never contacts.
pub fn contacts(frames: &[FeetFrame], times: &[f64], p: &GroundParams) -> Vec<[bool; 2]> {
    let n = frames.len().min(times.len());
    let mut out = vec![[false; 2]; frames.len()];
    let release = p.release_factor.max(1.0);
    for side in [LEFT, RIGHT] {
        let other = 1 - side;
        let height = |f: usize| {
            let s = &frames[f].soles;
            sole_height(s, side) - sole_height(s, other).min(sole_height(s, side))
        };
        let mut flags = vec![false; n];
        let mut planted = false;
        for (f, flag) in flags.iter_mut().enumerate() {
            let k = if planted { release } else { 1.0 };
            planted = frames[f].image.is_some()
                && height(f) <= p.height_tolerance_m * k
                && image_speed(frames, times, f, side) <= p.max_image_speed * k;
            *flag = planted;
        }
        // A short break is flicker, unless the foot moved: a jump down
        // (two frames of a sole flying through the picture) is a new
        // contact, not the same one.
        bridge_low_breaks(&mut flags, p.max_bridge_frames, |f| {
            frames[f].image.is_some()
                && height(f) <= p.height_tolerance_m * release
                && image_speed(frames, times, f, side) <= BRIDGE_SPEED_FACTOR * p.max_image_speed
        });
        drop_short_runs(&mut flags, p.min_frames);
        for (o, c) in out.iter_mut().zip(flags) {
            o[side] = c;
        }
    }
    out
}

/// Contacts whose levels differ by less than this (metres) from the floor
/// they follow stand on that floor: a single camera's depth error moves a
/// planted sole by several centimetres, and a lawn has no steps. A roof, a
/// ledge or a flight of stairs climbs further and starts a floor of its own.
pub const FLOOR_STEP_M: f32 = 0.2;

/// Per-frame ground height (output space, metres): contacts in time order
/// grouped into floors (a contact more than [`FLOOR_STEP_M`] from the
/// median of the floor before it starts the next), each floor at the median
/// of its contacts' median sole heights; where both feet are planted, the
/// mean of their floors; straight lines between contacts, the nearest level
/// before the first and after the last; `None` without any contact.
pub fn floor(contacts: &[[bool; 2]], soles: &[[[Vec3; 2]; 2]]) -> Option<Vec<f32>> {
    let n = contacts.len().min(soles.len());
    let planted = planted(contacts, soles);
    let floor_level = |f: &[usize]| median(f.iter().map(|&k| planted[k].sole.y).collect());
    let mut floors: Vec<Vec<usize>> = Vec::new();
    for (i, p) in planted.iter().enumerate() {
        match floors.last_mut() {
            Some(f) if (floor_level(f) - p.sole.y).abs() <= FLOOR_STEP_M => f.push(i),
            _ => floors.push(vec![i]),
        }
    }
    let mut level: Vec<[Option<f32>; 2]> = vec![[None; 2]; n];
    for f in &floors {
        let m = floor_level(f);
        for &k in f {
            let p = &planted[k];
            for l in &mut level[p.frames.clone()] {
                l[p.side] = Some(m);
            }
        }
    }
    let known: Vec<Option<f32>> = level
        .iter()
        .map(|l| match *l {
            [Some(a), Some(b)] => Some(0.5 * (a + b)),
            [Some(a), None] | [None, Some(a)] => Some(a),
            [None, None] => None,
        })
        .collect();
    interpolate(&known)
}

/// One contact of one foot.
#[derive(Clone, Debug, PartialEq)]
pub struct Planted {
    pub side: usize,
    /// The frames it lasted.
    pub frames: Range<usize>,
    /// Where the sole stood over them, each axis's median: x and z between
    /// heel and toe, y the lower of the two (output space).
    pub sole: Vec3,
}

/// Every contact of either foot, in the order they begin.
pub fn planted(contacts: &[[bool; 2]], soles: &[[[Vec3; 2]; 2]]) -> Vec<Planted> {
    let n = contacts.len().min(soles.len());
    let mut out = Vec::new();
    for side in [LEFT, RIGHT] {
        let flags: Vec<bool> = contacts[..n].iter().map(|c| c[side]).collect();
        for (s, e) in runs(&flags) {
            let along = |axis: fn(&[Vec3; 2]) -> f32| {
                median(soles[s..e].iter().map(|f| axis(&f[side])).collect())
            };
            out.push(Planted {
                side,
                frames: s..e,
                sole: Vec3::new(
                    along(|p| 0.5 * (p[0].x + p[1].x)),
                    along(|p| p[0].y.min(p[1].y)),
                    along(|p| 0.5 * (p[0].z + p[1].z)),
                ),
            });
        }
    }
    out.sort_by_key(|p| p.frames.start);
    out
}

/// The upper median: each contact's level has always been read this way.
fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// Every frame a value: straight lines between known values, the nearest
/// known value before the first and after the last.
pub fn interpolate(known: &[Option<f32>]) -> Option<Vec<f32>> {
    let first = known.iter().position(Option::is_some)?;
    let last = known.iter().rposition(Option::is_some)?;
    let mut out = vec![0.0; known.len()];
    let mut prev = first;
    for i in 0..known.len() {
        out[i] = match known[i] {
            Some(v) => {
                prev = i;
                v
            }
            None if i < first => known[first]?,
            None if i > last => known[last]?,
            None => {
                let next = (i..=last).find(|&k| known[k].is_some())?;
                let s = (i - prev) as f32 / (next - prev) as f32;
                known[prev]? + s * (known[next]? - known[prev]?)
            }
        };
    }
    Some(out)
}

/// Index ranges `[start, end)` of the runs of `true`.
fn runs(flags: &[bool]) -> Vec<(usize, usize)> {
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

fn drop_short_runs(flags: &mut [bool], min_len: usize) {
    for (s, e) in runs(flags) {
        if e - s < min_len {
            flags[s..e].fill(false);
        }
    }
}

/// Fills breaks of at most `max_len` frames between two runs when every
/// frame of the break passes `low`.
fn bridge_low_breaks(flags: &mut [bool], max_len: usize, low: impl Fn(usize) -> bool) {
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

    /// Left foot planted at height `h`, right foot swinging 10 cm up and
    /// moving in the image; from frame 10 on, everything 200 px lower (the
    /// person has jumped down).
    fn frame(i: usize, h: f32) -> FeetFrame {
        let x = 10.0 * i as f32;
        let y = if i >= 10 { 700.0 } else { 500.0 };
        FeetFrame {
            image: Some([
                [Vec2::new(100.0, y), Vec2::new(110.0, y)],
                [
                    Vec2::new(100.0 + x, y - 20.0),
                    Vec2::new(110.0 + x, y - 20.0),
                ],
            ]),
            pixel_height: 400.0,
            soles: [
                [Vec3::new(0.0, h, 0.0), Vec3::new(0.0, h, 0.1)],
                [Vec3::new(0.2, h + 0.1, 0.0), Vec3::new(0.2, h + 0.1, 0.1)],
            ],
        }
    }

    #[test]
    fn the_still_low_foot_is_planted_and_the_floor_follows_it_down() {
        let times: Vec<f64> = (0..20).map(|i| i as f64 / 30.0).collect();
        // On a roof 2 m up for ten frames, then on the ground.
        let frames: Vec<FeetFrame> = (0..20)
            .map(|i| frame(i, if i < 10 { 2.0 } else { 0.0 }))
            .collect();
        let c = contacts(&frames, &times, &GroundParams::default());
        assert!(c[2..8].iter().all(|c| c[LEFT] && !c[RIGHT]), "{c:?}");
        let soles: Vec<_> = frames.iter().map(|f| f.soles).collect();
        let floor = floor(&c, &soles).unwrap();
        assert!((floor[3] - 2.0).abs() < 1e-6 && floor[15].abs() < 1e-6);
    }

    #[test]
    fn contacts_a_few_centimetres_apart_stand_on_one_floor_and_a_roof_on_its_own() {
        // Five contacts of 6 frames: on a lawn read at 0, 7, 12 and 4 cm
        // (one floor, at their median: the upper one of an even count),
        // then on a roof 2 m up.
        let levels = [0.0, 0.07, 0.12, 0.04, 2.0];
        let mut contacts = vec![[false; 2]; 40];
        let mut soles = vec![[[Vec3::splat(5.0); 2]; 2]; 40];
        for (k, &h) in levels.iter().enumerate() {
            for f in 8 * k..8 * k + 6 {
                contacts[f][LEFT] = true;
                soles[f][LEFT] = [Vec3::new(0.0, h, 0.0); 2];
            }
        }
        let floor = floor(&contacts, &soles).unwrap();
        for k in 0..4 {
            assert!((floor[8 * k + 2] - 0.07).abs() < 1e-6, "{floor:?}");
        }
        assert!((floor[34] - 2.0).abs() < 1e-6, "{floor:?}");
    }

    #[test]
    fn unseen_frames_have_no_contact_and_no_contact_means_no_floor() {
        let times: Vec<f64> = (0..5).map(|i| i as f64 / 30.0).collect();
        let mut frames: Vec<FeetFrame> = (0..5).map(|i| frame(i, 0.0)).collect();
        for f in &mut frames {
            f.image = None;
        }
        let c = contacts(&frames, &times, &GroundParams::default());
        assert!(c.iter().all(|c| !c[0] && !c[1]));
        let soles: Vec<_> = frames.iter().map(|f| f.soles).collect();
        assert!(floor(&c, &soles).is_none());
    }
}
