//! Decode: frames of a probed video, in presentation order, from a thread of
//! their own.
//!
//! [`Decoder::start`] opens the file on the caller's thread (so that an
//! unreadable file fails there) and hands demuxer and codec to a worker
//! thread. The worker sends [`Frame`]s through a bounded channel: the queue
//! depth caps memory and lets decoding run ahead of the pose stages by that
//! many frames, no more. ffmpeg's own frame threading decodes in parallel
//! inside the codec.
//!
//! A damaged stream is not all-or-nothing: packets the codec rejects and
//! frames it flags as corrupt are skipped and counted, and the job fails only
//! when too many are lost ([`Limits::max_corrupt_fraction`]) or when the file
//! ends early ([`VideoError::Truncated`]). Such a failure arrives as the last
//! item of the iterator and again from [`Decoder::finish`].
//!
//! With [`DecodeOptions`] asking for it, the codec decodes on the GPU's NVDEC
//! engine ([`super::hw`]) and frames are copied back to system memory. That
//! path never fails a job: when NVDEC cannot open, the decoder opens in
//! software; when it fails before delivering a frame, or a frame cannot be
//! copied back, the file is reopened and decoded in software from the
//! start, skipping the frames already delivered. [`DecodeStats`] says which
//! decoder ran and why hardware decoding was not used.

use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use ff::color::{Range, Space};
use ff::ffi;
use ff::format::context::Input;
use ffmpeg_next as ff;
use serde::Serialize;
use tracing::{debug, warn};

use super::frame::{ColorMatrix, Frame, Rotation};
use super::hw::{self, DecodeOptions, DecoderKind, Plan};
use super::probe::{open_input, pixel_format_name, select_video_stream, VideoInfo};
use super::span::{seek, Span};
use super::{Limits, VideoError};

/// What the decoding thread did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DecodeStats {
    /// Frames delivered to the consumer.
    pub frames_decoded: u64,
    /// Packets the codec rejected plus frames it flagged as damaged; all skipped.
    pub corrupt_frames: u64,
    /// Wall time of the decoding thread, in seconds.
    pub decode_seconds: f64,
    /// Part of `decode_seconds` spent waiting for the consumer to take
    /// frames (a full queue); the rest is demuxing, decoding and copying.
    pub blocked_seconds: f64,
    /// The decoder that produced the frames: NVDEC only when it produced
    /// every one of them.
    pub decoder: DecoderKind,
    /// Frames decoded by NVDEC (the rest were decoded in software).
    pub nvdec_frames: u64,
    /// Why NVDEC did not decode the video although the settings asked for
    /// it; `None` when it did, or when they did not ask (`hw_decode = off`,
    /// or `auto` with `device = cpu`: no attempt is made).
    pub hw_fallback: Option<String>,
}

/// Frames of one video, decoded on a worker thread.
///
/// Iterate it for `Result<Frame, VideoError>` items; an `Err` is always the
/// last item. Then call [`finish`](Self::finish) for the statistics.
/// Dropping it (or calling `finish` early) cancels decoding.
pub struct Decoder {
    frames: Option<Receiver<Result<Frame, VideoError>>>,
    worker: Option<JoinHandle<Result<DecodeStats, VideoError>>>,
    cancel: Arc<AtomicBool>,
}

/// How many threads ffmpeg may use inside the codec. More than four brings
/// little for the resolutions we accept and takes cores from pose inference.
fn codec_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
}

/// A codec opened for the video stream.
struct OpenedCodec {
    decoder: ff::decoder::Video,
    /// Opened with NVDEC: frames arrive as CUDA surfaces, unless ffmpeg
    /// finds this stream beyond the GPU and decodes it in software.
    nvdec: bool,
}

/// Opens the decoder for a stream's `params`: with NVDEC when `plan` says
/// so and it opens, else in software. Why NVDEC did not open is logged once
/// and kept in `hw_fallback`.
fn open_decoder(
    params: &ff::codec::Parameters,
    time_base: ff::Rational,
    codec_name: &str,
    plan: &Plan,
    hw_fallback: &mut Option<String>,
) -> Result<OpenedCodec, VideoError> {
    if let Plan::Nvdec { device_id, quiet } = *plan {
        match open_nvdec(params, time_base, device_id) {
            Ok(decoder) => {
                debug!(device_id, codec = codec_name, "decoding with NVDEC");
                return Ok(OpenedCodec {
                    decoder,
                    nvdec: true,
                });
            }
            Err(why) => {
                if quiet {
                    tracing::info!(reason = %why, codec = codec_name, "NVDEC unavailable; decoding in software");
                } else {
                    warn!(reason = %why, codec = codec_name, "NVDEC unavailable; decoding in software");
                }
                *hw_fallback = Some(why);
            }
        }
    }
    let mut opening = codec_context(params)?.decoder();
    // Lets the codec and best-effort timestamps work in stream time.
    opening.set_packet_time_base(time_base);
    let decoder = opening.video().map_err(|e| {
        warn!(error = %e, codec = codec_name, "cannot open the decoder");
        match e {
            ff::Error::DecoderNotFound => VideoError::UnsupportedCodec {
                codec: codec_name.to_owned(),
                supported: super::SUPPORTED_CODECS.join(", "),
            },
            other => VideoError::Decode(other.to_string()),
        }
    })?;
    Ok(OpenedCodec {
        decoder,
        nvdec: false,
    })
}

