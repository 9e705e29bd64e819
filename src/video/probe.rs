//! Probe: validate a user's file and describe its video stream.
//!
//! [`probe`] runs the cheap checks first (file system, size) so that a bad
//! upload is rejected before ffmpeg parses a byte of it, then lets ffmpeg
//! open the container and checks codec, picture size and duration against
//! [`Limits`]. The resulting [`VideoInfo`] carries no path, so it can be
//! logged or sent to a client as is.
//!
//! The helpers that open a file with ffmpeg (`open_input`,
//! `select_video_stream`) live here too, because the decoder must open the
//! file exactly the way the probe did.

use std::ffi::{c_int, CStr, CString};
use std::path::Path;
use std::ptr;
use std::sync::Once;

use ff::ffi;
use ff::format::context::Input;
use ff::format::stream::Disposition;
use ff::media;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use super::frame::Rotation;
use super::{Limits, VideoError, SUPPORTED_CODECS};

/// What vidmocap knows about an accepted video, without its path.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Container (demuxer) name as ffmpeg reports it, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    /// Codec name, e.g. `h264`; always one of [`SUPPORTED_CODECS`].
    pub codec: String,
    /// Stored picture size in pixels.
    pub width: u32,
    pub height: u32,
    /// Picture size once [`rotation`](Self::rotation) is applied.
    pub upright_width: u32,
    pub upright_height: u32,
    /// Clockwise turn that makes the stored picture upright.
    pub rotation: Rotation,
    /// Duration in seconds (0 when the container does not say).
    pub duration_s: f64,
    /// Average frame rate (0 when unknown). Variable frame rate streams get
    /// their frame times from timestamps, so this is only an estimate there.
    pub fps: f64,
    /// Frame count from the container, else duration × fps rounded.
    pub expected_frames: u64,
    pub file_bytes: u64,
    /// ffmpeg's pixel format name, e.g. `yuv420p` (`unknown` when unset).
    pub pixel_format: String,
    /// Bits per second of the video stream, else of the whole file (0 when unknown).
    pub bit_rate: u64,
    /// Index of the chosen video stream inside the container.
    pub stream_index: usize,
}

/// Demuxers a user's file may be opened with. ffmpeg can open far more
/// (image sequences, playlists, ANSI art, concat lists that pull in other
/// files), none of which is a video a person filmed; refusing them up front
/// turns those into [`VideoError::NotAVideo`] and keeps a playlist from
/// making ffmpeg read files the user never uploaded.
const ALLOWED_DEMUXERS: &str =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,ivf,ogg,asf,mpeg";

