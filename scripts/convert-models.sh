#!/usr/bin/env bash
# Rebuilds the BlazePose ONNX models (pose_detection, pose_landmark_lite/full/heavy)
# from MediaPipe's published .tflite files, for a set-up without ../shared/models.
#
#   scripts/convert-models.sh [--out DIR] [--ref DIR]
#
#   --out DIR  where to write blazepose/*.onnx (and the .tflite sources, which
#              tools/mediapipe-bench uses). Default: $VIDMOCAP_MODELS_DIR, else
#              ${XDG_DATA_HOME:-~/.local/share}/vidmocap/models, a folder vidmocap
#              always searches when nothing else names one (src/locate.rs).
#   --ref DIR  reference models to compare with numerically (default ../shared/models
#              beside the checkout, when it exists).
#
# Source and tools are pinned to what ../shared/models/PROVENANCE.txt names:
# the npm package @mediapipe/pose 0.5.1675469404 (the landmark models at its root;
# the detector is the only file inside pose_solution_packed_assets.data), converted
# with tf2onnx 1.17.0 (tensorflow-cpu 2.21.0, onnx 1.23.2) at opset 17, in a venv
# under .tools/ (git-ignored). Only PyPI and npm are used.
#
# Why the files are not byte-identical to models/manifest.toml: tf2onnx 1.17.0 is
# not deterministic. Two runs on the same .tflite (even with PYTHONHASHSEED fixed)
# name the initializers differently (a global counter advanced in an order that
# depends on Python object ids) and keep different copies of identical constants;
# the graph doc_string also records the input path. Nodes, node names, node order
# and every weight come out the same. So each converted model is rewritten into a
# canonical form (scripts/onnx_canon.py: initializers renamed const_<k> in first-use
# order, identical ones merged, fixed doc_string) which is byte-reproducible, and
# verified, per model, by the first of these that applies:
#   1. its sha256 equals the manifest's                               -> MATCH
#   2. its sha256 equals the manifest's rebuilt_sha256, the canonical form of the
#      published file (exact: same graph, same weights),
#      and, where a reference file is at hand, onnxruntime gives the same outputs
#      within 1e-4 on a fixed random input                            -> EQUIVALENT
#   otherwise                                                          -> MISMATCH (exit 1)
# vidmocap accepts either hash when it loads a model, so an EQUIVALENT file runs.
#
# Runs one conversion at a time (a few minutes on 2 cores, heavy is the longest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

npm_pkg="@mediapipe/pose"
npm_version="0.5.1675469404"
py_pins=(tf2onnx==1.17.0 tensorflow-cpu==2.21.0 onnx==1.23.2 onnxruntime==1.32.0)
venv="$root/.tools/convert-venv"
opset=17

out="${VIDMOCAP_MODELS_DIR:-}"
[ -n "$out" ] || out="${XDG_DATA_HOME:-$HOME/.local/share}/vidmocap/models"
ref=""
[ -d "$root/../shared/models/blazepose" ] && ref="$(cd "$root/../shared/models" && pwd)"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --out=*) out="${1#--out=}"; shift ;;
    --ref) ref="$2"; shift 2 ;;
    --ref=*) ref="${1#--ref=}"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (usage: $0 [--out DIR] [--ref DIR])" >&2; exit 2 ;;
  esac
done
mkdir -p "$out/blazepose"
out="$(cd "$out" && pwd)"
[ -w "$out/blazepose" ] || { echo "cannot write to $out/blazepose; pass --out DIR" >&2; exit 1; }

# The pinned inputs: sha256 of each .tflite as published in the npm package
# (lite, full and heavy as in PROVENANCE.txt; the detector is the GitHub
# pose_detection.tflite @2940d6c minus its 620-byte TFLITE_METADATA entry: same
# tensors, weights and ops).
declare -A tflite_sha=(
  [pose_landmark_lite]=f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61
  [pose_landmark_full]=e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f
  [pose_landmark_heavy]=59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe
  [pose_detection]=a63c614bef30d35947f13be361820b1e4e3bec9cfeebf4d11216a18373108e85
)
models=(pose_detection pose_landmark_lite pose_landmark_full pose_landmark_heavy)

# 1. The converter, in its own venv (TensorFlow and tf2onnx pin protobuf and numpy
#    versions that must not leak into other tools' environments).
py="$venv/bin/python"
if [ ! -x "$py" ] || ! "$py" - "${py_pins[@]}" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(any(version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))
EOF
then
  echo "setting up $venv (${py_pins[*]})"
  python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip
  "$py" -m pip install -q "${py_pins[@]}"
fi

# 2. The source package, into a temporary folder removed on exit.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$npm_pkg@$npm_version" >/dev/null && tar xzf ./*.tgz)
pkg="$work/package"
# The detector ships in an Emscripten file package; its loader names the byte range.
"$py" - "$pkg" "$work/pose_detection.tflite" <<'EOF'
import json, re, sys
pkg, dst = sys.argv[1], sys.argv[2]
js = open(f"{pkg}/pose_solution_packed_assets_loader.js").read()
meta = json.loads(re.search(r"loadPackage\((\{.*?\})\);", js).group(1))
f = [f for f in meta["files"] if f["filename"].endswith("/pose_detection.tflite")][0]
data = open(f"{pkg}/pose_solution_packed_assets.data", "rb").read()
open(dst, "wb").write(data[f["start"]:f["end"]])
EOF
for m in pose_landmark_lite pose_landmark_full pose_landmark_heavy; do cp "$pkg/$m.tflite" "$work/$m.tflite"; done
for m in "${models[@]}"; do
  got="$(sha256sum "$work/$m.tflite" | cut -d' ' -f1)"
  if [ "$got" != "${tflite_sha[$m]}" ]; then
    echo "$m.tflite from $npm_pkg@$npm_version has sha256 $got, expected ${tflite_sha[$m]}" >&2
    exit 1
  fi
