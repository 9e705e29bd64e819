#!/usr/bin/env bash
# The GPU figures the README's "Figures on an NVIDIA H200" section asks for,
# in one run on a GPU machine: for each preset, one 1080p clip end to end on
# the GPU, N copies at once with sessions per job and with one shared
# (batched) landmark session, and the same clip on the CPU for the ratio.
# Each bench writes its JSON (vidmocap bench --json) into the output folder;
# summary.tsv has one line per figure.
#
#   scripts/gpu-bench.sh [--bin PATH] [--clip PATH] [--out DIR] [--jobs N]
#                        [--presets fast,balanced,best] [--limit SECONDS]
#
#   --bin     the vidmocap binary (default target/release/vidmocap)
#   --clip    a 1080p clip (default: walk_outdoor.mp4 from $VIDMOCAP_MEDIA_DIR
#             scaled to 1920x1080 with ffmpeg into the output folder)
#   --out     where the JSON goes (default $OUT, else bench-gpu/)
#   --jobs    copies at once for the aggregate (default 16)
#   --limit   seconds each bench may take before it is stopped (default 90),
#             so one slow figure cannot use a whole device lease
#
# It needs the GPU build of ONNX Runtime (scripts/install-onnxruntime.sh
# --gpu --with-cuda, or ORT_DYLIB_PATH pointing at one); without it the GPU
# figures are preprocessing and decoding on the GPU with inference on the
# CPU, and summary.tsv says so in its provider column.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release/vidmocap"
clip=""
out="${OUT:-$root/bench-gpu}"
jobs=16
presets="fast,balanced,best"
limit=90
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --clip) clip="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --presets) presets="$2"; shift 2 ;;
    --limit) limit="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
[ -x "$bin" ] || { echo "no vidmocap binary at $bin (cargo build --release, or --bin)" >&2; exit 2; }
if [ -z "${ORT_DYLIB_PATH:-}" ] && [ -f "$root/.tools/onnxruntime-gpu/libonnxruntime.so" ]; then
  export ORT_DYLIB_PATH="$root/.tools/onnxruntime-gpu/libonnxruntime.so"
fi
if [ -z "$clip" ]; then
  src="${VIDMOCAP_MEDIA_DIR:-$root/../shared/media}/walk_outdoor.mp4"
  clip="$out/clip_1080p.mp4"
  [ -f "$clip" ] || ffmpeg -v error -y -i "$src" -vf scale=1920:1080 -an -c:v libx264 \
    -preset veryfast -crf 18 "$clip" || { echo "cannot make the 1080p clip" >&2; exit 2; }
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
"$bin" doctor > "$out/doctor.txt" 2>&1

# One bench: NAME, then environment assignments, then bench arguments.
bench() {
  local name="$1"; shift
  local envs=()
  while [ $# -gt 0 ] && [[ "$1" == *=* ]]; do envs+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  echo "== $name" >&2
  env "${envs[@]}" timeout "$limit" "$bin" bench "$clip" --json "$@" \
    > "$out/$name.json" 2> "$out/$name.log"
  echo "$name rc=$?" >&2
}

IFS=, read -r -a list <<< "$presets"
for q in "${list[@]}"; do
  bench "$q-gpu" VIDMOCAP_LANDMARK_WORKERS=1 -- --quality "$q" --device gpu --repeat 2
  bench "$q-gpu-jobs$jobs" --quality "$q" --device gpu --repeat 1 --jobs "$jobs"
  bench "$q-gpu-jobs$jobs-shared" VIDMOCAP_BATCH_ACROSS_JOBS=true VIDMOCAP_LANDMARK_WORKERS=1 -- \
    --quality "$q" --device gpu --repeat 1 --jobs "$jobs"
  bench "$q-cpu" --quality "$q" --device cpu --repeat 1
done

# name, whole-job fps, aggregate fps, providers, slowest stage.
python3 - "$out" > "$out/summary.tsv" <<'EOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("bench\tbest_fps\taggregate_fps\tproviders\tslowest_stage")
for f in sorted(out.glob("*.json")):
    try:
        r = json.loads(f.read_text())
    except ValueError:
        print(f"{f.stem}\tfailed\t\t\t(see {f.stem}.log)")
        continue
    best = r["best"]
    providers = ",".join(f'{p["model"]}:{p["provider"]}' for p in best.get("providers", []))
    stages = [t for t in best["timings"] if t["stage"] not in ("tracking_total", "setup")]
    slow = max(stages, key=lambda t: t["seconds"], default={"stage": "?", "seconds": 0})
    print(f'{f.stem}\t{r["best_fps"]:.1f}\t{r["best_aggregate_fps"]:.1f}\t{providers}\t{slow["stage"]} {slow["seconds"]:.2f}s')
EOF
cat "$out/summary.tsv"
