//! The wgpu kernels against their CPU twins on real frames of
//! `walk_outdoor.mp4`, and the whole pipeline with GPU preprocessing against
//! the CPU pipeline.
//!
//! They run on whatever Vulkan adapter is present: Mesa's lavapipe in CI
//! (Debian's mesa-vulkan-drivers, installed by scripts/setup.sh), an NVIDIA
//! GPU on the workers. Without any adapter these tests fail rather than skip,
//! so a CI that lost its Vulkan driver cannot pass by testing nothing.

#[path = "support/media.rs"]
mod media;
use media::media;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use vidmocap::config::{Config, Device};
use vidmocap::gpu::planes::ChromaLayout;
use vidmocap::gpu::rgb::{rgb_image_cpu, GpuRgb};
use vidmocap::gpu::{AdapterChoice, CropRequest, GpuContext, GpuCrops};
use vidmocap::infer::Manifest;
use vidmocap::pipeline::{self, ProcessOptions};
use vidmocap::pose::blazepose::BlazePose;
use vidmocap::pose::roi::Roi;
use vidmocap::pose::track::{roi_from_detection, PoseModels};
use vidmocap::video::{probe, ColorMatrix, DecodeOptions, Decoder, Frame, Limits, Rotation};

fn gpu() -> Arc<GpuContext> {
    GpuContext::shared(AdapterChoice::Any).unwrap_or_else(|e| {
        panic!("no Vulkan adapter ({e}); install mesa-vulkan-drivers (scripts/setup.sh)")
    })
}

/// Every `step`-th frame of walk_outdoor.mp4, up to `count` of them.
fn real_frames(step: u64, count: usize) -> Vec<Frame> {
    let path = media("walk_outdoor.mp4");
    let limits = Limits::default();
    let info = probe(&path, &limits).expect("probe");
    let decoder =
        Decoder::start(&path, &info, &limits, 4, &DecodeOptions::software()).expect("decoder");
    decoder
        .filter_map(|f| f.ok())
        .filter(|f| f.index % step == 0)
        .take(count)
        .collect()
}

/// Landmark crops a tracker would ask for, plus hard ones: steep rotations,
/// a crop hanging off each edge, one far larger than the frame.
fn requests(frame: &Frame) -> Vec<CropRequest> {
    let (w, h) = frame.upright_size();
    let (w, h) = (w as f32, h as f32);
    let roi = |cx: f32, cy: f32, size: f32, rotation: f32| Roi {
        cx,
        cy,
        size,
        rotation,
    };
    let mut out = vec![CropRequest::letterbox(frame, 224).0];
    for r in [
        roi(w * 0.6, h * 0.55, h * 0.7, 0.12),
        roi(w * 0.3, h * 0.4, h * 0.5, -0.8),
        roi(w * 0.5, h * 0.5, 97.3, 2.9),
        roi(10.0, 20.0, h * 0.4, 0.4),
        roi(w - 5.0, h - 7.0, h * 0.3, -2.2),
        roi(w * 0.5, h * 0.5, w * 1.7, 0.05),
    ] {
        out.push(CropRequest::landmark(&r, 256));
    }
    out
}

/// Runs `requests` on the GPU and the CPU; returns the largest and mean
/// difference in 0…255 code values.
fn compare(crops: &mut GpuCrops, frame: &Frame, requests: &[CropRequest]) -> (f32, f32) {
    let mut gpu: Vec<Vec<f32>> = requests.iter().map(|r| vec![f32::NAN; r.len()]).collect();
    let mut outs: Vec<&mut [f32]> = gpu.iter_mut().map(|v| v.as_mut_slice()).collect();
    crops.run(frame, requests, &mut outs).expect("GPU crop");
    let (mut max, mut sum, mut n) = (0f32, 0f64, 0usize);
    for (r, g) in requests.iter().zip(&gpu) {
        let mut cpu = vec![0.0; r.len()];
        r.sample_cpu(frame, &mut cpu);
        for (a, b) in g.iter().zip(&cpu) {
            let d = (a - b).abs() / r.range.scale;
            assert!(d.is_finite(), "GPU wrote no value");
            max = max.max(d);
            sum += d as f64;
            n += 1;
        }
    }
    (max, (sum / n as f64) as f32)
}

// Tolerance: the CPU twin steps in 16.16 fixed point with 12-bit bilinear
// weights inside the picture (within 0.3 of a code value of the exact
// float sampler, see video::sample's tests, times chroma gains up to 1.8
// under full-range BT.601); the kernel samples in f32. So: a code value
// and a half of the model's input at most, a hundredth on average.
const MAX_CODE_DIFF: f32 = 1.5;
const MEAN_CODE_DIFF: f32 = 0.01;

