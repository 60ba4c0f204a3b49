"""This kiosk in the site's registry: registered at start (refused when another running kiosk
holds the same ``database.kiosk_id``), a heartbeat every ``site.heartbeat_s`` with its free
lockers, failed checks, model version and retrieve recognition latency histogram, and a
sign-off at a clean exit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select

from lockers.config import Settings
from lockers.errors import LockersError
from lockers.store import site, site_commands
from lockers.store.db import Database, Session
from lockers.store.latency import LatencyHistogram
from lockers.store.models import Locker, LockerStatus, utcnow
from lockers.store.site import KioskIdentity, new_instance_token


def identity_of(
    settings: Settings, *, version: str = "", model_version: str | None = None
) -> KioskIdentity:
    """This kiosk as the config describes it, with a fresh instance token for this process."""
    return KioskIdentity(
        kiosk_id=settings.database.kiosk_id,
        instance=new_instance_token(),
        display_name=settings.display_name,
        location=settings.site.location or None,
        version=version,
        model_version=model_version,
        heartbeat_s=settings.site.heartbeat_s,
    )


def free_lockers(session: Session, kiosk_id: str) -> int:
    """Lockers of ``kiosk_id``'s bank a customer could be given now."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Locker)
            .where(
                Locker.kiosk_id == kiosk_id,
                Locker.retired_at.is_(None),
                Locker.status == LockerStatus.AVAILABLE,
                Locker.attention.is_(None),
            )
        )
        or 0
    )


class KioskPresence:
    """Registration, heartbeat and sign-off of one kiosk process. Not thread-safe."""

    def __init__(
        self,
        database: Database,
        identity: KioskIdentity,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self.identity = identity
        self._clock = clock
        self._last_beat: datetime | None = None
        self.failed_checks: list[str] = []
        self.model_version = identity.model_version
        # Retrieve decisions of this process (observed on the service thread, written by
        # each beat): the console's lockers_recognition_latency_seconds.
        self.recognition_latency = LatencyHistogram()

    @property
    def kiosk_id(self) -> str:
        return self.identity.kiosk_id

    @property
    def instance(self) -> str:
        return self.identity.instance

    def register(self, session: Session, failed_checks: Sequence[str] = ()) -> list[int]:
        """Record this kiosk as running in ``session`` (the start-up transaction), and finish as
        ``interrupted`` the commands an earlier, dead process of this kiosk claimed; returns
        their ids.

        Raises:
            KioskIdInUseError: another running kiosk holds this kiosk id (its last heartbeat is
                in the message).
        """
        now = self._clock()
        self.failed_checks = list(failed_checks)
        site.register_kiosk(
            session,
            self.identity,
            now,
            failed_checks=self.failed_checks,
            free_lockers=free_lockers(session, self.kiosk_id),
        )
        abandoned = site_commands.abandon_interrupted(session, self.kiosk_id, self.instance, now)
        self._last_beat = now
        return [command.id for command in abandoned]

    def beat(
        self,
        *,
        failed_checks: Sequence[str] | None = None,
        model_version: str | None = None,
    ) -> None:
        """Record that this kiosk is alive, with its free lockers now.

        Raises:
            KioskReplacedError: another process took this kiosk id over: stop driving the bank.
            StoreError: the database failed (try again at the next beat).
        """
        if failed_checks is not None:
            self.failed_checks = list(failed_checks)
        if model_version is not None:
            self.model_version = model_version
        now = self._clock()
        with self._db.transaction() as session:
            site.heartbeat(
                session,
                self.kiosk_id,
                self.instance,
                now,
                free_lockers=free_lockers(session, self.kiosk_id),
                failed_checks=self.failed_checks,
                model_version=self.model_version,
                recognition_latency=self.recognition_latency.snapshot(),
            )
        self._last_beat = now

    def beat_if_due(self, now: datetime | None = None) -> bool:
        """:meth:`beat` when ``site.heartbeat_s`` passed since the last one; whether it beat."""
        now = self._clock() if now is None else now
        interval = timedelta(seconds=self.identity.heartbeat_s)
        if self._last_beat is not None and now - self._last_beat < interval:
            return False
        self.beat()
        return True

    def abandon(self) -> None:
        """:meth:`sign_off` for a start that failed, whatever the database says (best effort:
        the kiosk goes offline by itself after three missed beats anyway)."""
        if self._last_beat is None:
            return
        with contextlib.suppress(LockersError):
            self.sign_off()

    def sign_off(self) -> None:
        """Record a clean stop (the kiosk shows offline at once)."""
        with self._db.transaction() as session:
            site.sign_off(session, self.kiosk_id, self.instance, self._clock())
