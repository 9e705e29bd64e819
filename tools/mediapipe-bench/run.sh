#!/usr/bin/env bash
# MediaPipe's own PoseLandmarker on the same models and clip, for the
# side-by-side speed comparison in the README: one JSON line (fps, peak RSS)
# per landmark model on stdout, e.g. `run.sh --model lite,full,heavy`
# (mp_bench.py --help has the rest). Sets up its Python environment under
# .tools/ on first use (PyPI only).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.tools/mpvenv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import mediapipe, cv2" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q mediapipe==1.2.2 opencv-contrib-python==5.0.0.93
fi
exec "$venv/bin/python" "$root/tools/mediapipe-bench/mp_bench.py" "$@"
