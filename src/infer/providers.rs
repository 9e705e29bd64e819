//! ONNX Runtime execution providers: which ones a session tries, in what
//! order, how each is configured, and what a session ends up running on.
//!
//! The GPU providers live in separate libraries that ONNX Runtime opens when
//! a session asks for them (`libonnxruntime_providers_cuda.so` needs the CUDA
//! runtime, cuDNN and the driver's `libcuda.so.1`). Any of those can be
//! missing on a given machine, so a provider that cannot be registered, or a
//! session that cannot be created on it, is never fatal: the next provider in
//! the list is tried and the CPU always ends it. The reason is kept with the
//! session and logged once per process, so a whole fleet of CPU fallbacks
//! shows up as one line per worker, not one per job.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::ep::{self, ArenaExtendStrategy, ExecutionProvider as _, ExecutionProviderDispatch};
use serde::Serialize;

use crate::config::{Device, ExecutionProvider, GpuConfig};

/// An execution provider a session can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Tensorrt,
    Cuda,
    Cpu,
}

impl Provider {
    /// The short name reports and logs use: "tensorrt", "cuda", "cpu".
    pub fn name(self) -> &'static str {
        match self {
            Provider::Tensorrt => "tensorrt",
            Provider::Cuda => "cuda",
            Provider::Cpu => "cpu",
        }
    }

    /// ONNX Runtime's own name for the provider.
    fn ort_name(self) -> &'static str {
        match self {
            Provider::Tensorrt => ep::TensorRT::NAME,
            Provider::Cuda => ep::CUDA::NAME,
            Provider::Cpu => ep::CPU::NAME,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The providers `gpu` asks for, best first; the CPU always comes last.
///
/// `device = "cpu"` wins over the provider setting: it promises that nothing
/// touches the GPU.
pub fn resolve_providers(gpu: &GpuConfig) -> Vec<Provider> {
    if gpu.device == Device::Cpu {
        return vec![Provider::Cpu];
    }
    match gpu.execution_provider {
        ExecutionProvider::Cpu => vec![Provider::Cpu],
        ExecutionProvider::Auto | ExecutionProvider::Cuda => vec![Provider::Cuda, Provider::Cpu],
        // CUDA is also what TensorRT hands the nodes it cannot compile to.
        ExecutionProvider::Tensorrt => vec![Provider::Tensorrt, Provider::Cuda, Provider::Cpu],
    }
}

/// How sessions use the GPU, derived from [`GpuConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionOptions {
    /// Providers to try, best first, ending with [`Provider::Cpu`].
    pub providers: Vec<Provider>,
    /// CUDA device ordinal.
    pub device_id: u32,
    /// Cap on each CUDA session's memory arena, MiB (0 = none).
    pub memory_limit_mib: u64,
    /// Where TensorRT caches engines and timing data.
    pub tensorrt_cache_dir: PathBuf,
    /// The GPU providers come from `auto`, not asked for by name: with the
    /// CPU build of ONNX Runtime, which has none, the CPU is the expected
    /// outcome and is logged at info level instead of as a warning.
    pub auto: bool,
}

impl Default for ExecutionOptions {
    /// The CPU only (what tools and tests get unless they ask for more).
    fn default() -> Self {
        ExecutionOptions {
            providers: vec![Provider::Cpu],
            device_id: 0,
            memory_limit_mib: 0,
            tensorrt_cache_dir: default_tensorrt_cache_dir(),
            auto: false,
        }
    }
}

impl ExecutionOptions {
    pub fn from_config(gpu: &GpuConfig) -> ExecutionOptions {
        // `auto` all through on a machine with no GPU device node: there is
        // nothing to try, and nothing to tell the user about GPUs.
        let nothing_asked = gpu.device == Device::Auto
            && gpu.execution_provider == ExecutionProvider::Auto
            && !crate::gpu::has_gpu_device();
        ExecutionOptions {
            providers: if nothing_asked {
                vec![Provider::Cpu]
            } else {
                resolve_providers(gpu)
            },
            device_id: gpu.device_id,
            memory_limit_mib: gpu.session_memory_mib,
            tensorrt_cache_dir: gpu
                .tensorrt_cache_dir
                .clone()
                .unwrap_or_else(default_tensorrt_cache_dir),
            auto: gpu.execution_provider == ExecutionProvider::Auto,
        }
    }