/// The decoder opened with NVDEC on `device_id`, or why it cannot be.
fn open_nvdec(
    params: &ff::codec::Parameters,
    time_base: ff::Rational,
    device_id: u32,
) -> Result<ff::decoder::Video, String> {
    let mut context = codec_context(params).map_err(|e| e.to_string())?;
    let codec = hw::attach_nvdec(&mut context, device_id)?;
    let mut opening = context.decoder();
    opening.set_packet_time_base(time_base);
    opening
        .open_as(codec)
        .and_then(|o| o.video())
        .map_err(|e| format!("cannot open the {} decoder with NVDEC: {e}", codec.name()))
}

/// A codec context for the stream, with frame threading.
fn codec_context(params: &ff::codec::Parameters) -> Result<ff::codec::Context, VideoError> {
    let mut context = ff::codec::Context::from_parameters(params.clone()).map_err(|e| {
        warn!(error = %e, "cannot set up the codec");
        VideoError::Decode(e.to_string())
    })?;
    // NVDEC keeps frame threading too, as the ffmpeg CLI does: its hwaccel
    // is safe with it, and a stream it falls back on decodes at full speed.
    context.set_threading(ff::threading::Config {
        kind: ff::threading::Type::Frame,
        count: codec_threads(),
        ..Default::default()
    });
    Ok(context)
}

impl Decoder {
    /// Opens `path` (described by `info`, from [`probe`](super::probe())) and
    /// starts decoding into a queue of `queue_depth` frames (at least one),
    /// on NVDEC when `options` ask for it and it opens.
    pub fn start(
        path: &Path,
        info: &VideoInfo,
        limits: &Limits,
        queue_depth: usize,
        options: &DecodeOptions,
    ) -> Result<Decoder, VideoError> {
        Self::start_with(path, info, limits, queue_depth, options, None, None)
    }

    /// [`start`](Self::start) for the frames of `span` only: the demuxer
    /// seeks to the keyframe before it, frames before it are decoded and
    /// dropped, decoding stops at its end, and frames keep their
    /// whole-clip index and time.
    pub fn start_span(
        path: &Path,
        info: &VideoInfo,
        limits: &Limits,
        queue_depth: usize,
        options: &DecodeOptions,
        span: &Span,
    ) -> Result<Decoder, VideoError> {
        Self::start_with(
            path,
            info,
            limits,
            queue_depth,
            options,
            None,
            Some(span.clone()),
        )
    }

    /// [`start`](Self::start), where the tests can make the hardware path
    /// "fail" before frame `hw_fails_at`: the restart in software cannot be
    /// reached otherwise on a machine without NVDEC.
    fn start_with(
        path: &Path,
        info: &VideoInfo,
        limits: &Limits,
        queue_depth: usize,
        options: &DecodeOptions,
        hw_fails_at: Option<u64>,
        span: Option<Span>,
    ) -> Result<Decoder, VideoError> {
        let mut input = open_input(path)?;
        // The file may have been replaced since it was probed; trust the
        // probed index only while it still names a video stream.
        let stream_index = match select_video_stream(&input) {
            Some(best) if best == info.stream_index => best,
            Some(other) => {
                warn!(
                    probed = info.stream_index,
                    now = other,
                    "the video stream moved since the probe"
                );
                other
            }
            None => return Err(VideoError::NoVideoStream),
        };
        let Some(stream) = input.stream(stream_index) else {
            return Err(VideoError::NoVideoStream);
        };
        let time_base = stream.time_base();
        let start_ts = Some(stream.start_time())
            .filter(|&t| t != ffi::AV_NOPTS_VALUE)
            .or(span.as_ref().map(|s| s.origin_pts));
        let params = stream.parameters();
        // SAFETY: `params` points at the stream's live codec parameters,
        // owned by `input`, which outlives this borrow.
        let (stream_space, stream_range) = unsafe {
            let par = &*params.as_ptr();
            (Space::from(par.color_space), Range::from(par.color_range))
        };

        let plan = hw::plan(options);
        let mut hw_fallback = match &plan {
            Plan::Refused(why) => {
                warn!(reason = %why, "decoding in software");
                Some(why.clone())
            }
            _ => None,
        };
        let opened = open_decoder(&params, time_base, &info.codec, &plan, &mut hw_fallback)?;
        drop(params);
        if let Some(span) = &span {
            seek(&mut input, stream_index, span.start_pts)?;
        }
        let (tx, rx) = sync_channel(queue_depth.max(1));
        let cancel = Arc::new(AtomicBool::new(false));
        let worker_cancel = Arc::clone(&cancel);
        let (fps, expected_frames, duration_s, rotation) = (
            info.fps,
            info.expected_frames,
            info.duration_s,
            info.rotation,
        );
        let limits = limits.clone();
        let (path, codec_name) = (path.to_path_buf(), info.codec.clone());
        // The worker is assembled on its own thread because the swscale
        // context it may create there is not `Send`.
        let spawn = move || {
            Worker {
                path,
                codec_name,
                input,
                decoder: opened.decoder,
                nvdec: opened.nvdec,
                warned_software_frames: false,
                skip: 0,
                downloaded: ff::frame::Video::empty(),
                stream_index,
                time_base: rational(time_base),
                start_ts,
                fps,
                expected_frames,
                duration_s,
                rotation,
                stream_space,
                stream_range,
                limits,
                cancel: worker_cancel,
                tx,
                frame: ff::frame::Video::empty(),
                scaler: None,
                stats: DecodeStats {
                    hw_fallback,
                    ..DecodeStats::default()
                },
                last_time_s: None,
                last_packet_end_s: None,
                demux_failed: false,
                warned_colour: false,
                hw_fails_at,
                span,
                span_done: false,
            }
            .run()
        };
        let worker = std::thread::Builder::new()
            .name("vidmocap-decode".into())
            .spawn(spawn)
            .map_err(|e| VideoError::Decode(format!("cannot start the decoding thread: {e}")))?;
        Ok(Decoder {
            frames: Some(rx),
            worker: Some(worker),
            cancel,
        })
    }

