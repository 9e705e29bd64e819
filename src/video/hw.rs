//! Hardware decoding: ffmpeg's hwaccel on a CUDA device (NVDEC).
//!
//! Hardware decoding is an optimisation, never a requirement. Every step
//! here either works or returns a reason, which the decoder logs once before
//! decoding in software; no job fails because a GPU, its driver or an NVDEC
//! engine is missing.
//!
//! All unsafe ffmpeg calls of the hardware path stay in this module behind a
//! small safe API:
//! - [`plan`] resolves `hw_decode = auto` against `device`;
//! - [`attach_nvdec`] picks the decoder, creates the CUDA device and hands
//!   it to a codec context before it is opened, with a `get_format` callback
//!   that asks for CUDA surfaces and takes the software format otherwise;
//! - [`download`] copies a decoded GPU surface into system memory;
//! - [`frame_from_nv12`] turns NVDEC's 8-bit 4:2:0 layout (NV12: one luma
//!   plane, one interleaved U/V plane) into the crate's planar [`Frame`].
//!
//! Other layouts NVDEC hands out (P010/P016 for 10- and 12-bit video,
//! YUV444P and YUV444P16 for 4:4:4) are not handled here: the decoder sends
//! them through the same swscale conversion to YUV420P it uses for any other
//! software format.

use std::cell::RefCell;
use std::ffi::{c_int, CString};
use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

use super::frame::Frame;
use crate::config::{Device, GpuConfig, HwDecode};

/// How a video should be decoded: the `[gpu]` settings that concern decode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    pub hw: HwDecode,
    pub device: Device,
    /// CUDA device ordinal NVDEC runs on.
    pub device_id: u32,
}

impl DecodeOptions {
    /// Software decoding only.
    pub fn software() -> DecodeOptions {
        DecodeOptions {
            hw: HwDecode::Off,
            device: Device::Cpu,
            device_id: 0,
        }
    }
}

impl From<&GpuConfig> for DecodeOptions {
    fn from(gpu: &GpuConfig) -> Self {
        DecodeOptions {
            hw: gpu.hw_decode,
            device: gpu.device,
            device_id: gpu.device_id,
        }
    }
}

/// Which decoder produced the frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    #[default]
    Software,
    Nvdec,
}

impl std::fmt::Display for DecoderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DecoderKind::Software => "software",
            DecoderKind::Nvdec => "nvdec",
        })
    }
}

/// What the settings ask of the decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Software, and nothing to report: `hw_decode = off`, or `auto` with
    /// `device = cpu`.
    Software,
    /// NVDEC was asked for by name but the settings rule it out; the reason.
    Refused(String),
    /// Try NVDEC on this CUDA device, software if it cannot open. `quiet`
    /// when nobody asked for a GPU by name (`auto` everywhere): a machine
    /// without one is then expected, and its fallback is logged at info.
    Nvdec { device_id: u32, quiet: bool },
}

/// Resolves the settings: `auto` means NVDEC unless `device = cpu`. An
/// explicit `nvdec` with `device = cpu` stays on the CPU, because
/// `device = cpu` promises that nothing runs on the GPU; the conflict is
/// reported rather than silently resolved.
pub fn plan(options: &DecodeOptions) -> Plan {
    match (options.hw, options.device) {
        (HwDecode::Off, _) | (HwDecode::Auto, Device::Cpu) => Plan::Software,
        (HwDecode::Nvdec, Device::Cpu) => {
            Plan::Refused("hw_decode = nvdec is overridden by device = cpu".into())
        }
        (HwDecode::Auto | HwDecode::Nvdec, Device::Auto | Device::Gpu) => Plan::Nvdec {
            device_id: options.device_id,
            quiet: options.hw == HwDecode::Auto && options.device == Device::Auto,
        },
    }
}

thread_local! {
    /// ffmpeg error lines logged on this thread while a capture is active;
    /// `None` when nothing is capturing.
    static CAPTURED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Whether ffmpeg error lines on this thread are being captured.
pub(super) fn capturing() -> bool {
    CAPTURED.with(|c| c.try_borrow().is_ok_and(|c| c.is_some()))
}

/// Called from the ffmpeg log bridge with an error line of this thread.
pub(super) fn capture(line: &str) {
    CAPTURED.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if let Some(lines) = c.as_mut() {
                // "[AVHWDeviceContext @ 0x55…] Cannot load libcuda.so.1": the
                // context's address means nothing to whoever reads the reason.
                let text = match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
                    Some((_, rest)) => rest,
                    None => line,
                };
                lines.push(text.to_owned());
            }
        }
    });
}

