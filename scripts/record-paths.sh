#!/usr/bin/env bash
# Records where set-up put the ONNX Runtime library and the models in the
# user configuration ($XDG_CONFIG_HOME/vidmocap/config.toml, else
# ~/.config/vidmocap/config.toml), so `vidmocap` finds them with no
# environment variables. The models folder is $VIDMOCAP_MODELS_DIR, else
# ../shared/models beside the checkout when it exists. A file not written by
# this script is left alone. Safe to re-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
marker="# written by vidmocap's scripts/record-paths.sh (delete this line and set-up leaves the file alone)"

config_home="${XDG_CONFIG_HOME:-}"
case "$config_home" in /*) ;; *) config_home="$HOME/.config" ;; esac
file="$config_home/vidmocap/config.toml"
if [ -f "$file" ] && [ "$(head -n 1 "$file")" != "$marker" ]; then
  echo "keeping $file (not written by set-up)"
  exit 0
fi

flavour_lib="$root/.tools/onnxruntime/libonnxruntime.so"
if [ "${ORT_FLAVOR:-cpu}" = "gpu" ]; then
  flavour_lib="$root/.tools/onnxruntime-gpu/libonnxruntime.so"
fi
models="${VIDMOCAP_MODELS_DIR:-$root/../shared/models}"

mkdir -p "$(dirname "$file")"
{
  echo "$marker"
  echo "[models]"
  if [ -f "$flavour_lib" ]; then
    echo "ort_library = \"$(realpath "$flavour_lib")\""
  fi
  if [ -d "$models" ]; then
    echo "dir = \"$(realpath "$models")\""
  fi
} > "$file.tmp"
mv "$file.tmp" "$file"
echo "recorded the ONNX Runtime library and models in $file"
