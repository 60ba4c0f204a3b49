"""A customer asked for help at the kiosk ("call staff"): one audited entry, read back as alerts.

The entry is :attr:`AuditAction.ASSISTANCE_REQUESTED` by the kiosk (``kiosk:<id>``) with the
outcome ``requested``; its ``reason`` is ``kiosk=<id> screen=<screen> language=<ko|en>``, which
the staff panel shows and the site console turns into its alert, and its locker the one the
screen showed (an open door, a jammed one: where staff will find the person), if any. No face
datum and no rental is written: the person pressing the key is not identified (they may not be
a customer yet, and asking for help must not cost their privacy).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lockers.errors import LockersError
from lockers.i18n import LANGUAGES
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database
from lockers.store.models import utcnow

# A screen is named by the flow's phase or the staff screen's name: short, lower case.
_SCREEN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class AssistanceRefused(LockersError):
    """The call-staff request named a screen or language the kiosk does not have."""


@dataclass(frozen=True)
class AssistanceRequest:
    """One "call staff" press as the audit log holds it (``at``: aware UTC)."""

    entry_id: int
    at: datetime
    kiosk_id: str
    screen: str
    language: str
    locker_label: str | None = None

    @property
    def detail(self) -> str:
        return f"kiosk={self.kiosk_id} screen={self.screen} language={self.language}"


def parse_detail(reason: str) -> dict[str, str]:
    """The ``key=value`` fields of an entry's reason (the console reads them this way)."""
    fields = (part.partition("=") for part in reason.split())
    return {key: value for key, sep, value in fields if sep}


class AssistanceService:
    """Records "call staff" presses of one kiosk and lists the recent ones (its alerts).

    Args:
        database: the store (one short transaction per call).
        kiosk_id: this kiosk (``database.kiosk_id`` of the config).
        clock: aware UTC now (tests move time).
        alert_for_s: how long a request stays an alert on the staff panel.
    """

    def __init__(
        self,
        database: Database,
        kiosk_id: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        alert_for_s: float = 600.0,
    ) -> None:
        self._db = database
        self.kiosk_id = kiosk_id
        self._clock = clock
        self._alert_for = timedelta(seconds=alert_for_s)

    @property
    def actor(self) -> str:
        return f"kiosk:{self.kiosk_id}"

    def request(
        self, screen: str, language: str, locker_label: str | None = None
    ) -> AssistanceRequest:
        """Audit one request for help from ``screen`` (a phase or staff screen name), showing
        ``locker_label`` (or none).

        Raises:
            AssistanceRefused: ``screen`` or ``language`` is not one the kiosk shows.
        """
        if not _SCREEN.match(screen):
            raise AssistanceRefused(
                f"call staff: {screen!r} is not a kiosk screen",
                "the UI names the screen by its phase (home, capture, ...)",
            )
        if language not in LANGUAGES:
            raise AssistanceRefused(
                f"call staff: language {language!r} is not one of {', '.join(LANGUAGES)}"
            )
        now = self._clock()
        detail = f"kiosk={self.kiosk_id} screen={screen} language={language}"
        with self._db.transaction() as session:
            entry = audit.append(
                session,
                now,
                self.actor,
                AuditAction.ASSISTANCE_REQUESTED,
                AuditOutcome.REQUESTED,
                locker_label=locker_label or None,
                reason=detail,
            )
            entry_id = entry.id
        return AssistanceRequest(entry_id, now, self.kiosk_id, screen, language, locker_label)

    def recent(self, limit: int = 20) -> list[AssistanceRequest]:
        """This kiosk's requests of the last ``alert_for_s``, newest first (read on every
        health poll: the time and action indexes keep it to the few recent rows)."""
        since = self._clock() - self._alert_for
        found: list[AssistanceRequest] = []
        action = AuditAction.ASSISTANCE_REQUESTED.value
        with self._db.transaction() as session:
            for row in audit.entries(session, since=since, action=action):
                if row.actor != self.actor:
                    continue
                fields = parse_detail(row.reason or "")
                screen, language = fields.get("screen", "?"), fields.get("language", "?")
                found.append(
                    AssistanceRequest(
                        row.id, row.at, self.kiosk_id, screen, language, row.locker_label
                    )
                )
        return found[::-1][:limit]
