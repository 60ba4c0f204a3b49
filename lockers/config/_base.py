"""Shared pieces of the config schema: a strict base model and paths resolved against the file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo


class Section(BaseModel):
    """A config section: unknown keys are errors, so a typo never silently becomes a default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _resolve(value: Path, info: ValidationInfo) -> Path:
    # Relative paths are relative to the config file, so a kiosk behaves the same whatever its cwd.
    base = (info.context or {}).get("base_dir")
    value = value.expanduser()
    if base is not None and not value.is_absolute():
        return (Path(base) / value).resolve()
    return value


ResolvedPath = Annotated[Path, AfterValidator(_resolve)]
