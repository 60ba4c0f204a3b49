"""``lockers board ...``: lock-board ports, open, status, test, emulate."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``board`` command group to the root app."""
