//! Running one kernel: its bind group, the dispatch, the copy of its output
//! into a mappable buffer, and the wait for the bytes.

use super::context::{GpuContext, Pipeline};
use super::GpuError;

/// A buffer a kernel writes and that is copied out.
pub(crate) fn output_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC
}

/// The mappable buffer a kernel's output is copied into.
pub(crate) fn readback_usage() -> wgpu::BufferUsages {
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

/// Where a kernel's output is and how it comes back.
pub(crate) struct Output<'a> {
    /// The storage buffer the kernel writes.
    pub source: &'a wgpu::Buffer,
    /// A MAP_READ buffer at least `bytes` long.
    pub readback: &'a wgpu::Buffer,
    pub bytes: u64,
}

/// Dispatches `groups` workgroups of `pipeline`, copies the output back and
/// hands its bytes to `read`; one submission, one wait.
pub(crate) fn dispatch_and_read(
    ctx: &GpuContext,
    pipeline: &Pipeline,
    bind_group: &wgpu::BindGroup,
    groups: [u32; 3],
    output: Output,
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
    encoder.copy_buffer_to_buffer(output.source, 0, output.readback, 0, output.bytes);
    let submission = ctx.queue.submit([encoder.finish()]);
    read_back(ctx, output.readback, output.bytes, submission, read)
}
