//! TODO: track stage (being written).
