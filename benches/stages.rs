//! Micro-benches of the CPU stages that run per frame or per person:
//! the model-input crops sampled from YUV, detector decoding with NMS,
//! landmark decoding, smoothing, and the rig solve; and the same crops on
//! the GPU (one dispatch for the letterbox and four people, readback
//! included) when a Vulkan adapter is present. On a software adapter
//! (lavapipe) that figure measures the CPU emulating a GPU, nothing more.
//! Model inference and decoding are measured on real clips by
//! `vidmocap bench`.

use criterion::{criterion_group, criterion_main, Criterion};
use glam::Vec3;
use std::hint::black_box;
use vidmocap::gpu::{AdapterChoice, CropRequest, GpuContext, GpuCrops};
use vidmocap::motion::filter::PoseSmoother;
use vidmocap::pose::anchors::pose_detector_anchors;
use vidmocap::pose::crop::{crop_square, letterbox_square, Border, LANDMARK_RANGE};
use vidmocap::pose::detect::{decode, weighted_nms, COORDS_PER_ANCHOR};
use vidmocap::pose::landmark::{self, HEATMAP_SIZE, MODEL_LANDMARKS};
use vidmocap::pose::roi::Roi;
use vidmocap::rig::{solve_frame, Skeleton};
use vidmocap::video::Frame;

fn frame() -> Frame {
    let mut f = Frame::solid(1768, 994, [120, 110, 140]);
    for (i, y) in f.y.iter_mut().enumerate() {
        *y = (i % 251) as u8;
    }
    f
}

fn crops(c: &mut Criterion) {
    let f = frame();
    let roi = Roi {
        cx: 700.0,
        cy: 400.0,
        size: 420.0,
        rotation: 0.3,
    };
    let mut lm = vec![0.0; 256 * 256 * 3];
    let mut det = vec![0.0; 224 * 224 * 3];
    c.bench_function("landmark_crop_256", |b| {
        b.iter(|| crop_square(&f, &roi, 256, Border::Replicate, LANDMARK_RANGE, &mut lm))
    });
    c.bench_function("detector_letterbox_224", |b| {
        b.iter(|| letterbox_square(&f, 224, &mut det))
    });
}

fn gpu_crops(c: &mut Criterion) {
    let ctx = match GpuContext::shared(AdapterChoice::Any) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("gpu_crops: skipped, {e}");
            return;
        }
    };
    let f = frame();
    let mut requests = vec![CropRequest::letterbox(&f, 224).0];
    for i in 0..4 {
        let roi = Roi {
            cx: 300.0 + 350.0 * i as f32,
            cy: 500.0,
            size: 420.0,
            rotation: 0.3 * i as f32,
        };
        requests.push(CropRequest::landmark(&roi, 256));
    }
    let mut out: Vec<Vec<f32>> = requests.iter().map(|r| vec![0.0; r.len()]).collect();
    let mut crops = GpuCrops::new(&ctx);
    let name = format!("gpu_letterbox_and_4_crops ({})", ctx.adapter());
    c.bench_function(&name, |b| {
        b.iter(|| {
            // Each iteration is a new frame: upload, dispatch, readback.
            crops.forget_frame();
            let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
            crops.run(&f, &requests, &mut outs).expect("GPU crops");
        })
    });
    c.bench_function("cpu_letterbox_and_4_crops", |b| {
        b.iter(|| {
            for (r, o) in requests.iter().zip(out.iter_mut()) {
                r.sample_cpu(&f, o);
            }
        })
    });
}

fn decoding(c: &mut Criterion) {
    let anchors = pose_detector_anchors();
    let boxes: Vec<f32> = (0..anchors.len() * COORDS_PER_ANCHOR)
        .map(|i| (i % 17) as f32 - 8.0)
        .collect();
    let scores: Vec<f32> = (0..anchors.len())
        .map(|i| if i % 97 == 0 { 3.0 } else { -6.0 })
        .collect();
    c.bench_function("detector_decode_nms", |b| {
        b.iter(|| weighted_nms(decode(black_box(&boxes), &scores, &anchors, 0.5), 0.5))
    });
    let raw: Vec<f32> = (0..MODEL_LANDMARKS * 5).map(|i| (i % 256) as f32).collect();
    let heat = vec![0.1f32; HEATMAP_SIZE * HEATMAP_SIZE * MODEL_LANDMARKS];
    let world = vec![0.1f32; 117];
    let roi = Roi {
        cx: 700.0,
        cy: 400.0,
        size: 420.0,
        rotation: 0.3,
    };
    c.bench_function("landmark_decode_refine", |b| {
        b.iter(|| landmark::decode(black_box(&raw), 0.9, &heat, &world, &roi))
    });
    let pose = landmark::decode(&raw, 0.9, &heat, &world, &roi)
        .unwrap()
        .pose;
    let mut smoother = PoseSmoother::new();
    let mut t = 0.0;
    c.bench_function("pose_smoothing", |b| {
        b.iter(|| {
            t += 1.0 / 30.0;
            smoother.apply(t, black_box(&pose), 400.0)
        })
    });
}

fn rig(c: &mut Criterion) {
    let skel = Skeleton::default();
    let world: [Vec3; 33] = skel.rest_landmarks_hip_centred();
    c.bench_function("rig_solve_frame", |b| {
        b.iter(|| solve_frame(&skel, black_box(&world)))
    });
}

criterion_group!(benches, crops, gpu_crops, decoding, rig);
criterion_main!(benches);
