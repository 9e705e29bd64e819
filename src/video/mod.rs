//! Video input: probe and validate a file, then decode its frames in order
//! on a thread of their own, on the GPU's NVDEC engine where it can.
//!
//! Everything that can go wrong with a user's file surfaces as a
//! [`VideoError`] with a stable code; ffmpeg's own wording is logged, not
//! shown to clients.

pub mod decode;
pub mod frame;
pub mod hw;
pub mod probe;
pub mod sample;
pub mod span;

pub use decode::{DecodeStats, Decoder};
pub use frame::{ColorMatrix, Frame, Rotation};
pub use hw::{DecodeOptions, DecoderKind};
pub use probe::{probe, VideoInfo};
pub use span::Span;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Limits on what input is accepted; they come from configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Longest clip accepted, in seconds.
    pub max_duration_s: f64,
    /// Largest picture accepted, width × height.
    pub max_pixels: u64,
    /// Largest file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Corrupt frames are skipped and counted; the job fails only when more
    /// than this fraction of the expected frames is lost.
    pub max_corrupt_fraction: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_duration_s: 600.0,
            max_pixels: 3840 * 2160,
            max_file_bytes: 2 * 1024 * 1024 * 1024,
            max_corrupt_fraction: 0.05,
        }
    }
}

/// Codecs vidmocap accepts (when the system ffmpeg also has a decoder).
pub const SUPPORTED_CODECS: &[&str] = &["h264", "hevc", "vp9", "av1", "mpeg4", "vp8"];

/// What can be wrong with an input video.
///
/// `Clone` because the decoder reports its final error twice: as the last
/// frame item and from `Decoder::finish`.
#[derive(Clone, Debug, Error)]
pub enum VideoError {
    #[error("the file {path} could not be opened: {reason}")]
    Io { path: String, reason: String },
    #[error("the file is empty")]
    Empty,
    #[error("the file is not a video the service can read")]
    NotAVideo,
    #[error("the file has no video stream (audio only?)")]
    NoVideoStream,
    #[error("the video codec {codec} is not supported (supported: {supported})")]
    UnsupportedCodec { codec: String, supported: String },
    #[error("the video ends early: {decoded} of about {expected} frames could be read")]
    Truncated { decoded: u64, expected: u64 },
    #[error("the video is {duration_s:.1} s long; the limit is {limit_s:.0} s")]
    TooLong { duration_s: f64, limit_s: f64 },
    #[error("the picture is {width}x{height}; the limit is {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the file is {bytes} bytes; the limit is {limit} bytes")]
    FileTooLarge { bytes: u64, limit: u64 },
    #[error("{corrupt} of {total} frames are corrupt (more than the {max_percent:.0}% allowed)")]
    CorruptFrames {
        corrupt: u64,
        total: u64,
        max_percent: f64,
    },
    #[error("the video has no decodable frames")]
    NoFrames,
    #[error("decoding failed")]
    Decode(String),
}

impl VideoError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            VideoError::Io { .. } => "video.io",
            VideoError::Empty => "video.empty",
            VideoError::NotAVideo => "video.not_a_video",
            VideoError::NoVideoStream => "video.no_video_stream",
            VideoError::UnsupportedCodec { .. } => "video.unsupported_codec",
            VideoError::Truncated { .. } => "video.truncated",
            VideoError::TooLong { .. } => "video.too_long",
            VideoError::TooManyPixels { .. } => "video.too_many_pixels",
            VideoError::FileTooLarge { .. } => "video.file_too_large",
            VideoError::CorruptFrames { .. } => "video.corrupt_frames",
            VideoError::NoFrames => "video.no_frames",
            VideoError::Decode(_) => "video.decode_failed",
        }
    }
}
