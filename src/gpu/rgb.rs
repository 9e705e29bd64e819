//! The whole frame to upright RGBA8 on the GPU (previews, overlays,
//! debugging dumps), and its CPU twin.

use std::sync::Arc;

use super::context::{Counted, GpuContext};
use super::dispatch::{bind, dispatch_and_read, OutputBuffers};
use super::planes::{ChromaLayout, FrameBuffers};
use super::GpuError;
use crate::video::Frame;

/// A user's buffers for the RGB kernel.
pub struct GpuRgb {
    ctx: Arc<GpuContext>,
    frame: FrameBuffers,
    size: Counted,
    pixels: OutputBuffers,
    /// Rebuilt whenever a buffer it names is replaced.
    bind_group: Option<wgpu::BindGroup>,
    layout: ChromaLayout,
}

impl GpuRgb {
    pub fn new(ctx: &Arc<GpuContext>, layout: ChromaLayout) -> GpuRgb {
        GpuRgb {
            ctx: ctx.clone(),
            frame: FrameBuffers::new(ctx),
            size: ctx.buffer(
                "rgb size",
                8,
                wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            ),
            pixels: OutputBuffers::new(ctx),
            bind_group: None,
            layout,
        }
    }

    /// Upright RGBA8 pixels of `frame`, row by row (alpha 255).
    pub fn convert(&mut self, frame: &Frame) -> Result<Vec<u32>, GpuError> {
        let (w, h) = frame.upright_size();
        let bytes = w as u64 * h as u64 * 4;
        let uploaded_anew = self.frame.upload(frame, self.layout)?;
        if self.pixels.fit(&self.ctx, bytes) || uploaded_anew {
            self.bind_group = None;
        }
        let ctx = &self.ctx;
        ctx.queue
            .write_buffer(&self.size.buffer, 0, bytemuck::cast_slice(&[w, h]));
        let bind_group = self.bind_group.get_or_insert_with(|| {
            bind(
                ctx,
                &ctx.rgb.layout,
                [
                    &self.frame.planes.buffer,
                    &self.frame.params.buffer,
                    &self.size.buffer,
                    &self.pixels.source.buffer,
                ],
            )
        });
        let output = (&self.pixels, bytes);
        let groups = [w.div_ceil(8), h.div_ceil(8), 1];
        let mut out = vec![0u32; (w * h) as usize];
        dispatch_and_read(ctx, &ctx.rgb, bind_group, groups, output, |b| {
            out.copy_from_slice(bytemuck::cast_slice(b))
        })?;
        Ok(out)
    }
}

/// The CPU twin: [`Frame::sample_rgb`] at every upright pixel, rounded
/// half up like WGSL's `pack4x8unorm`.
pub fn rgb_image_cpu(frame: &Frame) -> Vec<u32> {
    let (w, h) = frame.upright_size();
    let mut out = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = frame.sample_rgb(x as f32, y as f32);
            let q = |c: f32| (c + 0.5) as u32;
            out.push(q(r) | q(g) << 8 | q(b) << 16 | 255 << 24);
        }
    }
    out
}
