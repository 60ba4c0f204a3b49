"""Kiosks that are down (SIGKILLed, stopped after a database failure, kept offline on purpose)
and bringing them back, as a site would: a kiosk whose process died holds its id in the site's
registry until three heartbeats are missed, and only then can it register again.

The other kiosks keep serving meanwhile (a down kiosk gets no ops), and their staff keep sending
it commands, which expire unless it comes back in time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from lockers.backoff import Backoff, BackoffTimer
from lockers.errors import LockersError
from lockers.soak.kiosks import Kiosk
from lockers.soak.result import SoakResult
from lockers.store import site
from lockers.store.db import Database
from lockers.store.models import utcnow

RESTART_BACKOFF = Backoff(base_s=0.05, max_s=1.0)  # while the database is down or full
GIVE_UP_S = 90.0  # a kiosk that cannot start for this long ends the run
REGISTRY_MARGIN_S = 0.1  # past the registry's offline limit, so the id is surely free


class Restarts:
    """Which kiosks are down and when each may start again (monotonic times)."""

    def __init__(self, db: Database, kiosks: Sequence[Kiosk], result: SoakResult) -> None:
        self._db = db
        self._kiosks = kiosks
        self._result = result
        self._back_at: dict[int, float] = {}
        self._failing_since: dict[int, float] = {}
        self._retry: dict[int, BackoffTimer] = {}

    def is_down(self, index: int) -> bool:
        return index in self._back_at

    @property
    def down(self) -> set[int]:
        return set(self._back_at)

    def take_down(self, index: int, for_s: float = 0.0) -> None:
        """``index`` is dead or stopped; bring it back no sooner than ``for_s`` from now."""
        self._back_at[index] = max(self._back_at.get(index, 0.0), time.monotonic() + for_s)

    def start(self, kiosk: Kiosk, sim_s: float, count: bool = True) -> list[dict[str, Any]]:
        """Start ``kiosk`` now (fake clock ``sim_s``); its start-up findings.

        Raises:
            KioskStartFailed (a LockersError): it could not (the database is down, its id is
                still held).
        """
        summary = kiosk.start(sim_s)
        if count:
            self._result.restarts += 1
        self._result.startup_findings.update(summary.findings)
        return [{"locker": label, "finding": detail} for label, detail in summary.details]

    def bring_back(self, sim_s: float) -> list[tuple[Kiosk, list[dict[str, Any]]]]:
        """Start every down kiosk whose time has come and whose id the registry has freed;
        returns each one started with its start-up findings.

        Raises:
            LockersError: a kiosk could not start for :data:`GIVE_UP_S`.
        """
        started = []
        for index in sorted(self._back_at):
            now = time.monotonic()
            if self._back_at[index] > now:
                continue
            kiosk = self._kiosks[index]
            free_in = self._id_free_in(kiosk.kiosk_id)
            if free_in > 0:
                self._back_at[index] = now + free_in
                continue
            try:
                findings = self.start(kiosk, sim_s)
            except LockersError as exc:  # KioskStartFailed among them
                self._failed(index, str(exc))
                continue
            del self._back_at[index]
            self._failing_since.pop(index, None)
            self._retry.pop(index, None)
            started.append((kiosk, findings))
        return started

    def _failed(self, index: int, why: str) -> None:
        now = time.monotonic()
        since = self._failing_since.setdefault(index, now)
        if now - since > GIVE_UP_S:
            raise LockersError(f"kiosk {self._kiosks[index].kiosk_id} cannot start again: {why}")
        timer = self._retry.setdefault(index, BackoffTimer(RESTART_BACKOFF))
        self._back_at[index] = now + timer.next_delay()

    def _id_free_in(self, kiosk_id: str) -> float:
        """Seconds until the registry lets ``kiosk_id`` register again (0: now; the database
        being away counts as free: the start will fail and be retried)."""
        try:
            with self._db.transaction() as session:
                row = site.get_kiosk(session, kiosk_id)
                now = utcnow()
                if row is None or not site.is_online(row, now):
                    return 0.0
                limit = timedelta(seconds=site.MISSED_BEATS_OFFLINE * row.heartbeat_s)
                free_at = row.last_beat_at + limit
        except LockersError:
            return 0.0
        return max(0.0, (free_at - now).total_seconds()) + REGISTRY_MARGIN_S

    def wait_for_one(self, total: int) -> None:
        """Block until some kiosk is due back when every one of the ``total`` is down."""
        if len(self._back_at) >= total and self._back_at:
            time.sleep(max(0.0, min(self._back_at.values()) - time.monotonic()))
