"""The kiosks of a site: who is running (registry and heartbeat) and how each bank is doing.

Every kiosk records itself at start (:func:`register_kiosk`) and every ``site.heartbeat_s``
(:func:`heartbeat`); one is *offline* after :data:`MISSED_BEATS_OFFLINE` beats without news.
A kiosk id held by another running process (a fresh beat, another instance token) is refused,
so two kiosks configured with the same ``database.kiosk_id`` cannot both drive one bank.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lockers.errors import StoreError
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.latency import HistogramSnapshot
from lockers.store.models import Kiosk, Locker, LockerStatus, Rental, RentalState

MISSED_BEATS_OFFLINE = 3


class KioskIdInUseError(StoreError):
    """Another running kiosk holds this kiosk id."""


class KioskReplacedError(StoreError):
    """This process's registration was taken over (it was silent too long): it must stop."""


def new_instance_token() -> str:
    """A random token naming one run of one kiosk process."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class KioskIdentity:
    """What a kiosk says about itself at start."""

    kiosk_id: str
    instance: str
    display_name: str
    location: str | None = None
    version: str = ""
    model_version: str | None = None
    heartbeat_s: float = 10.0


def is_online(kiosk: Kiosk, now: datetime) -> bool:
    """Beat within the last :data:`MISSED_BEATS_OFFLINE` of its own intervals, not stopped."""
    if kiosk.stopped_at is not None and kiosk.stopped_at >= kiosk.last_beat_at:
        return False
    return now - kiosk.last_beat_at <= timedelta(seconds=MISSED_BEATS_OFFLINE * kiosk.heartbeat_s)


def register_kiosk(
    session: Session,
    identity: KioskIdentity,
    now: datetime,
    *,
    failed_checks: Sequence[str] = (),
    free_lockers: int | None = None,
) -> Kiosk:
    """Record this kiosk as running (call once at start, then :func:`heartbeat`).

    A restart of the same kiosk (its previous process died or stopped) takes the row over.

    Raises:
        KioskIdInUseError: another process with the same kiosk id beat recently.
    """
    kiosk = _locked_kiosk(session, identity.kiosk_id)
    if kiosk is not None and kiosk.instance != identity.instance and is_online(kiosk, now):
        ago = (now - kiosk.last_beat_at).total_seconds()
        wait_s = MISSED_BEATS_OFFLINE * kiosk.heartbeat_s - ago
        raise KioskIdInUseError(
            f"kiosk id {identity.kiosk_id!r} is already used by another running kiosk "
            f"({kiosk.display_name!r}, version {kiosk.version or '?'}): its last heartbeat was "
            f"{kiosk.last_beat_at:%Y-%m-%d %H:%M:%S}Z, {ago:.0f} s ago",
            hint="give each kiosk of the site its own database.kiosk_id in config.yaml; if the "
            f"other one was just switched off, start again in {max(1, round(wait_s))} s",
        )
    if kiosk is None:
        kiosk = Kiosk(id=identity.kiosk_id)
        _fill(kiosk, identity, now, failed_checks, free_lockers)
        _insert_or_refuse(session, kiosk)
    else:
        _fill(kiosk, identity, now, failed_checks, free_lockers)
        session.flush()
    audit.append(
        session,
        at=now,
        actor=f"kiosk:{identity.kiosk_id}",
        action=AuditAction.KIOSK_STARTED,
        outcome=AuditOutcome.OK,
        reason=f"{identity.display_name}, version {identity.version or '?'}"
        + (f", failed checks: {', '.join(failed_checks)}" if failed_checks else ""),
    )
    return kiosk


def _locked_kiosk(session: Session, kiosk_id: str) -> Kiosk | None:
    # FOR UPDATE: two processes registering one id at once serialise on the row (PostgreSQL;
    # SQLite's BEGIN IMMEDIATE already serialises every writer).
    return session.scalar(
        select(Kiosk)
        .where(Kiosk.id == kiosk_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _insert_or_refuse(session: Session, kiosk: Kiosk) -> None:
    try:
        with session.begin_nested():
            session.add(kiosk)
    except IntegrityError:
        raise KioskIdInUseError(
            f"kiosk id {kiosk.id!r} was registered by another kiosk at the same moment",
            hint="give each kiosk of the site its own database.kiosk_id in config.yaml",
        ) from None


def _fill(
    kiosk: Kiosk,
    identity: KioskIdentity,
    now: datetime,
    failed_checks: Sequence[str],
    free_lockers: int | None,
) -> None:
    kiosk.display_name = identity.display_name
    kiosk.location = identity.location or None
    kiosk.version = identity.version
    kiosk.model_version = identity.model_version
    kiosk.heartbeat_s = identity.heartbeat_s
    kiosk.instance = identity.instance
    kiosk.failed_checks = list(failed_checks)
    kiosk.free_lockers = free_lockers
    kiosk.recognition_latency = None  # a new process counts from zero (its beats write it)
    kiosk.started_at = now
    kiosk.last_beat_at = now
    kiosk.stopped_at = None


def heartbeat(
    session: Session,
    kiosk_id: str,
    instance: str,
    now: datetime,
    *,
    free_lockers: int | None = None,
    failed_checks: Sequence[str] | None = None,
    model_version: str | None = None,
    recognition_latency: HistogramSnapshot | None = None,
) -> None:
    """Record that this kiosk process is alive (``None`` leaves a field as it was), with its
    retrieve recognition latencies since it started.

    Raises:
        KioskReplacedError: the row belongs to another instance now (this process was silent
            past the offline limit and another kiosk registered the id): stop driving the bank.
    """
    values: dict[str, object] = {"last_beat_at": now, "stopped_at": None}
    if free_lockers is not None:
        values["free_lockers"] = free_lockers
    if failed_checks is not None:
        values["failed_checks"] = list(failed_checks)
    if model_version is not None:
        values["model_version"] = model_version
    if recognition_latency is not None:
        values["recognition_latency"] = recognition_latency.as_json()
    beat = session.execute(
        update(Kiosk)
        .where(Kiosk.id == kiosk_id, Kiosk.instance == instance)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if beat.rowcount != 1:  # type: ignore[attr-defined]
        raise KioskReplacedError(
            f"kiosk {kiosk_id!r}: another process registered this kiosk id while this one was "
            "silent; this one stops driving the bank",
            hint="two kiosks share one database.kiosk_id, or this kiosk stalled: check both",
        )


def sign_off(session: Session, kiosk_id: str, instance: str, now: datetime) -> None:
    """Record a clean stop (the kiosk shows offline at once); a no-op if replaced meanwhile."""
    stopped = session.execute(
        update(Kiosk)
        .where(Kiosk.id == kiosk_id, Kiosk.instance == instance)
        .values(stopped_at=now)
        .execution_options(synchronize_session=False)
    )
    if stopped.rowcount == 1:  # type: ignore[attr-defined]
        audit.append(
            session,
            at=now,
            actor=f"kiosk:{kiosk_id}",
            action=AuditAction.KIOSK_STOPPED,
            outcome=AuditOutcome.OK,
        )


def get_kiosk(session: Session, kiosk_id: str) -> Kiosk | None:
    return session.get(Kiosk, kiosk_id)


def kiosk_place(session: Session, kiosk_id: str) -> tuple[str, str | None]:
    """What customers call kiosk ``kiosk_id`` and where it is (its id if it never started)."""
    kiosk = session.get(Kiosk, kiosk_id)
    if kiosk is None:
        return kiosk_id, None
    return kiosk.display_name, kiosk.location


@dataclass
class KioskStatus:
    """One line of ``lockers site status``."""

    kiosk_id: str
    display_name: str
    location: str | None
    online: bool
    registered: bool  # False: its lockers exist but it never started on this database
    last_beat_at: datetime | None
    version: str | None
    model_version: str | None
    lockers_free: int = 0
    lockers_occupied: int = 0
    lockers_overdue: int = 0
    lockers_out_of_service: int = 0
    lockers_flagged: int = 0
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["last_beat_at"] = None if self.last_beat_at is None else self.last_beat_at.isoformat()
        return data


def site_status(session: Session, now: datetime) -> list[KioskStatus]:
    """Every kiosk of the site (registered or owning lockers), ordered by id."""
    statuses: dict[str, KioskStatus] = {}
    for kiosk in session.scalars(select(Kiosk)):
        statuses[kiosk.id] = _kiosk_status(kiosk, now)
    for (kiosk_id,) in session.execute(
        select(Locker.kiosk_id).where(Locker.retired_at.is_(None)).distinct()
    ):
        if kiosk_id not in statuses:
            statuses[kiosk_id] = KioskStatus(
                kiosk_id=kiosk_id,
                display_name=kiosk_id,
                location=None,
                online=False,
                registered=False,
                last_beat_at=None,
                version=None,
                model_version=None,
                problems=["never started on this database"],
            )
    _count_lockers(session, now, statuses)
    for status in statuses.values():
        if status.lockers_flagged:
            status.problems.append(f"{status.lockers_flagged} lockers need staff")
    return [statuses[key] for key in sorted(statuses)]


def _kiosk_status(kiosk: Kiosk, now: datetime) -> KioskStatus:
    online = is_online(kiosk, now)
    problems = [f"failed check: {name}" for name in kiosk.failed_checks or []]
    if not online:
        stopped = kiosk.stopped_at is not None and kiosk.stopped_at >= kiosk.last_beat_at
        problems.insert(
            0,
            "stopped"
            if stopped
            else f"offline: no heartbeat for {(now - kiosk.last_beat_at).total_seconds():.0f} s",
        )
    return KioskStatus(
        kiosk_id=kiosk.id,
        display_name=kiosk.display_name,
        location=kiosk.location,
        online=online,
        registered=True,
        last_beat_at=kiosk.last_beat_at,
        version=kiosk.version,
        model_version=kiosk.model_version,
        problems=problems,
    )


def _count_lockers(session: Session, now: datetime, statuses: dict[str, KioskStatus]) -> None:
    in_service = Locker.retired_at.is_(None)
    rows = session.execute(
        select(Locker.kiosk_id, Locker.status, Locker.attention.is_not(None), func.count())
        .where(in_service)
        .group_by(Locker.kiosk_id, Locker.status, Locker.attention.is_not(None))
    )
    for kiosk_id, status, flagged, count in rows:
        line = statuses[kiosk_id]
        if flagged:
            line.lockers_flagged += count
        if status == LockerStatus.OUT_OF_SERVICE:
            line.lockers_out_of_service += count
        elif status == LockerStatus.OCCUPIED:
            line.lockers_occupied += count
        elif not flagged:
            line.lockers_free += count
    overdue = session.execute(
        select(Locker.kiosk_id, func.count())
        .join(Rental, Rental.locker_id == Locker.id)
        .where(in_service, Rental.state == RentalState.ACTIVE, Rental.ends_at <= now)
        .group_by(Locker.kiosk_id)
    )
    for kiosk_id, count in overdue:
        statuses[kiosk_id].lockers_overdue = count
