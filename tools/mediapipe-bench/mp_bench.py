#!/usr/bin/env python3
"""Benchmark MediaPipe's own PoseLandmarker (Tasks API, VIDEO mode, num_poses=2,
default thresholds and smoothing, CPU/XNNPACK) on a video clip, whole job including decode,
once per BlazePose landmark model (the presets' lite / full / heavy).

    tools/mediapipe-bench/run.sh [--model lite,full,heavy] [--clip PATH] [--repeat N]
    (or: make bench-mediapipe)

Models come from $VIDMOCAP_MODELS_DIR (default ../shared/models beside the checkout):
blazepose/pose_detection.tflite and blazepose/pose_landmark_{lite,full,heavy}.tflite.
The default clip comes from $VIDMOCAP_MEDIA_DIR (default ../shared/media).

Output: progress and checks on stderr; on stdout one JSON line per model, e.g.
  {"model": "lite", "frames": 230, "fps_runs": [...], "best_fps": ..., "mean_fps": ...,
   "peak_rss_mib": ..., "bundle": ..., "clip": ..., "mediapipe": "1.2.2", ...}
Each model runs in its own child process (this script with --child), so peak_rss_mib
(the child's ru_maxrss) is that model's alone: Python, mediapipe, OpenCV, decode and
the landmarker over all repeats, bundle building excluded.

Timed region per run: from just before cv2.VideoCapture(clip) to just after the last
detect_for_video() returns. It covers decode, BGR->RGB, mp.Image wrapping and
detect_for_video for every frame. Building/loading the model bundle and creating the
landmarker are outside it. Each run gets a fresh landmarker, because VIDEO mode needs
timestamps that only go up, so every run sees the same tracking state and results.

Model bundles: the Tasks API needs a .task zip holding pose_detector.tflite and
pose_landmarks_detector.tflite. The raw mediapipe/modules .tflite files carry no TFLite
metadata, and the Tasks API refuses them ("Input tensor has type float32: it requires
specifying NormalizationOptions metadata"). So at startup (cached afterwards, keyed on
the source files' sha256) we build one bundle per landmark model:
  1. add image-input metadata with tflite-support's metadata writer (add_metadata.py,
     run in a separate venv .tools/tflsvenv so its protobuf<4 pin stays out of the
     mediapipe venv):
        pose_detector:           mean 127.5, std 127.5  -> input in [-1, 1]
        pose_landmarks_detector: mean 0,     std 255    -> input in [0, 1]
     The weights and graph are not touched; only the metadata buffer is added.
  2. zip them (stored, no compression) as .tools/mediapipe-bench/pose_landmarker_<model>_blazepose.task.
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
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
MODELS = os.path.join(os.environ.get("VIDMOCAP_MODELS_DIR") or os.path.join(SHARED, "models"), "blazepose")
SRC_DET = os.path.join(MODELS, "pose_detection.tflite")
LANDMARK_MODELS = ("lite", "full", "heavy")
CACHE = os.path.join(ROOT, ".tools", "mediapipe-bench")
ADD_MD = os.path.join(HERE, "add_metadata.py")
MD_VENV = os.path.join(ROOT, ".tools", "tflsvenv")
DEFAULT_CLIP = os.path.join(os.environ.get("VIDMOCAP_MEDIA_DIR") or os.path.join(SHARED, "media"),
                            "walk_outdoor.mp4")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def src_landmark(model):
    return os.path.join(MODELS, f"pose_landmark_{model}.tflite")


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
        log(f"[bundle] creating {MD_VENV} with tflite-support (one time)")
        # The mediapipe venv's base interpreter is 3.11; tflite-support 0.4.4 has a cp311 wheel.
        base = os.path.realpath(sys.executable) if sys.prefix == sys.base_prefix else \
            os.path.join(sys.base_prefix, "bin", "python3")
        subprocess.run([base, "-m", "venv", MD_VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "tflite-support==0.4.4"], check=True,
                       stdout=sys.stderr)
    return py


def with_metadata(py, src, mean, std, name):
    """`src` with image-input metadata added, cached under CACHE by the source's sha256."""
    digest = sha256(src)
    dst = os.path.join(CACHE, f"{name}.{digest[:16]}.md.tflite")
    if not os.path.exists(dst):
        tmp = dst + ".tmp"
        subprocess.run([py, ADD_MD, src, tmp, str(mean), str(std), name], check=True,
                       stdout=sys.stderr)
        os.replace(tmp, dst)
    return dst


