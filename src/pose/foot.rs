//! TODO: foot stage (being written).
