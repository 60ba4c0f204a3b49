"""What the console needs from the site: the kiosks, and commands to the kiosk that owns a
locker. Two small protocols, so the pages do not depend on how they are provided: the site store
(:class:`lockers.console.site_store.SiteStore`) in production, a recorder in page tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from lockers.errors import LockersError
from lockers.store.db import Database, Session

ACTIONS = ("open", "reset", "out_of_service", "back_in_service")  # CommandAction's values


@dataclass(frozen=True)
class KioskView:
    """One kiosk of the site as the overview shows it."""

    kiosk_id: str
    display_name: str
    location: str | None = None
    online: bool | None = None  # None: unknown (no heartbeat registry)
    last_beat_at: datetime | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class CommandView:
    """A command to the owning kiosk and, once it arrived, its result."""

    id: int
    kiosk_id: str
    action: str
    locker_label: str
    staff: str
    reason: str
    created_at: datetime
    expires_at: datetime
    claimed_at: datetime | None = None
    finished_at: datetime | None = None
    result: str | None = None  # CommandResult's value once finished
    detail: str | None = None

    @property
    def pending(self) -> bool:
        return self.finished_at is None

    @property
    def state(self) -> str:
        if self.result is not None:
            return self.result
        return "claimed" if self.claimed_at is not None else "sent"


class CommandsUnavailable(LockersError):
    """This console cannot send commands to kiosks (the site store is not wired)."""


class SiteView(Protocol):
    def kiosks(self, session: Session, now: datetime) -> list[KioskView]:
        """Every kiosk of the site, by id."""
        ...


class CommandSender(Protocol):
    def send(
        self,
        session: Session,
        *,
        kiosk_id: str,
        action: str,
        label: str,
        staff: str,
        reason: str,
        now: datetime,
    ) -> CommandView:
        """Queue ``action`` on ``label`` for its owning kiosk (audited by the sender).

        Raises:
            LockersError: unknown kiosk, locker not in that bank, bad action.
        """
        ...

    def get(self, session: Session, command_id: int, now: datetime) -> CommandView | None:
        """The command as it stands (one unclaimed past its time to live reads as expired)."""
        ...

    def wait(self, database: Database, command_id: int, timeout_s: float) -> CommandView | None:
        """The command once finished, or as it stands after ``timeout_s``."""
        ...

    def counts_by_result(self, session: Session) -> list[tuple[str, int]]:
        """(result or "pending", count) over every command, for /metrics."""
        ...


class NoCommands:
    """A read-only console: refuses every action with a clear message."""

    def send(
        self,
        session: Session,
        *,
        kiosk_id: str,
        action: str,
        label: str,
        staff: str,
        reason: str,
        now: datetime,
    ) -> CommandView:
        raise CommandsUnavailable(
            "this console is read-only: it sends no commands to kiosks",
            hint="act at the kiosk's own staff screen, or start a console that may send commands",
        )

    def get(self, session: Session, command_id: int, now: datetime) -> CommandView | None:
        return None

    def wait(self, database: Database, command_id: int, timeout_s: float) -> CommandView | None:
        return None

    def counts_by_result(self, session: Session) -> list[tuple[str, int]]:
        return []
