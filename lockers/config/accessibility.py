"""Config section of the barrier-free kiosk: voice, keys, low reach, contrast, time."""

from __future__ import annotations

from pydantic import Field

from lockers.config._base import ResolvedPath, Section


class AccessibilityConfig(Section):
    """How the kiosk serves a blind customer, a wheelchair user or anyone slower.

    Every screen has a button (and a key) that turns accessibility mode on for the customer in
    front of it; ``on_at_start`` makes it the default (a site that serves mostly such customers).
    Mode ends when the kiosk returns home after a customer.
    """

    on_at_start: bool = Field(False, description="start every customer in accessibility mode")
    voice: bool = Field(True, description="speak screens, buttons and hints in accessibility mode")
    prompts_dir: ResolvedPath | None = Field(
        None,
        description="a site's own recordings (<language>/<string id>.wav), used before the "
        "built ones in <data_dir>/prompts; empty = only the built ones",
    )
    volume_percent: int = Field(80, ge=0, le=100, description="starting volume of the prompts")
    volume_step_percent: int = Field(10, ge=1, le=50, description="one press of volume up/down")
    time_factor: float = Field(
        3.0, ge=1.0, le=10.0, description="every timeout is this many times longer in the mode"
    )
    warn_before_s: float = Field(
        10.0, gt=0, le=120, description="a spoken warning this long before a timeout expires"
    )
    reach_band_px: int = Field(
        360,
        ge=200,
        le=800,
        description="low-reach mode puts every control in this band at the bottom of the screen",
    )
    text_scale: float = Field(1.5, ge=1.5, le=3.0, description="large text: at least 1.5x")
