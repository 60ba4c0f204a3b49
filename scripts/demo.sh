#!/usr/bin/env bash
# The README's "run it" command: set up .venv if needed, then start the kiosk in demo mode
# (SQLite in ./data, the built-in board emulator, the sample video unless a camera is configured).
# Extra arguments go to `lockers demo`, e.g. `bash scripts/demo.sh --script`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
export OPENBLAS_NUM_THREADS=1
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  # No screen: run the same kiosk off-screen (add --script to see register → retrieve).
  echo "demo: no display found; running off-screen (QT_QPA_PLATFORM=offscreen)" >&2
  export QT_QPA_PLATFORM=offscreen
fi
exec .venv/bin/lockers demo "$@"