    /// Waits for the decoding thread and returns its statistics, or the error
    /// that ended decoding (the same one the iterator yielded last).
    ///
    /// Called before the iterator is exhausted, it cancels decoding and
    /// returns the statistics so far.
    pub fn finish(mut self) -> Result<DecodeStats, VideoError> {
        self.stop();
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(VideoError::Decode("the decoding thread panicked".into())),
            None => Err(VideoError::Decode(
                "the decoder was already finished".into(),
            )),
        }
    }

    /// Tells the worker to stop: the flag covers stretches where it sends
    /// nothing (a run of corrupt packets), the closed channel a blocked send.
    fn stop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.frames = None;
    }
}

impl Iterator for Decoder {
    type Item = Result<Frame, VideoError>;

    fn next(&mut self) -> Option<Self::Item> {
        // The worker closes the channel when it is done, so `recv` fails from
        // then on and the iterator stays exhausted.
        self.frames.as_ref()?.recv().ok()
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.stop();
        if let Some(worker) = self.worker.take() {
            if worker.join().is_err() {
                warn!("the decoding thread panicked");
            }
        }
    }
}

/// Whether the worker should keep going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    /// The consumer is gone: stop quietly.
    Cancelled,
    /// NVDEC failed and the file was reopened in software: start reading
    /// from the top.
    Restarted,
}

/// A demuxer that keeps failing without making progress is given up on
/// after this many errors in a row.
const MAX_DEMUX_ERRORS_IN_A_ROW: u32 = 1000;
/// Same for a codec that keeps returning errors while being drained.
const MAX_DECODE_ERRORS_IN_A_ROW: u32 = 1000;
/// Frames may run this far past the duration limit (the probe checked the
/// container's duration; this catches a stream that lies about it).
const DURATION_SLACK_S: f64 = 1.0;

/// Everything the decoding thread owns.
struct Worker {
    /// The file and codec, to reopen in software when NVDEC fails.
    path: PathBuf,
    codec_name: String,
    input: Input,
    decoder: ff::decoder::Video,
    /// `decoder` was opened with NVDEC.
    nvdec: bool,
    /// Software frames from the NVDEC decoder were already reported.
    warned_software_frames: bool,
    /// Frames still to drop after a restart: they were delivered already.
    skip: u64,
    /// System-memory copy of the last GPU frame.
    downloaded: ff::frame::Video,
    stream_index: usize,
    time_base: f64,
    start_ts: Option<i64>,
    fps: f64,
    expected_frames: u64,
    duration_s: f64,
    rotation: Rotation,
    stream_space: Space,
    stream_range: Range,
    limits: Limits,
    cancel: Arc<AtomicBool>,
    tx: SyncSender<Result<Frame, VideoError>>,
    /// Reused for every decoded frame; ffmpeg unreferences it on each receive.
    frame: ff::frame::Video,
    scaler: Option<Scaler>,
    stats: DecodeStats,
    last_time_s: Option<f64>,
    /// End (pts + duration) of the last packet of our stream, stream-relative.
    last_packet_end_s: Option<f64>,
    /// The demuxer reported an error other than a clean end of file.
    demux_failed: bool,
    warned_colour: bool,
    /// Tests only: restart in software before delivering this frame.
    hw_fails_at: Option<u64>,
    /// Only these frames are delivered (a segment of a long clip).
    span: Option<Span>,
    /// The span's end was reached: the rest of the file is not read.
    span_done: bool,
}

impl Worker {
    fn run(mut self) -> Result<DecodeStats, VideoError> {
        let started = Instant::now();
        let outcome = self.decode_all();
        self.stats.decode_seconds = started.elapsed().as_secs_f64();
        self.settle_decoder_kind();
        match outcome {
            Ok(_) => {
                debug!(stats = ?self.stats, "decoding finished");
                Ok(self.stats)
            }
            Err(e) => {
                debug!(error = %e, stats = ?self.stats, "decoding failed");
                // Nobody may be listening any more; `finish` reports it too.
                let _ = self.tx.send(Err(e.clone()));
                Err(e)
            }
        }
    }

    fn decode_all(&mut self) -> Result<Flow, VideoError> {
        loop {
            match self.decode_pass()? {
                Flow::Restarted => continue,
                Flow::Cancelled if !self.span_done => return Ok(Flow::Cancelled),
                Flow::Cancelled | Flow::Go => break,
            }
        }
        let (expected, ended_early) = match &self.span {
            // A span that should end before the file does ended early when
            // the file ran out first.
            Some(span) if span.end_pts.is_some() => (span.len(), !self.span_done),
            Some(span) => (span.len(), self.ended_early()),
            None => (self.expected_frames, self.ended_early()),
        };
        verdict(
            self.stats.frames_decoded,
            self.stats.corrupt_frames,
            expected,
            ended_early,
            &self.limits,
        )?;
        if self.stats.corrupt_frames > 0 {
            warn!(
                corrupt = self.stats.corrupt_frames,
                decoded = self.stats.frames_decoded,
                "skipped corrupt frames"
            );
        }
        Ok(Flow::Go)
    }

