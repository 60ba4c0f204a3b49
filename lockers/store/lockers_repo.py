"""Queries on lockers: sync from config, list, claim a free one atomically, change status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from lockers.config import LockerConfig
from lockers.errors import StoreError
from lockers.store.models import Locker, LockerSize, LockerStatus, Rental, RentalState, utcnow

AllocationPolicy = Literal["first_free", "by_size"]
_REGISTRATION_LOCK_KEY = 0x4C4F434B  # "LOCK": any constant shared by every kiosk
_SIZE_RANK = {LockerSize.S: 0, LockerSize.M: 1, LockerSize.L: 2}


class UnknownLockerError(StoreError):
    """No locker in service has that label."""


class LockerInUseError(StoreError):
    """The locker holds an active rental, so the requested change is refused."""


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.retired)


def active_rental_of(session: Session, locker_id: int) -> Rental | None:
    return session.scalar(
        select(Rental).where(Rental.locker_id == locker_id, Rental.state == RentalState.ACTIVE)
    )


def sync_lockers(session: Session, configured: Sequence[LockerConfig]) -> SyncReport:
    """Make the lockers in service match ``configured`` (matched by label).

    New labels are added, changed size/wiring is updated, labels no longer configured are
    retired (kept for history). Nothing is changed if any of it is refused.

    Raises:
        LockerInUseError: a locker to retire or rewire holds an active rental.
    """
    report = SyncReport()
    existing = {locker.label: locker for locker in session.scalars(select(Locker))}
    wanted = {cfg.label: cfg for cfg in configured}
    refused: list[str] = []
    for label, locker in existing.items():
        if locker.retired_at is not None:
            continue
        cfg = wanted.get(label)
        rewired = cfg is not None and (cfg.board, cfg.channel) != (locker.board, locker.channel)
        if (cfg is None or rewired) and active_rental_of(session, locker.id) is not None:
            what = "removed from config.yaml" if cfg is None else "rewired in config.yaml"
            refused.append(f"locker {label} is {what} but holds an active rental")
    if refused:
        raise LockerInUseError(
            "; ".join(refused),
            hint="let the renter retrieve their belongings or have staff reset the locker "
            "(lockers lockers reset LABEL), then sync again",
        )
    now = utcnow()
    # Retire first, so a label removed and a new one on the same wire do not collide.
    for label, locker in existing.items():
        if label not in wanted and locker.retired_at is None:
            locker.retired_at = now
            report.retired.append(label)
    session.flush()
    for label, cfg in wanted.items():
        known = existing.get(label)
        if known is None:
            session.add(
                Locker(
                    label=label,
                    size=LockerSize(cfg.size),
                    board=cfg.board,
                    channel=cfg.channel,
                    status=LockerStatus.AVAILABLE,
                )
            )
            report.added.append(label)
            continue
        before = (known.size, known.board, known.channel, known.retired_at)
        known.size, known.board, known.channel = LockerSize(cfg.size), cfg.board, cfg.channel
        known.retired_at = None
        if before != (known.size, known.board, known.channel, None):
            report.updated.append(label)
    session.flush()
    return report


def list_lockers(session: Session) -> list[Locker]:
    """Lockers in service, in configuration order."""
    return list(
        session.scalars(select(Locker).where(Locker.retired_at.is_(None)).order_by(Locker.id))
    )


def get_locker(session: Session, label: str) -> Locker:
    """Raises: UnknownLockerError."""
    locker = session.scalar(
        select(Locker).where(Locker.label == label, Locker.retired_at.is_(None))
    )
    if locker is None:
        known = ", ".join(locker.label for locker in list_lockers(session)) or "none"
        raise UnknownLockerError(
            f"there is no locker labelled {label!r}", hint=f"lockers in service: {known}"
        )
    return locker


def claim_free_locker(
    session: Session, policy: AllocationPolicy = "first_free", size: str | None = None
) -> Locker | None:
    """Atomically mark one available locker occupied and return it (``None``: all taken).

    ``first_free`` takes the first available locker in configuration order; ``by_size`` takes
    the smallest one at least ``size`` (default the smallest of all).
    The claim is a conditional UPDATE, so two kiosks racing for the same locker cannot both win
    (the loser moves on to the next candidate).
    """
    query = select(Locker.id).where(
        Locker.status == LockerStatus.AVAILABLE,
        Locker.retired_at.is_(None),
        Locker.attention.is_(None),
    )
    if policy == "by_size":
        rank = case({size_.value: rank for size_, rank in _SIZE_RANK.items()}, value=Locker.size)
        if size is not None:
            query = query.where(rank >= _SIZE_RANK[LockerSize(size)])
        query = query.order_by(rank, Locker.id)
    else:
        query = query.order_by(Locker.id)
    for locker_id in list(session.scalars(query)):
        claimed = session.execute(
            update(Locker)
            .where(Locker.id == locker_id, Locker.status == LockerStatus.AVAILABLE)
            .values(status=LockerStatus.OCCUPIED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            locker = session.get(Locker, locker_id)
            if locker is None:  # claimed by this very transaction: it cannot be gone
                raise StoreError(f"locker {locker_id} vanished while being claimed")
            session.refresh(locker)
            return locker
    return None


def serialise_registrations(session: Session) -> None:
    """Hold the registration lock until this transaction ends.

    The duplicate-face check and the locker claim must see every other kiosk's committed
    registrations. SQLite already serialises writers (``BEGIN IMMEDIATE``); PostgreSQL takes a
    transaction-scoped advisory lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_REGISTRATION_LOCK_KEY)))


def flag(session: Session, locker: Locker, reason: str) -> None:
    """Ask staff to look at ``locker`` (keeps the first reason; later ones are appended)."""
    if locker.attention is None:
        locker.attention = reason
    elif reason not in locker.attention:
        locker.attention = f"{locker.attention}; {reason}"


def overdue_rentals(session: Session, now: datetime) -> list[Rental]:
    """Active rentals past their ``ends_at``, oldest first."""
    return list(
        session.scalars(
            select(Rental)
            .where(Rental.state == RentalState.ACTIVE, Rental.ends_at <= now)
            .order_by(Rental.ends_at)
        )
    )
