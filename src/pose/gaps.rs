//! TODO: gaps stage (being written).
