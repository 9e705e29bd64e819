//! The crate error: one variant per subsystem, each carrying that subsystem's
//! own enum. Every error has a stable, dotted `code()` (for example
//! `video.truncated`) that clients and tests match on; messages may change,
//! codes may not.

use thiserror::Error;

/// Any failure of vidmocap, grouped by the subsystem that raised it.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Video(#[from] crate::video::VideoError),
    #[error(transparent)]
    Model(#[from] crate::infer::ModelError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    #[error(transparent)]
    Motion(#[from] crate::motion::MotionError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
}

impl Error {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Video(e) => e.code(),
            Error::Model(e) => e.code(),
            Error::Export(e) => e.code(),
            Error::Config(e) => e.code(),
            Error::Eval(e) => e.code(),
            Error::Motion(e) => e.code(),
            Error::Pipeline(e) => e.code(),
            Error::Service(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Gpu(e) => e.code(),
        }
    }
}
