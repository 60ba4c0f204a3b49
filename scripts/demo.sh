#!/usr/bin/env bash
# The README's "run it" command: set up .venv if needed, then start the kiosk in demo mode
# (SQLite in ./data, the built-in board emulator, the sample video unless a camera is configured)
# and, beside it, the site console on 127.0.0.1 over the same database (its login is printed
# when it is up; it stops when the demo ends).
# Extra arguments go to `lockers demo`, e.g. `bash scripts/demo.sh --script`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh console
export OPENBLAS_NUM_THREADS=1
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  # No screen: run the same kiosk off-screen (add --script to see register → retrieve).
  echo "demo: no display found; running off-screen (QT_QPA_PLATFORM=offscreen)" >&2
  export QT_QPA_PLATFORM=offscreen
fi
# The voice guidance's prompts (accessibility mode), when espeak-ng is installed: only texts
# that changed are rebuilt, so this is quick after the first run.
if command -v espeak-ng >/dev/null 2>&1; then
  .venv/bin/lockers prompts build >/dev/null || echo "demo: prompts not built (voice silent)" >&2
fi
# The console waits for the kiosk to create the demo database, then serves it.
.venv/bin/python -m lockers.console.demo "$@" &
console_pid=$!
stop_console() {
  kill "$console_pid" 2>/dev/null || true
  wait "$console_pid" 2>/dev/null || true
}
trap stop_console EXIT
status=0
.venv/bin/lockers demo "$@" || status=$?
exit "$status"