/// Runs `f` and returns the ffmpeg error lines it logged on this thread:
/// ffmpeg's return codes are generic (creating a CUDA device without a
/// driver returns EPERM), its log says what actually went wrong.
fn with_ffmpeg_errors<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    super::probe::init_ffmpeg();
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let out = f();
    let lines = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (out, lines)
}

/// "what failed: ffmpeg's log lines (return code)".
fn reason(what: &str, code: c_int, log: &[String]) -> String {
    let err = ff::Error::from(code);
    if log.is_empty() {
        format!("{what}: {err}")
    } else {
        format!("{what}: {} ({err})", log.join("; "))
    }
}

/// A reference to a CUDA hardware device context.
struct CudaDevice(*mut ffi::AVBufferRef);

impl CudaDevice {
    fn create(device_id: u32) -> Result<CudaDevice, String> {
        let ordinal = CString::new(device_id.to_string()).expect("digits have no NUL");
        let mut device: *mut ffi::AVBufferRef = ptr::null_mut();
        // SAFETY: `device` is a valid out-pointer, `ordinal` a NUL-terminated
        // string that outlives the call; ffmpeg sets `device` only on success.
        let (ret, log) = with_ffmpeg_errors(|| unsafe {
            ffi::av_hwdevice_ctx_create(
                &mut device,
                ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
                ordinal.as_ptr(),
                ptr::null_mut(),
                0,
            )
        });
        if ret < 0 || device.is_null() {
            return Err(reason(
                &format!("cannot open CUDA device {device_id}"),
                ret,
                &log,
            ));
        }
        Ok(CudaDevice(device))
    }
}

impl Drop for CudaDevice {
    fn drop(&mut self) {
        // SAFETY: we own this reference; unref frees the device once the
        // codec contexts holding their own references are gone too.
        unsafe { ffi::av_buffer_unref(&mut self.0) };
    }
}

/// Whether CUDA device `device_id` can be opened by ffmpeg here (a driver,
/// a device, and an FFmpeg built with CUDA); the reason when not.
pub fn cuda_device_available(device_id: u32) -> Result<(), String> {
    CudaDevice::create(device_id).map(drop)
}

/// Whether `codec` can decode through NVDEC into CUDA surfaces given a
/// device context (the hwaccel path, as opposed to the `*_cuvid` wrappers).
fn has_cuda_device_config(codec: *const ffi::AVCodec) -> bool {
    (0..)
        .map_while(|i| {
            // SAFETY: `codec` is a registered codec (static); ffmpeg returns
            // null past the last configuration and static entries before it.
            let config = unsafe { ffi::avcodec_get_hw_config(codec, i) };
            // SAFETY: non-null configurations are static.
            (!config.is_null()).then(|| unsafe { *config })
        })
        .any(|config| {
            config.device_type == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA
                && config.methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as c_int != 0
        })
}

/// The decoder to open with NVDEC for `id`: the default one when it has a
/// CUDA hwaccel, else another software decoder of the codec that has. In
/// FFmpeg 5.1 AV1 defaults to libdav1d, while NVDEC hooks into the native
/// `av1` decoder. Decoders that are hardware wrappers themselves
/// (`h264_cuvid`…) are skipped: they bypass the hwaccel path.
fn nvdec_decoder(id: ff::codec::Id) -> Option<ff::Codec> {
    let usable = |codec: *const ffi::AVCodec| {
        // SAFETY: registered codecs are static.
        let caps = unsafe { (*codec).capabilities };
        caps & ffi::AV_CODEC_CAP_HARDWARE as c_int == 0 && has_cuda_device_config(codec)
    };
    if let Some(default) = ff::decoder::find(id) {
        // SAFETY: `find` returns a registered codec.
        if usable(unsafe { default.as_ptr() }) {
            return Some(default);
        }
    }
    let raw_id: ffi::AVCodecID = id.into();
    let mut opaque: *mut std::ffi::c_void = ptr::null_mut();
    loop {
        // SAFETY: `opaque` is the iteration state ffmpeg asks for, started
        // at null; it returns static codecs, then null.
        let codec = unsafe { ffi::av_codec_iterate(&mut opaque) };
        if codec.is_null() {
            return None;
        }
        // SAFETY: non-null codecs from the iteration are static.
        let (is_decoder, codec_id) = unsafe { (ffi::av_codec_is_decoder(codec) != 0, (*codec).id) };
        if is_decoder && codec_id == raw_id && usable(codec) {
            // SAFETY: a static, registered decoder.
            return Some(unsafe { ff::Codec::wrap(codec) });
        }
    }
}

