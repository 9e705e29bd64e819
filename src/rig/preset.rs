//! Rig presets: the bone names each target expects, over the one solved
//! joint set.
//!
//! A preset only renames; the hierarchy, rest pose (T-pose) and motion stay
//! those of [`JointId`], so every preset and every format carries the same
//! motion. Names follow each vendor's published skeleton: Mixamo's
//! `mixamorig:` rig and the Unreal Engine Mannequin. Where the vendor has no
//! bone for one of ours (our three-bone spine against UE5's five, or the end
//! bones that only mark where a hand or toe ends), the name follows that
//! vendor's own pattern (`_End` leaves in Mixamo, `_l`/`_r` suffixes in UE).

use serde::{Deserialize, Serialize};

use super::joint::JointId;

/// Which naming an export uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RigPreset {
    /// vidmocap's own snake_case names (`hips`, `left_upper_arm`, ...).
    #[default]
    Generic,
    /// Adobe Mixamo (`mixamorig:Hips`, `mixamorig:LeftArm`, ...).
    Mixamo,
    /// Unreal Engine 5 Mannequin (`pelvis`, `spine_01`, `upperarm_l`, ...).
    Ue5,
}

impl RigPreset {
    /// Every preset, in the order the CLI lists them.
    pub const ALL: [RigPreset; 3] = [RigPreset::Generic, RigPreset::Mixamo, RigPreset::Ue5];

    /// The name used on the command line and in files.
    pub const fn id(self) -> &'static str {
        match self {
            RigPreset::Generic => "generic",
            RigPreset::Mixamo => "mixamo",
            RigPreset::Ue5 => "ue5",
        }
    }

    /// The preset called `name` (case-insensitive), if any.
    pub fn from_id(name: &str) -> Option<RigPreset> {
        RigPreset::ALL
            .into_iter()
            .find(|p| p.id().eq_ignore_ascii_case(name.trim()))
    }

    /// Name of the extra root bone used when root motion goes on its own
    /// bone (`root` is what Unreal expects; Mixamo has none, so it gets
    /// the same prefix as its other bones).
    pub const fn root_name(self) -> &'static str {
        match self {
            RigPreset::Generic | RigPreset::Ue5 => "root",
            RigPreset::Mixamo => "mixamorig:Root",
        }
    }

    /// The bone name of `joint` in this preset.
    pub fn bone_name(self, joint: JointId) -> &'static str {
        match self {
            RigPreset::Generic => joint.name(),
            RigPreset::Mixamo => mixamo(joint),
            RigPreset::Ue5 => ue5(joint),
        }
    }
}

impl std::fmt::Display for RigPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

fn mixamo(joint: JointId) -> &'static str {
    use JointId::*;
    match joint {
        Hips => "mixamorig:Hips",
        Spine => "mixamorig:Spine",
        Chest => "mixamorig:Spine1",
        UpperChest => "mixamorig:Spine2",
        Neck => "mixamorig:Neck",
        Head => "mixamorig:Head",
        HeadEnd => "mixamorig:HeadTop_End",
        LeftShoulder => "mixamorig:LeftShoulder",
        LeftUpperArm => "mixamorig:LeftArm",
        LeftForearm => "mixamorig:LeftForeArm",
        LeftHand => "mixamorig:LeftHand",
        LeftHandEnd => "mixamorig:LeftHand_End",
        RightShoulder => "mixamorig:RightShoulder",
        RightUpperArm => "mixamorig:RightArm",
        RightForearm => "mixamorig:RightForeArm",
        RightHand => "mixamorig:RightHand",
        RightHandEnd => "mixamorig:RightHand_End",
        LeftThigh => "mixamorig:LeftUpLeg",
        LeftShin => "mixamorig:LeftLeg",
        LeftFoot => "mixamorig:LeftFoot",
        LeftToe => "mixamorig:LeftToeBase",
        LeftToeEnd => "mixamorig:LeftToe_End",
        RightThigh => "mixamorig:RightUpLeg",
        RightShin => "mixamorig:RightLeg",
        RightFoot => "mixamorig:RightFoot",
        RightToe => "mixamorig:RightToeBase",
        RightToeEnd => "mixamorig:RightToe_End",
    }
}

fn ue5(joint: JointId) -> &'static str {
    use JointId::*;
    match joint {
        Hips => "pelvis",
        Spine => "spine_01",
        Chest => "spine_02",
        UpperChest => "spine_03",
        Neck => "neck_01",
        Head => "head",
        HeadEnd => "head_end",
        LeftShoulder => "clavicle_l",
        LeftUpperArm => "upperarm_l",
        LeftForearm => "lowerarm_l",
        LeftHand => "hand_l",
        LeftHandEnd => "hand_end_l",
        RightShoulder => "clavicle_r",
        RightUpperArm => "upperarm_r",
        RightForearm => "lowerarm_r",
        RightHand => "hand_r",
        RightHandEnd => "hand_end_r",
        LeftThigh => "thigh_l",
        LeftShin => "calf_l",
        LeftFoot => "foot_l",
        LeftToe => "ball_l",
        LeftToeEnd => "ball_end_l",
        RightThigh => "thigh_r",
        RightShin => "calf_r",
        RightFoot => "foot_r",
        RightToe => "ball_r",
        RightToeEnd => "ball_end_r",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_preset_and_ids_round_trip() {
        for p in RigPreset::ALL {
            assert_eq!(RigPreset::from_id(p.id()), Some(p));
            let mut names: Vec<&str> = JointId::ALL.iter().map(|&j| p.bone_name(j)).collect();
            names.push(p.root_name());
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "{p}: duplicate bone names");
        }
        assert_eq!(RigPreset::from_id(" UE5 "), Some(RigPreset::Ue5));
        assert_eq!(RigPreset::from_id("maya"), None);
    }
}