    /// Reads and decodes the file to its end; stops early when cancelled or
    /// when NVDEC failed and the file was reopened.
    fn decode_pass(&mut self) -> Result<Flow, VideoError> {
        let mut errors_in_a_row = 0u32;
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Ok(Flow::Cancelled);
            }
            // A fresh packet each time: `av_read_frame` does not release the
            // previous payload of the packet it is given.
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    errors_in_a_row = 0;
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    self.note_packet_end(&packet);
                    match self.feed(Some(&packet))? {
                        Flow::Go => {}
                        stop => return Ok(stop),
                    }
                }
                Err(ff::Error::Eof) => break,
                Err(e) => {
                    // A damaged or cut-off container: the mov demuxer reports
                    // every sample past the end of a truncated file as invalid
                    // data, then a clean EOF. Keep reading what still can be.
                    self.demux_failed = true;
                    errors_in_a_row += 1;
                    debug!(error = %e, "demuxer error");
                    let retryable = matches!(e, ff::Error::InvalidData)
                        || matches!(e, ff::Error::Other { errno } if errno == ff::error::EAGAIN);
                    if !retryable || errors_in_a_row >= MAX_DEMUX_ERRORS_IN_A_ROW {
                        warn!(error = %e, "the demuxer gave up");
                        break;
                    }
                }
            }
        }
        // Flush the frames the codec still holds (reordering, threads).
        self.feed(None)
    }

    /// The decoder the statistics name: NVDEC only when it produced every
    /// frame; otherwise the reason hardware decoding stopped or never ran.
    fn settle_decoder_kind(&mut self) {
        let stats = &mut self.stats;
        let all_nvdec = stats.nvdec_frames > 0 && stats.nvdec_frames == stats.frames_decoded;
        stats.decoder = if all_nvdec {
            DecoderKind::Nvdec
        } else {
            DecoderKind::Software
        };
        if self.nvdec && !all_nvdec && stats.hw_fallback.is_none() && stats.frames_decoded > 0 {
            stats.hw_fallback = Some(format!(
                "NVDEC could not decode this stream (profile, bit depth or size beyond the \
                 GPU's decoder; ffmpeg's log says which): {} of {} frames were decoded in \
                 software",
                stats.frames_decoded - stats.nvdec_frames,
                stats.frames_decoded
            ));
        }
    }

    /// A packet or frame the codec rejected. Before NVDEC has delivered
    /// anything this is taken as NVDEC failing (a decoder that cannot run
    /// without it, a driver error) and decoding starts over in software,
    /// which then judges the stream; otherwise the frame counts as corrupt.
    fn lost_frame(&mut self, why: &dyn std::fmt::Display) -> Result<Flow, VideoError> {
        if self.nvdec && self.stats.frames_decoded == 0 {
            return self.restart_in_software(format!("NVDEC failed before the first frame: {why}"));
        }
        self.count_corrupt(why)?;
        Ok(Flow::Go)
    }

    /// Reopens the file with a software decoder, to read from the start and
    /// drop the frames already delivered. Happens at most once: the new
    /// decoder is software.
    fn restart_in_software(&mut self, why: String) -> Result<Flow, VideoError> {
        warn!(
            reason = %why,
            delivered = self.stats.frames_decoded,
            "NVDEC failed; decoding again in software"
        );
        let input = open_input(&self.path)?;
        let stream = input
            .stream(self.stream_index)
            .filter(|s| s.parameters().medium() == ff::media::Type::Video)
            .ok_or(VideoError::NoVideoStream)?;
        let (params, time_base) = (stream.parameters(), stream.time_base());
        let opened = open_decoder(
            &params,
            time_base,
            &self.codec_name,
            &Plan::Software,
            &mut None,
        )?;
        drop(params);
        let mut input = input;
        if let Some(span) = &self.span {
            seek(&mut input, self.stream_index, span.start_pts)?;
        }
        self.input = input;
        self.decoder = opened.decoder;
        self.nvdec = false;
        self.skip = self.stats.frames_decoded;
        // The software pass meets the same damage again and counts it anew.
        self.stats.corrupt_frames = 0;
        self.last_packet_end_s = None;
        self.demux_failed = false;
        self.stats.hw_fallback = Some(why);
        Ok(Flow::Restarted)
    }

    /// Whether the stream stopped before its announced end.
    fn ended_early(&self) -> bool {
        let short = match self.last_packet_end_s {
            Some(end) => self.duration_s > 0.0 && end < 0.9 * self.duration_s,
            None => true,
        };
        self.demux_failed || short
    }

    fn note_packet_end(&mut self, packet: &ff::Packet) {
        let Some(ts) = packet.pts().or(packet.dts()) else {
            return;
        };
        let start = self.start_ts.unwrap_or(0);
        let end = (ts
            .saturating_sub(start)
            .saturating_add(packet.duration().max(0))) as f64
            * self.time_base;
        if end.is_finite() {
            self.last_packet_end_s = Some(self.last_packet_end_s.map_or(end, |e| e.max(end)));
        }
    }

    /// Sends a packet (or the end-of-stream marker) to the codec and delivers
    /// whatever frames come out.
    fn feed(&mut self, packet: Option<&ff::Packet>) -> Result<Flow, VideoError> {
        let mut sent = self.send(packet);
        if is_again(&sent) {
            // The codec wants its finished frames taken before new input.
            match self.drain()? {
                Flow::Go => {}
                stop => return Ok(stop),
            }
            sent = self.send(packet);
        }
        match sent {
            Ok(()) | Err(ff::Error::Eof) => {}
            Err(e) => match self.lost_frame(&e)? {
                Flow::Go => {}
                stop => return Ok(stop),
            },
        }
        self.drain()
    }

    fn send(&mut self, packet: Option<&ff::Packet>) -> Result<(), ff::Error> {
        match packet {
            Some(p) => self.decoder.send_packet(p),
            None => self.decoder.send_eof(),
        }
    }

    /// Receives every frame the codec has ready.
    fn drain(&mut self) -> Result<Flow, VideoError> {
        let mut errors_in_a_row = 0u32;
        loop {
            let received = self.decoder.receive_frame(&mut self.frame);
            match received {
                Ok(()) => {
                    errors_in_a_row = 0;
                    match self.deliver()? {
                        Flow::Go => {}
                        stop => return Ok(stop),
                    }
                }
                Err(ff::Error::Eof) => return Ok(Flow::Go),
                Err(_) if is_again(&received) => return Ok(Flow::Go),
                Err(e) => {
                    // With frame threading a rejected packet surfaces here,
                    // and frames decoded after it may still be waiting.
                    match self.lost_frame(&e)? {
                        Flow::Go => {}
                        stop => return Ok(stop),
                    }
                    errors_in_a_row += 1;
                    if errors_in_a_row >= MAX_DECODE_ERRORS_IN_A_ROW {
                        return Err(VideoError::Decode(e.to_string()));
                    }
                }
            }
        }
    }

    /// Counts one lost frame and fails once too many are lost.
    fn count_corrupt(&mut self, why: &dyn std::fmt::Display) -> Result<(), VideoError> {
        self.stats.corrupt_frames += 1;
        debug!(reason = %why, corrupt = self.stats.corrupt_frames, "corrupt frame skipped");
        match too_many_corrupt(
            self.stats.corrupt_frames,
            self.stats.frames_decoded,
            self.expected_frames,
            self.limits.max_corrupt_fraction,
        ) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Checks the frame just received, converts it and sends it on.
    fn deliver(&mut self) -> Result<Flow, VideoError> {
        if self.frame.is_corrupt() || self.frame.has_decode_errors() {
            let flags = self.frame.decode_error_flags();
            self.count_corrupt(&format_args!("flagged by the codec ({flags:?})"))?;
            return Ok(Flow::Go);
        }
        if let Some(span) = &self.span {
            let ts = self.frame.timestamp().unwrap_or(i64::MIN);
            if ts < span.start_pts {
                return Ok(Flow::Go);
            }
            if span.end_pts.is_some_and(|end| ts >= end) {
                self.span_done = true;
                return Ok(Flow::Cancelled);
            }
        }
        if self.skip > 0 {
            // Delivered by NVDEC before it failed.
            self.skip -= 1;
            return Ok(Flow::Go);
        }
        if self.hw_fails_at == Some(self.stats.frames_decoded) {
            self.hw_fails_at = None;
            return self.restart_in_software("simulated hardware failure".into());
        }
        let (width, height) = (self.frame.width(), self.frame.height());
        if width == 0 || height == 0 {
            self.count_corrupt(&"frame without a size")?;
            return Ok(Flow::Go);
        }
        // The probe checked the header; a stream may still change size.
        if u64::from(width) * u64::from(height) > self.limits.max_pixels {
            return Err(VideoError::TooManyPixels {
                width,
                height,
                limit: self.limits.max_pixels,
            });
        }
        let time_s = self.frame_time();
        if time_s > self.limits.max_duration_s + DURATION_SLACK_S {
            return Err(VideoError::TooLong {
                duration_s: time_s,
                limit_s: self.limits.max_duration_s,
            });
        }
        let mut out = match self.copy_out() {
            Ok(out) => out,
            Err(CopyError::Download(why)) => return self.restart_in_software(why),
            Err(CopyError::Video(e)) => return Err(e),
        };
        out.index = self.span.as_ref().map_or(0, |s| s.first) + self.stats.frames_decoded;
        out.time_s = time_s;
        self.stats.frames_decoded += 1;
        self.last_time_s = Some(time_s);

        let waited = Instant::now();
        if self.tx.send(Ok(out)).is_err() {
            return Ok(Flow::Cancelled);
        }
        self.stats.blocked_seconds += waited.elapsed().as_secs_f64();
        Ok(Flow::Go)
    }

    /// Presentation time in seconds from the stream start: best-effort
    /// timestamp when there is one (this is what makes variable frame rate
    /// work), else one frame period after the previous frame.
    fn frame_time(&mut self) -> f64 {
        let period = if self.fps > 0.0 { 1.0 / self.fps } else { 0.0 };
        let Some(ts) = self.frame.timestamp() else {
            return self.last_time_s.map_or(0.0, |t| t + period);
        };
        // Without a stream start time the first frame is time zero.
        let origin = *self.start_ts.get_or_insert(ts);
        let t = ts.saturating_sub(origin) as f64 * self.time_base;
        if t.is_finite() {
            t
        } else {
            self.last_time_s.map_or(0.0, |t| t + period)
        }
    }

    /// Brings a GPU frame into system memory, in place of the GPU frame in
    /// `self.frame`, and counts where the frame came from.
    fn download_if_on_gpu(&mut self) -> Result<(), CopyError> {
        // SAFETY: reading a plain field of the frame the codec just returned.
        let raw_format = unsafe { (*self.frame.as_ptr()).format };
        if !hw::is_cuda_format(raw_format) {
            if self.nvdec && !self.warned_software_frames {
                self.warned_software_frames = true;
                warn!("NVDEC cannot decode this stream; ffmpeg decodes it in software");
            }
            return Ok(());
        }
        hw::download(&self.frame, &mut self.downloaded).map_err(CopyError::Download)?;
        std::mem::swap(&mut self.frame, &mut self.downloaded);
        // Returns the GPU surface to the decoder's pool right away.
        // SAFETY: `downloaded` now holds the GPU frame we no longer need.
        unsafe { ffi::av_frame_unref(self.downloaded.as_mut_ptr()) };
        self.stats.nvdec_frames += 1;
        Ok(())
    }

    /// The received frame as a [`Frame`]: YUV 4:2:0 planes copied out,
    /// through swscale first when the codec produced another format.
    fn copy_out(&mut self) -> Result<Frame, CopyError> {
        self.download_if_on_gpu()?;
        // SAFETY: reading plain fields of the frame the codec just returned.
        let raw_format = unsafe { (*self.frame.as_ptr()).format };
        let (width, height) = (self.frame.width(), self.frame.height());
        let full_range_format = raw_format == ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as c_int;
        let (matrix, mut full_range) = colour(
            self.frame.color_space(),
            self.stream_space,
            self.frame.color_range(),
            self.stream_range,
            full_range_format,
            height,
        );
        if !self.warned_colour
            && matches!(self.frame.color_space(), Space::BT2020NCL | Space::BT2020CL)
        {
            self.warned_colour = true;
            warn!("BT.2020 video is read with the BT.709 matrix; colours are approximate");
        }

        let planes =
            if raw_format == ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int || full_range_format {
                // SAFETY: the codec returned a YUV 4:2:0 frame of this size.
                unsafe { copy_yuv420p(self.frame.as_ptr(), width, height) }
            } else if hw::is_nv12_format(raw_format) {
                // NVDEC's 8-bit layout, split directly rather than through swscale.
                // SAFETY: the frame is NV12 (just checked), in system memory.
                unsafe { hw::frame_from_nv12_avframe(self.frame.as_ptr()) }.map(|f| (f.y, f.u, f.v))
            } else {
                let scaled = self.scale(raw_format, width, height, matrix, &mut full_range)?;
                // SAFETY: swscale filled a YUV 4:2:0 frame of this size.
                unsafe { copy_yuv420p(scaled.as_ptr(), width, height) }
            };
        let Some((y, u, v)) = planes else {
            return Err(VideoError::Decode("the decoded frame has no picture data".into()).into());
        };
        Ok(Frame {
            index: 0,
            time_s: 0.0,
            width,
            height,
            y,
            u,
            v,
            y_stride: width as usize,
            uv_stride: width.div_ceil(2) as usize,
            rotation: self.rotation,
            matrix,
            full_range,
        })
    }

    /// Converts the received frame to YUV420P; the scaler is kept across
    /// frames and rebuilt only when format or size change.
    fn scale(
        &mut self,
        raw_format: c_int,
        width: u32,
        height: u32,
        matrix: ColorMatrix,
        full_range: &mut bool,
    ) -> Result<&ff::frame::Video, VideoError> {
        // SAFETY: the descriptor lookup returns null for invalid values.
        let desc = unsafe { ffi::av_pix_fmt_desc_get(self.frame.format().into()) };
        // SAFETY: non-null descriptors are static.
        let is_rgb =
            !desc.is_null() && unsafe { (*desc).flags } & ffi::AV_PIX_FMT_FLAG_RGB as u64 != 0;
        if is_rgb {
            // RGB input is converted with `matrix` into limited range.
            *full_range = false;
        }
        let key = (raw_format, width, height, matrix, *full_range);
        if self.scaler.as_ref().map(|s| s.key) != Some(key) {
            let name = pixel_format_name(raw_format).unwrap_or("unknown");
            debug!(format = name, width, height, "converting frames to yuv420p");
            self.scaler = Some(Scaler::new(key, self.frame.format(), is_rgb)?);
        }
        let Some(scaler) = self.scaler.as_mut() else {
            return Err(VideoError::Decode("no scaler".into()));
        };
        scaler
            .context
            .run(&self.frame, &mut scaler.output)
            .map_err(|e| {
                warn!(error = %e, "swscale failed");
                VideoError::Decode(e.to_string())
            })?;
        Ok(&scaler.output)
    }
}

