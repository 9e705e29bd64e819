//! GPU memory use from NVIDIA's management library (NVML), for the bench.
//!
//! NVML ships with the driver (`libnvidia-ml.so.1`), not with CUDA, so it
//! is opened at run time: the same binary runs on machines without an
//! NVIDIA GPU, where every query answers "unavailable" with the reason.

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

/// The library the driver installs (the container toolkit mounts it too).
pub const LIBRARY: &str = "libnvidia-ml.so.1";

/// Memory of one GPU, MiB. NVML counts every process on the card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct GpuMemory {
    pub device_id: u32,
    pub used_mib: u64,
    pub total_mib: u64,
}

/// `nvmlMemory_t`: bytes.
#[repr(C)]
#[derive(Default)]
struct NvmlMemory {
    total: c_ulonglong,
    free: c_ulonglong,
    used: c_ulonglong,
}

type NvmlReturn = c_int;
const NVML_SUCCESS: NvmlReturn = 0;
type DeviceHandle = *mut c_void;
type InitFn = unsafe extern "C" fn() -> NvmlReturn;
type ErrorStringFn = unsafe extern "C" fn(NvmlReturn) -> *const c_char;
type ByIndexFn = unsafe extern "C" fn(c_uint, *mut DeviceHandle) -> NvmlReturn;
type MemoryInfoFn = unsafe extern "C" fn(DeviceHandle, *mut NvmlMemory) -> NvmlReturn;

/// An initialised NVML; shut down on drop.
pub struct Nvml {
    // Keeps the library mapped while the function pointers below are used.
    _lib: libloading::Library,
    shutdown: InitFn,
    error_string: Option<ErrorStringFn>,
    by_index: ByIndexFn,
    memory_info: MemoryInfoFn,
}

impl Nvml {
    /// Opens and initialises the driver's NVML.
    pub fn open() -> Result<Nvml, String> {
        Nvml::open_library(LIBRARY)
    }

    /// [`Nvml::open`] with the library named (tests name a missing one).
    pub fn open_library(library: &str) -> Result<Nvml, String> {
        // SAFETY: NVML's documented C API; each symbol is looked up by name
        // with its documented signature and only used while `_lib` lives.
        unsafe {
            let lib = libloading::Library::new(library)
                .map_err(|e| format!("NVML is not available ({library}): {e}"))?;
            fn symbol<T: Copy>(lib: &libloading::Library, name: &str) -> Result<T, String> {
                // SAFETY: the caller names the symbol's real signature.
                unsafe { lib.get::<T>(name.as_bytes()) }
                    .map(|s| *s)
                    .map_err(|e| format!("NVML lacks {name}: {e}"))
            }
            let init: InitFn = symbol(&lib, "nvmlInit_v2")?;
            let nvml = Nvml {
                shutdown: symbol(&lib, "nvmlShutdown")?,
                error_string: symbol(&lib, "nvmlErrorString").ok(),
                by_index: symbol(&lib, "nvmlDeviceGetHandleByIndex_v2")?,
                memory_info: symbol(&lib, "nvmlDeviceGetMemoryInfo")?,
                _lib: lib,
            };
            let code = init();
            if code != NVML_SUCCESS {
                // Not initialised, so no shutdown either.
                let reason = nvml.describe(code);
                std::mem::forget(nvml);
                return Err(format!("NVML could not start: {reason}"));
            }
            Ok(nvml)
        }
    }

    /// Used and total memory of device `device_id` (NVML's index order,
    /// which is CUDA's unless `CUDA_DEVICE_ORDER` says otherwise).
    pub fn memory(&self, device_id: u32) -> Result<GpuMemory, String> {
        // SAFETY: NVML is initialised; the out-pointers are valid locals.
        unsafe {
            let mut device: DeviceHandle = std::ptr::null_mut();
            let code = (self.by_index)(device_id, &mut device);
            if code != NVML_SUCCESS {
                return Err(format!("no GPU {device_id}: {}", self.describe(code)));
            }
            let mut mem = NvmlMemory::default();
            let code = (self.memory_info)(device, &mut mem);
            if code != NVML_SUCCESS {
                return Err(format!(
                    "cannot read GPU {device_id}'s memory: {}",
                    self.describe(code)
                ));
            }
            Ok(GpuMemory {
                device_id,
                used_mib: mem.used / (1024 * 1024),
                total_mib: mem.total / (1024 * 1024),
            })
        }
    }

    fn describe(&self, code: NvmlReturn) -> String {
        // SAFETY: nvmlErrorString returns a static NUL-terminated string.
        let text = self
            .error_string
            .map(|f| unsafe { f(code) })
            .filter(|p| !p.is_null())
            .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
        match text {
            Some(text) => format!("{text} (NVML error {code})"),
            None => format!("NVML error {code}"),
        }
    }
}

impl Drop for Nvml {
    fn drop(&mut self) {
        // SAFETY: initialised in `open_library`, shut down exactly once.
        unsafe { (self.shutdown)() };
    }
}

/// Used and total memory of device `device_id`, or why it cannot be read
/// (no driver, no such device).
pub fn gpu_memory(device_id: u32) -> Result<GpuMemory, String> {
    Nvml::open()?.memory(device_id)
}

/// The most memory device `device_id` had in use while it ran, sampled on
/// its own thread (the sessions free theirs when a run ends, so a reading
/// afterwards would miss it).
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Option<GpuMemory>>,
}

impl PeakSampler {
    /// Starts sampling every `every`; `Err` with the reason where NVML or
    /// the device is unavailable.
    pub fn start(device_id: u32, every: Duration) -> Result<PeakSampler, String> {
        let nvml = Nvml::open()?;
        let first = nvml.memory(device_id)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = first;
            while !stop_flag.load(Ordering::Relaxed) {
                std::thread::sleep(every);
                if let Ok(now) = nvml.memory(device_id) {
                    if now.used_mib > peak.used_mib {
                        peak = now;
                    }
                }
            }
            Some(peak)
        });
        Ok(PeakSampler { stop, thread })
    }

    /// Stops sampling; the reading with the most memory in use.
    pub fn finish(self) -> Option<GpuMemory> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_is_a_reason_not_a_crash() {
        let err = Nvml::open_library("libnvidia-ml-does-not-exist.so.1")
            .err()
            .expect("no such library");
        assert!(err.contains("NVML is not available"), "{err}");
        assert!(err.contains("libnvidia-ml-does-not-exist.so.1"), "{err}");
    }

    #[test]
    fn without_a_driver_every_query_says_why() {
        if std::path::Path::new("/proc/driver/nvidia").exists() {
            // A real card: the reading must make sense instead.
            let mem = gpu_memory(0).expect("NVML on a machine with a driver");
            assert!(mem.total_mib > 0 && mem.used_mib <= mem.total_mib);
            return;
        }
        let reason = gpu_memory(0).unwrap_err();
        assert!(reason.contains("NVML"), "{reason}");
        let reason = PeakSampler::start(0, Duration::from_millis(10))
            .err()
            .expect("no sampler without NVML");
        assert!(reason.contains("NVML"), "{reason}");
    }
}
