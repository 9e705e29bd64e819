#!/usr/bin/env python3
"""Benchmark MediaPipe's own PoseLandmarker (Tasks API, VIDEO mode, num_poses=2,
default thresholds and smoothing, CPU/XNNPACK) on a video clip, whole job including decode.

    tools/mediapipe-bench/run.sh [--clip PATH] [--repeat N]   (or: make bench-mediapipe)

Models come from $VIDMOCAP_MODELS_DIR, the default clip from $VIDMOCAP_MEDIA_DIR.

Timed region per run: from just before cv2.VideoCapture(clip) to just after the last
detect_for_video() returns. It covers decode, BGR->RGB, mp.Image wrapping and
detect_for_video for every frame. Building/loading the model bundle and creating the
landmarker are outside it. Each run gets a fresh landmarker, because VIDEO mode needs
timestamps that only go up, so every run sees the same tracking state and results.

Model bundle: the Tasks API needs a .task zip holding pose_detector.tflite and
pose_landmarks_detector.tflite. The raw mediapipe/modules .tflite files carry no TFLite
metadata, and the Tasks API refuses them ("Input tensor has type float32: it requires
specifying NormalizationOptions metadata"). So at startup (cached afterwards) we
  1. add image-input metadata with tflite-support's metadata writer (add_metadata.py,
     run in a separate venv .tools/tflsvenv so its protobuf<4 pin stays out of the
     mediapipe venv):
        pose_detector:           mean 127.5, std 127.5  -> input in [-1, 1]
        pose_landmarks_detector: mean 0,     std 255    -> input in [0, 1]
     The weights and graph are not touched; only the metadata buffer is added.
  2. zip them (stored, no compression) as pose_landmarker_lite_blazepose.task.
mediapipe 1.2.2 has no legacy mediapipe.solutions API, so there is no legacy mode.
"""
import argparse
import collections
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = os.path.join(os.environ.get("VIDMOCAP_MODELS_DIR", "models"), "blazepose")
SRC_DET = os.path.join(MODELS, "pose_detection.tflite")
SRC_LMK = os.path.join(MODELS, "pose_landmark_lite.tflite")
CACHE = os.path.join(ROOT, ".tools", "mediapipe-bench")
TASK = os.path.join(CACHE, "pose_landmarker_lite_blazepose.task")
STAMP = TASK + ".src-sha256"
ADD_MD = os.path.join(HERE, "add_metadata.py")
MD_VENV = os.path.join(ROOT, ".tools", "tflsvenv")
DEFAULT_CLIP = os.path.join(os.environ.get("VIDMOCAP_MEDIA_DIR", "media"), "walk_outdoor.mp4")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ensure_md_venv():
    py = os.path.join(MD_VENV, "bin", "python")
    ok = os.path.exists(py) and subprocess.run(
        [py, "-c", "import tensorflow_lite_support.metadata.python.metadata_writers.metadata_writer"],
        capture_output=True).returncode == 0
    if not ok:
        print(f"[bundle] creating {MD_VENV} with tflite-support (one time)", flush=True)
        # The mediapipe venv's base interpreter is 3.11; tflite-support 0.4.4 has a cp311 wheel.
        base = os.path.realpath(sys.executable) if sys.prefix == sys.base_prefix else \
            os.path.join(sys.base_prefix, "bin", "python3")
        subprocess.run([base, "-m", "venv", MD_VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "tflite-support==0.4.4"], check=True)
    return py


def ensure_task(force=False):
    """Build (or reuse) the .task bundle from the raw BlazePose tflite files."""
    want = f"{sha256(SRC_DET)} {sha256(SRC_LMK)}\n"
    if not force and os.path.exists(TASK) and os.path.exists(STAMP):
        with open(STAMP) as f:
            if f.read() == want:
                with zipfile.ZipFile(TASK) as z:
                    if set(z.namelist()) == {"pose_detector.tflite", "pose_landmarks_detector.tflite"}:
                        print(f"[bundle] cached {TASK}")
                        return TASK
    py = ensure_md_venv()
    os.makedirs(CACHE, exist_ok=True)
    tmp_det = os.path.join(CACHE, "pose_detector.md.tflite")
    tmp_lmk = os.path.join(CACHE, "pose_landmarks_detector.md.tflite")
    subprocess.run([py, ADD_MD, SRC_DET, tmp_det, "127.5", "127.5", "pose_detector"], check=True)
    subprocess.run([py, ADD_MD, SRC_LMK, tmp_lmk, "0", "255", "pose_landmarks_detector"], check=True)
    tmp_task = TASK + ".tmp"
    with zipfile.ZipFile(tmp_task, "w", zipfile.ZIP_STORED) as z:
        z.write(tmp_det, "pose_detector.tflite")
        z.write(tmp_lmk, "pose_landmarks_detector.tflite")
    os.replace(tmp_task, TASK)
    with open(STAMP, "w") as f:
        f.write(want)
    print(f"[bundle] built {TASK}")
    return TASK


