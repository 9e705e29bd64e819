#!/usr/bin/env bash
# Installs everything vidmocap needs to build and test on a fresh Debian
# machine: FFmpeg's libraries and CLI, clang (bindgen), Mesa's software
# Vulkan driver (lavapipe: the GPU kernels' tests run on it), the ONNX Runtime
# library (from PyPI), the glTF validator and an OpenID provider for the
# sign-in tests (from npm), assimp (the tests read
# FBX and BVH back with it), Blender (the export tests import every file
# into it, headless, as an animator would; its glTF importer needs numpy), s3s-fs, the S3 server the storage
# tests start (from crates.io), OpenUSD's Python API (usd-core, from PyPI,
# to validate the USD export), aiosmtpd (PyPI, the SMTP server the mail
# tests start), records where the library and models are in
# the user configuration (scripts/record-paths.sh), and builds the web
# portal (npm packages, Vite) with Chromium for its browser test. Safe to
# re-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

packages=(pkg-config clang libclang-dev libavformat-dev libavcodec-dev libavutil-dev
  mesa-vulkan-drivers libvulkan1
  libswscale-dev libavfilter-dev libavdevice-dev ffmpeg curl python3-pip nodejs npm
  assimp-utils chromium blender python3-numpy)
missing=()
for p in "${packages[@]}"; do
  # A tool already on PATH (node, npm, pip from another install) counts.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
    python3-pip) python3 -m pip --version >/dev/null 2>&1 && continue ;;
  esac
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

scripts/install-onnxruntime.sh
scripts/install-s3s-fs.sh
# So `vidmocap` finds the library and models with no environment variables.
scripts/record-paths.sh

# OpenUSD's Python API (PyPI usd-core; the wheel has no command-line tools):
# the tests validate the USD export with its UsdValidation framework.
if ! python3 -c 'import pxr.UsdValidation' 2>/dev/null; then
  python3 -m pip install --quiet 'usd-core>=26,<27' ||
    python3 -m pip install --quiet --break-system-packages 'usd-core>=26,<27'
fi

# The SMTP server the mail tests start (tests/support/smtp_sink.py).
if ! python3 -c 'import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != "1.4.6")' 2>/dev/null; then
  python3 -m pip install --quiet 'aiosmtpd==1.4.6' ||
    python3 -m pip install --quiet --break-system-packages 'aiosmtpd==1.4.6'
fi

# The deploy/ checks (scripts/check-deploy.sh): kubectl's kustomize renders
# the overlays; Python tools validate them offline; KEDA's schemas from npm.
command -v kubectl >/dev/null || {
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  ${sudo_cmd:-} apt-get install -y -qq --no-install-recommends kubernetes-client
}
deploy_tools=(kubernetes-validate==1.37.0 yamllint==1.38.0 check-jsonschema==0.39.0)
for t in kubernetes-validate yamllint check-jsonschema; do
  command -v "$t" >/dev/null || { need_deploy_tools=1; break; }
done
if [ -n "${need_deploy_tools:-}" ]; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "${deploy_tools[@]}"
fi
if [ ! -d tools/deploy-check/node_modules/@kubernetes-models/keda ]; then
  npm ci --prefix tools/deploy-check --no-audit --no-fund --loglevel=error
fi

if [ ! -d tools/gltf-validator/node_modules/gltf-validator ]; then
  npm ci --prefix tools/gltf-validator --no-audit --no-fund --loglevel=error
fi

# The OpenID provider the sign-in tests start (npm oidc-provider, certified).
if [ ! -d tools/oidc-provider/node_modules/oidc-provider ]; then
  npm ci --prefix tools/oidc-provider --no-audit --no-fund --loglevel=error
fi

scripts/build-web.sh
