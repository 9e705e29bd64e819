//! Model inference: the committed model manifest, checking a model folder
//! against it, and ONNX Runtime sessions built from it.
//!
//! The ONNX Runtime library is loaded at run time (`ort` load-dynamic) from
//! the configured path or `ORT_DYLIB_PATH`, so a missing or wrong library is
//! a [`ModelError`] the user can act on, not a link failure.

pub mod batch;
pub mod fetch;
pub mod manifest;
pub mod providers;
pub mod prune;
pub mod runtime;
pub mod shared;
pub mod wire;

pub use manifest::{Manifest, ModelSpec};
pub use providers::{ExecutionOptions, Provider, SessionProvider};
pub use runtime::{Runtime, SessionOptions};

use thiserror::Error;

/// Why a model could not be used.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("model file {file} is missing from {dir}; run `vidmocap models fetch --dir {dir} --from <folder or URL of the models>`")]
    Missing { file: String, dir: String },
    #[error("model file {file} does not match the manifest (sha256 {actual}, expected {expected}); re-download it with `vidmocap models fetch`")]
    HashMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("model {0} is not in the manifest")]
    Unknown(String),
    #[error("the ONNX Runtime library could not be loaded ({reason}); run `scripts/setup.sh` in the vidmocap checkout, which installs it and records where")]
    RuntimeMissing { reason: String },
    #[error("model {model} could not be loaded")]
    Load { model: String, reason: String },
    #[error("inference with {model} failed")]
    Inference { model: String, reason: String },
    #[error("the model manifest is invalid: {0}")]
    Manifest(String),
    #[error("models cannot be downloaded: {0}")]
    Fetch(String),
}

impl ModelError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Missing { .. } => "model.missing",
            ModelError::HashMismatch { .. } => "model.hash_mismatch",
            ModelError::Unknown(_) => "model.unknown",
            ModelError::RuntimeMissing { .. } => "model.runtime_missing",
            ModelError::Load { .. } => "model.load_failed",
            ModelError::Inference { .. } => "model.inference_failed",
            ModelError::Manifest(_) => "model.manifest_invalid",
            ModelError::Fetch(_) => "model.fetch_failed",
        }
    }
}