    /// The sets of providers to register, one session attempt each: the
    /// list from each GPU provider onwards (TensorRT keeps CUDA behind it
    /// for the nodes it leaves), then none at all, which is the CPU.
    pub(crate) fn attempts(&self) -> Vec<Vec<Provider>> {
        let gpu: Vec<Provider> = self
            .providers
            .iter()
            .copied()
            .filter(|p| *p != Provider::Cpu)
            .collect();
        let mut attempts: Vec<Vec<Provider>> = (0..gpu.len()).map(|i| gpu[i..].to_vec()).collect();
        attempts.push(Vec::new());
        attempts
    }

    /// ONNX Runtime's configuration of `provider` for the model `model`.
    /// Registration errors are returned, never swallowed, so the caller
    /// can move on to the next attempt with the reason.
    pub(crate) fn dispatch(
        &self,
        provider: Provider,
        model: &str,
        batch: Option<BatchProfile>,
    ) -> ExecutionProviderDispatch {
        let device_id = i32::try_from(self.device_id).unwrap_or(i32::MAX);
        match provider {
            Provider::Cuda => {
                let mut cuda = ep::CUDA::default()
                    .with_device_id(device_id)
                    // Grow by what is asked, not to the next power of two:
                    // with a cap on the arena, doubling would hit it early
                    // and waste memory other jobs on the card could use.
                    .with_arena_extend_strategy(ArenaExtendStrategy::SameAsRequested);
                if self.memory_limit_mib > 0 {
                    let bytes = self.memory_limit_mib.saturating_mul(1024 * 1024);
                    cuda = cuda.with_memory_limit(usize::try_from(bytes).unwrap_or(usize::MAX));
                }
                cuda.build().error_on_failure()
            }
            Provider::Tensorrt => {
                let dir = self.tensorrt_cache_dir.display().to_string();
                let mut trt = ep::TensorRT::default()
                    .with_device_id(device_id)
                    // The landmark model keeps its accuracy in fp16
                    // (TensorRT keeps sensitive layers in fp32 itself).
                    .with_fp16(true)
                    .with_engine_cache(true)
                    .with_engine_cache_path(&dir)
                    .with_engine_cache_prefix(model)
                    .with_timing_cache(true)
                    .with_timing_cache_path(&dir);
                if let Some(b) = batch {
                    trt = trt
                        .with_profile_min_shapes(b.shapes(1))
                        .with_profile_opt_shapes(b.shapes(b.max_batch))
                        .with_profile_max_shapes(b.shapes(b.max_batch));
                }
                trt.build().error_on_failure()
            }
            Provider::Cpu => ep::CPU::default().build().error_on_failure(),
        }
    }
}

/// The batch sizes a session with a dynamic batch is built for.
#[derive(Clone, Debug)]
pub struct BatchProfile {
    pub input: String,
    /// The input's shape after the batch dimension.
    pub item_shape: Vec<i64>,
    pub max_batch: usize,
}

impl BatchProfile {
    /// TensorRT's shape string for a batch of `n`: `input_1:4x256x256x3`.
    fn shapes(&self, n: usize) -> String {
        let dims: Vec<String> = std::iter::once(n.to_string())
            .chain(self.item_shape.iter().map(i64::to_string))
            .collect();
        format!("{}:{}", self.input, dims.join("x"))
    }
}

/// TensorRT's engine cache when none is configured.
pub fn default_tensorrt_cache_dir() -> PathBuf {
    std::env::temp_dir().join("vidmocap-tensorrt")
}

/// Why `provider` cannot be used with this library at all, checked before
/// registering so the reason names the fix instead of ONNX Runtime's
/// generic "not enabled in this build".
pub(crate) fn unavailable_reason(provider: Provider, library: &Path) -> Option<String> {
    let available = match provider {
        Provider::Tensorrt => ep::TensorRT::is_available(),
        Provider::Cuda => ep::CUDA::is_available(),
        Provider::Cpu => return None,
    };
    match available {
        Ok(true) => None,
        Ok(false) => Some(format!(
            "the ONNX Runtime library {} was built without {}; install the GPU build \
             (ORT_FLAVOR=gpu scripts/install-onnxruntime.sh) and point ORT_DYLIB_PATH at it",
            library.display(),
            provider.ort_name()
        )),
        Err(e) => Some(format!("cannot list ONNX Runtime's providers: {e}")),
    }
}

