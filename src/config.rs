//! Configuration: built-in defaults, then an optional TOML file, then
//! `VIDMOCAP_*` environment variables; command-line flags override last.
//!
//! Nothing here is secret yet; when secrets arrive they must implement a
//! redacting `Debug` so a logged config never leaks them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::video::Limits;

/// Everything the pipeline can be told.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub models: ModelsConfig,
    pub limits: Limits,
    pub pose: PoseConfig,
    pub gpu: GpuConfig,
    pub service: crate::service::ServiceConfig,
}

/// Where the per-frame work runs: CPU, or the GPU stages (wgpu
/// preprocessing, ONNX Runtime's CUDA or TensorRT provider, NVDEC decode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The GPU stages where a hardware GPU is present, each falling back to
    /// the CPU with a logged reason; the CPU everywhere else.
    #[default]
    Auto,
    /// Everything on the CPU.
    Cpu,
    /// The GPU stages, required: preprocessing fails without a wgpu adapter
    /// (a software one such as lavapipe counts); inference and decode still
    /// fall back, logged, when CUDA or NVDEC cannot load.
    Gpu,
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_name(s, "auto, cpu or gpu")
    }
}

/// A setting's value spelled as in the TOML file, any case (for the
/// environment and the command line).
fn from_name<T: serde::de::DeserializeOwned>(s: &str, expected: &str) -> Result<T, String> {
    use serde::de::value::{Error, StrDeserializer};
    let lower = s.to_ascii_lowercase();
    T::deserialize(StrDeserializer::<Error>::new(&lower))
        .map_err(|_| format!("expected {expected}, got {s:?}"))
}

/// ONNX Runtime execution provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    /// CUDA unless `device = "cpu"`; the CPU when CUDA cannot load.
    #[default]
    Auto,
    Cpu,
    Cuda,
    /// TensorRT first, then CUDA, then the CPU.
    Tensorrt,
}

impl std::str::FromStr for ExecutionProvider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_name(s, "auto, cpu, cuda or tensorrt")
    }
}

/// Video decoding on the GPU's decoder engines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HwDecode {
    /// NVDEC unless `device = "cpu"`; software when it cannot open.
    #[default]
    Auto,
    Off,
    Nvdec,
}

impl std::str::FromStr for HwDecode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_name(s, "auto, off or nvdec")
    }
}

/// GPU settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpuConfig {
    pub device: Device,
    pub execution_provider: ExecutionProvider,
    pub hw_decode: HwDecode,
    /// CUDA device ordinal for inference and decode.
    pub device_id: u32,
    /// Cap on each ONNX Runtime CUDA session's memory arena, MiB (0 = none).
    pub session_memory_mib: u64,
    /// Jobs one worker process runs at once on its GPU.
    pub jobs_per_gpu: usize,
    /// Where TensorRT keeps its built engines between runs (building one
    /// takes seconds per model); unset: `vidmocap-tensorrt` in the system
    /// temporary folder.
    pub tensorrt_cache_dir: Option<PathBuf>,
}

impl Default for GpuConfig {
    fn default() -> Self {
        GpuConfig {
            device: Device::Auto,
            execution_provider: ExecutionProvider::Auto,
            hw_decode: HwDecode::Auto,
            device_id: 0,
            // The landmark model needs a few tens of MiB; the cap keeps a
            // runaway arena from starving the other jobs on the card.
            session_memory_mib: 1024,
            jobs_per_gpu: 8,
            tensorrt_cache_dir: None,
        }
    }
}

/// Where the model weights and the ONNX Runtime library are, and how to run them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Folder holding the files named in `models/manifest.toml`.
    pub dir: PathBuf,
    /// ONNX Runtime shared library; `ORT_DYLIB_PATH` is used when unset.
    pub ort_library: Option<PathBuf>,
    /// Threads ONNX Runtime may use inside one model run (0 = all cores).
    pub intra_threads: usize,
    /// Threads of the person detector's runs (0: `intra_threads`). More
    /// than one do not spin while idle, as they share the cores with the
    /// landmark workers. Two by default: a detection (up to three YOLOX
    /// passes) is the longest step of a frame, and with one thread the
    /// other core idles once the frame's crops are done (README,
    /// Performance: 49–51 → 55–56 fps with fast on walk_outdoor).
    pub detector_threads: usize,
    /// Landmark sessions run side by side, one person each, per frame.
    pub landmark_workers: usize,
    /// Most crops of one frame a landmark session runs in one batch
    /// (1: a run per crop; 0, the default: 8 on a GPU, 1 on the CPU). A
    /// frame's crops are shared among the workers first, then each
    /// worker's share runs in batches of this size.
    pub landmark_batch: usize,
    /// One landmark session for every job of the process, batching their
    /// crops together (for a GPU worker running several jobs; see
    /// `infer::shared`). Off: a session per job and worker.
    pub batch_across_jobs: bool,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: PathBuf::from("models"),
            ort_library: None,
            // One thread per run and a worker per core: two threads (not
            // spinning) measured 5 % faster with fast on walk_outdoor,
            // where many frames have one crop, but 6 % slower with best on
            // two_people.mp4, where both workers are always busy (README,
            // Performance).
            intra_threads: 1,
            detector_threads: 2,
            landmark_workers: 2,
            landmark_batch: 0,
            batch_across_jobs: false,
        }
    }
}

