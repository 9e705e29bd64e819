//! Video input against real ffmpeg: the shared test clips, plus fixtures
//! made on the fly with the ffmpeg CLI (rotation, pixel formats, variable
//! frame rate, and every kind of bad input).
//!
//! The clips are found through `VIDMOCAP_MEDIA_DIR`; without it these tests
//! fail rather than skip, so a misconfigured CI cannot pass by testing
//! nothing. The `ffmpeg` and `ffprobe` programs must be on the PATH.

#[path = "support/media.rs"]
mod media;
use media::media_dir;
use std::path::{Path, PathBuf};
use std::process::Command;

use vidmocap::config::{Device, HwDecode};
use vidmocap::video::hw::{cuda_device_available, frame_from_nv12};
use vidmocap::video::{
    probe, ColorMatrix, DecodeOptions, DecodeStats, Decoder, DecoderKind, Frame, Limits, Rotation,
    VideoError, VideoInfo,
};

fn clip(name: &str) -> PathBuf {
    media_dir().join(name)
}

/// Runs the ffmpeg CLI (quiet, overwriting) and fails the test on error.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("the ffmpeg program must be installed to make test fixtures");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Same as [`ffmpeg`] but reports failure instead of failing.
fn ffmpeg_ok(args: &[&str]) -> bool {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// What a full decode produced, without keeping every frame in memory.
struct Outcome {
    times: Vec<f64>,
    indices: Vec<u64>,
    first: Option<Frame>,
    /// An `Err` item from the iterator (always the last one).
    item_error: Option<VideoError>,
    finish: Result<DecodeStats, VideoError>,
}

fn decode(path: &Path, limits: &Limits) -> Outcome {
    let info = probe(path, limits).unwrap_or_else(|e| panic!("probe {}: {e}", path.display()));
    decode_with(path, &info, limits)
}

fn decode_with(path: &Path, info: &VideoInfo, limits: &Limits) -> Outcome {
    let decoder =
        Decoder::start(path, info, limits, 4, &DecodeOptions::software()).expect("decoder starts");
    let mut out = Outcome {
        times: Vec::new(),
        indices: Vec::new(),
        first: None,
        item_error: None,
        finish: Ok(DecodeStats::default()),
    };
    let mut decoder = decoder;
    for item in decoder.by_ref() {
        match item {
            Ok(frame) => {
                assert!(out.item_error.is_none(), "a frame came after an error");
                out.times.push(frame.time_s);
                out.indices.push(frame.index);
                if out.first.is_none() {
                    out.first = Some(frame);
                }
            }
            Err(e) => {
                assert!(out.item_error.is_none(), "two error items");
                out.item_error = Some(e);
            }
        }
    }
    out.finish = decoder.finish();
    out
}

/// Decodes and expects failure with `code`, both as the last item and from `finish`.
fn assert_decode_fails(path: &Path, limits: &Limits, code: &str) -> VideoError {
    let out = decode(path, limits);
    let item = out.item_error.unwrap_or_else(|| {
        panic!(
            "expected {code}, decoding succeeded with {:?} after {} frames",
            out.finish,
            out.times.len()
        )
    });
    assert_eq!(item.code(), code, "{item}");
    let err = out.finish.expect_err("finish repeats the error");
    assert_eq!(err.code(), code, "{err}");
    err
}

fn probe_code(path: &Path, limits: &Limits) -> &'static str {
    match probe(path, limits) {
        Ok(info) => panic!("{} probed as a valid video: {info:?}", path.display()),
        Err(e) => e.code(),
    }
}

/// First frame as ffmpeg itself decodes it: RGB24, with ffmpeg's own
/// automatic rotation applied, so `(width, height)` is the upright size.
fn ffmpeg_reference_rgb(path: &Path, dir: &Path, width: u32, height: u32) -> Vec<u8> {
    let raw = dir.join("reference.rgb");
    ffmpeg(&[
        "-i",
        path_str(path),
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        path_str(&raw),
    ]);
    let rgb = std::fs::read(&raw).unwrap();
    assert_eq!(
        rgb.len(),
        (width * height * 3) as usize,
        "ffmpeg's upright frame is not {width}x{height}"
    );
    rgb
}

