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
    #[error(transparent)]
    Tracks(#[from] crate::pose::record::RecordError),
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
            Error::Tracks(e) => e.code(),
        }
    }
}

/// Whose fault an error is: what the CLI's exit status, a job's recorded
/// failure and an HTTP status are all decided from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request or its input (a bad video, no person, an unknown
    /// format): the caller can fix it.
    Input,
    /// The run was asked to stop.
    Canceled,
    /// Ours: the machine, the models, storage, a bug.
    Internal,
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        use crate::pipeline::PipelineError;
        use crate::pose::record::RecordError;
        use crate::video::VideoError;
        match self {
            Error::Video(VideoError::Io { .. }) => ErrorKind::Internal,
            Error::Video(_) => ErrorKind::Input,
            Error::Pipeline(PipelineError::Canceled) => ErrorKind::Canceled,
            Error::Pipeline(PipelineError::NoPerson | PipelineError::UnknownPerson { .. }) => {
                ErrorKind::Input
            }
            Error::Pipeline(PipelineError::Output { .. }) => ErrorKind::Internal,
            Error::Export(e) if e.is_bad_request() => ErrorKind::Input,
            Error::Motion(e) if e.is_bad_request() => ErrorKind::Input,
            // eval reads files the user named: every failure is theirs to fix.
            Error::Eval(_) => ErrorKind::Input,
            Error::Tracks(RecordError::Write { .. }) => ErrorKind::Internal,
            Error::Tracks(_) => ErrorKind::Input,
            Error::Export(_)
            | Error::Motion(_)
            | Error::Model(_)
            | Error::Config(_)
            | Error::Service(_)
            | Error::Store(_)
            | Error::Gpu(_) => ErrorKind::Internal,
        }
    }

    /// What a remote client may be told. Input errors say what is wrong
    /// with the input (never a path of ours); anything else is only its
    /// code, the detail staying in the log.
    pub fn public_message(&self) -> String {
        use crate::export::ExportError;
        match (self.kind(), self) {
            // Names a file on this machine.
            (_, Error::Export(ExportError::BadKeypoints { .. })) => {
                "the keypoints input cannot be read".into()
            }
            (ErrorKind::Input, Error::Tracks(_)) => "the tracks input cannot be read".into(),
            (ErrorKind::Input, e) => e.to_string(),
            (ErrorKind::Canceled, _) => "the run was canceled".into(),
            (ErrorKind::Internal, _) => "the job failed on our side; it has been logged".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExportError;
    use crate::pipeline::PipelineError;
    use crate::video::VideoError;

    #[test]
    fn kinds_follow_whose_fault_it_is() {
        let input = Error::from(VideoError::Truncated {
            decoded: 1,
            expected: 9,
        });
        assert_eq!(input.kind(), ErrorKind::Input);
        assert_eq!(
            Error::from(PipelineError::NoPerson).kind(),
            ErrorKind::Input
        );
        assert_eq!(
            Error::from(ExportError::UnknownRig("x".into())).kind(),
            ErrorKind::Input
        );
        assert_eq!(
            Error::from(PipelineError::Canceled).kind(),
            ErrorKind::Canceled
        );
        for e in [
            Error::from(PipelineError::Output {
                path: "/tmp/.tmpAbC/out".into(),
                reason: "denied".into(),
            }),
            Error::from(VideoError::Io {
                path: "/tmp/.tmpAbC/input".into(),
                reason: "gone".into(),
            }),
            Error::from(ExportError::Io {
                path: "/tmp/.tmpAbC/out/x.glb".into(),
                reason: "full".into(),
            }),
        ] {
            assert_eq!(e.kind(), ErrorKind::Internal, "{e}");
            assert!(!e.public_message().contains("/tmp"), "{e}");
        }
        let keypoints = Error::from(ExportError::BadKeypoints {
            path: "/tmp/.tmpAbC/k.json".into(),
            reason: "eof".into(),
        });
        assert!(!keypoints.public_message().contains("/tmp"));
    }
}
