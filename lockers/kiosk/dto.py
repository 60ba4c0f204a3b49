"""Frozen results the services hand to the UI and the CLI (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RegisterOutcome(StrEnum):
    OPENED = "opened"  # new rental, door seen open
    REOPENED_EXISTING = "reopened_existing"  # this face already rents a locker: that one opened
    DOOR_NOT_CONFIRMED = "door_not_confirmed"  # no door feedback: rental kept, staff alerted
    # The door was watched and never opened: rental voided, templates deleted, locker flagged.
    JAMMED = "jammed"
    NOT_OPENED = "not_opened"  # the board was never told: rental rolled back, nothing kept
    NO_FREE_LOCKER = "no_free_locker"
    # The passive anti-spoofing check saw a photo or a screen: nothing stored, nothing opened.
    PRESENTATION_ATTACK = "presentation_attack"
    # The face rents a locker and the passive score is unsure: one head move first (nothing
    # opened, nothing counted); a move that was not done (a failed attempt, with the back-off).
    CHALLENGE_REQUIRED = "challenge_required"
    CHALLENGE_FAILED = "challenge_failed"
    # This face already rents a locker in another kiosk's bank: nothing opens here, the result
    # names that locker and kiosk (``kiosk_name``, ``kiosk_location``).
    ACTIVE_ELSEWHERE = "active_elsewhere"


class RetrieveOutcome(StrEnum):
    OPENED = "opened"  # matched, door open, rental ended, templates deleted
    NO_MATCH = "no_match"
    RATE_LIMITED = "rate_limited"  # too many failed attempts: wait retry_after_s
    DOOR_NOT_CONFIRMED = "door_not_confirmed"  # matched; rental kept, staff alerted
    NOT_OPENED = "not_opened"  # matched, but the board was never told: try again
    PRESENTATION_ATTACK = "presentation_attack"  # a photo or a screen: never opened
    # An early look (``final=False``) at fewer than n frames gave no accept: send more frames.
    UNDECIDED = "undecided"
    # As for RegisterOutcome (see lockers.kiosk.liveness_tiers).
    CHALLENGE_REQUIRED = "challenge_required"
    CHALLENGE_FAILED = "challenge_failed"
    # Matched a rental whose locker is in another kiosk's bank: nothing opens here, the rental
    # stays active, no back-off; the result names the locker and that kiosk.
    AT_OTHER_KIOSK = "at_other_kiosk"


@dataclass(frozen=True)
class RegisterResult:
    outcome: RegisterOutcome
    locker_label: str | None = None
    rental_id: int | None = None
    detail: str = ""
    retry_after_s: float = 0.0  # after a failed head move (the retrieve back-off)
    # Set with ACTIVE_ELSEWHERE: the kiosk whose bank holds ``locker_label``.
    kiosk_id: str | None = None
    kiosk_name: str | None = None
    kiosk_location: str | None = None

    @property
    def door_opened(self) -> bool:
        return self.outcome in (RegisterOutcome.OPENED, RegisterOutcome.REOPENED_EXISTING)


@dataclass(frozen=True)
class RetrieveResult:
    outcome: RetrieveOutcome
    locker_label: str | None = None
    rental_id: int | None = None
    score: float | None = None
    retry_after_s: float = 0.0
    detail: str = ""
    # Set with AT_OTHER_KIOSK: the kiosk whose bank holds ``locker_label``.
    kiosk_id: str | None = None
    kiosk_name: str | None = None
    kiosk_location: str | None = None


@dataclass(frozen=True)
class LockerView:
    label: str
    size: str
    board: int
    channel: int
    status: str  # available | occupied | out_of_service
    door_state: str  # open | closed | unknown
    attention: str | None
    rental_id: int | None
    rental_started_at: datetime | None
    rental_ends_at: datetime | None
    overdue: bool
    # The kiosk whose bank this locker is in (only it drives the board); its display name.
    kiosk_id: str = ""
    kiosk_name: str = ""


@dataclass(frozen=True)
class StaffSession:
    """A logged-in staff member. ``token`` identifies the session to the service."""

    token: str
    staff_name: str
    role: str


@dataclass(frozen=True)
class AuditRow:
    """One audit log entry for staff (UTC time)."""

    at: datetime
    actor: str
    action: str
    outcome: str
    locker_label: str | None
    rental_id: int | None
    reason: str | None


@dataclass(frozen=True)
class StaffActionResult:
    locker_label: str
    action: str
    outcome: str
    detail: str = ""


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str
    locker_label: str | None
    rental_id: int | None
    repaired: bool


@dataclass(frozen=True)
class StartupReport:
    """What the start-up check did: locker sync, inconsistencies found, rentals expired."""

    lockers_added: tuple[str, ...]
    lockers_retired: tuple[str, ...]
    findings: tuple[Finding, ...]
    expired_rentals: tuple[int, ...]

    @property
    def clean(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class StaffEntry:
    """A name tile on the staff login screen: ``number`` is the staff number typed on the PIN
    pad instead of tapping the name (the account's id, shown by `lockers admin add-staff`)."""

    number: int
    name: str


@dataclass(frozen=True)
class HousekeepingReport:
    """What one housekeeping pass did: rentals expired (their templates deleted) at ``at``."""

    at: datetime
    expired_rentals: tuple[int, ...]
    templates_deleted: int

    @property
    def idle(self) -> bool:
        return not self.expired_rentals