/// Why a decoded frame could not be handed on.
enum CopyError {
    /// The GPU frame could not be copied to system memory: NVDEC is given up.
    Download(String),
    Video(VideoError),
}

impl From<VideoError> for CopyError {
    fn from(e: VideoError) -> Self {
        CopyError::Video(e)
    }
}

/// A swscale context for one input format and size, and its output frame.
struct Scaler {
    key: (c_int, u32, u32, ColorMatrix, bool),
    context: ff::software::scaling::Context,
    output: ff::frame::Video,
}

impl Scaler {
    fn new(
        key: (c_int, u32, u32, ColorMatrix, bool),
        format: ff::format::Pixel,
        is_rgb: bool,
    ) -> Result<Scaler, VideoError> {
        let (_, width, height, matrix, full_range) = key;
        let mut context = ff::software::scaling::Context::get(
            format,
            width,
            height,
            ff::format::Pixel::YUV420P,
            width,
            height,
            // Same size in and out: only chroma is resampled, where
            // bilinear is plenty.
            ff::software::scaling::Flags::BILINEAR,
        )
        .map_err(|e| {
            warn!(error = %e, ?format, "swscale cannot convert this pixel format");
            VideoError::Decode(format!("cannot convert pixel format {format:?}"))
        })?;
        let colorspace = match matrix {
            ColorMatrix::Bt709 => ffi::SWS_CS_ITU709,
            ColorMatrix::Bt601 => ffi::SWS_CS_ITU601,
        };
        // YUV input keeps its matrix and range (swscale only resamples
        // chroma and bit depth), so the frame's `matrix`/`full_range` stay
        // true; RGB input is converted with `matrix` into limited range.
        let (src_range, dst_range) = if is_rgb {
            (1, 0)
        } else {
            (c_int::from(full_range), c_int::from(full_range))
        };
        // SAFETY: `context` is a live swscale context; the coefficient tables
        // are static.
        unsafe {
            let table = ffi::sws_getCoefficients(colorspace);
            ffi::sws_setColorspaceDetails(
                context.as_mut_ptr(),
                table,
                src_range,
                table,
                dst_range,
                0,
                1 << 16,
                1 << 16,
            );
        }
        let output = ff::frame::Video::new(ff::format::Pixel::YUV420P, width, height);
        // `Video::new` ignores allocation failure; swscale must not get a
        // frame without buffers.
        // SAFETY: reading a field of a frame we own.
        if unsafe { (*output.as_ptr()).data[0].is_null() } {
            return Err(VideoError::Decode(
                "cannot allocate a conversion frame".into(),
            ));
        }
        Ok(Scaler {
            key,
            context,
            output,
        })
    }
}

