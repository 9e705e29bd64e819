//! The ground's tilt: which way is up, from where the feet were planted.
//!
//! A camera is rarely level. Its pitch and roll tilt the whole scene, so a
//! walker crossing flat lawn climbs or sinks by tens of centimetres in
//! camera space, and a floor set per contact follows her up a slope that is
//! not there. The planted soles of a clip lie on the real ground, so the
//! plane through them gives "up"; rotating the scene about it levels the
//! floor, and [`SceneToCamera`] keeps the way back to the picture.
//!
//! The fit is robust twice over: each contact counts once, at its median
//! (one noisy frame cannot tilt the world), and points far off the plane
//! lose their weight step by step (a roof and the lawn under it are two
//! floors; the one stood on longer wins). A direction the contacts barely
//! span (across a walker's straight path) is held level by a prior rather
//! than fitted to two feet's width of noise.

use glam::{Quat, Vec3};
use nalgebra::{Matrix3, Vector3};

use super::ground::Planted;

/// Largest tilt believed: beyond it the fit is more likely wrong (a jump
/// read as a slope) than the camera that steep.
pub const MAX_TILT_DEG: f32 = 25.0;

/// Fewer contacts than this say too little about a plane.
const MIN_CONTACTS: usize = 4;

/// Spread (metres) at which the contacts' own evidence and the level prior
/// weigh the same: a walker's path of metres is fitted; the 20 cm between
/// her feet is not.
const PRIOR_SPREAD_M: f32 = 0.3;

/// Residual scales of the reweighting passes (metres), wide to narrow: the
/// first sees past a 20 cm tilt, the last keeps what lies within a sole's
/// thickness of the plane.
const PASSES_M: [f32; 4] = [0.40, 0.20, 0.10, 0.06];

/// The ground plane's upward unit normal through `contacts`, or `None` when
/// they are too few or the plane tilts over [`MAX_TILT_DEG`].
pub fn ground_normal(contacts: &[Planted]) -> Option<Vec3> {
    if contacts.len() < MIN_CONTACTS {
        return None;
    }
    // Start level at the median height: where the person stood longest.
    let mut plane = Plane {
        a: 0.0,
        b: 0.0,
        c: weighted_median_height(contacts),
    };
    let mut weights = vec![0.0f64; contacts.len()];
    for scale in PASSES_M {
        for (w, c) in weights.iter_mut().zip(contacts) {
            // Tukey's biweight: full weight near the plane, none past `scale`.
            let r = (plane.height(c.sole) - c.sole.y) as f64 / scale as f64;
            *w = c.frames.len() as f64
                * if r.abs() < 1.0 {
                    (1.0 - r * r).powi(2)
                } else {
                    0.0
                };
        }
        if weights.iter().filter(|&&w| w > 0.0).count() < MIN_CONTACTS {
            return None;
        }
        plane = fit_plane(contacts, &weights)?;
    }
    let normal = plane.normal();
    (normal.y >= MAX_TILT_DEG.to_radians().cos()).then_some(normal)
}

/// The rotation that turns `normal` to straight up, about a horizontal axis
/// (no turn about the vertical).
pub fn leveling(normal: Vec3) -> Quat {
    Quat::from_rotation_arc(normal.normalize(), Vec3::Y)
}

fn weighted_median_height(contacts: &[Planted]) -> f32 {
    let mut v: Vec<(f32, usize)> = contacts
        .iter()
        .map(|c| (c.sole.y, c.frames.len()))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = v.iter().map(|x| x.1).sum::<usize>() / 2;
    let mut seen = 0;
    for (y, frames) in &v {
        seen += frames;
        if seen > half {
            return *y;
        }
    }
    v.last().map_or(0.0, |x| x.0)
}

/// `y = a x + b z + c`.
#[derive(Clone, Copy, Debug)]
struct Plane {
    a: f32,
    b: f32,
    c: f32,
}

impl Plane {
    fn height(&self, p: Vec3) -> f32 {
        self.a * p.x + self.b * p.z + self.c
    }

    fn normal(&self) -> Vec3 {
        Vec3::new(-self.a, 1.0, -self.b).normalize()
    }
}

/// Weighted least squares for `y = a x + b z + c`, with a prior pulling
/// the slopes to zero that weighs as much as contacts spread
/// [`PRIOR_SPREAD_M`] about their centre.
fn fit_plane(contacts: &[Planted], weights: &[f64]) -> Option<Plane> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return None;
    }
    // Centred on the weighted mean, so the prior acts on the slopes alone.
    let mean = contacts
        .iter()
        .zip(weights)
        .fold(Vector3::zeros(), |m, (c, w)| {
            m + Vector3::new(c.sole.x as f64, c.sole.y as f64, c.sole.z as f64) * *w
        })
        / total;
    let mut ata = Matrix3::<f64>::zeros();
    let mut atb = Vector3::<f64>::zeros();
    for (c, &w) in contacts.iter().zip(weights) {
        let row = Vector3::new(c.sole.x as f64 - mean.x, c.sole.z as f64 - mean.z, 1.0);
        ata += row * row.transpose() * w;
        atb += row * ((c.sole.y as f64 - mean.y) * w);
    }
    let prior = total * (PRIOR_SPREAD_M as f64).powi(2);
    ata[(0, 0)] += prior;
    ata[(1, 1)] += prior;
    let s = ata.cholesky()?.solve(&atb);
    let (a, b) = (s.x, s.y);
    let c = mean.y + s.z - a * mean.x - b * mean.z;
    Some(Plane {
        a: a as f32,
        b: b as f32,
        c: c as f32,
    })
}

