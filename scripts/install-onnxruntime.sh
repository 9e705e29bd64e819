#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that `ort` (load-dynamic) opens.
# It comes from the pinned PyPI `onnxruntime` wheel: the registry is reachable
# everywhere vidmocap is built, and the wheel carries a self-contained .so.
# Result: .tools/onnxruntime/libonnxruntime.so (point ORT_DYLIB_PATH at it).
#
# GPU flavour: `ORT_FLAVOR=gpu scripts/install-onnxruntime.sh` (or `--gpu`)
# installs the PyPI `onnxruntime-gpu` wheel of the same version instead, into
# .tools/onnxruntime-gpu/: libonnxruntime.so, libonnxruntime_providers_shared.so,
# libonnxruntime_providers_cuda.so and libonnxruntime_providers_tensorrt.so.
# ONNX Runtime opens the provider libraries from the folder of
# libonnxruntime.so, so they must stay together. The library itself needs no
# CUDA: without CUDA every session falls back to the CPU with a logged reason.
# The 1.31 wheels target CUDA 13 and cuDNN 9 (the wheel's extras name
# nvidia-cuda-runtime, nvidia-cuda-nvrtc ~=13.0, nvidia-cufft ~=12.0,
# nvidia-curand ~=10.0 and nvidia-cudnn-cu13 ~=9.0, which pulls
# nvidia-cublas; nvidia-cufft pulls nvidia-nvjitlink).
#
# `--with-cuda` (or ORT_WITH_CUDA=1) also downloads those NVIDIA runtime
# wheels (about 1.3 GB) and copies their libraries (cudart, cublas, cublasLt,
# cudnn*, cufft, curand, nvrtc, nvjitlink) into .tools/onnxruntime-gpu/cuda/,
# so a machine with only the NVIDIA driver can run the CUDA provider.
# vidmocap preloads that folder itself when a GPU provider is asked for; other
# programs need LD_LIBRARY_PATH=.tools/onnxruntime-gpu/cuda. Without
# --with-cuda the CUDA 13 and cuDNN 9 libraries must come from the system
# (a CUDA toolkit, or the nvidia/cuda:13.*-cudnn-runtime images), found
# through the loader's path or LD_LIBRARY_PATH. The driver's libcuda.so.1
# always comes from the driver. The TensorRT provider additionally needs
# TensorRT 10's libnvinfer.so.10 and libnvonnxparser.so.10, not installed
# here; without them TensorRT falls back to CUDA.
# Result: .tools/onnxruntime-gpu/libonnxruntime.so (point ORT_DYLIB_PATH at it).
set -euo pipefail
ORT_VERSION="${ORT_VERSION:-1.31.1}"
ORT_FLAVOR="${ORT_FLAVOR:-cpu}"
ORT_WITH_CUDA="${ORT_WITH_CUDA:-0}"
for arg in "$@"; do
  case "$arg" in
    --gpu) ORT_FLAVOR=gpu ;;
    --cpu) ORT_FLAVOR=cpu ;;
    --with-cuda) ORT_WITH_CUDA=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (expected --gpu, --cpu, --with-cuda)" >&2; exit 2 ;;
  esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"