def run_once(mp, vision, cv2, task_path, clip):
    from mediapipe.tasks.python import BaseOptions
    opts = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=task_path),
        running_mode=vision.RunningMode.VIDEO,
        num_poses=2)
    results = []
    with vision.PoseLandmarker.create_from_options(opts) as lm:   # not timed
        t0 = time.perf_counter()
        cap = cv2.VideoCapture(clip)
        if not cap.isOpened():
            raise SystemExit(f"cannot open {clip}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        i = 0
        w = h = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            h, w = bgr.shape[:2]
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            img = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
            res = lm.detect_for_video(img, int(i * 1000.0 / fps))
            results.append(res.pose_landmarks)
            i += 1
        wall = time.perf_counter() - t0
        cap.release()
    return i, wall, results, (w, h)


def check(results, size, clip):
    w, h = size
    hist = collections.Counter(len(p) for p in results)
    print(f"  poses/frame: 0={hist[0]} 1={hist[1]} 2={hist[2]}")
    first = next((k for k, p in enumerate(results) if p), None)
    if first is None:
        print("  no poses detected")
        return
    noses = [(round(p[0].x * w, 2), round(p[0].y * h, 2)) for p in results[first]]
    print(f"  first frame with a pose: {first}, nose px {noses}")
    ref_path = os.path.splitext(clip)[0] + ".mediapipe.json"
    if not os.path.exists(ref_path):
        return
    with open(ref_path) as f:
        ref = json.load(f)["per_frame"]
    rhist = collections.Counter(len(fr["poses"]) for fr in ref)
    same_counts = sum(len(fr["poses"]) == len(p) for fr, p in zip(ref, results))
    maxd = 0.0
    for fr, poses in zip(ref, results):
        if len(fr["poses"]) != len(poses):
            continue
        for rp, p in zip(fr["poses"], poses):
            for (rx, ry, _), l in zip(rp["image"], p):
                maxd = max(maxd, abs(rx - l.x * w), abs(ry - l.y * h))
    print(f"  reference {os.path.basename(ref_path)}: poses/frame 0={rhist[0]} 1={rhist[1]} 2={rhist[2]}; "
          f"count agrees on {same_counts}/{len(ref)} frames; max |dx|,|dy| vs reference "
          f"{maxd:.3f} px (frames with equal counts)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default=DEFAULT_CLIP)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--task", help="use this .task bundle instead of building one")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached .task bundle")
    a = ap.parse_args()

    task_path = a.task or ensure_task(a.rebuild)

    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import vision

    print(f"mediapipe {mp.__version__}, opencv {cv2.__version__}, python {sys.version.split()[0]}, "
          f"cpus {os.cpu_count()} (affinity {len(os.sched_getaffinity(0))})")
    print(f"clip {a.clip}")
    print(f"bundle {task_path}")
    print("PoseLandmarker: Tasks API, RunningMode.VIDEO, num_poses=2, default thresholds/smoothing, CPU")
    fps_list = []
    for r in range(a.repeat):
        n, wall, results, size = run_once(mp, vision, cv2, task_path, a.clip)
        fps = n / wall if wall > 0 else 0.0
        fps_list.append(fps)
        print(f"run {r + 1}/{a.repeat}: frames {n}, wall {wall:.3f} s, {fps:.2f} fps", flush=True)
        if r == 0:
            check(results, size, a.clip)
    print(f"best {max(fps_list):.2f} fps, mean {sum(fps_list) / len(fps_list):.2f} fps over {a.repeat} runs")


if __name__ == "__main__":
    main()
