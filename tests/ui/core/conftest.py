"""The UI's Qt-free cores (camera loop, job dispatch, health monitor, staff controller): plain
tests, no QApplication, no pytest-qt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_leaked_windows() -> Iterator[None]:
    """Overrides tests/ui's fixture of the same name, which needs a QApplication."""
    yield