/// Compares our upright sampling of `frame` with ffmpeg's RGB at a grid of
/// points (away from colour edges, so chroma subsampling does not matter).
fn assert_matches_reference(frame: &Frame, reference: &[u8]) {
    let (w, h) = frame.upright_size();
    for fy in [0.125f32, 0.5, 0.875] {
        for fx in [0.125f32, 0.5, 0.875] {
            let (x, y) = ((fx * w as f32).floor(), (fy * h as f32).floor());
            let ours = frame.sample_rgb(x, y);
            let at = ((y as usize) * w as usize + x as usize) * 3;
            let theirs = &reference[at..at + 3];
            for c in 0..3 {
                assert!(
                    (ours[c] - f32::from(theirs[c])).abs() <= 24.0,
                    "at upright ({x},{y}): ours {ours:?}, ffmpeg {theirs:?} \
                     (rotation {:?}, matrix {:?}, full range {})",
                    frame.rotation,
                    frame.matrix,
                    frame.full_range
                );
            }
        }
    }
}

/// 320×240 blue picture whose top-left 80×60 corner is red, one second at 10 fps.
const BOX_SOURCE: &str =
    "color=c=blue:size=320x240:rate=10,drawbox=x=0:y=0:w=80:h=60:color=red:t=fill";

fn make_box_clip(dir: &Path, name: &str, codec_args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["-f", "lavfi", "-i", BOX_SOURCE, "-t", "1"];
    args.extend_from_slice(codec_args);
    args.push(path_str(&path));
    ffmpeg(&args);
    path
}

fn is_red(rgb: [f32; 3]) -> bool {
    rgb[0] > 200.0 && rgb[1] < 60.0 && rgb[2] < 60.0
}

#[test]
fn walk_outdoor_probes_and_decodes_every_frame_in_order() {
    let path = clip("walk_outdoor.mp4");
    let limits = Limits::default();
    let info = probe(&path, &limits).expect("probe");
    assert_eq!(info.codec, "vp9");
    assert!(info.container.contains("mp4"), "{}", info.container);
    assert_eq!((info.width, info.height), (1768, 994));
    assert_eq!((info.upright_width, info.upright_height), (1768, 994));
    assert_eq!(info.rotation, Rotation::None);
    assert!((info.fps - 30.0).abs() < 1e-6, "{}", info.fps);
    assert!(
        (info.duration_s - 7.667).abs() < 0.05,
        "{}",
        info.duration_s
    );
    assert!(
        (225..=235).contains(&info.expected_frames),
        "{}",
        info.expected_frames
    );
    assert_eq!(info.pixel_format, "yuv420p");
    assert!(info.bit_rate > 0);
    assert_eq!(info.file_bytes, std::fs::metadata(&path).unwrap().len());
    // Path-free: nothing in the serialised form names the file.
    let json = serde_json::to_string(&info).unwrap();
    assert!(!json.contains("walk_outdoor"), "{json}");

    let out = decode_with(&path, &info, &limits);
    assert!(out.item_error.is_none(), "{:?}", out.item_error);
    let stats = out.finish.expect("decoding succeeds");
    assert_eq!(stats.frames_decoded, 230);
    assert_eq!(stats.corrupt_frames, 0);
    assert_eq!(stats.decoder, DecoderKind::Software);
    assert_eq!(
        (stats.nvdec_frames, stats.hw_fallback.as_deref()),
        (0, None)
    );
    assert!(stats.decode_seconds > 0.0 && stats.blocked_seconds <= stats.decode_seconds);
    assert_eq!(out.times.len(), 230);
    assert_eq!(out.indices, (0..230).collect::<Vec<u64>>());
    assert!(out.times[0].abs() < 1e-9, "first frame at {}", out.times[0]);
    assert!(
        out.times.windows(2).all(|w| w[1] > w[0]),
        "times not increasing"
    );
    let last = out.times[229];
    assert!((last - 229.0 / 30.0).abs() < 0.01, "last frame at {last}");

    let first = out.first.unwrap();
    assert_eq!((first.width, first.height), (1768, 994));
    assert_eq!(first.y.len(), 1768 * 994);
    assert_eq!(first.u.len(), 884 * 497);
    assert_eq!((first.y_stride, first.uv_stride), (1768, 884));
    // The stream says BT.709, limited range.
    assert_eq!(first.matrix, ColorMatrix::Bt709);
    assert!(!first.full_range);
}

#[test]
fn walk_outdoor_colours_match_ffmpeg() {
    let path = clip("walk_outdoor.mp4");
    let dir = tempfile::tempdir().unwrap();
    let decoder = Decoder::start(
        &path,
        &probe(&path, &Limits::default()).unwrap(),
        &Limits::default(),
        1,
        &DecodeOptions::software(),
    )
    .unwrap();
    let mut decoder = decoder;
    let first = decoder.next().unwrap().unwrap();
    drop(decoder);
    let reference = ffmpeg_reference_rgb(&path, dir.path(), 1768, 994);
    assert_matches_reference(&first, &reference);
}