/// Validates the file at `path` against `limits` and describes its video
/// stream. Checks run cheapest first; see the module docs.
pub fn probe(path: &Path, limits: &Limits) -> Result<VideoInfo, VideoError> {
    let file_bytes = check_file(path, limits)?;
    let input = open_input(path)?;
    let container = input.format().name().to_string();

    let Some(stream_index) = select_video_stream(&input) else {
        debug!(%container, "no video stream");
        return Err(VideoError::NoVideoStream);
    };
    let Some(stream) = input.stream(stream_index) else {
        return Err(VideoError::NoVideoStream);
    };
    let params = stream.parameters();
    // SAFETY: `params` points at the stream's live codec parameters, owned by
    // `input`, which outlives this borrow.
    let par = unsafe { &*params.as_ptr() };

    let codec_id = params.id();
    let codec = codec_id.name().to_string();
    if !SUPPORTED_CODECS.contains(&codec.as_str()) || ff::decoder::find(codec_id).is_none() {
        debug!(%codec, "unsupported codec");
        return Err(VideoError::UnsupportedCodec {
            codec,
            supported: SUPPORTED_CODECS.join(", "),
        });
    }

    let (width, height) = (par.width, par.height);
    if width <= 0 || height <= 0 {
        // ffmpeg found the stream but could not parse a single header of it.
        warn!(%codec, width, height, "video stream without a picture size");
        return Err(VideoError::NotAVideo);
    }
    let (width, height) = (width as u32, height as u32);
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(VideoError::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }

    let fps = [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find_map(rational_to_f64)
        .unwrap_or(0.0);
    let duration_s = stream_duration_s(stream.duration(), stream.time_base())
        .or_else(|| container_duration_s(input.duration()))
        .unwrap_or_else(|| {
            warn!("the container gives no duration");
            0.0
        });
    if duration_s > limits.max_duration_s {
        return Err(VideoError::TooLong {
            duration_s,
            limit_s: limits.max_duration_s,
        });
    }

    let rotation = stream_rotation(&stream);
    let (upright_width, upright_height) = if rotation.swaps_axes() {
        (height, width)
    } else {
        (width, height)
    };
    let bit_rate = [par.bit_rate, input.bit_rate()]
        .into_iter()
        .find(|&b| b > 0)
        .map_or(0, |b| b as u64);

    Ok(VideoInfo {
        container,
        codec,
        width,
        height,
        upright_width,
        upright_height,
        rotation,
        duration_s,
        fps,
        expected_frames: expected_frames(stream.frames(), duration_s, fps),
        file_bytes,
        pixel_format: pixel_format_name(par.format)
            .unwrap_or("unknown")
            .to_string(),
        bit_rate,
        stream_index,
    })
}

/// File-system checks: readable, not empty, not too large. Returns the size.
fn check_file(path: &Path, limits: &Limits) -> Result<u64, VideoError> {
    let io_err = |reason: String| VideoError::Io {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| io_err(e.to_string()))?;
    if !meta.is_file() {
        return Err(io_err("not a regular file".into()));
    }
    // Metadata alone does not prove we may read it (permissions, ACLs).
    std::fs::File::open(path).map_err(|e| io_err(e.to_string()))?;
    let bytes = meta.len();
    if bytes == 0 {
        return Err(VideoError::Empty);
    }
    if bytes > limits.max_file_bytes {
        return Err(VideoError::FileTooLarge {
            bytes,
            limit: limits.max_file_bytes,
        });
    }
    Ok(bytes)
}

/// Initialises ffmpeg once per process and routes its log through `tracing`.
pub(super) fn init_ffmpeg() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(e) = ff::init() {
            warn!(error = %e, "ffmpeg initialisation reported an error");
        }
        // SAFETY: plain setters of global ffmpeg state, called once.
        unsafe {
            ffi::av_log_set_level(ffi::AV_LOG_WARNING);
            #[cfg(target_arch = "x86_64")]
            ffi::av_log_set_callback(Some(log_bridge));
        }
    });
}

/// ffmpeg log callback: its messages become `tracing` events with target
/// `ffmpeg`. Errors about a damaged stream are expected on user files and
/// summarised by our own typed errors, so they go out at debug level.
///
/// Only on x86_64: the callback receives a `va_list`, whose Rust type
/// depends on the platform ABI; elsewhere ffmpeg keeps logging to stderr.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn log_bridge(
    avcl: *mut std::ffi::c_void,
    level: c_int,
    fmt: *const std::ffi::c_char,
    vl: *mut ffi::__va_list_tag,
) {
    let lvl = if level <= ffi::AV_LOG_FATAL {
        tracing::Level::WARN
    } else if level <= ffi::AV_LOG_WARNING {
        tracing::Level::DEBUG
    } else {
        tracing::Level::TRACE
    };
    // Formatting costs more than the check; skip it when nobody listens.
    let enabled = match lvl {
        tracing::Level::WARN => tracing::enabled!(target: "ffmpeg", tracing::Level::WARN),
        tracing::Level::DEBUG => tracing::enabled!(target: "ffmpeg", tracing::Level::DEBUG),
        _ => tracing::enabled!(target: "ffmpeg", tracing::Level::TRACE),
    };
    // Errors are also kept for the hardware decoder while it is setting up
    // on this thread: they say why NVDEC could not open.
    let capture = level <= ffi::AV_LOG_ERROR && super::hw::capturing();
    if !(enabled || capture) || fmt.is_null() {
        return;
    }
    let mut buf = [0 as std::ffi::c_char; 1024];
    let mut print_prefix: c_int = 1;
    // SAFETY: arguments are passed through from ffmpeg unchanged; the buffer
    // length is the buffer's, and ffmpeg always NUL-terminates it.
    let line = unsafe {
        let n = ffi::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            buf.as_mut_ptr(),
            buf.len() as c_int,
            &mut print_prefix,
        );
        if n < 0 {
            return;
        }
        CStr::from_ptr(buf.as_ptr()).to_string_lossy()
    };
    let line = line.trim_end();
    if line.is_empty() {
        return;
    }
    if capture {
        super::hw::capture(line);
    }
    if !enabled {
        return;
    }
    match lvl {
        tracing::Level::WARN => tracing::warn!(target: "ffmpeg", "{line}"),
        tracing::Level::DEBUG => tracing::debug!(target: "ffmpeg", "{line}"),
        _ => tracing::trace!(target: "ffmpeg", "{line}"),
    }
}