fn is_again<T>(result: &Result<T, ff::Error>) -> bool {
    matches!(result, Err(ff::Error::Other { errno }) if *errno == ff::error::EAGAIN)
}

fn rational(r: ff::Rational) -> f64 {
    if r.denominator() == 0 {
        0.0
    } else {
        f64::from(r.numerator()) / f64::from(r.denominator())
    }
}

/// Matrix and range of a frame: the frame's own colour description, else the
/// stream's, else the usual convention (HD is BT.709, SD is BT.601).
fn colour(
    frame_space: Space,
    stream_space: Space,
    frame_range: Range,
    stream_range: Range,
    full_range_format: bool,
    height: u32,
) -> (ColorMatrix, bool) {
    let space = if frame_space == Space::Unspecified {
        stream_space
    } else {
        frame_space
    };
    let matrix = match space {
        Space::BT709 | Space::BT2020NCL | Space::BT2020CL => ColorMatrix::Bt709,
        Space::BT470BG | Space::SMPTE170M | Space::FCC | Space::SMPTE240M => ColorMatrix::Bt601,
        _ if height >= 720 => ColorMatrix::Bt709,
        _ => ColorMatrix::Bt601,
    };
    let range = if frame_range == Range::Unspecified {
        stream_range
    } else {
        frame_range
    };
    let full_range = match range {
        Range::JPEG => true,
        Range::MPEG => false,
        Range::Unspecified => full_range_format,
    };
    (matrix, full_range)
}

