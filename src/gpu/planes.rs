//! A frame as the kernels read it: its planes packed into one byte buffer
//! (read four bytes to a u32 word) and the `FrameParams` uniform of
//! `shaders/yuv.wgsl` describing where they sit and how to turn them into
//! RGB.

use std::sync::Arc;

use super::context::{Counted, GpuContext};
use super::GpuError;
use crate::video::sample::{upright_to_stored, Coefficients};
use crate::video::Frame;

/// How the chroma planes are laid out in the uploaded buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChromaLayout {
    /// Separate U and V planes (I420, what the decoder hands over).
    Planar,
    /// One plane of interleaved U,V pairs (NV12, what NVDEC produces).
    Interleaved,
}

/// Size in bytes of `FrameParams` in yuv.wgsl.
const PARAMS_BYTES: u64 = 96;

/// Packs `frame` into `bytes` (reused across frames) in `layout`; returns
/// the `FrameParams` words.
pub fn pack(frame: &Frame, layout: ChromaLayout, bytes: &mut Vec<u8>) -> [u32; 24] {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let ch = h.div_ceil(2);
    let cw = w.div_ceil(2);
    bytes.clear();
    let y_len = frame.y_stride * h;
    bytes.extend_from_slice(&frame.y[..y_len.min(frame.y.len())]);
    bytes.resize(y_len.next_multiple_of(4), 0);
    let u_offset = bytes.len();
    let (v_offset, uv_stride, uv_step) = match layout {
        ChromaLayout::Planar => {
            let len = frame.uv_stride * ch;
            bytes.extend_from_slice(&frame.u[..len.min(frame.u.len())]);
            bytes.resize(u_offset + len.next_multiple_of(4), 0);
            let v_offset = bytes.len();
            bytes.extend_from_slice(&frame.v[..len.min(frame.v.len())]);
            (v_offset, frame.uv_stride, 1)
        }
        ChromaLayout::Interleaved => {
            for row in 0..ch {
                let (u, v) = (
                    &frame.u[row * frame.uv_stride..][..cw],
                    &frame.v[row * frame.uv_stride..][..cw],
                );
                bytes.extend(u.iter().zip(v).flat_map(|(&u, &v)| [u, v]));
            }
            (u_offset + 1, 2 * cw, 2)
        }
    };
    bytes.resize(bytes.len().next_multiple_of(4), 0);

    let k = Coefficients::new(frame.matrix, frame.full_range);
    let (origin, ax, ay) = upright_to_stored(frame);
    let (uw, uh) = frame.upright_size();
    let f = f32::to_bits;
    [
        frame.width,
        frame.height,
        0,
        frame.y_stride as u32,
        u_offset as u32,
        v_offset as u32,
        uv_stride as u32,
        uv_step,
        f(origin.x),
        f(origin.y),
        f(ax.x),
        f(ax.y),
        f(ay.x),
        f(ay.y),
        f(uw as f32),
        f(uh as f32),
        f(k.y_offset),
        f(k.y_gain),
        f(k.r_v),
        f(k.g_u),
        f(k.g_v),
        f(k.b_u),
        0,
        0,
    ]
}

/// The planes and parameter buffers of one GPU user, grown on demand.
pub(crate) struct FrameBuffers {
    ctx: Arc<GpuContext>,
    staging: Vec<u8>,
    pub planes: Counted,
    pub params: Counted,
    /// What `planes` holds, to skip re-uploading the same frame.
    loaded: Option<Loaded>,
}

impl FrameBuffers {
    pub fn new(ctx: &Arc<GpuContext>) -> FrameBuffers {
        FrameBuffers {
            ctx: ctx.clone(),
            staging: Vec::new(),
            planes: ctx.buffer("planes", 4, storage_dst()),
            params: ctx.buffer(
                "frame params",
                PARAMS_BYTES,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            loaded: None,
        }
    }

    /// Uploads `frame` unless it is the one already there; true when the
    /// planes buffer was replaced (bind groups must be rebuilt).
    pub fn upload(&mut self, frame: &Frame, layout: ChromaLayout) -> Result<bool, GpuError> {
        let key = Loaded::of(frame, layout);
        if self.loaded == Some(key) {
            return Ok(false);
        }
        let params = pack(frame, layout, &mut self.staging);
        let need = self.staging.len() as u64;
        if need > self.ctx.max_buffer {
            return Err(GpuError::TooLarge {
                bytes: need,
                limit: self.ctx.max_buffer,
            });
        }
        let grown = need > self.planes.buffer.size();
        if grown {
            self.planes = self.ctx.buffer("planes", need, storage_dst());
        }
        self.ctx
            .queue
            .write_buffer(&self.planes.buffer, 0, &self.staging);
        self.ctx
            .queue
            .write_buffer(&self.params.buffer, 0, bytemuck::cast_slice(&params));
        self.loaded = Some(key);
        Ok(grown)
    }

    /// Forgets which frame is loaded (the next upload always happens).
    pub fn invalidate(&mut self) {
        self.loaded = None;
    }
}

/// Identifies an uploaded frame: the same picture (its planes' address,
/// index and time) read the same way (orientation, colour, layout). The
/// look-back revisits older frames, and tests re-read one frame's planes
/// under other metadata; both must upload again.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Loaded {
    planes: usize,
    index: u64,
    time: u64,
    rotation: crate::video::Rotation,
    matrix: crate::video::ColorMatrix,
    full_range: bool,
    layout: ChromaLayout,
}

impl Loaded {
    fn of(frame: &Frame, layout: ChromaLayout) -> Loaded {
        Loaded {
            planes: frame.y.as_ptr() as usize,
            index: frame.index,
            time: frame.time_s.to_bits(),
            rotation: frame.rotation,
            matrix: frame.matrix,
            full_range: frame.full_range,
            layout,
        }
    }
}

pub(crate) fn storage_dst() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_layout_pairs_u_and_v() {
        let mut f = Frame::solid(5, 3, [10, 0, 0]);
        for (i, u) in f.u.iter_mut().enumerate() {
            *u = 100 + i as u8;
        }
        for (i, v) in f.v.iter_mut().enumerate() {
            *v = 200 + i as u8;
        }
        let mut bytes = Vec::new();
        let p = pack(&f, ChromaLayout::Interleaved, &mut bytes);
        let (u_off, v_off, stride, step) = (p[4] as usize, p[5] as usize, p[6] as usize, p[7]);
        assert_eq!((v_off - u_off, stride, step), (1, 6, 2));
        // Chroma is 3×2: sample (2, 1) is index 5 of each plane.
        assert_eq!(bytes[u_off + stride + 2 * 2], 105);
        assert_eq!(bytes[v_off + stride + 2 * 2], 205);
        assert_eq!(bytes.len() % 4, 0);
        let p = pack(&f, ChromaLayout::Planar, &mut bytes);
        assert_eq!(bytes[p[4] as usize + 5], 105);
        assert_eq!(bytes[p[5] as usize + 5], 205);
    }
}
