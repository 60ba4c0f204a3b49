"""The root of the typed configuration."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from lockers.config._base import ResolvedPath, Section
from lockers.config.hardware import BoardConfig, LockerConfig
from lockers.config.liveness import LivenessSettings
from lockers.config.store import DatabaseConfig, PrivacyConfig
from lockers.config.ui import UiConfig
from lockers.config.vision import CameraConfig, DetectionConfig, QualityConfig, RecognitionConfig


def _section() -> Any:
    # A dict default is validated like file input (validate_default), so relative paths in
    # defaults are resolved against the config file too; an instance default would not be.
    return Field(default_factory=dict)


class Settings(Section):
    """Everything a kiosk needs to know, from ``config.yaml`` and ``LOCKERS_*`` overrides."""

    data_dir: ResolvedPath = Field(default="data")  # type: ignore[assignment]
    camera: CameraConfig = _section()
    detection: DetectionConfig = _section()
    quality: QualityConfig = _section()
    recognition: RecognitionConfig = _section()
    liveness: LivenessSettings = _section()
    database: DatabaseConfig = _section()
    board: BoardConfig = _section()
    lockers: list[LockerConfig] = Field(default_factory=list)
    privacy: PrivacyConfig = _section()
    ui: UiConfig = _section()

    @model_validator(mode="after")
    def _unique_lockers(self) -> Settings:
        seen_labels: set[str] = set()
        seen_wires: set[tuple[int, int]] = set()
        for locker in self.lockers:
            if locker.label in seen_labels:
                raise ValueError(f"locker label {locker.label!r} is used twice")
            wire = (locker.board, locker.channel)
            if wire in seen_wires:
                raise ValueError(
                    f"locker {locker.label!r}: board {wire[0]} channel {wire[1]} is already "
                    "wired to another locker"
                )
            seen_labels.add(locker.label)
            seen_wires.add(wire)
        return self

    @property
    def database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        return self.database.url or f"sqlite:///{self.data_dir / 'lockers.db'}"