/// Accuracy against speed: which BlazePose GHUM 3D landmark model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// BlazePose lite: the fastest, the least accurate.
    Fast,
    /// BlazePose full (see README, Quality presets, for why it is the default).
    #[default]
    Balanced,
    /// BlazePose heavy: the most accurate, about three times full's cost.
    Best,
}

impl Quality {
    /// The manifest name of the preset's landmark model.
    pub fn landmark_model(self) -> &'static str {
        match self {
            Quality::Fast => "pose_landmark_lite",
            Quality::Balanced => "pose_landmark_full",
            Quality::Best => "pose_landmark_heavy",
        }
    }

    /// The name as written in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Quality::Fast => "fast",
            Quality::Balanced => "balanced",
            Quality::Best => "best",
        }
    }
}

impl std::str::FromStr for Quality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_name(s, "fast, balanced or best")
    }
}

/// Which model finds people for the tracker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonDetector {
    /// YOLOX-nano, a general COCO detector: everyone in the frame, side by
    /// side, small or far.
    #[default]
    Yolox,
    /// BlazePose's own detector: built for one person close to the camera.
    Blazepose,
}

impl std::str::FromStr for PersonDetector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_name(s, "yolox or blazepose")
    }
}

/// Pose tracking and motion clean-up settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoseConfig {
    /// Which landmark model runs (fast, balanced, best).
    pub quality: Quality,
    /// Which model finds people.
    pub detector: PersonDetector,
    /// Run the person detector at least every this many frames to find people
    /// who walk in; tracked people do not need it. Looking back (a second of
    /// frames) recovers the frames before a newcomer's detection, so this can
    /// stay well under that second's frame count and still miss nothing.
    pub detect_interval: u32,
    /// Most people tracked at once.
    pub max_people: usize,
    /// Detector score threshold (MediaPipe Tasks default 0.5).
    pub min_detection_score: f32,
    /// Landmark-model presence threshold (MediaPipe Tasks default 0.5).
    pub min_presence: f32,
    /// Horizontal field of view of the camera, degrees, for root motion.
    pub fov_deg: f32,
    /// Longest detection loss that is filled by interpolation, seconds.
    pub max_gap_s: f64,
    /// A lost track may be picked up again by a new detection for this long.
    pub track_memory_s: f64,
    /// Fit the whole rig to the 2D and world landmarks per frame by
    /// Levenberg–Marquardt (src/motion/fit.rs), before the contacts and
    /// the root placement. On by default: it is what brings the skeleton onto the
    /// picture and the 3D error under the model's own (README, Motion);
    /// off gives the direction-matching solve alone.
    pub whole_body_fit: bool,
}

