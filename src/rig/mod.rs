//! Humanoid rig (being written).
