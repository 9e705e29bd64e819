#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that `ort` (load-dynamic) opens.
# It comes from the pinned PyPI `onnxruntime` wheel: the registry is reachable
# everywhere vidmocap is built, and the wheel carries a self-contained .so.
# Result: .tools/onnxruntime/libonnxruntime.so (point ORT_DYLIB_PATH at it).
set -euo pipefail
ORT_VERSION="${ORT_VERSION:-1.31.1}"
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.tools/onnxruntime"
lib="$dest/libonnxruntime.so"
if [ -f "$lib" ] && [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$ORT_VERSION" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --python-version 3.11 --implementation cp \
  "onnxruntime==${ORT_VERSION}" -d "$tmp"
whl="$(ls "$tmp"/onnxruntime-*.whl)"
mkdir -p "$dest"
python3 - "$whl" "$dest" <<'PY'
import sys, zipfile, os
whl, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist() if "/capi/libonnxruntime.so" in n]
    if not names:
        sys.exit("no libonnxruntime.so in " + whl)
    src = sorted(names, key=len)[-1]
    with z.open(src) as f, open(os.path.join(dest, "libonnxruntime.so"), "wb") as out:
        out.write(f.read())
PY
echo "$ORT_VERSION" > "$dest/VERSION"
echo "ONNX Runtime $ORT_VERSION installed at $lib"