#[test]
fn portrait_clip_comes_out_upright() {
    let path = clip("two_people.mp4");
    let info = probe(&path, &Limits::default()).unwrap();
    assert_eq!(info.codec, "h264");
    assert!(info.upright_height > info.upright_width, "{info:?}");
    let out = decode_with(&path, &info, &Limits::default());
    let stats = out.finish.expect("decodes");
    assert_eq!(stats.frames_decoded, info.expected_frames);
    assert_eq!(stats.corrupt_frames, 0);
    let first = out.first.unwrap();
    let (w, h) = first.upright_size();
    assert!(h > w, "upright {w}x{h}");
    // Unspecified colour space on an HD stream means BT.709.
    assert_eq!(first.matrix, ColorMatrix::Bt709);
}

/// Tags a copy of `src` so that players turn it `ccw` degrees counter-clockwise.
fn tag_rotation(src: &Path, dst: &Path, ccw: u32) {
    let angle = ccw.to_string();
    // ffmpeg 6+ sets the display matrix with `-display_rotation` (counter-
    // clockwise); 5.x only knows the `rotate` tag, which its mov muxer turns
    // into the same matrix.
    if !ffmpeg_ok(&[
        "-display_rotation",
        &angle,
        "-i",
        path_str(src),
        "-c",
        "copy",
        path_str(dst),
    ]) {
        let tag = format!("rotate={angle}");
        ffmpeg(&[
            "-i",
            path_str(src),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &tag,
            path_str(dst),
        ]);
    }
}

#[test]
fn rotation_metadata_is_applied_in_the_right_direction() {
    let dir = tempfile::tempdir().unwrap();
    let plain = make_box_clip(
        dir.path(),
        "plain.mp4",
        &["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    );
    let info = probe(&plain, &Limits::default()).unwrap();
    assert_eq!(info.rotation, Rotation::None);

    // ccw turn for display → our clockwise turn, upright size, and where the
    // red top-left corner of the stored picture ends up.
    let cases = [
        (90, Rotation::Cw270, (240, 320), (10.0, 310.0)),
        (180, Rotation::Cw180, (320, 240), (310.0, 230.0)),
        (270, Rotation::Cw90, (240, 320), (230.0, 10.0)),
    ];
    for (ccw, rotation, (uw, uh), (rx, ry)) in cases {
        let rotated = dir.path().join(format!("rot{ccw}.mp4"));
        tag_rotation(&plain, &rotated, ccw);
        let info = probe(&rotated, &Limits::default()).unwrap();
        assert_eq!(info.rotation, rotation, "display rotation {ccw}° ccw");
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!((info.upright_width, info.upright_height), (uw, uh));

        let out = decode_with(&rotated, &info, &Limits::default());
        assert_eq!(out.finish.unwrap().frames_decoded, 10);
        let frame = out.first.unwrap();
        assert_eq!(frame.rotation, rotation);
        assert_eq!(frame.upright_size(), (uw, uh));
        assert!(
            is_red(frame.sample_rgb(rx, ry)),
            "{ccw}°: red corner not at ({rx},{ry})"
        );
        assert!(!is_red(frame.sample_rgb(10.0, 10.0)) || (rx, ry) == (10.0, 10.0));
        // And the whole picture agrees with ffmpeg's own autorotation.
        let reference = ffmpeg_reference_rgb(&rotated, dir.path(), uw, uh);
        assert_matches_reference(&frame, &reference);
    }
}

#[test]
fn other_pixel_formats_are_converted_faithfully() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], bool); 3] = [
        (
            "yuv444.mp4",
            &["-c:v", "libx264", "-pix_fmt", "yuv444p"],
            false,
        ),
        (
            "fullrange.mp4",
            &["-c:v", "libx264", "-pix_fmt", "yuvj420p"],
            true,
        ),
        (
            "rgb.mkv",
            &["-c:v", "libx264rgb", "-pix_fmt", "rgb24"],
            false,
        ),
    ];
    for (name, args, full_range) in cases {
        let path = make_box_clip(dir.path(), name, args);
        let out = decode(&path, &Limits::default());
        assert_eq!(out.finish.expect(name).frames_decoded, 10, "{name}");
        let frame = out.first.unwrap();
        assert_eq!(frame.full_range, full_range, "{name}");
        assert!(
            is_red(frame.sample_rgb(10.0, 10.0)),
            "{name}: {:?}",
            frame.sample_rgb(10.0, 10.0)
        );
        let reference = ffmpeg_reference_rgb(&path, dir.path(), 320, 240);
        assert_matches_reference(&frame, &reference);
    }
}

