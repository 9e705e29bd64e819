#!/usr/bin/env bash
# Builds the web portal into web/dist (served by `vidmocap serve` at /):
# installs the pinned npm packages, then bundles with Vite. Skips both
# steps when nothing they depend on changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/../web"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # Not `npm ci`: it rejects a lockfile without rollup's binaries for other
  # platforms, which the registry here does not offer. `install --no-save`
  # takes the lockfile's pinned versions and leaves the file untouched.
  npm install --no-save --no-audit --no-fund --loglevel=error
fi
stamp=dist/index.html
if [ -f "$stamp" ] && [ -z "$(find index.html vite.config.js src package-lock.json -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
npx --no-install vite build --logLevel warn
