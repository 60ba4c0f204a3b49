"""Training and evaluation commands: ``dataset``, ``train``, ``evaluate``, ``calibrate``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the training command groups to the root app."""