#[test]
fn variable_frame_rate_times_come_from_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfr.mkv");
    // Ten frames: five 0.1 s apart, then five 0.3 s apart.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=160x120:rate=10",
        "-frames:v",
        "10",
        "-vf",
        "settb=1/10,setpts='if(lt(N,5),N,4+(N-4)*3)'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        path_str(&path),
    ]);
    let out = decode(&path, &Limits::default());
    out.finish.expect("decodes");
    let expected = [0.0, 0.1, 0.2, 0.3, 0.4, 0.7, 1.0, 1.3, 1.6, 1.9];
    assert_eq!(out.times.len(), expected.len(), "{:?}", out.times);
    for (t, e) in out.times.iter().zip(expected) {
        assert!((t - e).abs() < 0.002, "times {:?}", out.times);
    }
}

#[test]
fn stopping_early_cancels_decoding() {
    let path = clip("walk_outdoor.mp4");
    let info = probe(&path, &Limits::default()).unwrap();
    let mut decoder = Decoder::start(
        &path,
        &info,
        &Limits::default(),
        2,
        &DecodeOptions::software(),
    )
    .unwrap();
    for _ in 0..3 {
        decoder.next().unwrap().unwrap();
    }
    let stats = decoder.finish().expect("cancelled, not failed");
    // Three taken, two queued, one blocked in the send: nothing more.
    assert!(stats.frames_decoded <= 6, "{stats:?}");

    // Dropping without `finish` stops and joins the thread too.
    let mut decoder = Decoder::start(
        &path,
        &info,
        &Limits::default(),
        2,
        &DecodeOptions::software(),
    )
    .unwrap();
    decoder.next().unwrap().unwrap();
    let started = std::time::Instant::now();
    drop(decoder);
    assert!(started.elapsed().as_secs_f64() < 2.0);
}

#[test]
fn missing_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        probe_code(&dir.path().join("nope.mp4"), &Limits::default()),
        "video.io"
    );
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(probe_code(&empty, &Limits::default()), "video.empty");
}

#[test]
fn a_text_file_is_not_a_video() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["notes.txt", "notes.mp4"] {
        let path = dir.path().join(name);
        std::fs::write(&path, "this is not a video\n".repeat(200)).unwrap();
        assert_eq!(
            probe_code(&path, &Limits::default()),
            "video.not_a_video",
            "{name}"
        );
    }
}

#[test]
fn audio_only_has_no_video_stream() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tone.m4a", "tone.mp4"] {
        let path = dir.path().join(name);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            "-c:a",
            "aac",
            path_str(&path),
        ]);
        assert_eq!(
            probe_code(&path, &Limits::default()),
            "video.no_video_stream",
            "{name}"
        );
    }
}

#[test]
fn unsupported_codecs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 2] = [
        ("ffv1.mkv", &["-c:v", "ffv1"]),
        ("mjpeg.avi", &["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]),
    ];
    for (name, args) in cases {
        let path = make_box_clip(dir.path(), name, args);
        let err = probe(&path, &Limits::default()).unwrap_err();
        assert_eq!(err.code(), "video.unsupported_codec", "{name}: {err}");
        assert!(matches!(err, VideoError::UnsupportedCodec { .. }));
    }
}

#[test]
fn limits_are_enforced() {
    let path = clip("walk_outdoor.mp4");
    let short = Limits {
        max_duration_s: 5.0,
        ..Limits::default()
    };
    assert_eq!(probe_code(&path, &short), "video.too_long");
    let small = Limits {
        max_pixels: 1280 * 720,
        ..Limits::default()
    };
    assert_eq!(probe_code(&path, &small), "video.too_many_pixels");
    let tiny_file = Limits {
        max_file_bytes: 1_000_000,
        ..Limits::default()
    };
    assert_eq!(probe_code(&path, &tiny_file), "video.file_too_large");
    // Exactly at each limit is still accepted.
    let exact = Limits {
        max_pixels: 1768 * 994,
        max_file_bytes: std::fs::metadata(&path).unwrap().len(),
        ..Limits::default()
    };
    probe(&path, &exact).expect("limits are inclusive");
}

/// Writes the first `fraction` of `src` to `dst`.
fn truncate_copy(src: &Path, dst: &Path, fraction: f64) {
    let bytes = std::fs::read(src).unwrap();
    let keep = (bytes.len() as f64 * fraction) as usize;
    std::fs::write(dst, &bytes[..keep]).unwrap();
}

#[test]
fn truncated_files() {
    let dir = tempfile::tempdir().unwrap();

    // walk_outdoor.mp4 has its index (moov) up front: the cut file still
    // opens and ends early.
    let cut = dir.path().join("walk_cut.mp4");
    truncate_copy(&clip("walk_outdoor.mp4"), &cut, 0.4);
    let err = assert_decode_fails(&cut, &Limits::default(), "video.truncated");
    let VideoError::Truncated { decoded, expected } = err else {
        unreachable!()
    };
    assert!(decoded > 0 && decoded < expected, "{decoded} of {expected}");

    // Matroska has no index to lose either.
    let mkv = make_long_clip(dir.path(), "long.mkv");
    let cut = dir.path().join("long_cut.mkv");
    truncate_copy(&mkv, &cut, 0.4);
    assert_decode_fails(&cut, &Limits::default(), "video.truncated");

    // An mp4 whose index sits at the end loses it: not readable at all.
    let cut = dir.path().join("two_cut.mp4");
    truncate_copy(&clip("two_people.mp4"), &cut, 0.4);
    assert_eq!(probe_code(&cut, &Limits::default()), "video.not_a_video");
}

/// Ten seconds of moving test pattern, 25 fps, one keyframe a second.
/// `.mp4` files get their index up front (faststart).
fn make_long_clip(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "10",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        path_str(&path),
    ]);
    path
}

