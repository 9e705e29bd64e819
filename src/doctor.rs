//! `vidmocap doctor`: what this machine has of what vidmocap uses — FFmpeg
//! and its decoders, the ONNX Runtime library and its providers, each
//! model and its hash, GPU adapters, Blender — each problem with the one
//! command that fixes it.
//!
//! GPU items are advice only where a GPU is present or was asked for
//! (`device = "gpu"`): a CPU-only machine is a supported machine.

use std::process::Command;

use ffmpeg_next as ff;
use ort::ep::ExecutionProvider as _;

use crate::config::{Config, Device};
use crate::infer::{Manifest, Runtime};

/// How one item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Present and usable.
    Ok,
    /// Absent, but nothing needs it here.
    Info,
    /// Needed and absent or broken: runs fail until it is fixed.
    Problem,
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Item {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// The command that fixes a problem.
    pub fix: Option<String>,
}

fn item(name: &str, status: Status, detail: String, fix: Option<String>) -> Item {
    Item {
        name: name.to_string(),
        status,
        detail,
        fix,
    }
}

/// Decoders of the codecs phones, cameras and the web produce.
const DECODERS: [(ff::codec::Id, &str); 6] = [
    (ff::codec::Id::H264, "h264"),
    (ff::codec::Id::HEVC, "hevc"),
    (ff::codec::Id::VP9, "vp9"),
    (ff::codec::Id::AV1, "av1"),
    (ff::codec::Id::MPEG4, "mpeg4"),
    (ff::codec::Id::PRORES, "prores"),
];

/// Checks everything; never fails as a whole.
pub fn check(config: &Config) -> Vec<Item> {
    let mut items = vec![ffmpeg()];
    items.extend(onnx_runtime(config));
    items.extend(models(config));
    items.push(gpu(config));
    items.push(blender());
    items
}

fn ffmpeg() -> Item {
    if let Err(e) = ff::init() {
        return item(
            "ffmpeg",
            Status::Problem,
            format!("the FFmpeg libraries did not initialise: {e}"),
            Some("scripts/setup.sh".into()),
        );
    }
    let v = ff::codec::version();
    let (found, missing): (Vec<_>, Vec<_>) = DECODERS
        .iter()
        .partition(|(id, _)| ff::codec::decoder::find(*id).is_some());
    let names = |list: &[&(ff::codec::Id, &str)]| {
        list.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(" ")
    };
    let mut detail = format!(
        "libavcodec {}.{}.{}; decoders: {}",
        v >> 16,
        (v >> 8) & 0xff,
        v & 0xff,
        names(&found)
    );
    if missing.is_empty() {
        return item("ffmpeg", Status::Ok, detail, None);
    }
    detail.push_str(&format!("; missing: {}", names(&missing)));
    // H.264 is what most clips are; without it most uploads fail.
    let needed = missing.iter().any(|(id, _)| *id == ff::codec::Id::H264);
    item(
        "ffmpeg",
        if needed {
            Status::Problem
        } else {
            Status::Info
        },
        detail,
        needed.then(|| "sudo apt-get install libavcodec-extra".into()),
    )
}

fn onnx_runtime(config: &Config) -> Vec<Item> {
    let setup = Some(format!(
        "{} (in the vidmocap checkout)",
        crate::locate::SETUP_COMMAND
    ));
    let runtime = match Runtime::load(config.models.ort_library.as_deref()) {
        Ok(r) => r,
        Err(e) => return vec![item("onnxruntime", Status::Problem, e.to_string(), setup)],
    };
    let version = runtime
        .library()
        .parent()
        .and_then(|d| std::fs::read_to_string(d.join("VERSION")).ok())
        .map(|v| format!(" {}", v.trim()))
        .unwrap_or_default();
    let mut out = vec![item(
        "onnxruntime",
        Status::Ok,
        format!("{}{version}", runtime.library().display()),
        None,
    )];
    let gpu_wanted = config.gpu.device == Device::Gpu || crate::gpu::has_gpu_device();
    let cuda = ort::ep::CUDA::is_available().unwrap_or(false);
    let tensorrt = ort::ep::TensorRT::is_available().unwrap_or(false);
    let mut providers = vec!["CPU"];
    providers.extend(cuda.then_some("CUDA"));
    providers.extend(tensorrt.then_some("TensorRT"));
    let (status, fix) = if cuda || !gpu_wanted {
        (Status::Ok, None)
    } else {
        (
            Status::Info,
            Some("ORT_FLAVOR=gpu scripts/setup.sh (the GPU build of ONNX Runtime)".into()),
        )
    };
    out.push(item("providers", status, providers.join(" "), fix));
    out
}

fn models(config: &Config) -> Vec<Item> {
    let manifest = match Manifest::builtin() {
        Ok(m) => m,
        Err(e) => return vec![item("models", Status::Problem, e.to_string(), None)],
    };
    let dir = &config.models.dir;
    manifest
        .check_all(dir)
        .into_iter()
        .map(|c| match c.message {
            None => item(
                &c.name,
                Status::Ok,
                format!("{} (sha256 matches)", c.path.display()),
                None,
            ),
            Some(message) => item(
                &c.name,
                Status::Problem,
                message,
                Some(format!(
                    "vidmocap models fetch --dir {} --from <folder or URL of the models>",
                    dir.display()
                )),
            ),
        })
        .collect()
}

fn gpu(config: &Config) -> Item {
    let asked = config.gpu.device == Device::Gpu;
    if !asked && !crate::gpu::has_gpu_device() {
        return item(
            "gpu",
            Status::Info,
            "no GPU device in /dev: everything runs on the CPU".into(),
            None,
        );
    }
    let adapters = crate::gpu::adapter_names();
    if adapters.is_empty() {
        let status = if asked { Status::Problem } else { Status::Info };
        return item(
            "gpu",
            status,
            "no Vulkan adapter".into(),
            Some("sudo apt-get install libvulkan1 mesa-vulkan-drivers".into()),
        );
    }
    item("gpu", Status::Ok, adapters.join("; "), None)
}

fn blender() -> Item {
    match Command::new("blender").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text
                .lines()
                .find(|l| l.starts_with("Blender"))
                .unwrap_or("");
            item("blender", Status::Ok, first.trim().to_string(), None)
        }
        _ => item(
            "blender",
            Status::Info,
            "not found (optional: to open the exports and for the import tests)".into(),
            Some("sudo apt-get install blender".into()),
        ),
    }
}

/// `vidmocap doctor`: prints the report; an error naming the problems, if any.
pub fn run(config: &Config) -> Result<(), crate::Error> {
    let items = check(config);
    print(&items);
    let problems: Vec<&str> = items
        .iter()
        .filter(|i| i.status == Status::Problem)
        .map(|i| i.name.as_str())
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(crate::config::ConfigError::Incomplete(problems.join(", ")).into())
}

/// Prints the report, one line per item and its fix below it.
pub fn print(items: &[Item]) {
    for i in items {
        let tag = match i.status {
            Status::Ok => "ok     ",
            Status::Info => "note   ",
            Status::Problem => "PROBLEM",
        };
        println!("{tag}  {:<20} {}", i.name, i.detail);
        if let Some(fix) = &i.fix {
            println!("         {:<20} fix: {fix}", "");
        }
    }
}
