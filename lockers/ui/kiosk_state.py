"""What the controller publishes besides the flow's view: whether the kiosk can serve
(:class:`KioskStatus`) and the staff screens' data (:class:`StaffState`). Frozen values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lockers.kiosk.dto import LockerView, StaffEntry, StaffSession
from lockers.ui.ports import AuditRow, ServiceHealth


@dataclass(frozen=True)
class KioskStatus:
    """Whether the kiosk can serve customers, and why not.

    ``model``: ``loading`` | ``ready`` | ``failed``; ``camera_ok``: ``None`` until the camera
    has been opened once; ``analysis_error``: the model loaded but fails on frame after frame
    (a model fault, not the camera's; clears itself when frames analyse again).
    """

    model: str = "loading"
    model_detail: str = ""
    model_version: str = ""
    analysis_error: str = ""
    camera_ok: bool | None = None
    camera_detail: str = ""
    health: ServiceHealth | None = None
    service_error: str = ""  # the last health poll failed (database unreachable, ...)
    untrained: bool = False
    notices: tuple[str, ...] = ()
    # Failed start-up checks (`lockers doctor`'s, "name: what → fix"): staff must fix them.
    failed_checks: tuple[str, ...] = ()

    @property
    def problems(self) -> tuple[str, ...]:
        """i18n keys of what keeps the kiosk out of order (empty when it can serve)."""
        keys: list[str] = []
        if self.model == "failed" or self.analysis_error:
            keys.append("ooo.model")
        elif self.model == "loading":
            keys.append("ooo.loading")
        if self.camera_ok is False:
            keys.append("ooo.camera")
        if self.health is not None and not self.health.board_ok:
            keys.append("ooo.board")
        if self.service_error:
            keys.append("ooo.service")
        if self.failed_checks:
            keys.append("ooo.checks")
        return tuple(keys)

    @property
    def out_of_order(self) -> bool:
        """Loading is not "out of order": the home screen says "starting up" instead."""
        return any(key != "ooo.loading" for key in self.problems)

    @property
    def ready(self) -> bool:
        return not self.problems and self.camera_ok is True


@dataclass(frozen=True)
class StaffState:
    """The staff screens' data. ``session`` is ``None`` when nobody is logged in."""

    session: StaffSession | None = None
    lockers: tuple[LockerView, ...] = ()
    audit: tuple[AuditRow, ...] = ()
    message: str = ""  # the last action's outcome or error, for the staff to read
    locked_for_s: float = 0.0
    busy: bool = False
    alerts: tuple[str, ...] = field(default_factory=tuple)
    doors: Mapping[str, str] = field(default_factory=dict)  # live: label → open/closed/unknown
    directory: tuple[StaffEntry, ...] = ()  # the login screen's name tiles