/// ONNX Runtime's error for a provider that failed to load, shortened to
/// what a user can act on, with the fix for the common case: the CUDA
/// runtime libraries are not installed.
pub(crate) fn tidy_reason(provider: Provider, message: &str) -> String {
    let message = message.trim();
    // "/onnxruntime_src/...cc:2043 onnxruntime::...Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load ..."
    let message = message
        .rsplit_once("FAIL : ")
        .map_or(message, |(_, rest)| rest)
        .trim();
    if provider != Provider::Cpu && message.contains("cannot open shared object file") {
        let missing = if message.contains("libcuda.so.1") {
            "the NVIDIA driver (libcuda.so.1) is not installed"
        } else if message.contains("libnvinfer") || message.contains("libnvonnxparser") {
            "TensorRT 10 is not installed"
        } else {
            "CUDA 13 and cuDNN 9 runtime libraries are missing (install them, or run \
             scripts/install-onnxruntime.sh --gpu --with-cuda)"
        };
        format!("{message}; {missing}")
    } else {
        message.to_string()
    }
}

/// The provider a session runs on and, when that is not the first one
/// asked for, why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionProvider {
    pub model: String,
    pub provider: Provider,
    /// Providers asked for, best first.
    pub requested: Vec<Provider>,
    /// Why the better providers asked for could not be used.
    pub fallback_reason: Option<String>,
}

impl SessionProvider {
    /// One entry per model and outcome, in first-seen order (the landmark
    /// workers' sessions usually all share one).
    pub fn distinct<'a>(
        sessions: impl IntoIterator<Item = &'a SessionProvider>,
    ) -> Vec<SessionProvider> {
        let mut out: Vec<SessionProvider> = Vec::new();
        for execution in sessions {
            if !out.contains(execution) {
                out.push(execution.clone());
            }
        }
        out
    }
}

/// Logs a provider fallback once per process and reason: every session of
/// every job would otherwise repeat the same line. `expected` fallbacks
/// (see [`ExecutionOptions::auto`]) are logged at info level.
pub(crate) fn warn_fallback_once(
    model: &str,
    wanted: Provider,
    used: Provider,
    reason: &str,
    expected: bool,
) {
    static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let first = WARNED
        .get_or_init(Default::default)
        .lock()
        .map(|mut seen| seen.insert(format!("{wanted}>{used}:{reason}")))
        .unwrap_or(true);
    if first && expected {
        tracing::info!(
            model,
            requested = wanted.name(),
            running_on = used.name(),
            reason,
            "execution provider {wanted} is not in this ONNX Runtime build; inference runs on {used}"
        );
    } else if first {
        tracing::warn!(
            model,
            requested = wanted.name(),
            running_on = used.name(),
            reason,
            "execution provider {wanted} is unavailable; inference runs on {used}"
        );
    } else {
        tracing::debug!(
            model,
            requested = wanted.name(),
            running_on = used.name(),
            reason,
            "execution provider fallback"
        );
    }
}

