//! keypoints.json writer (being written).
