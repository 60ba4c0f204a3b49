"""Deliberately broken rental services: each breaks one invariant the soak must catch.

They sit exactly at the service boundary the kiosk uses (a ``RentalService`` built from the
settings), so the harness drives them like the real thing, in-process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from lockers.hardware.board import DoorState, LockAddress, LockBoard, UnlockResult
from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.rental_service import RentalService
from lockers.store import lockers_repo, rentals
from lockers.store.models import Locker, LockerStatus, RentalState, utcnow


class _NextDoorBoard(LockBoard):
    """Opens the lock next to the one asked for."""

    def __init__(self, real: LockBoard, channels: int) -> None:
        self.real, self.channels = real, channels

    def unlock(self, address: LockAddress) -> UnlockResult:
        wrong = LockAddress(address.board, address.channel % self.channels + 1)
        result = self.real.unlock(wrong)
        return UnlockResult(address, result.outcome, result.detail)

    def door_states(self) -> dict[LockAddress, DoorState]:
        return self.real.door_states()

    def healthy(self) -> bool:
        return self.real.healthy()

    def close(self) -> None:
        self.real.close()


class WrongLockerService(RentalService):
    """Retrieve opens the neighbour's locker (and says it opened the right one)."""

    def retrieve(self, probes: npt.ArrayLike, **options: Any) -> RetrieveResult:
        real = self._board
        self._board = _NextDoorBoard(real, channels=16)
        try:
            return super().retrieve(probes, **options)
        finally:
            self._board = real


class ForgetsTemplatesService(RentalService):
    """A retrieve ends the rental but leaves the face templates behind."""

    def retrieve(self, probes: npt.ArrayLike, **options: Any) -> RetrieveResult:
        result = super().retrieve(probes, **options)
        if result.outcome is RetrieveOutcome.OPENED and result.rental_id is not None:
            with self._db.transaction() as session:
                rental = rentals.get_rental(session, result.rental_id)
                assert rental is not None
                vectors = np.asarray(probes, dtype=np.float32)
                rentals.add_templates(session, rental, vectors, self._cipher)
        return result


class DoubleBookingService(RentalService):
    """Registration hands out a locker that is already rented (when one is)."""

    def register(self, templates: npt.ArrayLike, **kwargs: Any) -> RegisterResult:
        original = lockers_repo.claim_free_locker

        def claim(
            session: Any, policy: Any = "first_free", size: Any = None, kiosk_id: Any = None
        ) -> Locker | None:
            taken = session.scalars(
                select(Locker).where(Locker.status == LockerStatus.OCCUPIED).order_by(Locker.id)
            ).first()
            return taken if taken is not None else original(session, policy, size, kiosk_id)

        lockers_repo.claim_free_locker = claim  # type: ignore[assignment]
        try:
            return super().register(templates, **kwargs)
        finally:
            lockers_repo.claim_free_locker = original


class LosesRentalsService(RentalService):
    """Every fifth registration opens the door, then quietly drops the rental."""

    def register(self, templates: npt.ArrayLike, **kwargs: Any) -> RegisterResult:
        result = super().register(templates, **kwargs)
        self._count = getattr(self, "_count", 0) + 1
        if result.outcome is RegisterOutcome.OPENED and self._count % 5 == 0:
            with self._db.transaction() as session:
                rental = rentals.get_rental(session, result.rental_id or 0)
                assert rental is not None
                rentals.close_rental(
                    session,
                    rental,
                    RentalState.VOIDED,
                    now=utcnow(),
                    reason="bug",
                    free_locker=True,
                )
        return result


def factory(cls: type[RentalService]) -> Callable[..., RentalService]:
    """A ``service_factory`` building ``cls`` the way the kiosk builds the real service."""

    def build(settings: Any, database: Any, board: Any, cipher: Any, **kw: Any) -> RentalService:
        if cls is DoubleBookingService:
            # The database refuses two active rentals on one locker; this double gets past it.
            with database.engine.begin() as conn:
                conn.exec_driver_sql("DROP INDEX IF EXISTS uq_rentals_one_active_per_locker")
        service = cls.from_settings(settings, database, board, cipher, **kw)
        return service

    return build
