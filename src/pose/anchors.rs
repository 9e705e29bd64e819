//! TODO: anchors stage (being written).
