//! Output writers: the animated GLB and keypoints.json.

pub mod gltf;
pub mod keypoints;

/// What can go wrong while writing outputs.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("could not write {path}: {reason}")]
    Io { path: String, reason: String },
    #[error("there is no motion to export (no frame with a pose)")]
    EmptyMotion,
    #[error("invalid export request: {0}")]
    Invalid(String),
}

impl ExportError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ExportError::Io { .. } => "export.io",
            ExportError::EmptyMotion => "export.empty_motion",
            ExportError::Invalid(_) => "export.invalid",
        }
    }
}