/// One video packet as ffprobe lists it.
struct PacketRange {
    pos: usize,
    size: usize,
    key: bool,
}

/// The video packets of `path`, from ffprobe.
fn packet_ranges(path: &Path) -> Vec<PacketRange> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pos,size,flags"])
        // Keyed output: ffprobe orders fields its own way, not as asked.
        .args(["-of", "compact=p=0"])
        .arg(path)
        .output()
        .expect("the ffprobe program must be installed to make test fixtures");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packets: Vec<PacketRange> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let field = |key: &str| {
                line.split('|')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .map(str::trim)
            };
            Some(PacketRange {
                pos: field("pos")?.parse().ok()?,
                size: field("size")?.parse().ok()?,
                key: field("flags")?.contains('K'),
            })
        })
        .collect();
    assert!(!packets.is_empty(), "ffprobe listed no packets");
    packets
}

#[derive(Clone, Copy)]
enum Damage {
    /// Noise over the middle half of the payload: the codec decodes the
    /// frame but has to conceal errors.
    Noise,
    /// An impossible length in the first NAL unit's size field (MP4 only,
    /// where a packet's position is its payload): the codec rejects the
    /// packet outright.
    BadNalLength,
}

/// Damages chosen inter-frame packets of `src` into `dst`, leaving the
/// container intact. `which` picks by index among the non-key packets of at
/// least 64 bytes (so that the container's block header next to a small
/// payload is never hit). Returns how many packets were damaged.
fn damage_packets(src: &Path, dst: &Path, how: Damage, which: impl Fn(usize) -> bool) -> u64 {
    let mut bytes = std::fs::read(src).unwrap();
    let mut seed = 0x2545_f491_u32;
    let mut hit = 0;
    let eligible = packet_ranges(src)
        .into_iter()
        .filter(|p| !p.key && p.size >= 64);
    for (i, p) in eligible.enumerate() {
        if !which(i) {
            continue;
        }
        hit += 1;
        match how {
            Damage::Noise => {
                for b in &mut bytes[p.pos + p.size / 4..p.pos + p.size * 3 / 4] {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    *b = seed as u8;
                }
            }
            Damage::BadNalLength => bytes[p.pos..p.pos + 4].copy_from_slice(&[0xff; 4]),
        }
    }
    std::fs::write(dst, bytes).unwrap();
    hit
}

#[test]
fn a_few_corrupt_frames_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let clean = make_long_clip(dir.path(), "clean.mp4");
    let damaged = dir.path().join("few_rejected.mp4");
    let hit = damage_packets(&clean, &damaged, Damage::BadNalLength, |i| i % 40 == 7);
    assert!((2..=5).contains(&hit), "{hit}");
    let out = decode(&damaged, &Limits::default());
    assert!(out.item_error.is_none(), "{:?}", out.item_error);
    let stats = out.finish.expect("a few bad frames are tolerated");
    assert!(stats.corrupt_frames >= hit, "{stats:?}");
    // Every frame is either delivered or counted as lost.
    assert_eq!(
        stats.frames_decoded + stats.corrupt_frames,
        250,
        "{stats:?}"
    );
    assert!(out.times.windows(2).all(|w| w[1] > w[0]));

    // Concealable damage: the codec repairs what it can. Under frame
    // threading ffmpeg's H.264 decoder does not reliably flag concealed
    // frames, so only "decodes, nothing unaccounted for" is certain.
    let clean = make_long_clip(dir.path(), "clean.mkv");
    let damaged = dir.path().join("few_noise.mkv");
    assert_eq!(
        damage_packets(&clean, &damaged, Damage::Noise, |i| i == 20 || i == 45),
        2
    );
    let stats = decode(&damaged, &Limits::default())
        .finish
        .expect("concealed frames are tolerated");
    assert_eq!(
        stats.frames_decoded + stats.corrupt_frames,
        250,
        "{stats:?}"
    );
    assert!(stats.corrupt_frames <= 2, "{stats:?}");
}