impl Default for PoseConfig {
    fn default() -> Self {
        PoseConfig {
            quality: Quality::default(),
            detector: PersonDetector::default(),
            detect_interval: 20,
            max_people: 8,
            min_detection_score: 0.5,
            min_presence: 0.5,
            fov_deg: crate::motion::lift::DEFAULT_FOV_DEG,
            max_gap_s: 0.5,
            track_memory_s: 1.0,
            whole_body_fit: true,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("invalid configuration in {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("invalid value for {name}: {value:?}")]
    Env { name: String, value: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("this machine lacks what vidmocap needs: {0} (see the fixes above)")]
    Incomplete(String),
}

impl ConfigError {
    /// Stable code for clients and tests.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "config.read",
            ConfigError::Parse { .. } => "config.parse",
            ConfigError::Env { .. } => "config.env",
            ConfigError::Invalid(_) => "config.invalid",
            ConfigError::Incomplete(_) => "config.incomplete",
        }
    }
}

impl Config {
    /// Defaults, then the user configuration (`scripts/setup.sh` records
    /// the library and models there, see [`crate::locate`]), then `file` if
    /// given (or `vidmocap.toml` in the working directory if it exists),
    /// then the environment; what is still unset is looked for beside the
    /// executable and in the data folder.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(user) = crate::locate::user_config_file().filter(|p| p.is_file()) {
            merge(&mut table, Self::read_table(&user)?);
        }
        match file {
            Some(path) => merge(&mut table, Self::read_table(path)?),
            None if Path::new("vidmocap.toml").exists() => {
                merge(&mut table, Self::read_table(Path::new("vidmocap.toml"))?)
            }
            None => {}
        }
        let mut config: Config =
            table
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: "the merged configuration".into(),
                    reason: e.message().to_string(),
                })?;
        config.apply_env(|name| std::env::var(name).ok())?;
        let probe = crate::infer::Manifest::builtin()
            .ok()
            .and_then(|m| m.models.first().map(|s| s.file.clone()))
            .unwrap_or_default();
        // A models folder someone chose stays, so its error names it.
        let chosen = config.models.dir != ModelsConfig::default().dir;
        crate::locate::fill_in(
            &mut config.models.ort_library,
            (!chosen).then_some(&mut config.models.dir),
            &probe,
        );
        config.validate()?;
        Ok(config)
    }

    /// Defaults overlaid with one TOML file alone: no user configuration,
    /// no environment (what a deployment's file says by itself).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        Self::read_table(path)?
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                path: path.display().to_string(),
                reason: e.message().to_string(),
            })
    }

    /// One file's settings, checked on their own so an error names its file.
    fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let parse = |e: toml::de::Error| ConfigError::Parse {
            path: path.display().to_string(),
            reason: e.message().to_string(),
        };
        toml::from_str::<Config>(&text).map_err(parse)?;
        toml::from_str(&text).map_err(parse)
    }

    /// Applies `VIDMOCAP_*` variables; `get` is injectable for tests.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, value: String) -> Result<T, ConfigError> {
            value.trim().parse().map_err(|_| ConfigError::Env {
                name: name.to_string(),
                value,
            })
        }
        if let Some(v) = get("VIDMOCAP_MODELS_DIR") {
            self.models.dir = PathBuf::from(v);
        }
        if let Some(v) = get("VIDMOCAP_ORT_LIBRARY").or_else(|| get("ORT_DYLIB_PATH")) {
            if !v.is_empty() {
                self.models.ort_library = Some(PathBuf::from(v));
            }
        }
        if let Some(v) = get("VIDMOCAP_LANDMARK_WORKERS") {
            self.models.landmark_workers = parse("VIDMOCAP_LANDMARK_WORKERS", v)?;
        }
        if let Some(v) = get("VIDMOCAP_DETECTOR_THREADS") {
            self.models.detector_threads = parse("VIDMOCAP_DETECTOR_THREADS", v)?;
        }
        if let Some(v) = get("VIDMOCAP_LANDMARK_BATCH") {
            self.models.landmark_batch = parse("VIDMOCAP_LANDMARK_BATCH", v)?;
        }
        if let Some(v) = get("VIDMOCAP_BATCH_ACROSS_JOBS") {
            self.models.batch_across_jobs = parse("VIDMOCAP_BATCH_ACROSS_JOBS", v)?;
        }
        if let Some(v) = get("VIDMOCAP_INTRA_THREADS") {
            self.models.intra_threads = parse("VIDMOCAP_INTRA_THREADS", v)?;
        }
        if let Some(v) = get("VIDMOCAP_MAX_DURATION_S") {
            self.limits.max_duration_s = parse("VIDMOCAP_MAX_DURATION_S", v)?;
        }
        if let Some(v) = get("VIDMOCAP_MAX_PIXELS") {
            self.limits.max_pixels = parse("VIDMOCAP_MAX_PIXELS", v)?;
        }
        if let Some(v) = get("VIDMOCAP_MAX_FILE_BYTES") {
            self.limits.max_file_bytes = parse("VIDMOCAP_MAX_FILE_BYTES", v)?;
        }
        if let Some(v) = get("VIDMOCAP_FOV_DEG") {
            self.pose.fov_deg = parse("VIDMOCAP_FOV_DEG", v)?;
        }
        if let Some(v) = get("VIDMOCAP_WHOLE_BODY_FIT") {
            self.pose.whole_body_fit = parse("VIDMOCAP_WHOLE_BODY_FIT", v)?;
        }
        if let Some(v) = get("VIDMOCAP_QUALITY") {
            self.pose.quality = parse("VIDMOCAP_QUALITY", v)?;
        }
        if let Some(v) = get("VIDMOCAP_DETECTOR") {
            self.pose.detector = parse("VIDMOCAP_DETECTOR", v)?;
        }
        if let Some(v) = get("VIDMOCAP_MAX_PEOPLE") {
            self.pose.max_people = parse("VIDMOCAP_MAX_PEOPLE", v)?;
        }
        if let Some(v) = get("VIDMOCAP_DEVICE") {
            self.gpu.device = parse("VIDMOCAP_DEVICE", v)?;
        }
        if let Some(v) = get("VIDMOCAP_EXECUTION_PROVIDER") {
            self.gpu.execution_provider = parse("VIDMOCAP_EXECUTION_PROVIDER", v)?;
        }
        if let Some(v) = get("VIDMOCAP_HW_DECODE") {
            self.gpu.hw_decode = parse("VIDMOCAP_HW_DECODE", v)?;
        }
        if let Some(v) = get("VIDMOCAP_JOBS_PER_GPU") {
            self.gpu.jobs_per_gpu = parse("VIDMOCAP_JOBS_PER_GPU", v)?;
        }
        if let Some(v) = get("VIDMOCAP_TENSORRT_CACHE_DIR") {
            if !v.is_empty() {
                self.gpu.tensorrt_cache_dir = Some(PathBuf::from(v));
            }
        }
        self.service.apply_env(&get)?;
        Ok(())
    }

    /// Rejects values no run could use.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.pose;
        if !(10.0..=170.0).contains(&p.fov_deg) {
            return Err(ConfigError::Invalid(format!(
                "pose.fov_deg must be between 10 and 170 degrees, got {}",
                p.fov_deg
            )));
        }
        if p.detect_interval == 0 || p.max_people == 0 {
            return Err(ConfigError::Invalid(
                "pose.detect_interval and pose.max_people must be at least 1".into(),
            ));
        }
        if self.gpu.jobs_per_gpu == 0 {
            return Err(ConfigError::Invalid(
                "gpu.jobs_per_gpu must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.limits.max_corrupt_fraction) {
            return Err(ConfigError::Invalid(
                "limits.max_corrupt_fraction must be between 0 and 1".into(),
            ));
        }
        Ok(())
    }
}

