//! The wgpu device: which adapter is chosen, opened once per process and
//! shared by every job, with the compute pipelines compiled once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use super::GpuError;

/// Which adapters may serve the GPU path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterChoice {
    /// A real GPU only (`device = "auto"`): a software rasteriser would be
    /// slower than the CPU path it replaces.
    Hardware,
    /// Any adapter, Mesa's software Vulkan (lavapipe) included
    /// (`device = "gpu"`: CI runs the kernels this way).
    Any,
}

/// The opened device, its queue and the compiled pipelines.
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    pub(crate) crop: Pipeline,
    pub(crate) rgb: Pipeline,
    /// Bytes of buffers currently held by this crate's GPU users.
    allocated: AtomicU64,
    pub(crate) max_buffer: u64,
}

/// One compute pipeline and the layout of its bind group.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

static HARDWARE: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();
static ANY: OnceLock<Result<Arc<GpuContext>, String>> = OnceLock::new();

/// Adapters in order of preference; `None` when `choice` rules this one out.
fn rank(info: &wgpu::AdapterInfo, choice: AdapterChoice) -> Option<u8> {
    use wgpu::DeviceType::*;
    match info.device_type {
        DiscreteGpu => Some(0),
        IntegratedGpu => Some(1),
        VirtualGpu => Some(2),
        Other => Some(3),
        Cpu if choice == AdapterChoice::Any => Some(4),
        Cpu => None,
    }
}

impl GpuContext {
    /// The process's device for `choice`, opened on first use. Every job
    /// shares it: one device, one set of pipelines.
    pub fn shared(choice: AdapterChoice) -> Result<Arc<GpuContext>, GpuError> {
        let cell = match choice {
            AdapterChoice::Hardware => &HARDWARE,
            AdapterChoice::Any => &ANY,
        };
        // A hardware device serves "any" too, rather than opening a second.
        if choice == AdapterChoice::Any {
            if let Some(Ok(ctx)) = HARDWARE.get() {
                return Ok(ctx.clone());
            }
        }
        cell.get_or_init(|| Self::open(choice).map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| GpuError::NoAdapter { reason })
    }

    fn open(choice: AdapterChoice) -> Result<GpuContext, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
        });
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN));
        let seen: Vec<String> = adapters
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!("{} ({:?})", i.name, i.device_type)
            })
            .collect();
        let adapter = adapters
            .into_iter()
            .filter_map(|a| rank(&a.get_info(), choice).map(|r| (r, a)))
            .min_by_key(|(r, _)| *r)
            .map(|(_, a)| a)
            .ok_or_else(|| GpuError::NoAdapter {
                reason: if seen.is_empty() {
                    "no Vulkan adapter found".into()
                } else {
                    format!("only software adapters found: {}", seen.join(", "))
                },
            })?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("vidmocap"),
            required_features: wgpu::Features::empty(),
            // The adapter's own limits: a 4K frame's planes and a batch of
            // crops exceed the portable defaults on some adapters.
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        tracing::info!(adapter = %info.name, kind = ?info.device_type, driver = %info.driver, "GPU device opened");
        use wgpu::BufferBindingType::{Storage, Uniform};
        let crop = Pipeline::new(
            &device,
            "crop",
            include_str!("../../shaders/crop.wgsl"),
            // crops, tensors
            [Storage { read_only: true }, Storage { read_only: false }],
        );
        let rgb = Pipeline::new(
            &device,
            "rgb",
            include_str!("../../shaders/rgb.wgsl"),
            // size, pixels
            [Uniform, Storage { read_only: false }],
        );
        Ok(GpuContext {
            device,
            queue,
            info,
            crop,
            rgb,
            allocated: AtomicU64::new(0),
            max_buffer: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        })
    }

    /// The adapter's name and kind, for reports.
    pub fn adapter(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.device_type)
    }

    /// Bytes of GPU buffers held by vidmocap right now.
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated.load(Ordering::Relaxed)
    }

    /// A buffer, counted in [`Self::allocated_bytes`] until dropped.
    pub(crate) fn buffer(
        self: &Arc<Self>,
        label: &str,
        size: u64,
        usage: wgpu::BufferUsages,
    ) -> Counted {
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        });
        self.allocated.fetch_add(size, Ordering::Relaxed);
        Counted {
            buffer,
            ctx: self.clone(),
        }
    }
}

/// A buffer that takes its size off the context's count when dropped.
pub(crate) struct Counted {
    pub buffer: wgpu::Buffer,
    ctx: Arc<GpuContext>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.ctx
            .allocated
            .fetch_sub(self.buffer.size(), Ordering::Relaxed);
    }
}

impl Pipeline {
    /// Compiles `kernel` (its WGSL after the shared frame functions) with a
    /// bind group of the planes (binding 0), the frame parameters (1) and
    /// the kernel's own two buffers (2 and 3), of the types given.
    fn new(
        device: &wgpu::Device,
        entry: &str,
        kernel: &str,
        own: [wgpu::BufferBindingType; 2],
    ) -> Pipeline {
        let source = format!("{}\n{}", include_str!("../../shaders/yuv.wgsl"), kernel);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(entry),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let types = [
            wgpu::BufferBindingType::Storage { read_only: true },
            wgpu::BufferBindingType::Uniform,
            own[0],
            own[1],
        ];
        let entries: Vec<wgpu::BindGroupLayoutEntry> = (0u32..)
            .zip(types)
            .map(|(binding, ty)| wgpu::BindGroupLayoutEntry {
                binding,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Pipeline { pipeline, layout }
    }
}