#[test]
fn many_corrupt_frames_fail_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let clean = make_long_clip(dir.path(), "clean.mp4");
    let damaged = dir.path().join("many.mp4");
    let hit = damage_packets(&clean, &damaged, Damage::BadNalLength, |i| i % 3 == 1);
    assert!(hit > 25, "{hit}");
    let err = assert_decode_fails(&damaged, &Limits::default(), "video.corrupt_frames");
    let VideoError::CorruptFrames { corrupt, total, .. } = err else {
        unreachable!()
    };
    // Decoding stops as soon as the budget (5% of 250) is exceeded.
    assert_eq!((corrupt, total), (13, 250));

    // A generous limit lets the same file through, every loss counted.
    let lenient = Limits {
        max_corrupt_fraction: 0.5,
        ..Limits::default()
    };
    let stats = decode(&damaged, &lenient)
        .finish
        .expect("accepted under a lenient limit");
    assert!(stats.corrupt_frames >= hit, "{stats:?}");
    assert_eq!(
        stats.frames_decoded + stats.corrupt_frames,
        250,
        "{stats:?}"
    );
}

#[test]
fn mangled_headers_never_panic() {
    // Random bytes flipped in the index (moov, bytes 24..3592) of the first
    // 300 kB of walk_outdoor.mp4: any typed error or success is fine, a
    // panic or hang is not, and the iterator and `finish` must agree.
    let original = std::fs::read(clip("walk_outdoor.mp4")).unwrap();
    let original = &original[..300_000];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mangled.mp4");
    let mut seed = 0x9e37_79b9_u32;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let mut outcomes = std::collections::BTreeMap::<&str, u32>::new();
    for _ in 0..24 {
        let mut bytes = original.to_vec();
        for _ in 0..6 {
            let at = 24 + (next() as usize % (3592 - 24));
            bytes[at] = next() as u8;
        }
        std::fs::write(&path, &bytes).unwrap();
        let code = match probe(&path, &Limits::default()) {
            Err(e) => e.code(),
            Ok(info) => match Decoder::start(
                &path,
                &info,
                &Limits::default(),
                2,
                &DecodeOptions::software(),
            ) {
                Err(e) => e.code(),
                Ok(mut decoder) => {
                    let last_error = decoder.by_ref().filter_map(Result::err).last();
                    let finished = decoder.finish();
                    assert_eq!(
                        last_error.as_ref().map(VideoError::code),
                        finished.as_ref().err().map(VideoError::code)
                    );
                    finished.err().map_or("ok", |e| e.code())
                }
            },
        };
        *outcomes.entry(code).or_default() += 1;
    }
    // Shown with --nocapture: which errors the mangling produced.
    eprintln!("mangled-header outcomes: {outcomes:?}");
}

// ---------------------------------------------------------------------------
// Hardware decoding (NVDEC): the layout conversion, the settings, and the
// fallback to software. Without a CUDA device these prove the fallback; with
// one the same tests require NVDEC to have decoded the clip, identically.
// ---------------------------------------------------------------------------

/// Decodes the whole clip with `options`: frame count, the first `keep`
/// frames, and the statistics.
fn decode_keeping(
    path: &Path,
    options: &DecodeOptions,
    keep: usize,
) -> (u64, Vec<Frame>, DecodeStats) {
    let limits = Limits::default();
    let info = probe(path, &limits).unwrap();
    let mut decoder = Decoder::start(path, &info, &limits, 4, options).expect("decoder starts");
    let mut kept = Vec::new();
    let mut count = 0u64;
    for frame in decoder.by_ref() {
        let frame = frame.expect("every frame decodes");
        assert_eq!(frame.index, count);
        count += 1;
        if kept.len() < keep {
            kept.push(frame);
        }
    }
    let stats = decoder.finish().expect("decoding succeeds");
    assert_eq!(stats.frames_decoded, count);
    (count, kept, stats)
}

