//! TODO: lift stage (being written).
