"""Suite-wide fixtures: headless Qt, no spinning BLAS threads, real data from ../shared."""

from __future__ import annotations

import os

# Before anything imports numpy, torch or Qt.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_FACES = REPO.parent / "shared" / "faces"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's LOCKERS_* variables or picks up the repo's config.yaml."""
    for name in list(os.environ):
        if name.startswith("LOCKERS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """A test that leaves a thread running (camera, board, emulator) fails."""
    before = set(threading.enumerate())
    yield
    leaked = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not t.daemon and t.name != "MainThread"
    ]
    for thread in leaked:
        thread.join(timeout=2.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"test leaked running threads: {still}"


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    """``../shared/faces`` beside the repository (present in development and CI)."""
    if not SHARED_FACES.is_dir():
        pytest.skip(f"{SHARED_FACES} is not present")
    return SHARED_FACES


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


SHARED_ANTI_SPOOF = REPO.parent / "shared" / "models" / "anti-spoof"


@pytest.fixture(scope="session")
def shared_anti_spoof() -> Path:
    """``../shared/models/anti-spoof``: the real MiniFASNet weights (never committed here)."""
    if not all((SHARED_ANTI_SPOOF / name).is_file() for name in ANTI_SPOOF_FILES):
        pytest.skip(f"the anti-spoofing weights are not in {SHARED_ANTI_SPOOF}")
    return SHARED_ANTI_SPOOF


ANTI_SPOOF_FILES = ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth")


@pytest.fixture(scope="session")
def anti_spoof_dir(tmp_path_factory: pytest.TempPathFactory, shared_anti_spoof: Path) -> Path:
    """A models folder holding the shared anti-spoofing weights imported (verified, recorded in
    its manifest) and exported to ONNX once per session."""
    from lockers.config import Settings
    from lockers.vision.antispoof import load_anti_spoof
    from lockers.vision.modelstore.antispoof import import_antispoof

    directory = tmp_path_factory.mktemp("anti-spoof")
    liveness = Settings(liveness={"anti_spoof_dir": str(directory)}).liveness
    for spec in liveness.anti_spoof_models:
        import_antispoof(shared_anti_spoof / spec.file, directory / spec.file, spec)
    load_anti_spoof(liveness)  # exports and caches the ONNX models
    return directory
