//! Running one kernel: its bind group, the dispatch, the copy of its output
//! into a mappable buffer, and the wait for the bytes.

use std::sync::Arc;

use super::context::{Counted, GpuContext, Pipeline};
use super::GpuError;

/// The storage buffer a kernel writes and the mappable buffer it is copied
/// into to come back, grown together.
pub(crate) struct OutputBuffers {
    pub source: Counted,
    readback: Counted,
}

impl OutputBuffers {
    pub fn new(ctx: &Arc<GpuContext>) -> OutputBuffers {
        OutputBuffers {
            source: ctx.buffer("output", 4, output_usage()),
            readback: ctx.buffer("readback", 4, readback_usage()),
        }
    }

    /// Makes room for `bytes`; true when the buffers were replaced (bind
    /// groups naming the old ones must be rebuilt).
    pub fn fit(&mut self, ctx: &Arc<GpuContext>, bytes: u64) -> bool {
        if bytes <= self.source.buffer.size() {
            return false;
        }
        self.source = ctx.buffer("output", bytes, output_usage());
        self.readback = ctx.buffer("readback", bytes, readback_usage());
        true
    }

    /// Bytes the two buffers hold.
    pub fn size(&self) -> u64 {
        self.source.buffer.size() + self.readback.buffer.size()
    }
}

fn output_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC
}

fn readback_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST
}

/// A bind group of four whole buffers at bindings 0…3.
pub(crate) fn bind(
    ctx: &GpuContext,
    layout: &wgpu::BindGroupLayout,
    buffers: [&wgpu::Buffer; 4],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout,
        entries: &entries,
    })
}

/// Waits for `submission`, then hands the first `len` bytes of `buffer`
/// to `read` while it is mapped.
fn read_back(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    len: u64,
    submission: wgpu::SubmissionIndex,
    read: impl FnOnce(&[u8]),
) -> Result<(), GpuError> {
    let slice = buffer.slice(..len);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submission),
            timeout: None,
        })
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    rx.recv()
        .map_err(|e| GpuError::Readback(e.to_string()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    {
        let view = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        read(&view);
    }
    buffer.unmap();
    Ok(())
}

/// Dispatches `groups` workgroups of `pipeline`, copies the first `bytes`
/// of its output back and hands them to `read`; one submission, one wait.
pub(crate) fn dispatch_and_read(
    ctx: &GpuContext,
    pipeline: &Pipeline,
    bind_group: &wgpu::BindGroup,
    groups: [u32; 3],
    (output, bytes): (&OutputBuffers, u64),
    read: impl FnOnce(&[u8]),
) -> Result<(), GpuError> {
    let mut encoder = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
    {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, bind_group, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }
    let (source, readback) = (&output.source.buffer, &output.readback.buffer);
    encoder.copy_buffer_to_buffer(source, 0, readback, 0, bytes);
    let submission = ctx.queue.submit([encoder.finish()]);
    read_back(ctx, readback, bytes, submission, read)
}
