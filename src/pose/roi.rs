//! TODO: roi stage (being written).
