"""The lock-board interface every driver implements and the kiosk services depend on.

Contract (docs/protocols.md, "What an unlock's outcome means"): "pulse sent" and "door opened"
are separate outcomes; an unlock that may have reached the wire is never re-sent automatically;
a silent board's doors are ``UNKNOWN``, never ``CLOSED``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType


class DoorState(StrEnum):
    """Last observed state of one door (from the lock's feedback switch)."""

    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"  # board silent, no sensor, or not polled yet


class UnlockOutcome(StrEnum):
    """What happened to one unlock request."""

    OPENED = "opened"  # pulse sent and the door was seen open within the window
    # Pulse sent, every reading after it valid, none open: the door provably did not open.
    JAMMED = "jammed"
    # The pulse may have acted and the door was not watched without a gap (no feedback, a
    # garbled or missing reply): it may have opened.
    UNCONFIRMED = "unconfirmed"
    NOT_SENT = "not_sent"  # provably never left the host (port closed, expired, refused)


@dataclass(frozen=True)
class LockAddress:
    """Where one lock is wired: board address on the bus and 1-based channel on that board."""

    board: int
    channel: int


@dataclass(frozen=True)
class UnlockResult:
    """The outcome of :meth:`LockBoard.unlock`, with a human-readable detail for the audit log."""

    address: LockAddress
    outcome: UnlockOutcome
    detail: str = ""

    @property
    def pulse_sent(self) -> bool:
        return self.outcome is not UnlockOutcome.NOT_SENT


class DoorEventKind(StrEnum):
    """Something staff must hear about (docs/protocols.md, "Door states and alerts")."""

    FORCED_OPEN = "forced_open"  # the door went from closed to open with no unlock command
    JAMMED = "jammed"  # pulsed, but the door never reported open within the detection window


@dataclass(frozen=True)
class DoorEvent:
    """One alert: which lock, what happened, and when (``time.time()`` seconds)."""

    address: LockAddress
    kind: DoorEventKind
    at: float
    detail: str = ""


class LockBoard(ABC):
    """A bus of one or more lock/relay boards. A context manager; ``close()`` is idempotent."""

    @abstractmethod
    def unlock(self, address: LockAddress) -> UnlockResult:
        """Pulse one lock once and watch its feedback for the detection window. Never retried."""

    @abstractmethod
    def door_states(self) -> dict[LockAddress, DoorState]:
        """Poll feedback for every configured lock; a silent board's locks are ``UNKNOWN``."""

    @abstractmethod
    def healthy(self) -> bool:
        """Whether the last exchange with every board on the bus succeeded."""

    @abstractmethod
    def close(self) -> None:
        """Release the port (safe to call twice)."""

    def poll_events(self) -> list[DoorEvent]:
        """Alerts (forced open, jammed) seen since the last call, oldest first; drains them.

        Doors are only observed while :meth:`unlock` or :meth:`door_states` talk to the board,
        so a kiosk calls :meth:`door_states` periodically and then this.
        """
        return []

    def __enter__(self) -> LockBoard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