/// Copies the three planes of a YUV 4:2:0 frame into tightly packed buffers.
///
/// # Safety
/// `frame` must point at a valid frame in a YUV 4:2:0 layout of
/// `width`×`height`.
unsafe fn copy_yuv420p(
    frame: *const ffi::AVFrame,
    width: u32,
    height: u32,
) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    // SAFETY: guaranteed by the caller.
    let f = unsafe { &*frame };
    // SAFETY: each plane holds `rows` rows of at least `width` bytes, one
    // `linesize` apart.
    unsafe {
        Some((
            copy_plane(f.data[0], f.linesize[0], w, h)?,
            copy_plane(f.data[1], f.linesize[1], cw, ch)?,
            copy_plane(f.data[2], f.linesize[2], cw, ch)?,
        ))
    }
}

/// Copies `rows` rows of `width` bytes, `linesize` bytes apart (negative for
/// bottom-up pictures), into one tightly packed buffer.
///
/// # Safety
/// Unless it returns `None` for a null pointer or a too-short line, `data`
/// must address `rows` readable rows of `width` bytes at `linesize` steps.
unsafe fn copy_plane(
    data: *const u8,
    linesize: c_int,
    width: usize,
    rows: usize,
) -> Option<Vec<u8>> {
    if data.is_null() || (linesize.unsigned_abs() as usize) < width {
        return None;
    }
    let mut out = Vec::with_capacity(width * rows);
    for r in 0..rows {
        // SAFETY: guaranteed by the caller.
        let row = unsafe {
            std::slice::from_raw_parts(data.offset(r as isize * linesize as isize), width)
        };
        out.extend_from_slice(row);
    }
    Some(out)
}

/// Fails once more than `max_fraction` of the frames is corrupt. The
/// denominator is the expected frame count, or what was actually seen when
/// the stream holds more frames than announced (or announced none).
fn too_many_corrupt(
    corrupt: u64,
    decoded: u64,
    expected: u64,
    max_fraction: f64,
) -> Option<VideoError> {
    let total = expected.max(decoded + corrupt);
    (corrupt as f64 > max_fraction * total as f64).then_some(VideoError::CorruptFrames {
        corrupt,
        total,
        max_percent: max_fraction * 100.0,
    })
}