/// Prepares `context` (not opened yet) for NVDEC on `device_id`: gives it
/// its own reference to a new CUDA device and the `get_format` callback.
/// Returns the decoder to open it with, or why NVDEC cannot be used.
pub fn attach_nvdec(context: &mut ff::codec::Context, device_id: u32) -> Result<ff::Codec, String> {
    let id = context.id();
    let codec =
        nvdec_decoder(id).ok_or_else(|| format!("this FFmpeg has no NVDEC hwaccel for {id:?}"))?;
    let device = CudaDevice::create(device_id)?;
    // SAFETY: the context is live and not opened, and we hold it mutably.
    // It gets a reference of its own (freed by `avcodec_free_context`); ours
    // is released when `device` drops. A fresh context has no device yet,
    // but one is released first in case a caller set it.
    unsafe {
        let ctx = context.as_mut_ptr();
        let own = ffi::av_buffer_ref(device.0);
        if own.is_null() {
            return Err("cannot reference the CUDA device (out of memory)".into());
        }
        ffi::av_buffer_unref(&mut (*ctx).hw_device_ctx);
        (*ctx).hw_device_ctx = own;
        (*ctx).get_format = Some(get_format);
    }
    Ok(codec)
}

/// The format choice: CUDA surfaces when offered, else the first software
/// format (ffmpeg lists hardware formats first). `None` when neither is
/// offered. Formats are raw `AVPixelFormat` values.
pub fn choose_format(offered: &[c_int]) -> Option<usize> {
    let cuda = ffi::AVPixelFormat::AV_PIX_FMT_CUDA as c_int;
    offered
        .iter()
        .position(|&f| f == cuda)
        .or_else(|| offered.iter().position(|&f| !is_hardware_format(f)))
}

/// Whether a pixel format is a hardware surface rather than pixels in memory.
fn is_hardware_format(format: c_int) -> bool {
    // Unknown formats count as hardware: never picked as the software one.
    if !(0..ffi::AVPixelFormat::AV_PIX_FMT_NB as c_int).contains(&format) {
        return true;
    }
    // SAFETY: ffmpeg-sys-next generates the enum from the headers of the
    // FFmpeg we build against, where the formats run without gaps from 0 to
    // AV_PIX_FMT_NB, so `format` is a declared variant. The lookup returns
    // null for formats without a descriptor.
    let desc = unsafe {
        ffi::av_pix_fmt_desc_get(std::mem::transmute::<c_int, ffi::AVPixelFormat>(format))
    };
    // SAFETY: non-null descriptors are static.
    desc.is_null() || unsafe { (*desc).flags } & ffi::AV_PIX_FMT_FLAG_HWACCEL as u64 != 0
}

/// Whether `format` (a frame's raw format) is a CUDA surface.
pub fn is_cuda_format(format: c_int) -> bool {
    format == ffi::AVPixelFormat::AV_PIX_FMT_CUDA as c_int
}

/// Whether `format` (a frame's raw format) is NV12.
pub fn is_nv12_format(format: c_int) -> bool {
    format == ffi::AVPixelFormat::AV_PIX_FMT_NV12 as c_int
}

/// Longest format list looked at; ffmpeg's are a handful of entries.
const MAX_OFFERED: usize = 64;

/// `AVCodecContext.get_format`: called by the codec (possibly on one of its
/// frame threads) when the stream's format is known. When the CUDA hwaccel
/// cannot initialise for this stream (a profile or size the GPU's NVDEC does
/// not support), ffmpeg drops CUDA from the list and calls again, and the
/// software format is chosen: the stream is then decoded in software.
unsafe extern "C" fn get_format(
    _ctx: *mut ffi::AVCodecContext,
    offered: *const ffi::AVPixelFormat,
) -> ffi::AVPixelFormat {
    if offered.is_null() {
        return ffi::AVPixelFormat::AV_PIX_FMT_NONE;
    }
    // Read as integers first: only entries ffmpeg put there are touched,
    // up to its AV_PIX_FMT_NONE terminator.
    let raw = offered.cast::<c_int>();
    let mut list = [0 as c_int; MAX_OFFERED];
    let mut n = 0;
    while n < MAX_OFFERED {
        // SAFETY: ffmpeg passes an array terminated by AV_PIX_FMT_NONE (-1);
        // we stop at the terminator.
        let f = unsafe { *raw.add(n) };
        if f == ffi::AVPixelFormat::AV_PIX_FMT_NONE as c_int {
            break;
        }
        list[n] = f;
        n += 1;
    }
    match choose_format(&list[..n]) {
        // SAFETY: an entry of ffmpeg's own list, before the terminator.
        Some(i) => unsafe { *offered.add(i) },
        None => ffi::AVPixelFormat::AV_PIX_FMT_NONE,
    }
}

