//! TODO: filter stage (being written).