/// Opens `path` with ffmpeg (file protocol and [`ALLOWED_DEMUXERS`] only)
/// and reads stream info.
pub(super) fn open_input(path: &Path) -> Result<Input, VideoError> {
    init_ffmpeg();
    let io_err = |reason: String| VideoError::Io {
        path: path.display().to_string(),
        reason,
    };
    // The `file:` prefix stops a name such as `concat:a|b` or `http://…`
    // from being taken for another protocol.
    let url = file_url(path).ok_or_else(|| io_err("the path contains a NUL byte".into()))?;
    let mut options = ff::Dictionary::new();
    options.set("protocol_whitelist", "file");
    options.set("format_whitelist", ALLOWED_DEMUXERS);

    // SAFETY: ffmpeg's documented open sequence. `ctx` is only wrapped into
    // an `Input` (which closes it on drop) after both calls succeed, and is
    // closed here on the failure path; the options dictionary is handed back
    // to Rust ownership so whatever ffmpeg left in it is freed.
    unsafe {
        let mut ctx: *mut ffi::AVFormatContext = ptr::null_mut();
        let mut opts = options.disown();
        let ret = ffi::avformat_open_input(&mut ctx, url.as_ptr(), ptr::null(), &mut opts);
        drop(ff::Dictionary::own(opts));
        if ret < 0 {
            let err = ff::Error::from(ret);
            debug!(error = %err, "ffmpeg cannot open the file");
            return Err(match err {
                ff::Error::Other { errno }
                    if errno == ff::error::ENOENT || errno == ff::error::EACCES =>
                {
                    io_err(err.to_string())
                }
                _ => VideoError::NotAVideo,
            });
        }
        let ret = ffi::avformat_find_stream_info(ctx, ptr::null_mut());
        if ret < 0 {
            debug!(error = %ff::Error::from(ret), "ffmpeg cannot find stream info");
            ffi::avformat_close_input(&mut ctx);
            return Err(VideoError::NotAVideo);
        }
        Ok(Input::wrap(ctx))
    }
}

fn file_url(path: &Path) -> Option<CString> {
    let mut bytes = b"file:".to_vec();
    #[cfg(unix)]
    bytes.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()));
    #[cfg(not(unix))]
    bytes.extend_from_slice(path.to_string_lossy().as_bytes());
    CString::new(bytes).ok()
}

/// The video stream to use: ffmpeg's best pick unless that is a cover image
/// (an attached picture in an audio file is not a video), else the first
/// real video stream.
pub(super) fn select_video_stream(input: &Input) -> Option<usize> {
    let is_video = |s: &ff::format::stream::Stream| {
        s.parameters().medium() == media::Type::Video
            && !s.disposition().contains(Disposition::ATTACHED_PIC)
    };
    if let Some(best) = input.streams().best(media::Type::Video) {
        if is_video(&best) {
            return Some(best.index());
        }
    }
    input.streams().find(|s| is_video(s)).map(|s| s.index())
}

