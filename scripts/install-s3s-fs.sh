#!/usr/bin/env bash
# Installs s3s-fs, the S3-compatible server the storage tests start (it checks
# SigV4 signatures, so presigned-URL tests are real), into .tools/s3s-fs.
# Pinned: 0.15 and later need a newer Rust than this project's toolchain.
# Skipped when the pinned version is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=0.14.1
dest="$root/.tools/s3s-fs"
bin="$dest/bin/s3s-fs"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "s3s-fs $version"; then
  exit 0
fi
echo "installing s3s-fs $version into $dest"
# Its own target dir, so the install neither reuses nor disturbs the project's.
cargo install --locked --quiet s3s-fs --version "$version" --features binary \
  --root "$dest" --target-dir "$root/.tools/s3s-fs-build"
rm -rf "$root/.tools/s3s-fs-build"
