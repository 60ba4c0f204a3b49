"""The console loads none of the heavy libraries and stays small (issue: RSS ≤ 150 MB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lockers.store.db import Database
from lockers.store.schema import upgrade

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
from lockers.config import Settings
from lockers.console.app import create_app
from lockers.console.metrics import render_metrics
from lockers.store.db import Database
database = Database(sys.argv[1])
app = create_app(Settings(), database)
render_metrics(app.state.console)  # every query module loaded and used once
heavy = sorted(m for m in ("torch", "onnxruntime", "cv2", "PySide6", "facenet_pytorch",
                           "lockers.store.crypto", "lockers.hardware", "lockers.vision")
               if m in sys.modules)
# VmHWM: this program's peak RSS (getrusage's ru_maxrss would carry pytest's over the fork)
status = open("/proc/self/status").read()
peak_kib = int(status.split("VmHWM:")[1].split()[0])
print(json.dumps({"heavy": heavy, "rss_kib": peak_kib}))
"""


def test_console_imports_no_heavy_library_and_stays_small(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'console.db'}"
    database = Database(url)
    upgrade(database)  # here: the console never migrates, the kiosk's `db upgrade` does
    database.dispose()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, url],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    assert report["rss_kib"] < 150 * 1024, f"console RSS {report['rss_kib'] / 1024:.0f} MiB"