fn rational_to_f64(r: ff::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

fn stream_duration_s(duration: i64, time_base: ff::Rational) -> Option<f64> {
    if duration == ffi::AV_NOPTS_VALUE || duration <= 0 {
        return None;
    }
    let tb = rational_to_f64(time_base)?;
    Some(duration as f64 * tb).filter(|d| d.is_finite())
}

fn container_duration_s(duration: i64) -> Option<f64> {
    (duration != ffi::AV_NOPTS_VALUE && duration > 0)
        .then(|| duration as f64 / f64::from(ffi::AV_TIME_BASE))
}

/// The container's frame count when it has one, else duration × fps.
fn expected_frames(nb_frames: i64, duration_s: f64, fps: f64) -> u64 {
    if nb_frames > 0 {
        return nb_frames as u64;
    }
    let estimate = (duration_s * fps).round();
    if estimate.is_finite() && estimate > 0.0 {
        estimate as u64
    } else {
        0
    }
}

/// Rotation from the stream's display matrix, else from a legacy `rotate`
/// tag (older muxers and demuxers wrote the clockwise angle there).
fn stream_rotation(stream: &ff::format::stream::Stream) -> Rotation {
    for side in stream.side_data() {
        if side.kind() == ff::codec::packet::side_data::Type::DisplayMatrix {
            if let Some(r) = rotation_from_display_matrix(side.data()) {
                return r;
            }
        }
    }
    stream
        .metadata()
        .get("rotate")
        .and_then(rotation_from_tag)
        .unwrap_or_default()
}

/// Reads a 3×3 display matrix (nine native-endian `i32`s, as ffmpeg stores
/// it) and turns it into a clockwise quarter-turn rotation.
pub(super) fn rotation_from_display_matrix(data: &[u8]) -> Option<Rotation> {
    if data.len() < 36 {
        warn!(
            len = data.len(),
            "display matrix side data too short; ignored"
        );
        return None;
    }
    let mut matrix = [0i32; 9];
    for (m, chunk) in matrix.iter_mut().zip(data.chunks_exact(4)) {
        *m = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    // SAFETY: the function reads exactly nine i32s from a local array.
    let ccw = unsafe { ffi::av_display_rotation_get(matrix.as_ptr()) };
    if !ccw.is_finite() {
        return None;
    }
    // ffmpeg reports the angle counter-clockwise; the turn that makes the
    // picture upright clockwise is its negation.
    Some(quarter_turns_cw(-ccw))
}

fn rotation_from_tag(tag: &str) -> Option<Rotation> {
    let deg: f64 = tag.trim().parse().ok()?;
    deg.is_finite().then(|| quarter_turns_cw(deg))
}

/// Nearest multiple of 90° (phones only ever write those).
fn quarter_turns_cw(deg_cw: f64) -> Rotation {
    let quarters = (deg_cw / 90.0).round();
    if (deg_cw - quarters * 90.0).abs() > 1.0 {
        warn!(deg_cw, "rotation is not a multiple of 90°; rounded");
    }
    Rotation::from_degrees_cw((quarters as i64).rem_euclid(4) * 90)
}

/// ffmpeg's name for a raw pixel format value, if it is a valid one.
pub(super) fn pixel_format_name(raw: c_int) -> Option<&'static str> {
    if raw < 0 || raw >= ffi::AVPixelFormat::AV_PIX_FMT_NB as c_int {
        return None;
    }
    // SAFETY: `AVPixelFormat` is a C enum whose values are contiguous from
    // -1 to AV_PIX_FMT_NB; `raw` was range-checked above.
    let fmt: ffi::AVPixelFormat = unsafe { std::mem::transmute::<c_int, ffi::AVPixelFormat>(raw) };
    // SAFETY: returns a pointer to a static string or null.
    let name = unsafe { ffi::av_get_pix_fmt_name(fmt) };
    if name.is_null() {
        return None;
    }
    // SAFETY: non-null, static, NUL-terminated.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A display matrix with rotation part `[a b; c d]` (16.16 fixed point),
    /// laid out as ffmpeg stores it.
    fn matrix_bytes(a: i32, b: i32, c: i32, d: i32) -> Vec<u8> {
        let one = 1 << 16;
        let m = [a * one, b * one, 0, c * one, d * one, 0, 0, 0, 1 << 30];
        m.iter().flat_map(|v| v.to_ne_bytes()).collect()
    }

    #[test]
    fn display_matrix_angle_is_negated_into_clockwise() {
        let r = |a, b, c, d| rotation_from_display_matrix(&matrix_bytes(a, b, c, d));
        assert_eq!(r(1, 0, 0, 1), Some(Rotation::None));
        // What ffmpeg's mov muxer writes for `rotate=90` and ffprobe shows
        // as "rotation=90" (counter-clockwise): players turn the picture
        // 90° counter-clockwise, i.e. 270° clockwise. The integration tests
        // check this direction against ffmpeg's own autorotation.
        assert_eq!(r(0, -1, 1, 0), Some(Rotation::Cw270));
        assert_eq!(r(0, 1, -1, 0), Some(Rotation::Cw90));
        assert_eq!(r(-1, 0, 0, -1), Some(Rotation::Cw180));
    }

    #[test]
    fn broken_display_matrix_is_ignored() {
        assert_eq!(rotation_from_display_matrix(&[0u8; 10]), None);
        // An all-zero matrix has no scale, so no angle.
        assert_eq!(rotation_from_display_matrix(&[0u8; 36]), None);
    }

    #[test]
    fn legacy_rotate_tag_is_clockwise() {
        assert_eq!(rotation_from_tag("90"), Some(Rotation::Cw90));
        assert_eq!(rotation_from_tag("-90"), Some(Rotation::Cw270));
        assert_eq!(rotation_from_tag("270"), Some(Rotation::Cw270));
        assert_eq!(rotation_from_tag("181"), Some(Rotation::Cw180));
        assert_eq!(rotation_from_tag("sideways"), None);
        assert_eq!(rotation_from_tag("NaN"), None);
    }

    #[test]
    fn expected_frames_prefers_the_container_count() {
        assert_eq!(expected_frames(230, 7.6, 30.0), 230);
        assert_eq!(expected_frames(0, 7.666_666, 30.0), 230);
        assert_eq!(expected_frames(-1, 0.0, 30.0), 0);
        assert_eq!(expected_frames(0, f64::NAN, 30.0), 0);
    }

    #[test]
    fn durations_ignore_unknown_values() {
        let tb = ff::Rational::new(1, 15360);
        assert_eq!(stream_duration_s(117_760, tb), Some(117_760.0 / 15360.0));
        assert_eq!(stream_duration_s(ffi::AV_NOPTS_VALUE, tb), None);
        assert_eq!(stream_duration_s(100, ff::Rational::new(0, 0)), None);
        assert_eq!(container_duration_s(2_500_000), Some(2.5));
        assert_eq!(container_duration_s(ffi::AV_NOPTS_VALUE), None);
    }

    #[test]
    fn pixel_format_names() {
        init_ffmpeg();
        assert_eq!(
            pixel_format_name(ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int),
            Some("yuv420p")
        );
        assert_eq!(pixel_format_name(-1), None);
        assert_eq!(pixel_format_name(100_000), None);
    }

    #[test]
    fn file_checks_come_before_ffmpeg() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.mp4");
        assert_eq!(
            probe(&missing, &Limits::default()).unwrap_err().code(),
            "video.io"
        );
        assert_eq!(
            probe(dir.path(), &Limits::default()).unwrap_err().code(),
            "video.io"
        );
        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            probe(&empty, &Limits::default()).unwrap_err().code(),
            "video.empty"
        );
        let small = Limits {
            max_file_bytes: 3,
            ..Limits::default()
        };
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, b"hello").unwrap();
        assert_eq!(
            probe(&text, &small).unwrap_err().code(),
            "video.file_too_large"
        );
        assert_eq!(
            probe(&text, &Limits::default()).unwrap_err().code(),
            "video.not_a_video"
        );
    }
}
