//! The crop kernel's host side: one dispatch turns a frame into every model
//! input it needs (the detector's letterbox and each person's rotated
//! crop), then one readback fills the caller's tensors.

use std::sync::Arc;

use super::context::{Counted, GpuContext};
use super::dispatch::{bind, dispatch_and_read, OutputBuffers};
use super::planes::{storage_dst, ChromaLayout, FrameBuffers};
use super::GpuError;
use crate::pose::crop::{Border, CropRequest};
use crate::video::Frame;

/// The `Crop` struct of crop.wgsl (56 bytes) for `request`.
fn crop_words(request: &CropRequest, out_offset: u32) -> [u32; 14] {
    let g = &request.geometry;
    let f = f32::to_bits;
    [
        f(g.origin.x),
        f(g.origin.y),
        f(g.du.x),
        f(g.du.y),
        f(g.dv.x),
        f(g.dv.y),
        g.n as u32,
        out_offset,
        f(request.range.scale),
        f(request.range.offset),
        (request.border == Border::Zero) as u32,
        f(request.range.offset),
        0,
        0,
    ]
}

/// A user's crop buffers; create one per thread that prepares inputs.
pub struct GpuCrops {
    ctx: Arc<GpuContext>,
    frame: FrameBuffers,
    crops: Counted,
    tensors: OutputBuffers,
    /// Rebuilt whenever a buffer it names is replaced.
    bind_group: Option<wgpu::BindGroup>,
    words: Vec<u32>,
    layout: ChromaLayout,
}

impl GpuCrops {
    pub fn new(ctx: &Arc<GpuContext>) -> GpuCrops {
        GpuCrops {
            ctx: ctx.clone(),
            frame: FrameBuffers::new(ctx),
            crops: ctx.buffer("crops", 56, storage_dst()),
            tensors: OutputBuffers::new(ctx),
            bind_group: None,
            words: Vec::new(),
            layout: ChromaLayout::Planar,
        }
    }

    /// Uploads the chroma as NV12 instead of planar (the kernels read
    /// both; this exists so the interleaved path is exercised and measured).
    pub fn with_layout(mut self, layout: ChromaLayout) -> GpuCrops {
        self.layout = layout;
        self.frame.invalidate();
        self
    }

    /// Uploads the next frame even if it is the one already there (for
    /// benches: a real run uploads each frame once).
    pub fn forget_frame(&mut self) {
        self.frame.invalidate();
    }

    /// Bytes of GPU buffers this user holds.
    pub fn held_bytes(&self) -> u64 {
        [&self.frame.planes, &self.frame.params, &self.crops]
            .iter()
            .map(|b| b.buffer.size())
            .sum::<u64>()
            + self.tensors.size()
    }

    /// Fills `outs[i]` (n·n·3 values each) with the crop of `requests[i]`.
    pub fn run(
        &mut self,
        frame: &Frame,
        requests: &[CropRequest],
        outs: &mut [&mut [f32]],
    ) -> Result<(), GpuError> {
        assert_eq!(requests.len(), outs.len(), "one output per request");
        if requests.is_empty() {
            return Ok(());
        }
        for (r, o) in requests.iter().zip(outs.iter()) {
            assert_eq!(o.len(), r.len(), "output must hold n·n·3 values");
        }
        if self.frame.upload(frame, self.layout)? {
            self.bind_group = None;
        }
        self.words.clear();
        let mut total = 0usize;
        for r in requests {
            self.words.extend(crop_words(r, total as u32));
            total += r.len();
        }
        let tensor_bytes = (total * 4) as u64;
        let crop_bytes = (self.words.len() * 4) as u64;
        if tensor_bytes > self.ctx.max_buffer {
            return Err(GpuError::TooLarge {
                bytes: tensor_bytes,
                limit: self.ctx.max_buffer,
            });
        }
        if crop_bytes > self.crops.buffer.size() {
            self.crops = self.ctx.buffer("crops", crop_bytes, storage_dst());
            self.bind_group = None;
        }
        if self.tensors.fit(&self.ctx, tensor_bytes) {
            self.bind_group = None;
        }
        let ctx = &self.ctx;
        ctx.queue
            .write_buffer(&self.crops.buffer, 0, bytemuck::cast_slice(&self.words));
        let bind_group = self.bind_group.get_or_insert_with(|| {
            bind(
                ctx,
                &ctx.crop.layout,
                [
                    &self.frame.planes.buffer,
                    &self.frame.params.buffer,
                    &self.crops.buffer,
                    &self.tensors.source.buffer,
                ],
            )
        });
        let side = requests.iter().map(|r| r.geometry.n).max().unwrap_or(0) as u32;
        let groups = [side.div_ceil(8), side.div_ceil(8), requests.len() as u32];
        let output = (&self.tensors, tensor_bytes);
        dispatch_and_read(ctx, &ctx.crop, bind_group, groups, output, |bytes| {
            let values: &[f32] = bytemuck::cast_slice(bytes);
            let mut at = 0;
            for (r, out) in requests.iter().zip(outs.iter_mut()) {
                out.copy_from_slice(&values[at..at + r.len()]);
                at += r.len();
            }
        })
    }
}
