#!/usr/bin/env bash
# The README's "run it" command: set up .venv if needed, then start the kiosk in demo mode
# (SQLite in ./data, the built-in board emulator, the sample video unless a camera is configured).
# Extra arguments go to `lockers demo`, e.g. `bash scripts/demo.sh --script`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
export OPENBLAS_NUM_THREADS=1
exec .venv/bin/lockers demo "$@"
