//! glTF/GLB writer (being written).
