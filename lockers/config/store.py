"""Config sections of storage and privacy."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from lockers.config._base import ResolvedPath, Section

DEFAULT_KIOSK_ID = "kiosk-1"


class DatabaseConfig(Section):
    """SQLAlchemy URL; empty means a SQLite file ``lockers.db`` in the data directory.

    ``postgresql+psycopg://user@host/db`` lets several kiosks of one site share a database.
    """

    url: str = ""
    busy_timeout_s: float = Field(
        10.0, gt=0, le=300, description="how long a write waits for another writer's lock"
    )
    kiosk_id: str = Field(
        DEFAULT_KIOSK_ID,
        min_length=1,
        max_length=64,
        description="names this kiosk: its bank of lockers, the audit log, its pending unlocks "
        "(unique per shared database)",
    )


DEFAULT_KEY_FILE_NAME = "template.key"
DEFAULT_PIN_SECRET_FILE_NAME = "pin.secret"


class PrivacyConfig(Section):
    """What biometric data is kept, where its key lives, and for how long.

    ``template_key_file`` defaults to ``<data_dir>/template.key`` (filled in by ``Settings``);
    an explicit path wins. The PIN secret lives beside it unless ``pin_secret_file`` names
    another file (:attr:`pin_secret_path`).
    """

    template_key_file: ResolvedPath = Field(default="data/template.key")  # type: ignore[assignment]
    pin_secret_file: ResolvedPath | None = Field(
        None, description="keys the staff PIN hashes; empty = pin.secret beside the template key"
    )
    store_face_images: bool = False
    rental_max_hours: float = Field(24.0, gt=0, description="a rental is overdue after this")
    retention_hours: float = Field(
        72.0,
        gt=0,
        description="how long an overdue rental keeps its templates; then it expires, its "
        "templates are deleted and its locker is flagged for staff",
    )
    housekeeping_interval_s: float = Field(
        300.0,
        gt=0,
        le=86400,
        description="how often a running kiosk expires rentals whose retention ran out",
    )

    @field_validator("pin_secret_file", mode="before")
    @classmethod
    def _empty_is_beside_the_key(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def pin_secret_path(self) -> Path:
        """Where the PIN secret is: ``pin_secret_file``, or ``pin.secret`` beside the template
        key (a computed default, so it follows a key file changed with ``model_copy``)."""
        if self.pin_secret_file is not None:
            return self.pin_secret_file
        return self.template_key_file.with_name(DEFAULT_PIN_SECRET_FILE_NAME)
