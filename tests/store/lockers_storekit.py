"""Database fixtures shared by tests/store and tests/kiosk: a real SQLite file and, when
``LOCKERS_TEST_POSTGRES_URL`` is set (``.ci/run`` starts a server), a real PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from lockers.config import Settings, load_settings
from lockers.hardware.board import (
    DoorState,
    LockAddress,
    LockBoard,
    UnlockOutcome,
    UnlockResult,
)
from lockers.store.db import Database
from lockers.store.schema import upgrade

# Read at import: tests/conftest.py clears every LOCKERS_* variable inside each test.
POSTGRES_URL = os.environ.get("LOCKERS_TEST_POSTGRES_URL", "")
NO_POSTGRES = (
    'LOCKERS_TEST_POSTGRES_URL is not set: run `eval "$(scripts/ci/start-postgres.sh)"` '
    "first (.ci/run does)"
)
BACKENDS = [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)),
]
LOCKERS = [
    {"label": "1", "size": "M", "board": 0, "channel": 1},
    {"label": "2", "size": "M", "board": 0, "channel": 2},
    {"label": "3", "size": "L", "board": 0, "channel": 3},
    {"label": "4", "size": "S", "board": 0, "channel": 4},
]
MODEL = "facenet-vggface2@test"


def reset_postgres(url: str) -> None:
    """An empty ``public`` schema (each test starts from nothing)."""
    database = Database(url)
    try:
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        database.dispose()


def fresh_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'lockers.db'}"
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL


def write_config(tmp_path: Path, url: str, lockers: list[dict[str, object]] | None = None) -> Path:
    data = {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": url, "busy_timeout_s": 20},
        "board": {"port": "emulator", "protocol": "kerong"},
        "lockers": LOCKERS if lockers is None else lockers,
        "privacy": {"template_key_file": str(tmp_path / "keys" / "template.key")},
        "recognition": {"frames_to_agree": 2, "frames_window": 3},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> str:
    return fresh_url(backend, tmp_path)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return load_settings(write_config(tmp_path, db_url))


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url, busy_timeout_s=20)
    upgrade(db)
    yield db
    db.dispose()


class ScriptedBoard(LockBoard):
    """A lock board whose outcomes the test scripts (default: every door opens)."""

    def __init__(self, outcomes: list[UnlockOutcome] | None = None) -> None:
        self.outcomes = list(outcomes or [])
        self.calls: list[LockAddress] = []

    def unlock(self, address: LockAddress) -> UnlockResult:
        self.calls.append(address)
        outcome = self.outcomes.pop(0) if self.outcomes else UnlockOutcome.OPENED
        return UnlockResult(address, outcome, f"scripted {outcome.value}")

    def door_states(self) -> dict[LockAddress, DoorState]:
        return {}

    def healthy(self) -> bool:
        return True

    def close(self) -> None:
        pass


def face(seed: int, k: int = 3, noise: float = 0.05) -> npt.NDArray[np.float32]:
    """``k`` embeddings (shape ``(k, 512)``) of one synthetic person: a random direction plus
    small noise, so samples of one seed match and different seeds do not."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal(512).astype(np.float32)
    base /= np.linalg.norm(base)
    jitter = np.random.default_rng(seed * 7919 + k).standard_normal((k, 512)).astype(np.float32)
    rows = base + noise * jitter / np.sqrt(512) * 10
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
