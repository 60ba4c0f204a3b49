"""Store and staff commands: ``db``, ``admin``, ``lockers``, ``audit`` groups."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the store command groups to the root app."""