#[test]
fn crop_kernel_matches_its_cpu_twin_on_real_frames() {
    let ctx = gpu();
    let mut crops = GpuCrops::new(&ctx);
    let frames = real_frames(37, 6);
    assert_eq!(frames.len(), 6);
    for frame in &frames {
        let (max, mean) = compare(&mut crops, frame, &requests(frame));
        assert!(
            max <= MAX_CODE_DIFF && mean <= MEAN_CODE_DIFF,
            "frame {}: max {max}, mean {mean} code values",
            frame.index
        );
    }
}

#[test]
fn crop_kernel_follows_rotation_matrix_and_range_metadata() {
    let ctx = gpu();
    let mut crops = GpuCrops::new(&ctx);
    let base = real_frames(50, 2).pop().expect("a frame");
    for rotation in [Rotation::Cw90, Rotation::Cw180, Rotation::Cw270] {
        for (matrix, full_range) in [(ColorMatrix::Bt601, true), (ColorMatrix::Bt709, false)] {
            let mut frame = base.clone();
            frame.rotation = rotation;
            frame.matrix = matrix;
            frame.full_range = full_range;
            let (max, mean) = compare(&mut crops, &frame, &requests(&frame));
            assert!(
                max <= MAX_CODE_DIFF && mean <= MEAN_CODE_DIFF,
                "{rotation:?} {matrix:?} full={full_range}: max {max}, mean {mean}"
            );
        }
    }
}

#[test]
fn nv12_and_planar_uploads_give_the_same_tensors() {
    let ctx = gpu();
    let frame = real_frames(1, 1).pop().expect("a frame");
    let requests = requests(&frame);
    let run = |layout| {
        let mut crops = GpuCrops::new(&ctx).with_layout(layout);
        let mut out: Vec<Vec<f32>> = requests.iter().map(|r| vec![0.0; r.len()]).collect();
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
        crops.run(&frame, &requests, &mut outs).expect("GPU crop");
        out
    };
    assert_eq!(run(ChromaLayout::Planar), run(ChromaLayout::Interleaved));
}

#[test]
fn rgb_kernel_matches_its_cpu_twin_on_real_frames() {
    let ctx = gpu();
    for layout in [ChromaLayout::Planar, ChromaLayout::Interleaved] {
        let mut kernel = GpuRgb::new(&ctx, layout);
        for frame in real_frames(90, 2) {
            let gpu = kernel.convert(&frame).expect("GPU convert");
            let cpu = rgb_image_cpu(&frame);
            assert_eq!(gpu.len(), cpu.len());
            let mut worst = 0i32;
            for (g, c) in gpu.iter().zip(&cpu) {
                for shift in [0, 8, 16, 24] {
                    let d = ((g >> shift) & 255) as i32 - ((c >> shift) & 255) as i32;
                    worst = worst.max(d.abs());
                }
            }
            // Rounding of values that land within float error of .5.
            assert!(
                worst <= 1,
                "{layout:?} frame {}: off by {worst}",
                frame.index
            );
        }
    }
}

#[test]
fn buffers_are_reused_across_frames() {
    // (Other tests share the process's device, so this counts its own
    // buffers rather than the device total.)
    let ctx = gpu();
    let mut crops = GpuCrops::new(&ctx);
    let empty = crops.held_bytes();
    let mut sizes = Vec::new();
    for frame in &real_frames(10, 3) {
        compare(&mut crops, frame, &requests(frame));
        sizes.push(crops.held_bytes());
    }
    assert!(sizes[0] > empty, "the first frame allocates");
    assert!(
        sizes.windows(2).all(|w| w[0] == w[1]),
        "later frames reuse the buffers: {sizes:?}"
    );
}