/// Copies the GPU surface in `hw` into system memory in `out` (NV12 for
/// 8-bit 4:2:0, the surface's own software layout otherwise), with
/// timestamps, colour description and flags.
pub fn download(hw: &ff::frame::Video, out: &mut ff::frame::Video) -> Result<(), String> {
    // SAFETY: both frames are live and distinct. `out` is unreferenced
    // first so that ffmpeg allocates it afresh in the surface's software
    // format (its format is reset to none); on failure it stays empty.
    unsafe {
        ffi::av_frame_unref(out.as_mut_ptr());
        let ret = ffi::av_hwframe_transfer_data(out.as_mut_ptr(), hw.as_ptr(), 0);
        if ret < 0 {
            return Err(reason("cannot copy a decoded frame from the GPU", ret, &[]));
        }
        let ret = ffi::av_frame_copy_props(out.as_mut_ptr(), hw.as_ptr());
        if ret < 0 {
            ffi::av_frame_unref(out.as_mut_ptr());
            return Err(reason("cannot copy frame properties", ret, &[]));
        }
    }
    Ok(())
}

/// A frame from an NV12 picture: `width`×`height` luma bytes in rows
/// `y_stride` apart, and ⌈height/2⌉ rows of ⌈width/2⌉ interleaved U,V byte
/// pairs `uv_stride` apart. The U/V pairs are split into the crate's two
/// chroma planes; all planes come out tightly packed. The last row of each
/// plane need not be padded to its stride. `None` when a plane is too short
/// or a stride too narrow.
///
/// Only the picture is filled in; time, rotation and colour are left at
/// their defaults for the caller.
pub fn frame_from_nv12(
    width: u32,
    height: u32,
    y: &[u8],
    y_stride: usize,
    uv: &[u8],
    uv_stride: usize,
) -> Option<Frame> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    if w == 0 || h == 0 || y_stride < w || uv_stride < 2 * cw {
        return None;
    }
    if y.len() < (h - 1) * y_stride + w || uv.len() < (ch - 1) * uv_stride + 2 * cw {
        return None;
    }
    let mut luma = Vec::with_capacity(w * h);
    for row in y.chunks(y_stride).take(h) {
        luma.extend_from_slice(&row[..w]);
    }
    let mut u = Vec::with_capacity(cw * ch);
    let mut v = Vec::with_capacity(cw * ch);
    for row in uv.chunks(uv_stride).take(ch) {
        for pair in row[..2 * cw].chunks_exact(2) {
            u.push(pair[0]);
            v.push(pair[1]);
        }
    }
    Some(Frame {
        index: 0,
        time_s: 0.0,
        width,
        height,
        y: luma,
        u,
        v,
        y_stride: w,
        uv_stride: cw,
        rotation: Default::default(),
        matrix: Default::default(),
        full_range: false,
    })
}

