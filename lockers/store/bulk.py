"""Many active rentals at once, for benchmarks and load tests (``lockers bench``'s 10k gallery).

The kiosk itself creates rentals one by one (:func:`lockers.store.rentals.create_rental`);
seeding ten thousand that way takes minutes of ORM flushes. These are the same rows, written
with one multi-row ``INSERT`` per table: lockers (on boards no lock-board configuration
names, so no kiosk ever pulses them), their active rentals, and each rental's encrypted
templates.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import insert
from sqlalchemy.orm import Session

from lockers.store.crypto import TemplateCipher
from lockers.store.models import (
    FaceTemplate,
    Locker,
    LockerSize,
    LockerStatus,
    Rental,
    RentalState,
)

CHANNELS_PER_BOARD = 100


def seed_active_rentals(
    session: Session,
    templates: npt.NDArray[np.float32],
    cipher: TemplateCipher,
    *,
    now: datetime,
    model_version: str,
    kiosk_id: str,
    first_board: int = 1000,
    label_prefix: str = "seed",
    max_hours: float = 24.0,
    retention_hours: float = 72.0,
) -> list[int]:
    """One occupied locker and one active rental per row of ``templates`` ``(m, k, d)``, each
    rental holding its ``k`` templates (encrypted as the kiosk encrypts them). Returns the
    rental ids. Lockers are numbered ``{label_prefix}{i}`` on boards from ``first_board``, in
    ``kiosk_id``'s bank (the rentals were made there too)."""
    vectors = np.asarray(templates, dtype=np.float32)
    if vectors.ndim != 3:
        raise ValueError(f"templates must be (rentals, k, dim), got shape {vectors.shape}")
    if len(vectors) == 0:
        return []
    locker_ids = _insert_lockers(session, len(vectors), now, kiosk_id, first_board, label_prefix)
    ends = now + timedelta(hours=max_hours)
    rental_ids = list(
        session.scalars(
            insert(Rental).returning(Rental.id, sort_by_parameter_order=True),
            [
                {
                    "locker_id": locker_id,
                    "state": RentalState.ACTIVE,
                    "started_at": now,
                    "ends_at": ends,
                    "expires_at": ends + timedelta(hours=retention_hours),
                    "consent_at": now,
                    "model_version": model_version,
                    "kiosk_id": kiosk_id,
                }
                for locker_id in locker_ids
            ],
        )
    )
    session.execute(
        insert(FaceTemplate),
        [
            {
                "rental_id": rental_id,
                "ciphertext": cipher.encrypt_embedding(vector, model_version),
                "model_version": model_version,
                "quality": None,
                "kind": "embedding",
            }
            for rental_id, rows in zip(rental_ids, vectors, strict=True)
            for vector in rows
        ],
    )
    return rental_ids


def _insert_lockers(
    session: Session, count: int, now: datetime, kiosk_id: str, first_board: int, label_prefix: str
) -> list[int]:
    """``count`` occupied lockers of ``kiosk_id``'s bank on boards no configuration names;
    returns their ids."""
    return list(
        session.scalars(
            insert(Locker).returning(Locker.id, sort_by_parameter_order=True),
            [
                {
                    "label": f"{label_prefix}{i}",
                    "kiosk_id": kiosk_id,
                    "size": LockerSize.M,
                    "board": first_board + i // CHANNELS_PER_BOARD,
                    "channel": 1 + i % CHANNELS_PER_BOARD,
                    "status": LockerStatus.OCCUPIED,
                    "updated_at": now,
                }
                for i in range(count)
            ],
        )
    )