/// The top-left `w`×`h` of `frame` as NV12 with the given strides (the
/// padding filled with a marker), and the same crop as planar 4:2:0.
fn crop_as_nv12(
    frame: &Frame,
    w: usize,
    h: usize,
    ys: usize,
    uvs: usize,
) -> (Vec<u8>, Vec<u8>, [Vec<u8>; 3]) {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut y = vec![0xA5; h * ys];
    let mut uv = vec![0x5A; ch * uvs];
    let mut planes = [Vec::new(), Vec::new(), Vec::new()];
    for r in 0..h {
        let row = &frame.y[r * frame.y_stride..][..w];
        y[r * ys..][..w].copy_from_slice(row);
        planes[0].extend_from_slice(row);
    }
    for r in 0..ch {
        let (u, v) = (
            &frame.u[r * frame.uv_stride..][..cw],
            &frame.v[r * frame.uv_stride..][..cw],
        );
        for c in 0..cw {
            uv[r * uvs + 2 * c] = u[c];
            uv[r * uvs + 2 * c + 1] = v[c];
        }
        planes[1].extend_from_slice(u);
        planes[2].extend_from_slice(v);
    }
    (y, uv, planes)
}

fn assert_planes(f: &Frame, expected: &[Vec<u8>; 3], what: &str) {
    let (w, h) = (f.width as usize, f.height as usize);
    assert_eq!((f.y_stride, f.uv_stride), (w, w.div_ceil(2)), "{what}");
    assert!(f.y == expected[0], "{what}: luma differs");
    assert!(f.u == expected[1], "{what}: U differs");
    assert!(f.v == expected[2], "{what}: V differs");
    assert_eq!(f.u.len(), w.div_ceil(2) * h.div_ceil(2), "{what}");
}

#[test]
fn nv12_of_real_frames_converts_back_to_the_same_planes() {
    let path = clip("walk_outdoor.mp4");
    let (_, frames, _) = decode_keeping(&path, &DecodeOptions::software(), 3);
    let frame = &frames[2];
    assert_eq!((frame.width, frame.height), (1768, 994));
    // Full size with tight and padded strides (NVDEC's are aligned), odd
    // widths and heights whose last chroma column and row cover one pixel,
    // and a 1-pixel picture.
    for (w, h, ys, uvs) in [
        (1768, 994, 1768, 1768),
        (1768, 994, 2048, 2048),
        (1767, 993, 1767, 1768),
        (1001, 601, 1024, 1003),
        (1, 1, 1, 2),
    ] {
        let (y, uv, expected) = crop_as_nv12(frame, w, h, ys, uvs);
        let what = format!("{w}x{h}, strides {ys}/{uvs}");
        let out = frame_from_nv12(w as u32, h as u32, &y, ys, &uv, uvs)
            .unwrap_or_else(|| panic!("{what}: refused"));
        assert_eq!((out.width, out.height), (w as u32, h as u32));
        assert_planes(&out, &expected, &what);
    }
}

#[test]
fn ffmpegs_own_nv12_matches_the_decoded_planes() {
    // NV12 as ffmpeg lays it out (rawvideo: rows of ⌈w/2⌉ U,V pairs), from
    // the first frame, whole and cropped to an odd size.
    let path = clip("walk_outdoor.mp4");
    let (_, frames, _) = decode_keeping(&path, &DecodeOptions::software(), 1);
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [(1768usize, 994usize), (1001, 601)] {
        let raw = dir.path().join(format!("{w}x{h}.nv12"));
        let filter = format!("format=nv12,crop={w}:{h}:0:0:exact=1");
        ffmpeg(&[
            "-i",
            path_str(&path),
            "-frames:v",
            "1",
            "-vf",
            &filter,
            "-f",
            "rawvideo",
            "-pix_fmt",
            "nv12",
            path_str(&raw),
        ]);
        let bytes = std::fs::read(&raw).unwrap();
        let uvs = 2 * w.div_ceil(2);
        assert_eq!(bytes.len(), w * h + uvs * h.div_ceil(2), "{w}x{h}");
        let (y, uv) = bytes.split_at(w * h);
        let out = frame_from_nv12(w as u32, h as u32, y, w, uv, uvs).unwrap();
        let (_, _, expected) = crop_as_nv12(&frames[0], w, h, w, uvs);
        assert_planes(&out, &expected, &format!("ffmpeg nv12 {w}x{h}"));
    }
}