/// [`frame_from_nv12`] on an NV12 frame in system memory.
///
/// # Safety
/// `frame` must point at a valid NV12 frame whose planes hold its
/// `width`×`height` picture at its line sizes.
pub(super) unsafe fn frame_from_nv12_avframe(frame: *const ffi::AVFrame) -> Option<Frame> {
    // SAFETY: guaranteed by the caller.
    let f = unsafe { &*frame };
    let (w, h) = (
        usize::try_from(f.width).ok()?,
        usize::try_from(f.height).ok()?,
    );
    let (ys, uvs) = (
        usize::try_from(f.linesize[0]).ok()?,
        usize::try_from(f.linesize[1]).ok()?,
    );
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    if w == 0 || h == 0 || f.data[0].is_null() || f.data[1].is_null() || ys < w || uvs < 2 * cw {
        return None;
    }
    // SAFETY: an NV12 frame of this size holds `h` luma rows and ⌈h/2⌉
    // chroma rows of at least the widths checked above, one line size apart
    // (positive: checked); the slices end at the last row's last pixel.
    let (y, uv) = unsafe {
        (
            std::slice::from_raw_parts(f.data[0], (h - 1) * ys + w),
            std::slice::from_raw_parts(f.data[1], (ch - 1) * uvs + 2 * cw),
        )
    };
    frame_from_nv12(f.width as u32, f.height as u32, y, ys, uv, uvs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ffi::AVPixelFormat::*;

    #[test]
    fn auto_means_nvdec_unless_the_device_is_the_cpu() {
        let opts = |hw, device| DecodeOptions {
            hw,
            device,
            device_id: 3,
        };
        let nvdec = |quiet| Plan::Nvdec {
            device_id: 3,
            quiet,
        };
        assert_eq!(plan(&opts(HwDecode::Auto, Device::Auto)), nvdec(true));
        assert_eq!(plan(&opts(HwDecode::Auto, Device::Gpu)), nvdec(false));
        assert_eq!(plan(&opts(HwDecode::Nvdec, Device::Auto)), nvdec(false));
        assert_eq!(plan(&opts(HwDecode::Nvdec, Device::Gpu)), nvdec(false));
        assert_eq!(plan(&opts(HwDecode::Auto, Device::Cpu)), Plan::Software);
        for device in [Device::Auto, Device::Cpu, Device::Gpu] {
            assert_eq!(plan(&opts(HwDecode::Off, device)), Plan::Software);
        }
        let Plan::Refused(why) = plan(&opts(HwDecode::Nvdec, Device::Cpu)) else {
            panic!("nvdec with device = cpu must be refused");
        };
        assert!(why.contains("device = cpu"), "{why}");
        assert_eq!(plan(&DecodeOptions::software()), Plan::Software);
        assert_eq!(
            plan(&DecodeOptions::from(&GpuConfig::default())),
            Plan::Nvdec {
                device_id: 0,
                quiet: true
            }
        );
    }

    #[test]
    fn cuda_is_chosen_when_offered_else_the_software_format() {
        let list = |f: &[ffi::AVPixelFormat]| f.iter().map(|&f| f as c_int).collect::<Vec<_>>();
        // What h264 offers with CUDA, VAAPI and VDPAU compiled in.
        let h264 = list(&[
            AV_PIX_FMT_VAAPI,
            AV_PIX_FMT_VDPAU,
            AV_PIX_FMT_CUDA,
            AV_PIX_FMT_YUV420P,
        ]);
        assert_eq!(choose_format(&h264), Some(2));
        // CUDA dropped after its hwaccel failed to initialise: software,
        // never another hardware format we have no device for.
        let retry = list(&[AV_PIX_FMT_VAAPI, AV_PIX_FMT_VDPAU, AV_PIX_FMT_YUV420P10LE]);
        assert_eq!(choose_format(&retry), Some(2));
        assert_eq!(choose_format(&list(&[AV_PIX_FMT_NV12])), Some(0));
        assert_eq!(choose_format(&list(&[AV_PIX_FMT_VAAPI])), None);
        assert_eq!(choose_format(&[]), None);
        // Values this build does not know are not taken for software.
        assert_eq!(choose_format(&[100_000]), None);
    }

    #[test]
    fn formats_are_told_apart() {
        assert!(is_cuda_format(AV_PIX_FMT_CUDA as c_int));
        assert!(!is_cuda_format(AV_PIX_FMT_NV12 as c_int));
        assert!(is_nv12_format(AV_PIX_FMT_NV12 as c_int));
        assert!(is_hardware_format(AV_PIX_FMT_CUDA as c_int));
        assert!(!is_hardware_format(AV_PIX_FMT_P010LE as c_int));
    }

    /// Packs planar 4:2:0 test planes as NV12 with the given strides,
    /// leaving the last row of each plane unpadded.
    fn nv12(w: usize, h: usize, ys: usize, uvs: usize) -> (Vec<u8>, Vec<u8>, Frame) {
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let mut expected = Frame::solid(w as u32, h as u32, [0, 0, 0]);
        let mut y = vec![0xEE; (h - 1) * ys + w];
        let mut uv = vec![0xEE; (ch - 1) * uvs + 2 * cw];
        for r in 0..h {
            for c in 0..w {
                let v = (r * 31 + c * 7) as u8;
                y[r * ys + c] = v;
                expected.y[r * w + c] = v;
            }
        }
        for r in 0..ch {
            for c in 0..cw {
                let (u, v) = ((r * 13 + c) as u8, (200 + r + c * 3) as u8);
                uv[r * uvs + 2 * c] = u;
                uv[r * uvs + 2 * c + 1] = v;
                expected.u[r * cw + c] = u;
                expected.v[r * cw + c] = v;
            }
        }
        (y, uv, expected)
    }

    #[test]
    fn nv12_is_split_into_planes_for_odd_and_even_sizes() {
        for (w, h, ys, uvs) in [
            (6, 4, 6, 6),
            (7, 5, 7, 8),
            (7, 5, 16, 32),
            (1, 1, 1, 2),
            (33, 17, 64, 34),
        ] {
            let (y, uv, expected) = nv12(w, h, ys, uvs);
            let f = frame_from_nv12(w as u32, h as u32, &y, ys, &uv, uvs).unwrap();
            assert_eq!((f.width, f.height), (w as u32, h as u32));
            assert_eq!((f.y_stride, f.uv_stride), (w, w.div_ceil(2)));
            assert_eq!(f.y, expected.y, "{w}x{h}");
            assert_eq!(f.u, expected.u, "{w}x{h}");
            assert_eq!(f.v, expected.v, "{w}x{h}");
        }
    }

    #[test]
    fn short_nv12_planes_are_refused() {
        let (y, uv, _) = nv12(7, 5, 8, 8);
        assert!(frame_from_nv12(7, 5, &y, 8, &uv, 8).is_some());
        assert!(frame_from_nv12(7, 5, &y[..y.len() - 1], 8, &uv, 8).is_none());
        assert!(frame_from_nv12(7, 5, &y, 8, &uv[..uv.len() - 1], 8).is_none());
        // A chroma row of 7 pixels needs 8 bytes.
        assert!(frame_from_nv12(7, 5, &y, 8, &uv, 7).is_none());
        assert!(frame_from_nv12(7, 5, &y, 6, &uv, 8).is_none());
        assert!(frame_from_nv12(0, 5, &y, 8, &uv, 8).is_none());
    }

    #[test]
    fn nv12_avframe_reads_planes_at_their_line_sizes() {
        let (y, uv, expected) = nv12(7, 5, 16, 32);
        // SAFETY: a zeroed AVFrame is plain data; only the fields read are set.
        let mut f: ffi::AVFrame = unsafe { std::mem::zeroed() };
        f.width = 7;
        f.height = 5;
        f.data[0] = y.as_ptr().cast_mut();
        f.data[1] = uv.as_ptr().cast_mut();
        f.linesize[0] = 16;
        f.linesize[1] = 32;
        // SAFETY: the planes above hold a 7×5 NV12 picture at these strides.
        let out = unsafe { frame_from_nv12_avframe(&f) }.unwrap();
        assert_eq!((out.y, out.u, out.v), (expected.y, expected.u, expected.v));
        f.linesize[1] = -32;
        // SAFETY: as above; a negative line size is refused before reading.
        assert!(unsafe { frame_from_nv12_avframe(&f) }.is_none());
    }

    #[test]
    fn no_cuda_device_gives_a_reason_not_a_crash() {
        // Runs everywhere: without a GPU the reason must say something;
        // with one the device opens.
        match cuda_device_available(0) {
            Ok(()) => {}
            Err(why) => {
                assert!(why.starts_with("cannot open CUDA device 0: "), "{why}");
                assert!(!why.contains(" @ 0x"), "{why}");
            }
        }
        assert!(cuda_device_available(4096).is_err());
    }

    #[test]
    fn the_common_codecs_have_an_nvdec_decoder_when_ffmpeg_has_cuda() {
        super::super::probe::init_ffmpeg();
        // Debian's FFmpeg 5.1 is built with ffnvcodec: the hwaccels exist
        // even on machines without a GPU. AV1 goes to the native decoder.
        for id in [ff::codec::Id::H264, ff::codec::Id::HEVC, ff::codec::Id::VP9] {
            let codec = nvdec_decoder(id).unwrap_or_else(|| panic!("no NVDEC decoder for {id:?}"));
            assert!(!codec.name().ends_with("_cuvid"), "{}", codec.name());
        }
        if let Some(av1) = nvdec_decoder(ff::codec::Id::AV1) {
            assert_eq!(av1.name(), "av1");
        }
    }
}
