//! The fixed humanoid joint set and its hierarchy.
//!
//! Names are generic snake_case on purpose: rig presets (Mixamo, UE5, ...)
//! are a renaming layer on top, so nothing here may depend on one vendor's
//! conventions. "Left" is always the subject's left.

use serde::{Deserialize, Serialize};

/// One joint of the humanoid rig. The discriminant is the joint's index in
/// [`JointId::ALL`] and in every per-joint array of this crate (parents come
/// before their children, so a single forward pass suffices for FK).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JointId {
    Hips,
    Spine,
    Chest,
    UpperChest,
    Neck,
    Head,
    HeadEnd,
    LeftShoulder,
    LeftUpperArm,
    LeftForearm,
    LeftHand,
    LeftHandEnd,
    RightShoulder,
    RightUpperArm,
    RightForearm,
    RightHand,
    RightHandEnd,
    LeftThigh,
    LeftShin,
    LeftFoot,
    LeftToe,
    LeftToeEnd,
    RightThigh,
    RightShin,
    RightFoot,
    RightToe,
    RightToeEnd,
}

impl JointId {
    /// Number of joints in the rig.
    pub const COUNT: usize = 27;

    /// Every joint, in index order (parents before children).
    pub const ALL: [JointId; JointId::COUNT] = [
        JointId::Hips,
        JointId::Spine,
        JointId::Chest,
        JointId::UpperChest,
        JointId::Neck,
        JointId::Head,
        JointId::HeadEnd,
        JointId::LeftShoulder,
        JointId::LeftUpperArm,
        JointId::LeftForearm,
        JointId::LeftHand,
        JointId::LeftHandEnd,
        JointId::RightShoulder,
        JointId::RightUpperArm,
        JointId::RightForearm,
        JointId::RightHand,
        JointId::RightHandEnd,
        JointId::LeftThigh,
        JointId::LeftShin,
        JointId::LeftFoot,
        JointId::LeftToe,
        JointId::LeftToeEnd,
        JointId::RightThigh,
        JointId::RightShin,
        JointId::RightFoot,
        JointId::RightToe,
        JointId::RightToeEnd,
    ];

    /// Index of this joint in per-joint arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The joint at `index`, if there is one.
    pub fn from_index(index: usize) -> Option<JointId> {
        JointId::ALL.get(index).copied()
    }

    /// Stable generic name (snake_case), used as the node name in exports.
    pub const fn name(self) -> &'static str {
        match self {
            JointId::Hips => "hips",
            JointId::Spine => "spine",
            JointId::Chest => "chest",
            JointId::UpperChest => "upper_chest",
            JointId::Neck => "neck",
            JointId::Head => "head",
            JointId::HeadEnd => "head_end",
            JointId::LeftShoulder => "left_shoulder",
            JointId::LeftUpperArm => "left_upper_arm",
            JointId::LeftForearm => "left_forearm",
            JointId::LeftHand => "left_hand",
            JointId::LeftHandEnd => "left_hand_end",
            JointId::RightShoulder => "right_shoulder",
            JointId::RightUpperArm => "right_upper_arm",
            JointId::RightForearm => "right_forearm",
            JointId::RightHand => "right_hand",
            JointId::RightHandEnd => "right_hand_end",
            JointId::LeftThigh => "left_thigh",
            JointId::LeftShin => "left_shin",
            JointId::LeftFoot => "left_foot",
            JointId::LeftToe => "left_toe",
            JointId::LeftToeEnd => "left_toe_end",
            JointId::RightThigh => "right_thigh",
            JointId::RightShin => "right_shin",
            JointId::RightFoot => "right_foot",
            JointId::RightToe => "right_toe",
            JointId::RightToeEnd => "right_toe_end",
        }
    }

    /// The joint with this generic name.
    pub fn from_name(name: &str) -> Option<JointId> {
        JointId::ALL.iter().copied().find(|j| j.name() == name)
    }

    /// Parent joint; `None` only for the root ([`JointId::Hips`]).
    pub const fn parent(self) -> Option<JointId> {
        use JointId::*;
        Some(match self {
            Hips => return None,
            Spine => Hips,
            Chest => Spine,
            UpperChest => Chest,
            Neck => UpperChest,
            Head => Neck,
            HeadEnd => Head,
            LeftShoulder | RightShoulder => UpperChest,
            LeftUpperArm => LeftShoulder,
            LeftForearm => LeftUpperArm,
            LeftHand => LeftForearm,
            LeftHandEnd => LeftHand,
            RightUpperArm => RightShoulder,
            RightForearm => RightUpperArm,
            RightHand => RightForearm,
            RightHandEnd => RightHand,
            LeftThigh | RightThigh => Hips,
            LeftShin => LeftThigh,
            LeftFoot => LeftShin,
            LeftToe => LeftFoot,
            LeftToeEnd => LeftToe,
            RightShin => RightThigh,
            RightFoot => RightShin,
            RightToe => RightFoot,
            RightToeEnd => RightToe,
        })
    }

    /// True for the end-site joints that only mark where a bone ends; they
    /// never rotate (the solver leaves them at identity).
    pub const fn is_end(self) -> bool {
        matches!(
            self,
            JointId::HeadEnd
                | JointId::LeftHandEnd
                | JointId::RightHandEnd
                | JointId::LeftToeEnd
                | JointId::RightToeEnd
        )
    }

    /// The same joint on the other side of the body (itself on the midline).
    pub const fn mirror(self) -> JointId {
        use JointId::*;
        match self {
            LeftShoulder => RightShoulder,
            LeftUpperArm => RightUpperArm,
            LeftForearm => RightForearm,
            LeftHand => RightHand,
            LeftHandEnd => RightHandEnd,
            RightShoulder => LeftShoulder,
            RightUpperArm => LeftUpperArm,
            RightForearm => LeftForearm,
            RightHand => LeftHand,
            RightHandEnd => LeftHandEnd,
            LeftThigh => RightThigh,
            LeftShin => RightShin,
            LeftFoot => RightFoot,
            LeftToe => RightToe,
            LeftToeEnd => RightToeEnd,
            RightThigh => LeftThigh,
            RightShin => LeftShin,
            RightFoot => LeftFoot,
            RightToe => LeftToe,
            RightToeEnd => LeftToeEnd,
            other => other,
        }
    }
}

impl std::fmt::Display for JointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_names_and_parents_are_consistent() {
        for (i, j) in JointId::ALL.iter().enumerate() {
            assert_eq!(j.index(), i);
            assert_eq!(JointId::from_index(i), Some(*j));
            assert_eq!(JointId::from_name(j.name()), Some(*j));
            if let Some(p) = j.parent() {
                assert!(p.index() < i, "{j} must come after its parent {p}");
            } else {
                assert_eq!(*j, JointId::Hips);
            }
            assert_eq!(j.mirror().mirror(), *j);
        }
        assert_eq!(JointId::from_index(JointId::COUNT), None);
    }
}