/// Where a scene point is in camera space: `p` is at `rotation * p +
/// offset` with y and z negated (the output-to-camera flip). Each change
/// made to the scene is folded in, so the way back stays exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SceneToCamera {
    pub rotation: Quat,
    pub offset: Vec3,
}

impl SceneToCamera {
    /// A scene that is camera space flipped and moved by `offset`.
    pub fn shifted(offset: Vec3) -> Self {
        SceneToCamera {
            rotation: Quat::IDENTITY,
            offset,
        }
    }

    /// The scene has been moved by `t` (`p' = p + t`).
    pub fn after_translation(self, t: Vec3) -> Self {
        SceneToCamera {
            rotation: self.rotation,
            offset: self.offset - self.rotation * t,
        }
    }

    /// The scene has been turned by `q` about its origin (`p' = q p`).
    pub fn after_rotation(self, q: Quat) -> Self {
        SceneToCamera {
            rotation: (self.rotation * q.inverse()).normalize(),
            offset: self.offset,
        }
    }

    /// Scene point to camera space.
    pub fn apply(&self, p: Vec3) -> Vec3 {
        crate::pose::camera_to_output(self.rotation * p + self.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(sole: Vec3, frames: usize) -> Planted {
        Planted {
            side: 0,
            frames: 0..frames,
            sole,
        }
    }

    /// Contacts of a walk along x over `length` metres, feet 20 cm apart,
    /// on a floor tilted by `pitch` about z and `roll` about x, with sole
    /// noise of up to `noise` metres.
    fn walk(length: f32, pitch_deg: f32, roll_deg: f32, noise: f32) -> (Vec<Planted>, Quat) {
        let tilt = Quat::from_rotation_z(pitch_deg.to_radians())
            * Quat::from_rotation_x(roll_deg.to_radians());
        let contacts = (0..12)
            .map(|i| {
                let x = length * i as f32 / 11.0;
                let z = if i % 2 == 0 { 0.1 } else { -0.1 };
                // A fixed, sign-alternating pattern: noise without a seed.
                let e = noise * [0.9, -0.4, 0.2, -1.0, 0.6, -0.7][i % 6];
                contact(
                    tilt * Vec3::new(x, e, z) + Vec3::new(0.5, -1.6, 3.0),
                    8 + i % 3,
                )
            })
            .collect();
        (contacts, tilt)
    }

    fn angle_deg(a: Vec3, b: Vec3) -> f32 {
        a.angle_between(b).to_degrees()
    }

    #[test]
    fn a_tilted_walk_is_levelled_to_within_a_degree() {
        let (contacts, tilt) = walk(4.0, 6.0, 0.0, 0.02);
        let n = ground_normal(&contacts).expect("a plane");
        assert!(angle_deg(n, tilt * Vec3::Y) < 1.0, "{n}");
        let level = leveling(n);
        let heights: Vec<f32> = contacts.iter().map(|c| (level * c.sole).y).collect();
        let spread = heights.iter().cloned().fold(f32::MIN, f32::max)
            - heights.iter().cloned().fold(f32::MAX, f32::min);
        // Before: 4 m at 6° is 42 cm of climb.
        assert!(spread < 0.06, "levelled soles still span {spread} m");
    }

    #[test]
    fn across_a_straight_path_the_ground_stays_level_rather_than_fitted_to_noise() {
        // 5° of roll across a path 20 cm wide, with 2 cm of noise: too little
        // to read, so the normal tilts less than the roll.
        let (contacts, _) = walk(4.0, 0.0, 5.0, 0.02);
        let n = ground_normal(&contacts).expect("a plane");
        assert!(angle_deg(n, Vec3::Y) < 5.0, "{n}");
    }

    #[test]
    fn a_roof_and_the_lawn_below_do_not_make_a_slope() {
        // Eight contacts on a roof 2 m up, four on the lawn 3 m ahead.
        let mut contacts: Vec<Planted> = (0..8)
            .map(|i| contact(Vec3::new(0.1 * i as f32, 2.0, 0.05 * (i % 2) as f32), 10))
            .collect();
        contacts.extend((0..4).map(|i| contact(Vec3::new(3.0 + 0.5 * i as f32, 0.0, 0.0), 10)));
        let n = ground_normal(&contacts).expect("the roof's plane");
        assert!(angle_deg(n, Vec3::Y) < 2.0, "{n}");
    }

    #[test]
    fn too_few_contacts_or_too_steep_a_plane_give_no_tilt() {
        let (contacts, _) = walk(4.0, 6.0, 0.0, 0.0);
        assert!(ground_normal(&contacts[..3]).is_none());
        let (steep, _) = walk(4.0, 40.0, 0.0, 0.0);
        assert!(ground_normal(&steep).is_none());
    }

    #[test]
    fn the_way_back_to_the_camera_survives_every_change_to_the_scene() {
        let start = SceneToCamera::shifted(Vec3::new(0.2, -1.0, -3.0));
        let p = Vec3::new(0.3, 0.9, -0.4);
        let camera = start.apply(p);
        let t = Vec3::new(-0.5, 0.1, 0.7);
        let q = Quat::from_rotation_x(0.1) * Quat::from_rotation_z(-0.05);
        // Move the scene, then turn it: the moved, turned point still lands
        // where the original did.
        let to_camera = start.after_translation(t).after_rotation(q);
        let moved = q * (p + t);
        assert!((to_camera.apply(moved) - camera).length() < 1e-5);
    }
}
