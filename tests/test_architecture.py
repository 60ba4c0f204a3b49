"""The house rules, executable: layers point down and heavy libraries stay in their rooms."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_importing_the_package_and_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, lockers, lockers.cli, lockers.config, lockers.vision, lockers.store, "
        "lockers.hardware, lockers.kiosk\n"
        "heavy = [m for m in ('torch', 'cv2', 'facenet_pytorch', 'onnxruntime', 'PySide6', "
        "'sqlalchemy', 'serial') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "", f"loaded at import: {out.stdout.strip()}"
