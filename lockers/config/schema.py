"""The root of the typed configuration."""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, model_validator

from lockers.config._base import ResolvedPath, Section
from lockers.config.accessibility import AccessibilityConfig
from lockers.config.console import ConsoleConfig
from lockers.config.hardware import LABEL_MAX_LENGTH, BoardConfig, LockerConfig
from lockers.config.liveness import LivenessSettings
from lockers.config.site import SiteConfig
from lockers.config.store import DEFAULT_KEY_FILE_NAME, DatabaseConfig, PrivacyConfig
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
    site: SiteConfig = _section()
    console: ConsoleConfig = _section()
    accessibility: AccessibilityConfig = _section()

    @model_validator(mode="before")
    @classmethod
    def _key_file_follows_data_dir(cls, data: Any) -> Any:
        # The template key lives beside the database unless a path is given: a default fixed to
        # ./data/template.key made a kiosk with another data_dir read (or create) the wrong key.
        if not isinstance(data, dict):
            return data
        privacy = data.get("privacy")
        if privacy is None:
            privacy = {}
        if not isinstance(privacy, dict) or privacy.get("template_key_file") not in (None, ""):
            return data
        data_dir = data.get("data_dir", "data")
        key_file = os.path.join(os.fspath(data_dir), DEFAULT_KEY_FILE_NAME)
        return {**data, "privacy": {**privacy, "template_key_file": key_file}}

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
        prefix = self.site.label_prefix
        too_long = [lk.label for lk in self.lockers if len(prefix + lk.label) > LABEL_MAX_LENGTH]
        if too_long:
            raise ValueError(
                f"site.label_prefix {prefix!r} makes the labels of lockers "
                f"{', '.join(too_long)} longer than {LABEL_MAX_LENGTH} characters"
            )
        return self

    @property
    def bank(self) -> list[LockerConfig]:
        """This kiosk's lockers as the database knows them: ``site.label_prefix`` + label."""
        prefix = self.site.label_prefix
        if not prefix:
            return list(self.lockers)
        return [lk.model_copy(update={"label": prefix + lk.label}) for lk in self.lockers]

    @property
    def display_name(self) -> str:
        """What customers and staff call this kiosk (``site.display_name`` or the kiosk id)."""
        return self.site.display_name or self.database.kiosk_id

    @property
    def database_url(self) -> str:
        """The configured URL, or a SQLite file in the data directory."""
        return self.database.url or f"sqlite:///{self.data_dir / 'lockers.db'}"