#[test]
fn gpu_inputs_give_the_cpu_detections_and_landmarks() {
    // Model by model, on the same frames and crops: the tracker's feedback
    // (each frame's crop comes from the last frame's landmarks) is left
    // out, so what is compared is what the kernel changes.
    let config = Config::load(None).expect("configuration");
    let manifest = Manifest::builtin().expect("manifest");
    let load = || {
        let (detector, landmarkers) = pipeline::load_sessions(&config, &manifest)
            .unwrap_or_else(|e| panic!("models [{}]: {e}", e.code()));
        BlazePose::new(
            detector,
            config.pose.detector,
            landmarkers,
            config.pose.min_detection_score,
        )
    };
    let mut cpu = load();
    let mut gpu = load().with_gpu(&gpu());
    let (mut people, mut worst, mut sum, mut n) = (0, 0f32, 0f32, 0);
    for frame in real_frames(15, 15) {
        let (w, h) = frame.upright_size();
        let on_cpu = cpu.detect(&frame).expect("CPU detect");
        let on_gpu = gpu.detect(&frame).expect("GPU detect");
        assert_eq!(on_cpu.len(), on_gpu.len(), "frame {}", frame.index);
        for (a, b) in on_cpu.iter().zip(&on_gpu) {
            let d = (a.xmin - b.xmin).abs().max((a.ymax - b.ymax).abs()) * w.max(h) as f32;
            assert!(d < 1.0, "frame {}: boxes {d} px apart", frame.index);
            let roi = roi_from_detection(a, w as f32, h as f32).expect("roi");
            let rois = [roi];
            let lc = cpu.landmarks_batch(&frame, &rois).expect("CPU landmarks");
            let lg = gpu.landmarks_batch(&frame, &rois).expect("GPU landmarks");
            let (Some(lc), Some(lg)) = (&lc[0], &lg[0]) else {
                assert_eq!(lc[0].is_some(), lg[0].is_some(), "presence differs");
                continue;
            };
            people += 1;
            for (p, q) in lc.pose.image.iter().zip(&lg.pose.image) {
                let d = (p.x - q.x).hypot(p.y - q.y);
                worst = worst.max(d);
                sum += d;
                n += 1;
            }
        }
    }
    let mean = sum / n as f32;
    eprintln!("GPU vs CPU inputs, {people} people: landmarks {mean:.3} px apart on average, {worst:.3} px at worst");
    assert!(people >= 10, "{people} people compared");
    assert!(
        mean < 0.25 && worst < 2.0,
        "landmarks differ by {mean:.3} px on average, {worst:.3} px at worst"
    );
}

/// One whole run of `two_people.mp4` on `device`.
fn two_people_on(device: Device) -> (pipeline::Report, tempfile::TempDir) {
    let mut config = Config::load(None).expect("configuration");
    config.gpu.device = device;
    let dir = tempfile::tempdir().unwrap();
    let report = pipeline::run(
        &media("two_people.mp4"),
        dir.path(),
        &config,
        &ProcessOptions::default(),
        &mut |_| {},
        &AtomicBool::new(false),
    )
    .unwrap_or_else(|e| panic!("pipeline failed [{}]: {e}", e.code()));
    (report, dir)
}

#[test]
fn the_pipeline_runs_with_gpu_preprocessing() {
    let (report, dir) = two_people_on(Device::Gpu);
    assert!(
        !report.preprocess.starts_with("cpu"),
        "the GPU run sampled on the CPU: {}",
        report.preprocess
    );
    assert!(report.gpu_buffers_mib > 0.0);
    // Both people, every frame: what the CPU path finds on this clip.
    assert_eq!(report.tracks.len(), 2, "{:?}", report.tracks);
    assert_eq!(report.frames_with_pose, report.frames);
    assert!(dir.path().join("motion.glb").is_file());

    // The same people and the same motion as on the CPU: the sampling
    // differs by under a code value, and the damped crop feedback keeps
    // that from growing frame over frame.
    let (cpu, _) = two_people_on(Device::Cpu);
    assert_eq!(cpu.preprocess, "cpu");
    let frames = |r: &pipeline::Report| -> Vec<(u32, Vec<u64>)> {
        r.track_boxes
            .iter()
            .map(|(&id, b)| (id, b.iter().map(|b| b.0).collect()))
            .collect()
    };
    assert_eq!(frames(&report), frames(&cpu), "different people or frames");
    let mut worst = 0f32;
    for (id, boxes) in &report.track_boxes {
        for ((f, g), (_, c)) in boxes.iter().zip(&cpu.track_boxes[id]) {
            let d = [
                g.xmin - c.xmin,
                g.ymin - c.ymin,
                g.xmax - c.xmax,
                g.ymax - c.ymax,
            ]
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
            let side = (c.ymax - c.ymin).max(c.xmax - c.xmin);
            worst = worst.max(d / side);
            assert!(
                d <= GPU_CPU_BOX_TOLERANCE * side,
                "track {id}, frame {f}: boxes {d:.1} px apart (side {side:.0})"
            );
        }
    }
    eprintln!(
        "worst GPU/CPU box difference: {:.3}% of the box",
        worst * 100.0
    );
}

/// Largest GPU/CPU difference of a track's landmark box on any frame, as a
/// share of the box's long side.
const GPU_CPU_BOX_TOLERANCE: f32 = 0.02;
