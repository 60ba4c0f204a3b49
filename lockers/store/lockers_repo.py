"""Queries on lockers: sync from config, list, claim a free one atomically, change status."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from lockers.config import DEFAULT_KIOSK_ID, LockerConfig, Settings
from lockers.errors import StoreError
from lockers.store.models import Locker, LockerSize, LockerStatus, Rental, RentalState, utcnow

AllocationPolicy = Literal["first_free", "by_size"]
_REGISTRATION_LOCK_KEY = 0x4C4F434B  # "LOCK": any constant shared by every kiosk
_SIZE_RANK = {LockerSize.S: 0, LockerSize.M: 1, LockerSize.L: 2}


class UnknownLockerError(StoreError):
    """No locker in service has that label."""


class LockerInUseError(StoreError):
    """The locker holds an active rental, so the requested change is refused."""


class LabelTakenError(StoreError):
    """A configured label is a locker in service of another kiosk's bank."""


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


def sync_lockers(
    session: Session, configured: Sequence[LockerConfig], kiosk_id: str = DEFAULT_KIOSK_ID
) -> SyncReport:
    """Make kiosk ``kiosk_id``'s bank of lockers in service match ``configured`` (by label).

    New labels are added, changed size/wiring is updated, labels of this bank no longer
    configured are retired (kept for history). Other kiosks' lockers are never touched. Labels
    are as stored (``Settings.bank`` puts ``site.label_prefix`` first). A retired locker of
    another kiosk gives its label up to this bank (it keeps its history). Nothing is changed if
    any of it is refused.

    Raises:
        LockerInUseError: a locker to retire or rewire holds an active rental.
        LabelTakenError: a configured label is a locker in service of another kiosk.
    """
    report = SyncReport()
    wanted = {cfg.label: cfg for cfg in configured}
    mine = {
        locker.label: locker
        for locker in session.scalars(select(Locker).where(Locker.kiosk_id == kiosk_id))
    }
    others = _other_banks_lockers(session, kiosk_id, [lb for lb in wanted if lb not in mine])
    _refuse_taken_labels(others, kiosk_id)
    _refuse_changes_in_use(session, mine, wanted)
    now = utcnow()
    # Retire first, so a label removed and a new one on the same wire do not collide.
    for label, locker in mine.items():
        if label not in wanted and locker.retired_at is None:
            locker.retired_at = now
            report.retired.append(label)
    session.flush()
    for label, cfg in wanted.items():
        known = mine.get(label) or others.get(label)
        if known is None:
            session.add(
                Locker(
                    label=label,
                    kiosk_id=kiosk_id,
                    size=LockerSize(cfg.size),
                    board=cfg.board,
                    channel=cfg.channel,
                    status=LockerStatus.AVAILABLE,
                )
            )
            report.added.append(label)
            continue
        before = (known.kiosk_id, known.size, known.board, known.channel, known.retired_at)
        known.size, known.board, known.channel = LockerSize(cfg.size), cfg.board, cfg.channel
        known.kiosk_id, known.retired_at = kiosk_id, None
        if before[0] != kiosk_id:
            report.added.append(label)
        elif before != (kiosk_id, known.size, known.board, known.channel, None):
            report.updated.append(label)
    session.flush()
    return report


def sync_bank(session: Session, settings: Settings) -> SyncReport:
    """:func:`sync_lockers` for the running kiosk: its ``lockers:`` (prefixed) and its id."""
    return sync_lockers(session, settings.bank, settings.database.kiosk_id)


def _other_banks_lockers(session: Session, kiosk_id: str, labels: list[str]) -> dict[str, Locker]:
    if not labels:
        return {}
    query = select(Locker).where(Locker.kiosk_id != kiosk_id, Locker.label.in_(labels))
    return {locker.label: locker for locker in session.scalars(query)}


def _refuse_taken_labels(others: dict[str, Locker], kiosk_id: str) -> None:
    taken = sorted(
        (locker for locker in others.values() if locker.retired_at is None),
        key=lambda locker: locker.label,
    )
    if taken:
        owners = "; ".join(f"{lk.label} is a locker of kiosk {lk.kiosk_id!r}" for lk in taken)
        raise LabelTakenError(
            f"kiosk {kiosk_id!r} cannot take the locker labels another kiosk of the site uses: "
            f"{owners}",
            hint="labels are unique across the site: give this kiosk a site.label_prefix "
            '(e.g. "B-") or other labels in its lockers: list, then sync again',
        )


def _refuse_changes_in_use(
    session: Session, mine: dict[str, Locker], wanted: dict[str, LockerConfig]
) -> None:
    refused: list[str] = []
    for label, locker in mine.items():
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


def list_lockers(session: Session, kiosk_id: str | None = None) -> list[Locker]:
    """Lockers in service (of kiosk ``kiosk_id``'s bank, or of the whole site), in config order."""
    query = select(Locker).where(Locker.retired_at.is_(None)).order_by(Locker.id)
    if kiosk_id is not None:
        query = query.where(Locker.kiosk_id == kiosk_id)
    return list(session.scalars(query))


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
    session: Session,
    policy: AllocationPolicy = "first_free",
    size: str | None = None,
    kiosk_id: str | None = None,
) -> Locker | None:
    """Atomically mark one available locker occupied and return it (``None``: all taken).

    ``first_free`` takes the first available locker in configuration order; ``by_size`` takes
    the smallest one at least ``size`` (default the smallest of all). ``kiosk_id`` limits the
    choice to that kiosk's bank (a kiosk must never hand out a locker behind another's board).
    The claim is a conditional UPDATE, so two kiosks racing for the same locker cannot both win
    (the loser moves on to the next candidate).
    """
    query = select(Locker.id).where(
        Locker.status == LockerStatus.AVAILABLE,
        Locker.retired_at.is_(None),
        Locker.attention.is_(None),
    )
    if kiosk_id is not None:
        query = query.where(Locker.kiosk_id == kiosk_id)
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
            return session.execute(
                select(Locker)
                .where(Locker.id == locker_id)
                .execution_options(populate_existing=True)
            ).scalar_one()
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
