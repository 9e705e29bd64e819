//! TODO: detect stage (being written).
