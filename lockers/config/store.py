"""Config sections of storage and privacy."""

from __future__ import annotations

from pydantic import Field

from lockers.config._base import ResolvedPath, Section


class DatabaseConfig(Section):
    """SQLAlchemy URL; empty means a SQLite file ``lockers.db`` in the data directory."""

    url: str = ""


class PrivacyConfig(Section):
    """What biometric data is kept, where its key lives, and for how long."""

    template_key_file: ResolvedPath = Field(default="data/template.key")  # type: ignore[assignment]
    store_face_images: bool = False
    rental_max_hours: float = Field(24.0, gt=0)
    retention_hours: float = Field(72.0, gt=0, description="after expiry, templates are deleted")
