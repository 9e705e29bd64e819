//! Decode (being written).
pub struct Decoder;
pub struct DecodeStats;
