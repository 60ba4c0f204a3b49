"""Queries on staff members. PINs arrive here already hashed; the plain PIN never does."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lockers.errors import StoreError
from lockers.store.models import Staff, utcnow


class StaffExistsError(StoreError):
    """A staff member with that name already exists."""


def add_staff(session: Session, name: str, role: str, pin_hash: str) -> Staff:
    """Raises: StaffExistsError."""
    if session.scalar(select(Staff).where(Staff.name == name)) is not None:
        raise StaffExistsError(f"staff member {name!r} already exists", hint="choose another name")
    staff = Staff(name=name, role=role, pin_hash=pin_hash, failed_attempts=0, created_at=utcnow())
    session.add(staff)
    session.flush()
    return staff


def find_staff(session: Session, name: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.name == name))


def count_staff(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Staff)) or 0)


def list_staff(session: Session) -> list[Staff]:
    """Every staff member, by name (the kiosk's login tiles)."""
    return list(session.scalars(select(Staff).order_by(Staff.name)))


def any_pin_hash_with_prefix(session: Session, prefix: str) -> bool:
    """Whether any staff PIN hash starts with ``prefix`` (e.g. the keyed scheme's)."""
    found = session.scalar(select(Staff.id).where(Staff.pin_hash.startswith(prefix)).limit(1))
    return found is not None


def one_pin_hash_with_prefix(session: Session, prefix: str) -> str | None:
    """One stored PIN hash starting with ``prefix`` (the oldest account's), if any."""
    return session.scalar(
        select(Staff.pin_hash).where(Staff.pin_hash.startswith(prefix)).order_by(Staff.id).limit(1)
    )
