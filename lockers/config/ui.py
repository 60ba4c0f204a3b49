"""Config section of the touch UI."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lockers.config._base import Section


class UiConfig(Section):
    """Language and timing of the kiosk screens."""

    language: Literal["ko", "en"] = "ko"
    idle_timeout_s: float = Field(30.0, gt=0)
    fullscreen: bool = True