/// The judgement on a stream that was read to its end. Too many corrupt
/// frames is the most specific diagnosis, then a file cut short, then a
/// stream with nothing in it.
fn verdict(
    decoded: u64,
    corrupt: u64,
    expected: u64,
    ended_early: bool,
    limits: &Limits,
) -> Result<(), VideoError> {
    if let Some(e) = too_many_corrupt(corrupt, decoded, expected, limits.max_corrupt_fraction) {
        return Err(e);
    }
    if ended_early && (decoded as f64) < 0.9 * expected as f64 {
        return Err(VideoError::Truncated { decoded, expected });
    }
    if decoded == 0 {
        return Err(VideoError::NoFrames);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every frame of a decode: index, time and a digest of the planes.
    fn decode_digests(
        path: &Path,
        hw_fails_at: Option<u64>,
    ) -> (Vec<(u64, f64, u64)>, DecodeStats) {
        decode_span_digests(path, hw_fails_at, None)
    }

    fn decode_span_digests(
        path: &Path,
        hw_fails_at: Option<u64>,
        span: Option<Span>,
    ) -> (Vec<(u64, f64, u64)>, DecodeStats) {
        use std::hash::{Hash, Hasher};
        let limits = Limits::default();
        let info = super::super::probe(path, &limits).unwrap();
        let mut decoder = Decoder::start_with(
            path,
            &info,
            &limits,
            2,
            &DecodeOptions::software(),
            hw_fails_at,
            span,
        )
        .unwrap();
        let frames = decoder
            .by_ref()
            .map(|f| {
                let f = f.unwrap();
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (&f.y, &f.u, &f.v).hash(&mut h);
                (f.index, f.time_s, h.finish())
            })
            .collect();
        (frames, decoder.finish().unwrap())
    }

    #[test]
    fn a_hardware_failure_restarts_in_software_without_repeating_frames() {
        // A clip with B-frames (reordering) whose frames all differ.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("count.mp4");
        let made = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=25",
                "-t",
                "2",
            ])
            .args([
                "-c:v", "libx264", "-bf", "2", "-g", "12", "-pix_fmt", "yuv420p",
            ])
            .arg(&path)
            .status()
            .expect("the ffmpeg program makes the fixture");
        assert!(made.success());
        let (plain, stats) = decode_digests(&path, None);
        assert_eq!(plain.len(), 50);
        assert_eq!(stats.hw_fallback, None);
        // A span decoded on its own (after a seek, keyframes every 12
        // frames) gives the whole decode's frames: same index, time, picture.
        let (pts, start) = super::super::span::frame_timestamps(&path).unwrap();
        assert_eq!(pts.len(), 50);
        let spans = super::super::span::plan(&pts, start, 3, 4);
        for span in &spans {
            let (part, stats) = decode_span_digests(&path, None, Some(span.clone()));
            assert_eq!(
                part,
                plain[span.first as usize..span.end as usize],
                "{span:?}"
            );
            assert_eq!(stats.frames_decoded, span.len());
        }
        let (part, _) = decode_span_digests(&path, Some(3), Some(spans[1].clone()));
        assert_eq!(part, plain[spans[1].first as usize..spans[1].end as usize]);
        for fails_at in [0, 1, 17, 49] {
            let (again, stats) = decode_digests(&path, Some(fails_at));
            assert_eq!(again, plain, "failing before frame {fails_at}");
            assert_eq!(stats.frames_decoded, 50);
            assert_eq!(stats.corrupt_frames, 0);
            assert_eq!(stats.decoder, DecoderKind::Software);
            assert_eq!(
                stats.hw_fallback.as_deref(),
                Some("simulated hardware failure")
            );
        }
    }

    #[test]
    fn planes_are_copied_row_by_row_without_padding() {
        // 3×2 picture in rows of 5 bytes.
        let buf = [1u8, 2, 3, 0, 0, 4, 5, 6, 0, 0];
        let out = unsafe { copy_plane(buf.as_ptr(), 5, 3, 2) }.unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        // Bottom-up: start at the last row, step back.
        let out = unsafe { copy_plane(buf.as_ptr().add(5), -5, 3, 2) }.unwrap();
        assert_eq!(out, [4, 5, 6, 1, 2, 3]);
        assert!(unsafe { copy_plane(buf.as_ptr(), 2, 3, 2) }.is_none());
        assert!(unsafe { copy_plane(std::ptr::null(), 5, 3, 2) }.is_none());
    }

    #[test]
    fn colour_follows_frame_then_stream_then_size() {
        use Range::*;
        assert_eq!(
            colour(
                Space::BT709,
                Space::Unspecified,
                MPEG,
                Unspecified,
                false,
                480
            ),
            (ColorMatrix::Bt709, false)
        );
        assert_eq!(
            colour(
                Space::Unspecified,
                Space::SMPTE170M,
                Unspecified,
                JPEG,
                false,
                1080
            ),
            (ColorMatrix::Bt601, true)
        );
        assert_eq!(
            colour(
                Space::Unspecified,
                Space::Unspecified,
                Unspecified,
                Unspecified,
                false,
                720
            ),
            (ColorMatrix::Bt709, false)
        );
        assert_eq!(
            colour(
                Space::Unspecified,
                Space::Unspecified,
                Unspecified,
                Unspecified,
                true,
                719
            ),
            (ColorMatrix::Bt601, true)
        );
    }

    #[test]
    fn corrupt_budget_uses_the_larger_frame_count() {
        assert!(too_many_corrupt(5, 95, 100, 0.05).is_none());
        let e = too_many_corrupt(6, 94, 100, 0.05).unwrap();
        assert_eq!(e.code(), "video.corrupt_frames");
        // More frames than announced widen the budget.
        assert!(too_many_corrupt(6, 194, 100, 0.05).is_none());
        // Nothing announced: what was seen counts.
        assert!(too_many_corrupt(1, 0, 0, 0.05).is_some());
    }

    #[test]
    fn verdict_order() {
        let limits = Limits::default();
        assert!(verdict(100, 0, 100, false, &limits).is_ok());
        assert_eq!(
            verdict(80, 20, 100, true, &limits).unwrap_err().code(),
            "video.corrupt_frames"
        );
        assert_eq!(
            verdict(40, 0, 100, true, &limits).unwrap_err().code(),
            "video.truncated"
        );
        assert_eq!(
            verdict(0, 0, 100, true, &limits).unwrap_err().code(),
            "video.truncated"
        );
        // Short of frames but the stream ended where it said: accepted.
        assert!(verdict(80, 0, 100, false, &limits).is_ok());
        assert!(verdict(95, 0, 100, true, &limits).is_ok());
        assert_eq!(
            verdict(0, 0, 0, false, &limits).unwrap_err().code(),
            "video.no_frames"
        );
    }
}
