"""What every command shares: the config file option and loading settings from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from lockers.config import Settings, load_settings


@dataclass
class CliState:
    """Per-invocation state set by the top-level callback."""

    config_path: Path | None = None
    _settings: Settings | None = None

    def settings(self) -> Settings:
        """The validated settings, loaded once per invocation."""
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` of this invocation (created by the root callback)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
