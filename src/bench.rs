//! Micro and whole-pipeline benches (being written).
