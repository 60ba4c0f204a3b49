"""Fixtures of the kiosk service tests: the store's database fixtures plus services."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

from lockers_storekit import (
    ScriptedBoard,
    backend,
    database,
    db_url,
    settings,
)

from lockers.config import Settings
from lockers.kiosk.startup import Store, start_store
from lockers.store.db import Database

__all__ = ["backend", "database", "db_url", "settings"]


@pytest.fixture
def store(settings: Settings, database: Database) -> Iterator[Store]:
    """The store as the kiosk opens it at start-up (lockers synced, key created)."""
    opened, report = start_store(settings)
    assert report.clean, report
    yield opened
    opened.close()


@pytest.fixture
def board() -> ScriptedBoard:
    return ScriptedBoard()
