//! GPU image work with `wgpu` compute shaders (`shaders/*.wgsl`): the
//! frame's planes go up once per frame, and one dispatch samples the
//! detector's letterbox and every person's rotated landmark crop straight
//! into model tensors (YUV→RGB, bilinear sampling and normalisation fused).
//!
//! Every kernel has a CPU twin it is tested against: the crops against
//! [`crate::pose::crop::crop_square`], the RGB conversion against
//! [`rgb::rgb_image_cpu`]. The device and pipelines are built once per
//! process ([`GpuContext::shared`]) and shared by every job; each user keeps
//! its own buffers, grown on demand and then reused frame after frame.

pub mod context;
pub mod crop;
mod dispatch;
pub mod planes;
pub mod rgb;

pub use crate::pose::crop::CropRequest;
pub use context::{AdapterChoice, GpuContext};
pub use crop::GpuCrops;

use thiserror::Error;

/// Why the GPU path cannot run.
#[derive(Debug, Error)]
pub enum GpuError {
    #[error("no GPU adapter is available ({reason})")]
    NoAdapter { reason: String },
    #[error("the GPU device could not be opened")]
    Device(String),
    #[error("reading results back from the GPU failed")]
    Readback(String),
    #[error("the frame is too large for the GPU's buffers ({bytes} bytes; limit {limit})")]
    TooLarge { bytes: u64, limit: u64 },
}

impl GpuError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            GpuError::NoAdapter { .. } => "gpu.no_adapter",
            GpuError::Device(_) => "gpu.device",
            GpuError::Readback(_) => "gpu.readback",
            GpuError::TooLarge { .. } => "gpu.too_large",
        }
    }
}

/// The GPU for preprocessing under `device`: none for `cpu`; a hardware
/// adapter if there is one for `auto` (else none, logged); any adapter for
/// `gpu`, which fails when there is none.
pub fn for_device(
    device: crate::config::Device,
) -> Result<Option<std::sync::Arc<GpuContext>>, GpuError> {
    use crate::config::Device;
    match device {
        Device::Cpu => Ok(None),
        Device::Gpu => GpuContext::shared(AdapterChoice::Any).map(Some),
        Device::Auto => match hardware() {
            Ok(ctx) => Ok(Some(ctx)),
            Err(e) => {
                tracing::info!(reason = %e, "no hardware GPU: preprocessing on the CPU");
                Ok(None)
            }
        },
    }
}

/// The hardware GPU, if the machine has one. Machines without a GPU device
/// node are answered without loading any Vulkan driver: Mesa's software
/// driver prints warnings of its own when probed, which a plain CPU run
/// should not show.
pub fn hardware() -> Result<std::sync::Arc<GpuContext>, GpuError> {
    if !has_gpu_device() {
        return Err(GpuError::NoAdapter {
            reason: "no GPU device in /dev (nvidia*, dri/renderD*)".into(),
        });
    }
    GpuContext::shared(AdapterChoice::Hardware)
}

/// Whether this machine has a GPU device node (NVIDIA or a DRM render node).
pub fn has_gpu_device() -> bool {
    has_gpu_device_node(std::path::Path::new("/dev"))
}

/// Every Vulkan adapter wgpu sees, as "name (kind, driver)"; empty when
/// there is no Vulkan loader or driver.
pub fn adapter_names() -> Vec<String> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: wgpu::Backends::VULKAN,
        ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
    });
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN))
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("{} ({:?}, {})", i.name, i.device_type, i.driver)
        })
        .collect()
}

/// Whether `dev` holds an NVIDIA device or a DRM render node.
fn has_gpu_device_node(dev: &std::path::Path) -> bool {
    let named = |dir: &std::path::Path, prefix: &str| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    };
    named(dev, "nvidia") || named(&dev.join("dri"), "renderD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_device_nodes_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_gpu_device_node(dir.path()));
        std::fs::create_dir(dir.path().join("dri")).unwrap();
        std::fs::write(dir.path().join("dri/card0"), "").unwrap();
        assert!(!has_gpu_device_node(dir.path()), "a display card alone");
        std::fs::write(dir.path().join("dri/renderD128"), "").unwrap();
        assert!(has_gpu_device_node(dir.path()));
        let nv = tempfile::tempdir().unwrap();
        std::fs::write(nv.path().join("nvidia0"), "").unwrap();
        assert!(has_gpu_device_node(nv.path()));
    }
}