#[test]
fn forced_nvdec_decodes_the_same_frames_or_falls_back_to_software() {
    let path = clip("walk_outdoor.mp4");
    let nvdec = DecodeOptions {
        hw: HwDecode::Nvdec,
        device: Device::Auto,
        device_id: 0,
    };
    let off = DecodeOptions {
        hw: HwDecode::Off,
        ..nvdec
    };
    let (count_sw, first_sw, stats_sw) = decode_keeping(&path, &off, 3);
    let (count_hw, first_hw, stats_hw) = decode_keeping(&path, &nvdec, 3);
    assert_eq!(count_sw, 230);
    assert_eq!(count_hw, count_sw);
    assert_eq!(stats_sw.decoder, DecoderKind::Software);
    assert_eq!(stats_sw.hw_fallback, None, "off never tries NVDEC");
    for (i, (a, b)) in first_sw.iter().zip(&first_hw).enumerate() {
        assert_eq!(
            (a.width, a.height, a.time_s),
            (b.width, b.height, b.time_s),
            "frame {i}"
        );
        assert_eq!(
            (a.matrix, a.full_range),
            (b.matrix, b.full_range),
            "frame {i}"
        );
        assert!(a.y == b.y && a.u == b.u && a.v == b.v, "frame {i} differs");
    }
    match cuda_device_available(0) {
        Err(no_gpu) => {
            assert_eq!(stats_hw.decoder, DecoderKind::Software, "{stats_hw:?}");
            assert_eq!(stats_hw.nvdec_frames, 0);
            let why = stats_hw
                .hw_fallback
                .as_deref()
                .expect("the fallback says why");
            assert!(why.contains("CUDA device 0"), "{why}");
            eprintln!("no CUDA device here ({no_gpu}); NVDEC fell back: {why}");
        }
        Ok(()) => {
            assert_eq!(stats_hw.decoder, DecoderKind::Nvdec, "{stats_hw:?}");
            assert_eq!(stats_hw.nvdec_frames, count_hw);
            assert_eq!(stats_hw.hw_fallback, None);
        }
    }
    let json = serde_json::to_value(&stats_hw).unwrap();
    assert!(
        matches!(json["decoder"].as_str(), Some("software" | "nvdec")),
        "{json}"
    );
}

#[test]
fn cpu_device_keeps_decoding_off_the_gpu() {
    let path = clip("two_people.mp4");
    let auto_on_cpu = DecodeOptions {
        hw: HwDecode::Auto,
        device: Device::Cpu,
        device_id: 0,
    };
    // No attempt: on a machine without CUDA an attempt would leave a reason.
    let (count, _, stats) = decode_keeping(&path, &auto_on_cpu, 0);
    assert!(count > 0);
    assert_eq!(stats.decoder, DecoderKind::Software);
    assert_eq!(
        (stats.nvdec_frames, stats.hw_fallback.as_deref()),
        (0, None)
    );
    // Naming NVDEC does not override device = cpu; the conflict is reported.
    let nvdec_on_cpu = DecodeOptions {
        hw: HwDecode::Nvdec,
        ..auto_on_cpu
    };
    let (count_nvdec, _, stats) = decode_keeping(&path, &nvdec_on_cpu, 0);
    assert_eq!(count_nvdec, count);
    assert_eq!(
        (stats.decoder, stats.nvdec_frames),
        (DecoderKind::Software, 0)
    );
    let why = stats.hw_fallback.expect("the conflict is reported");
    assert!(why.contains("device = cpu"), "{why}");
}

#[test]
fn a_missing_cuda_device_falls_back_for_every_accepted_codec() {
    // Device 4096 exists nowhere: NVDEC cannot open on any machine, so each
    // codec must decode in software with a reason instead of failing.
    let dir = tempfile::tempdir().unwrap();
    let options = DecodeOptions {
        hw: HwDecode::Nvdec,
        device: Device::Gpu,
        device_id: 4096,
    };
    for (name, args) in [
        ("h264.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"][..]),
        ("hevc.mp4", &["-c:v", "libx265", "-pix_fmt", "yuv420p"][..]),
        (
            "av1.mkv",
            &[
                "-c:v",
                "libaom-av1",
                "-cpu-used",
                "8",
                "-pix_fmt",
                "yuv420p",
            ][..],
        ),
        ("mpeg4.mp4", &["-c:v", "mpeg4"][..]),
    ] {
        let path = make_box_clip(dir.path(), name, args);
        let (count, first, stats) = decode_keeping(&path, &options, 1);
        assert_eq!(count, 10, "{name}");
        assert!(is_red(first[0].sample_rgb(10.0, 10.0)), "{name}");
        assert_eq!(stats.decoder, DecoderKind::Software, "{name}");
        let why = stats
            .hw_fallback
            .unwrap_or_else(|| panic!("{name}: no reason"));
        assert!(!why.is_empty(), "{name}");
    }
}