/// Makes the CUDA libraries bundled beside the ONNX Runtime library (the
/// `cuda/` folder `scripts/install-onnxruntime.sh --gpu --with-cuda`
/// fills) visible to the CUDA provider without `LD_LIBRARY_PATH`.
///
/// A library that is already loaded satisfies any later dependency on its
/// soname, so loading them all first is enough. Their dependencies among
/// themselves are unknown here, so the loop retries the failures while each
/// pass loads something. Runs once per process; failures are only logged
/// at debug level, since the provider's own registration error is the one
/// that explains the outcome.
pub(crate) fn preload_bundled_cuda(library: &Path) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let Some(dir) = library.parent().map(|d| d.join("cuda")) else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut pending: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("lib") && n.contains(".so"))
            })
            .collect();
        pending.sort();
        loop {
            let before = pending.len();
            pending.retain(|path| match ort::util::preload_dylib(path) {
                Ok(()) => false,
                Err(e) => {
                    tracing::debug!(library = %path.display(), error = %e, "CUDA library not preloaded yet");
                    true
                }
            });
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        tracing::debug!(dir = %dir.display(), not_loaded = pending.len(), "preloaded bundled CUDA libraries");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(device: Device, ep: ExecutionProvider) -> GpuConfig {
        GpuConfig {
            device,
            execution_provider: ep,
            ..GpuConfig::default()
        }
    }

    #[test]
    fn device_cpu_means_cpu_only_whatever_the_provider() {
        for ep in [
            ExecutionProvider::Auto,
            ExecutionProvider::Cpu,
            ExecutionProvider::Cuda,
            ExecutionProvider::Tensorrt,
        ] {
            assert_eq!(
                resolve_providers(&gpu(Device::Cpu, ep)),
                vec![Provider::Cpu],
                "{ep:?}"
            );
        }
    }

    #[test]
    fn auto_is_cuda_then_cpu() {
        assert_eq!(
            resolve_providers(&GpuConfig::default()),
            vec![Provider::Cuda, Provider::Cpu]
        );
        assert_eq!(
            resolve_providers(&gpu(Device::Gpu, ExecutionProvider::Auto)),
            vec![Provider::Cuda, Provider::Cpu]
        );
        assert_eq!(
            resolve_providers(&gpu(Device::Auto, ExecutionProvider::Cuda)),
            vec![Provider::Cuda, Provider::Cpu]
        );
    }

    #[test]
    fn tensorrt_falls_back_to_cuda_then_cpu() {
        let opts = ExecutionOptions::from_config(&gpu(Device::Gpu, ExecutionProvider::Tensorrt));
        assert_eq!(
            opts.providers,
            vec![Provider::Tensorrt, Provider::Cuda, Provider::Cpu]
        );
        assert_eq!(
            opts.attempts(),
            vec![
                vec![Provider::Tensorrt, Provider::Cuda],
                vec![Provider::Cuda],
                vec![]
            ]
        );
    }

    #[test]
    fn explicit_cpu_provider_is_cpu_only() {
        let opts = ExecutionOptions::from_config(&gpu(Device::Gpu, ExecutionProvider::Cpu));
        assert_eq!(opts.providers, vec![Provider::Cpu]);
        assert_eq!(opts.attempts(), vec![Vec::<Provider>::new()]);
    }

    #[test]
    fn options_carry_device_memory_and_cache_dir() {
        let mut config = gpu(Device::Auto, ExecutionProvider::Auto);
        config.device_id = 3;
        config.session_memory_mib = 512;
        let opts = ExecutionOptions::from_config(&config);
        assert_eq!(opts.device_id, 3);
        assert_eq!(opts.memory_limit_mib, 512);
        assert_eq!(opts.tensorrt_cache_dir, default_tensorrt_cache_dir());
        assert!(opts.auto, "auto chose the providers");
        assert!(!ExecutionOptions::from_config(&gpu(Device::Auto, ExecutionProvider::Cuda)).auto);
        config.tensorrt_cache_dir = Some(PathBuf::from("/var/cache/trt"));
        assert_eq!(
            ExecutionOptions::from_config(&config).tensorrt_cache_dir,
            PathBuf::from("/var/cache/trt")
        );
    }

    #[test]
    fn load_failures_read_as_what_to_install() {
        let ort = "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:2043 \
                   onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : \
                   1 : FAIL : Failed to load library /x/libonnxruntime_providers_cuda.so with error: \
                   libcublasLt.so.13: cannot open shared object file: No such file or directory\n";
        let reason = tidy_reason(Provider::Cuda, ort);
        assert!(
            reason.starts_with("Failed to load library /x/libonnxruntime_providers_cuda.so"),
            "{reason}"
        );
        assert!(reason.contains("libcublasLt.so.13"), "{reason}");
        assert!(reason.contains("--with-cuda"), "{reason}");
        assert!(!reason.ends_with('\n'));
        let driver = tidy_reason(
            Provider::Cuda,
            "FAIL : libcuda.so.1: cannot open shared object file: No such file or directory",
        );
        assert!(driver.contains("NVIDIA driver"), "{driver}");
        let trt = tidy_reason(
            Provider::Tensorrt,
            "libnvinfer.so.10: cannot open shared object file: No such file or directory",
        );
        assert!(trt.ends_with("TensorRT 10 is not installed"), "{trt}");
        assert_eq!(tidy_reason(Provider::Cuda, " no device \n"), "no device");
    }

    #[test]
    fn provider_names_are_the_report_names() {
        assert_eq!(Provider::Tensorrt.name(), "tensorrt");
        assert_eq!(Provider::Cuda.name(), "cuda");
        assert_eq!(Provider::Cpu.name(), "cpu");
        assert_eq!(serde_json::to_string(&Provider::Cuda).unwrap(), "\"cuda\"");
    }
}