def ensure_task(model, force=False):
    """Build (or reuse) the .task bundle for one landmark model from the raw BlazePose tflite files."""
    src_lmk = src_landmark(model)
    for p in (SRC_DET, src_lmk):
        if not os.path.exists(p):
            raise SystemExit(f"missing {p} (set VIDMOCAP_MODELS_DIR to the folder holding blazepose/)")
    task = os.path.join(CACHE, f"pose_landmarker_{model}_blazepose.task")
    stamp = task + ".src-sha256"
    want = f"{sha256(SRC_DET)} {sha256(src_lmk)}\n"
    if not force and os.path.exists(task) and os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == want:
                with zipfile.ZipFile(task) as z:
                    if set(z.namelist()) == {"pose_detector.tflite", "pose_landmarks_detector.tflite"}:
                        log(f"[bundle] cached {task}")
                        return task
    py = ensure_md_venv()
    os.makedirs(CACHE, exist_ok=True)
    if force:
        for f in os.listdir(CACHE):
            if f.endswith(".md.tflite"):
                os.remove(os.path.join(CACHE, f))
    det = with_metadata(py, SRC_DET, 127.5, 127.5, "pose_detector")
    lmk = with_metadata(py, src_lmk, 0, 255, "pose_landmarks_detector")
    tmp_task = task + ".tmp"
    with zipfile.ZipFile(tmp_task, "w", zipfile.ZIP_STORED) as z:
        z.write(det, "pose_detector.tflite")
        z.write(lmk, "pose_landmarks_detector.tflite")
    os.replace(tmp_task, task)
    with open(stamp, "w") as f:
        f.write(want)
    log(f"[bundle] built {task}")
    return task


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
    log(f"  poses/frame: 0={hist[0]} 1={hist[1]} 2={hist[2]}")
    first = next((k for k, p in enumerate(results) if p), None)
    if first is None:
        log("  no poses detected")
        return
    noses = [(round(p[0].x * w, 2), round(p[0].y * h, 2)) for p in results[first]]
    log(f"  first frame with a pose: {first}, nose px {noses}")
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
    log(f"  reference {os.path.basename(ref_path)}: poses/frame 0={rhist[0]} 1={rhist[1]} 2={rhist[2]}; "
          f"count agrees on {same_counts}/{len(ref)} frames; max |dx|,|dy| vs reference "
          f"{maxd:.3f} px (frames with equal counts)")


def parse_models(values):
    models = []
    for v in values or ["lite"]:
        for m in v.split(","):
            m = m.strip()
            if m == "all":
                models.extend(LANDMARK_MODELS)
            elif m in LANDMARK_MODELS:
                models.append(m)
            elif m:
                raise SystemExit(f"unknown model {m!r}: choose from {', '.join(LANDMARK_MODELS)} or all")
    return list(dict.fromkeys(models))


def child(a):
    """Runs one bundle in this process; prints its JSON line on stdout."""
    import resource

    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import vision

    log(f"mediapipe {mp.__version__}, opencv {cv2.__version__}, python {sys.version.split()[0]}, "
        f"cpus {os.cpu_count()} (affinity {len(os.sched_getaffinity(0))})")
    log(f"model {a.label}, clip {a.clip}, bundle {a.task}")
    log("PoseLandmarker: Tasks API, RunningMode.VIDEO, num_poses=2, default thresholds/smoothing, CPU")
    fps_list = []
    walls = []
    frames = 0
    for r in range(a.repeat):
        n, wall, results, size = run_once(mp, vision, cv2, a.task, a.clip)
        frames = n
        fps = n / wall if wall > 0 else 0.0
        fps_list.append(fps)
        walls.append(wall)
        log(f"run {r + 1}/{a.repeat}: frames {n}, wall {wall:.3f} s, {fps:.2f} fps")
        if r == 0:
            if a.label == "lite":
                check(results, size, a.clip)   # the reference landmarks were made with lite
            else:
                hist = collections.Counter(len(p) for p in results)
                log(f"  poses/frame: 0={hist[0]} 1={hist[1]} 2={hist[2]}")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux
    log(f"{a.label}: best {max(fps_list):.2f} fps, mean {sum(fps_list) / len(fps_list):.2f} fps "
        f"over {a.repeat} runs, peak RSS {peak_kib / 1024:.0f} MiB")
    print(json.dumps({
        "model": a.label,
        "frames": frames,
        "repeat": a.repeat,
        "wall_s": [round(w, 4) for w in walls],
        "fps_runs": [round(f, 2) for f in fps_list],
        "best_fps": round(max(fps_list), 2),
        "mean_fps": round(sum(fps_list) / len(fps_list), 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "clip": os.path.abspath(a.clip),
        "bundle": os.path.abspath(a.task),
        "mediapipe": mp.__version__,
        "num_poses": 2,
        "running_mode": "VIDEO",
    }), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append",
                    help="landmark model(s): lite, full, heavy, a comma-separated list, or all "
                         "(repeatable; default lite)")
    ap.add_argument("--clip", default=DEFAULT_CLIP)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--task", help="use this .task bundle instead of building one (one model only; "
                                   "--model names it in the output)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached .task bundles")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--label", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.child:
        return child(a)
    if not os.path.exists(a.clip):
        raise SystemExit(f"no clip at {a.clip}")
    models = parse_models(a.model)
    if a.task and len(models) != 1:
        raise SystemExit("--task takes one model")
    # Bundles first, all of them, so a missing file fails before any timing starts.
    tasks = {m: (a.task or ensure_task(m, a.rebuild)) for m in models}
    status = 0
    for m in models:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--label", m,
               "--task", tasks[m], "--clip", a.clip, "--repeat", str(a.repeat)]
        status = subprocess.run(cmd).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
