//! A span of a video's frames, for decoding one segment of a long clip on
//! its own: where it starts and ends in presentation timestamps, and which
//! whole-clip frame index its first frame has.
//!
//! [`plan`] reads every packet of the video stream (demuxing only, no
//! decoding: milliseconds for a minute of video) and cuts the presentation
//! timestamps into overlapping spans. A frame's index is its position in
//! presentation order, which is also how a whole-clip decode numbers it, so
//! a segment's poses line up frame for frame with an unsplit run's.

use std::path::Path;

use ff::ffi;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use super::probe::{open_input, select_video_stream};
use super::VideoError;

/// Frames `[first, end)` of the clip, by whole-clip index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub first: u64,
    pub end: u64,
    /// Presentation timestamp (stream time base) of frame `first`.
    pub start_pts: i64,
    /// Timestamp of frame `end`; `None` when the span runs to the end.
    pub end_pts: Option<i64>,
    /// The clip's time zero: the stream's start time, else its first
    /// frame's timestamp (what a whole-clip decode measures from).
    pub origin_pts: i64,
}

impl Span {
    pub fn len(&self) -> u64 {
        self.end - self.first
    }

    pub fn is_empty(&self) -> bool {
        self.end <= self.first
    }
}

/// Every video packet's presentation timestamp in presentation order, and
/// the stream's start time when it has one.
pub fn frame_timestamps(path: &Path) -> Result<(Vec<i64>, Option<i64>), VideoError> {
    let mut input = open_input(path)?;
    let stream_index = select_video_stream(&input).ok_or(VideoError::NoVideoStream)?;
    let start = input
        .stream(stream_index)
        .map(|s| s.start_time())
        .filter(|&t| t != ffi::AV_NOPTS_VALUE);
    let mut pts = Vec::new();
    for (stream, packet) in input.packets() {
        if stream.index() == stream_index {
            if let Some(ts) = packet.pts().or(packet.dts()) {
                pts.push(ts);
            }
        }
    }
    pts.sort_unstable();
    pts.dedup();
    Ok((pts, start))
}

/// Cuts `frames` (sorted timestamps) into `count` spans of near-equal
/// length, each but the last running `overlap` frames into the next one.
pub fn plan(pts: &[i64], start: Option<i64>, count: usize, overlap: u64) -> Vec<Span> {
    let n = pts.len() as u64;
    let count = (count.max(1) as u64).min(n.max(1));
    let Some(&first_pts) = pts.first() else {
        return Vec::new();
    };
    let origin_pts = start.unwrap_or(first_pts);
    (0..count)
        .map(|k| {
            let first = k * n / count;
            let core_end = (k + 1) * n / count;
            let end = if k + 1 == count {
                n
            } else {
                (core_end + overlap).min(n)
            };
            Span {
                first,
                end,
                start_pts: pts[first as usize],
                end_pts: pts.get(end as usize).copied(),
                origin_pts,
            }
        })
        .collect()
}

/// Positions the demuxer on the keyframe at or before `pts` of the stream.
pub(super) fn seek(
    input: &mut ff::format::context::Input,
    stream_index: usize,
    pts: i64,
) -> Result<(), VideoError> {
    // SAFETY: `input` owns a live, opened format context.
    let r = unsafe {
        ffi::av_seek_frame(
            input.as_mut_ptr(),
            stream_index as std::ffi::c_int,
            pts,
            ffi::AVSEEK_FLAG_BACKWARD,
        )
    };
    if r < 0 {
        return Err(VideoError::Decode(format!(
            "cannot seek to {pts}: {}",
            ff::Error::from(r)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spans cover every frame, overlap by the asked number of frames, and
    /// the last one runs to the end without an end timestamp.
    #[test]
    fn spans_cover_the_clip_and_overlap() {
        let pts: Vec<i64> = (0..100).map(|i| 1000 + 512 * i).collect();
        let spans = plan(&pts, None, 3, 5);
        assert_eq!(spans.len(), 3);
        assert_eq!((spans[0].first, spans[0].end), (0, 38));
        assert_eq!((spans[1].first, spans[1].end), (33, 71));
        assert_eq!((spans[2].first, spans[2].end), (66, 100));
        assert_eq!(spans[1].start_pts, pts[33]);
        assert_eq!(spans[1].end_pts, Some(pts[71]));
        assert_eq!(spans[2].end_pts, None);
        assert!(spans.iter().all(|s| s.origin_pts == 1000));
        assert_eq!(plan(&pts, Some(0), 1, 5)[0].end, 100);
    }
}