install_gpu() {
  local dest="$root/.tools/onnxruntime-gpu"
  local lib="$dest/libonnxruntime.so"
  local want="$ORT_VERSION"
  [ "$ORT_WITH_CUDA" = 1 ] && want="$ORT_VERSION+cuda"
  if [ -f "$lib" ] && [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$want" ]; then
    return 0
  fi
  # Global, not local: the EXIT trap runs after the function returns.
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # NVIDIA tags its wheels manylinux2010/2014 and manylinux1; pip only takes
  # the platforms it is given when one is given at all.
  local platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
    --platform manylinux_2_12_x86_64 --platform manylinux2010_x86_64
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64)
  python3 -m pip download --quiet --no-deps --only-binary=:all: "${platforms[@]}" \
    --python-version 3.11 --implementation cp \
    "onnxruntime-gpu==${ORT_VERSION}" -d "$tmp/ort"
  local whl
  whl="$(ls "$tmp"/ort/onnxruntime_gpu-*.whl)"
  mkdir -p "$dest"
  rm -f "$dest/VERSION"
  # Prints the wheel's CUDA and cuDNN requirements (its `cuda` and `cudnn`
  # extras), one per line, for the optional download below.
  python3 - "$whl" "$dest" > "$tmp/cuda-requirements.txt" <<'PY'
import os, re, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
wanted = ["libonnxruntime.so", "libonnxruntime_providers_shared.so",
          "libonnxruntime_providers_cuda.so", "libonnxruntime_providers_tensorrt.so"]
with zipfile.ZipFile(whl) as z:
    libs = [n for n in z.namelist() if "/capi/lib" in n]
    for name in wanted:
        # libonnxruntime.so is versioned in the wheel (libonnxruntime.so.1.31.1).
        found = [n for n in libs if os.path.basename(n) == name or os.path.basename(n).startswith(name + ".")]
        if not found:
            sys.exit(f"no {name} in {whl}")
        with z.open(sorted(found, key=len)[-1]) as f, open(os.path.join(dest, name), "wb") as out:
            out.write(f.read())
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    for line in z.read(meta).decode().splitlines():
        m = re.match(r'Requires-Dist:\s*([^;]+);\s*extra\s*==\s*"(cuda|cudnn)"', line)
        if m:
            print(m.group(1).strip().replace(" ", ""))
PY
  if [ "$ORT_WITH_CUDA" = 1 ]; then
    mapfile -t reqs < "$tmp/cuda-requirements.txt"
    if [ ${#reqs[@]} -eq 0 ]; then
      echo "onnxruntime-gpu $ORT_VERSION names no CUDA runtime wheels" >&2
      exit 1
    fi
    echo "downloading the CUDA runtime wheels: ${reqs[*]}"
    python3 -m pip download --quiet --only-binary=:all: "${platforms[@]}" \
      --python-version 3.11 --implementation cp "${reqs[@]}" -d "$tmp/cuda"
    rm -rf "$dest/cuda"
    mkdir -p "$dest/cuda/licenses"
    python3 - "$dest/cuda" "$tmp"/cuda/nvidia_*.whl <<'PY'
import os, sys, zipfile
dest, wheels = sys.argv[1], sys.argv[2:]
count = 0
for whl in wheels:
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            base = os.path.basename(info.filename)
            # Shared libraries only (lib/ folders of the nvidia/ namespace);
            # headers and static archives are for building, not running.
            if info.filename.startswith("nvidia/") and base.startswith("lib") and ".so" in base:
                with z.open(info) as f, open(os.path.join(dest, base), "wb") as out:
                    out.write(f.read())
                count += 1
            elif ".dist-info/" in info.filename and base.lower().startswith("license"):
                # NVIDIA's licence travels with its libraries.
                pkg = info.filename.split("/")[0].replace(".dist-info", "")
                with z.open(info) as f, open(os.path.join(dest, "licenses", pkg + ".txt"), "wb") as out:
                    out.write(f.read())
if count == 0:
    sys.exit("no shared libraries in the CUDA wheels")
print(f"{count} CUDA libraries copied")
PY
  fi
  echo "$want" > "$dest/VERSION"
  echo "ONNX Runtime $ORT_VERSION (GPU) installed at $lib"
  if [ "$ORT_WITH_CUDA" = 1 ]; then
    echo "CUDA runtime libraries in $dest/cuda (vidmocap preloads them; other programs: LD_LIBRARY_PATH=$dest/cuda)"
  fi
}

if [ "$ORT_FLAVOR" = gpu ]; then
  install_gpu
  exit 0
elif [ "$ORT_FLAVOR" != cpu ]; then
  echo "ORT_FLAVOR must be cpu or gpu, got $ORT_FLAVOR" >&2
  exit 2
fi

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