done

# 3. The detector stores 38 fp16 weight tensors sparse (DENSIFY ops), which
#    tf2onnx cannot read: expand them into plain constants first, and check the
#    rewritten model computes bit-identical outputs under TFLite.
if ! "$py" "$root/scripts/densify_tflite.py" --check "$work/pose_detection.tflite" "$work/pose_detection.dense.tflite" \
    > "$work/densify.log" 2>&1; then
  tail -20 "$work/densify.log" >&2
  echo "densifying pose_detection.tflite failed" >&2
  exit 1
fi
grep -E '^(densified|tflite original)' "$work/densify.log"

# 4. Convert, one at a time, then write the canonical form.
stage="$work/out/blazepose"
mkdir -p "$stage"
for m in "${models[@]}"; do
  src="$work/$m.tflite"
  note="$npm_pkg $npm_version $m.tflite, tf2onnx 1.17.0 opset $opset"
  if [ "$m" = pose_detection ]; then
    src="$work/pose_detection.dense.tflite"
    note="$npm_pkg $npm_version $m.tflite (sparse fp16 weights densified), tf2onnx 1.17.0 opset $opset"
  fi
  echo "converting $m"
  if ! "$py" -m tf2onnx.convert --tflite "$src" --output "$work/$m.raw.onnx" --opset "$opset" > "$work/$m.log" 2>&1; then
    tail -20 "$work/$m.log" >&2
    echo "tf2onnx failed on $m" >&2
    exit 1
  fi
  "$py" "$root/scripts/onnx_canon.py" canon "$work/$m.raw.onnx" "$stage/$m.onnx" "$note"
  install -m 0644 "$work/$m.tflite" "$stage/$m.tflite"
done

# 5. Verify against the manifest (and the reference models, when there are any).
echo
echo "checking against models/manifest.toml"
status=0
"$py" - "$root/models/manifest.toml" "$work/out" "$ref" \
  "$root/scripts/onnx_canon.py" <<'EOF' || status=$?
import hashlib, os, subprocess, sys, tomllib
manifest, out, ref, canon_py = sys.argv[1:5]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
with open(manifest, "rb") as f:
    specs = tomllib.load(f)["model"]
canon = {s["file"]: s.get("rebuilt_sha256") for s in specs}
bad = equivalent = 0
for s in specs:
    path = os.path.join(out, s["file"])
    if not os.path.exists(path):
        print(f"  {s['name']:20} not built by this script (source: {s.get('source', '?')})")
        continue
    got = sha(path)
    if got == s["sha256"]:
        print(f"  {s['name']:20} MATCH       sha256 {got}")
        continue
    if canon.get(s["file"]) != got:
        print(f"  {s['name']:20} MISMATCH    sha256 {got}\n"
              f"  {'':20}             manifest {s['sha256']}, canonical reference {canon.get(s['file'])}")
        bad += 1
        continue
    line = f"  {s['name']:20} EQUIVALENT  sha256 {got} (manifest {s['sha256'][:12]}…): same graph and weights as the reference's canonical form"
    r = os.path.join(ref, s["file"]) if ref else ""
    if r and os.path.exists(r):
        num = subprocess.run([sys.executable, canon_py, "numeric", path, r, "1e-4"], capture_output=True, text=True)
        line += f"; vs {r}: {num.stdout.strip()}"
        if num.returncode != 0:
            line = line.replace("EQUIVALENT", "MISMATCH  ", 1)
            bad += 1
            print(line)
            continue
    else:
        line += "; no reference file to run against"
    equivalent += 1
    print(line)
if equivalent:
    print(f"note: {equivalent} model(s) are EQUIVALENT, not byte-identical (tf2onnx names initializers "
          "nondeterministically); vidmocap accepts their rebuilt_sha256 from the manifest")
sys.exit(1 if bad else 0)
EOF

# Install only what verified, never replacing a file that already matches the manifest.
for m in "${models[@]}"; do
  for ext in onnx tflite; do
    dst="$out/blazepose/$m.$ext"
    if [ -f "$dst" ] && cmp -s "$dst" "$stage/$m.$ext"; then continue; fi
    if [ "$ext" = onnx ] && [ -f "$dst" ] && "$py" - "$root/models/manifest.toml" "$dst" <<'EOF'
import hashlib, sys, tomllib
specs = tomllib.load(open(sys.argv[1], "rb"))["model"]
h = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
sys.exit(0 if any(h in (s["sha256"], s.get("rebuilt_sha256")) for s in specs) else 1)
EOF
    then
      echo "kept $dst (it matches the manifest)"
      continue
    fi
    [ "$status" -eq 0 ] || continue
    cp "$stage/$m.$ext" "$dst.partial" && mv -f "$dst.partial" "$dst"
  done
done
if [ "$status" -ne 0 ]; then
  echo "verification failed: nothing written to $out" >&2
  exit "$status"
fi
echo "wrote $out/blazepose/{$(IFS=,; echo "${models[*]}")}.{onnx,tflite}"
