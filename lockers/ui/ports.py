"""What the UI needs from the layers below, as one interface the composition root implements.

Every method here may block (database, serial port): the controller calls them only on its
service thread, one at a time, never on the UI thread. Results are frozen DTOs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from lockers.kiosk.dto import (
    AuditRow,
    LockerView,
    RegisterResult,
    RetrieveResult,
    StaffActionResult,
    StaffEntry,
    StaffSession,
)

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.kiosk.assistance import AssistanceRequest
    from lockers.kiosk.flow import FlowSettings
    from lockers.kiosk.liveness_tiers import ChallengeProof
    from lockers.vision.camera import FrameSource
    from lockers.vision.pad import PadVerdict
    from lockers.vision.pipeline import FacePipeline


@dataclass(frozen=True)
class ServiceHealth:
    """The board and the lockers as the services see them.

    ``doors``: locker label → ``open`` | ``closed`` | ``unknown``; ``alerts``: things staff must
    hear about (forced doors, jammed locks, lockers flagged for attention).
    """

    board_ok: bool
    free_lockers: int
    total_lockers: int
    doors: Mapping[str, str] = field(default_factory=dict)
    alerts: tuple[str, ...] = ()
    detail: str = ""


class KioskBackend(Protocol):
    """The kiosk services behind the screens. Not thread-safe: one caller thread."""

    def register(
        self,
        templates: npt.NDArray[np.float32],
        qualities: npt.NDArray[np.float32],
        model_version: str,
        pad: PadVerdict | None = None,
        challenge: ChallengeProof | None = None,
    ) -> RegisterResult:
        """Consent was given on screen; allocate a locker and open it (refused when ``pad`` says
        the capture was a photo or a screen; ``challenge``: the head moves seen)."""
        ...

    def retrieve(
        self,
        probes: npt.NDArray[np.float32],
        model_version: str,
        pad: PadVerdict | None = None,
        final: bool = True,
        challenge: ChallengeProof | None = None,
    ) -> RetrieveResult:
        """``final=False``: an early look at fewer than n frames (``UNDECIDED`` unless it
        accepts); ``challenge``: the head move seen after ``CHALLENGE_REQUIRED``."""
        ...

    def prepare(self, model_version: str) -> int:
        """Load what matching needs (the active rentals' templates) before the first customer;
        returns how many rentals."""
        ...

    def health(self) -> ServiceHealth: ...

    def housekeeping(self) -> object:
        """The periodic upkeep while the kiosk runs (expired rentals' templates deleted,
        audited): the controller calls it every ``privacy.housekeeping_interval_s``."""
        ...

    def staff_directory(self) -> list[StaffEntry]:
        """Who can log in (name tiles), no authentication needed."""
        ...

    def staff_login(self, name: str, pin: str) -> StaffSession:
        """Raises: StaffAuthError (wrong PIN, locked out with ``retry_after_s``)."""
        ...

    def staff_logout(self, who: StaffSession, reason: str) -> None: ...

    def staff_lockers(self, who: StaffSession) -> list[LockerView]: ...

    def staff_action(
        self, who: StaffSession, action: str, label: str, reason: str
    ) -> StaffActionResult:
        """``action``: ``open`` | ``reset`` | ``out_of_service`` | ``back_in_service``."""
        ...

    def staff_audit(
        self, who: StaffSession, action: str | None, locker: str | None, limit: int
    ) -> list[AuditRow]:
        """The newest ``limit`` entries, filtered by action and locker label when given."""
        ...

    def request_assistance(
        self, screen: str, language: str, locker_label: str | None = None
    ) -> AssistanceRequest:
        """A customer pressed "call staff" on ``screen`` (showing ``locker_label``, if any):
        audited (``ASSISTANCE_REQUESTED``), then among :attr:`ServiceHealth.alerts` on the
        staff panel for a while.

        Raises: AssistanceRefused (an unknown screen or language)."""
        ...

    def close(self) -> None: ...


class ProgressBeat(Protocol):
    """The watchdog's view of progress (``lockers.kiosk.watchdog.ProgressWatch`` fits it):
    ``beat(part)`` says ``part`` (``ui``, ``camera``, ``service``) made progress now; safe from
    any thread."""

    def beat(self, part: str) -> None: ...


class KioskSetup(Protocol):
    """What the composition root hands the window (``lockers.app.KioskParts`` fits it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def backend(self) -> KioskBackend: ...

    @property
    def pipeline_factory(self) -> Callable[[], FacePipeline]: ...

    @property
    def camera_factory(self) -> Callable[[], FrameSource]: ...

    @property
    def flow_settings(self) -> FlowSettings: ...

    @property
    def untrained(self) -> bool: ...

    @property
    def notices(self) -> list[str]: ...
