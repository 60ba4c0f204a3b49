"""The bench videos of scripts/make_bench_videos.py, made once per session from ../shared/faces."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
SHARED_FACES = REPO.parent / "shared" / "faces"


def video_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_bench_videos", REPO / "scripts" / "make_bench_videos.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