/// Deep-merges `over` into `base`: tables key by key, other values replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_defaults() {
        let mut c = Config::default();
        c.apply_env(|n| match n {
            "VIDMOCAP_MODELS_DIR" => Some("/m".into()),
            "ORT_DYLIB_PATH" => Some("/lib/ort.so".into()),
            "VIDMOCAP_MAX_DURATION_S" => Some("12.5".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.models.dir, PathBuf::from("/m"));
        assert_eq!(c.models.ort_library, Some(PathBuf::from("/lib/ort.so")));
        assert_eq!(c.limits.max_duration_s, 12.5);
    }

    #[test]
    fn bad_env_value_is_a_typed_error() {
        let mut c = Config::default();
        let err = c
            .apply_env(|n| (n == "VIDMOCAP_MAX_PIXELS").then(|| "lots".to_string()))
            .unwrap_err();
        assert_eq!(err.code(), "config.env");
    }

    #[test]
    fn file_with_unknown_key_is_rejected() {
        let err = toml::from_str::<Config>("[pose]\nfov = 3").unwrap_err();
        assert!(err.to_string().contains("fov"));
    }

    #[test]
    fn gpu_settings_parse_from_file_and_env() {
        let mut c: Config =
            toml::from_str("[gpu]\ndevice = \"cpu\"\nexecution_provider = \"tensorrt\"").unwrap();
        assert_eq!(c.gpu.device, Device::Cpu);
        assert_eq!(c.gpu.execution_provider, ExecutionProvider::Tensorrt);
        c.apply_env(|n| (n == "VIDMOCAP_DEVICE").then(|| "GPU".to_string()))
            .unwrap();
        assert_eq!(c.gpu.device, Device::Gpu);
        let err = c
            .apply_env(|n| (n == "VIDMOCAP_HW_DECODE").then(|| "vaapi".to_string()))
            .unwrap_err();
        assert_eq!(err.code(), "config.env");
        assert!(toml::from_str::<Config>("[gpu]\ndevice = \"tpu\"").is_err());
    }

    #[test]
    fn quality_presets_name_their_landmark_models() {
        let mut c: Config = toml::from_str("[pose]\nquality = \"best\"").unwrap();
        assert_eq!(c.pose.quality.landmark_model(), "pose_landmark_heavy");
        c.apply_env(|n| (n == "VIDMOCAP_QUALITY").then(|| "Fast".to_string()))
            .unwrap();
        assert_eq!(c.pose.quality, Quality::Fast);
        let err = c
            .apply_env(|n| (n == "VIDMOCAP_QUALITY").then(|| "ultra".to_string()))
            .unwrap_err();
        assert_eq!(err.code(), "config.env");
        let manifest = crate::infer::Manifest::builtin().unwrap();
        for q in [Quality::Fast, Quality::Balanced, Quality::Best] {
            assert!(manifest.get(q.landmark_model()).is_ok(), "{}", q.name());
        }
        assert!(manifest.get("yolox_nano").is_ok());
    }

    #[test]
    fn out_of_range_fov_is_invalid() {
        let mut c = Config::default();
        c.pose.fov_deg = 200.0;
        assert_eq!(c.validate().unwrap_err().code(), "config.invalid");
    }
}
