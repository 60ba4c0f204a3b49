"""What the harness asks a kiosk to do (:class:`Op`) and what the kiosk says happened
(:class:`OpReport`): plain picklable data passed over the pipe to a kiosk process; and the
harness's records of them (:class:`OpRecord`, :class:`Violation`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class OpKind(StrEnum):
    REGISTER = "register"  # a new person, or (duplicate) someone who already rents a locker
    RETRIEVE = "retrieve"  # a renter, a stranger, or a renter whose face is not recognised
    STAFF_RESET = "staff_reset"  # staff open a flagged locker, empty it and reset it
    STAFF_OUT_OF_SERVICE = "staff_out_of_service"
    STAFF_BACK_IN_SERVICE = "staff_back_in_service"
    EXPIRE = "expire"  # the kiosk's housekeeping: rentals past their retention expire
    # staff here act on a locker of another kiosk's bank (``Op.action``): a site command to the
    # owning kiosk, waited for; "reset" is an open (staff empty it) and then a reset
    COMMAND = "command"


@dataclass(frozen=True)
class Op:
    """One user or staff action on one kiosk.

    ``sim_s``: the fake clock (seconds since the run's epoch) the services see;
    ``noise``: capture noise (large = a face that is not recognised);
    ``die_at``: a checkpoint name where the kiosk process SIGKILLs itself (``None``: never);
    ``action``: a :data:`OpKind.COMMAND`'s action (open, reset, out_of_service,
    back_in_service); ``die_at_command``: the step of the next site command this kiosk executes
    (for another kiosk's staff) where it SIGKILLs itself, armed until its next op.
    """

    seq: int
    kind: OpKind
    sim_s: float
    person: int | None = None
    label: str | None = None
    noise: float = 0.4
    crowded_first: bool = False
    die_at: str | None = None
    action: str | None = None
    die_at_command: str | None = None


@dataclass
class OpReport:
    """The kiosk's account of one :class:`Op` (absent when the process was killed)."""

    seq: int
    outcome: str
    label: str | None = None
    rental_id: int | None = None
    error: str = ""
    error_kind: str = ""  # the error's class: StoreError means the database failed
    steps: dict[str, float] = field(default_factory=dict)  # checkpoint -> time.monotonic()
    expired: list[int] = field(default_factory=list)
    board_events: list[str] = field(default_factory=list)  # forced_open / jammed alerts


@dataclass(frozen=True)
class StartupSummary:
    """What the start-up check found when a kiosk (re)started."""

    findings: tuple[str, ...]  # each finding's kind
    expired: tuple[int, ...]
    details: tuple[tuple[str | None, str], ...] = ()  # (locker label, what was found) each
    instance: str = ""  # the process's registration token in the site's registry


@dataclass(frozen=True)
class CommandEvent:
    """One step of a site command a kiosk's agent executed, as it happened (monotonic ``at``):
    ``begin`` (claimed, nothing done yet), a service checkpoint, ``end`` (with its result)."""

    command_id: int
    what: str
    at: float
    action: str = ""
    label: str = ""
    result: str = ""


@dataclass
class OpRecord:
    """One op as it happened: sent at ``started``, answered (or found dead) at ``finished``."""

    kiosk: int
    kiosk_id: str
    op: Op
    started: float
    finished: float = 0.0
    report: OpReport | None = None  # None: the kiosk was killed during the op
    steps: dict[str, float] = field(default_factory=dict)
    fault: str | None = None  # the board fault injected during the op

    @property
    def completed(self) -> bool:
        return self.report is not None and self.report.outcome != "error"


@dataclass
class Violation:
    """One broken invariant, with the locker and person it is about and (filled in by the
    runner) what happened to them in the cycles before."""

    invariant: str
    cycle: int
    detail: str
    label: str | None = None
    person: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "invariant": self.invariant,
            "detail": self.detail,
            "locker": self.label,
            "person": self.person,
            "history": self.history,
        }
