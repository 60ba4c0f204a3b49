#!/usr/bin/env bash
# Create (or update) .venv with everything Lockers needs. Idempotent: a quick no-op when done.
#   scripts/setup-venv.sh            # the kiosk
#   scripts/setup-venv.sh test       # the kiosk and the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: this build lies on the machine's disk; any other one is a multi-GB
# download. The project's own range (pyproject.toml) accepts it.
.venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
# Qt pinned as a pair: PySide6-Addons (Qt Multimedia, the voice guidance; 175 MB) must be the
# version of PySide6-Essentials, and an unpinned resolve would fetch the newest of both.
.venv/bin/python -m pip install --quiet PySide6-Essentials==6.11.3 PySide6-Addons==6.11.3
.venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
