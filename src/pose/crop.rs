//! TODO: crop stage (being written).
