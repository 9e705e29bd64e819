//! Probe (being written).
pub struct VideoInfo;
pub fn probe() {}
