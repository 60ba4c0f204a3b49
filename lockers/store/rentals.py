"""Queries on rentals and their encrypted templates. Ending a rental deletes its templates in
the same transaction, so biometric data never outlives the rental it belongs to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lockers.errors import StoreError
from lockers.store.crypto import TemplateCipher
from lockers.store.models import (
    FaceTemplate,
    Locker,
    LockerStatus,
    Rental,
    RentalChangeCounter,
    RentalState,
)


def create_rental(
    session: Session,
    locker: Locker,
    *,
    now: datetime,
    max_hours: float,
    retention_hours: float,
    model_version: str,
    kiosk_id: str,
) -> Rental:
    """A new active rental of ``locker`` (already claimed). Consent is recorded as ``now``."""
    ends = now + timedelta(hours=max_hours)
    rental = Rental(
        locker=locker,
        state=RentalState.ACTIVE,
        started_at=now,
        ends_at=ends,
        expires_at=ends + timedelta(hours=retention_hours),
        consent_at=now,
        model_version=model_version,
        kiosk_id=kiosk_id,
    )
    session.add(rental)
    session.flush()
    return rental


def add_templates(
    session: Session,
    rental: Rental,
    vectors: npt.NDArray[np.float32],
    cipher: TemplateCipher,
    quality: npt.NDArray[np.float32] | None = None,
) -> int:
    """Encrypt and store each row of ``vectors`` (shape ``(k, d)``); returns ``k``."""
    for i, vector in enumerate(vectors):
        session.add(
            FaceTemplate(
                rental_id=rental.id,
                ciphertext=cipher.encrypt_embedding(vector, rental.model_version),
                model_version=rental.model_version,
                quality=None if quality is None else float(quality[i]),
                kind="embedding",
            )
        )
    session.flush()
    return len(vectors)


def add_face_image(session: Session, rental: Rental, image: bytes, cipher: TemplateCipher) -> None:
    """Store an encrypted face image (only when staff enabled ``privacy.store_face_images``)."""
    session.add(
        FaceTemplate(
            rental_id=rental.id,
            ciphertext=cipher.encrypt(image, rental.model_version, "image"),
            model_version=rental.model_version,
            kind="image",
        )
    )


def active_templates(
    session: Session,
    cipher: TemplateCipher,
    model_version: str,
    only: Collection[int] | None = None,
) -> dict[int, npt.NDArray[np.float32]]:
    """Decrypted embeddings of every active rental enrolled with ``model_version`` (or only of
    the rentals ``only`` names).

    Returns ``{rental_id: (k, d) float32}``. Templates of other model versions are never
    compared (those rentals need staff or re-enrolment).

    Raises:
        TemplateKeyError: the configured key does not decrypt them.
    """
    query = (
        select(FaceTemplate.rental_id, FaceTemplate.ciphertext)
        .join(Rental, Rental.id == FaceTemplate.rental_id)
        .where(
            Rental.state == RentalState.ACTIVE,
            FaceTemplate.kind == "embedding",
            FaceTemplate.model_version == model_version,
        )
        .order_by(FaceTemplate.id)
    )
    if only is not None:
        query = query.where(FaceTemplate.rental_id.in_(list(only)))
    rows = session.execute(query)
    grouped: dict[int, list[npt.NDArray[np.float32]]] = defaultdict(list)
    for rental_id, blob in rows:
        grouped[rental_id].append(cipher.decrypt_embedding(blob, model_version))
    return {rental_id: np.stack(vectors) for rental_id, vectors in grouped.items()}


def active_rental_ids(session: Session, model_version: str) -> set[int]:
    """Ids of the active rentals with templates of ``model_version`` (no decryption)."""
    found = session.scalars(
        select(FaceTemplate.rental_id)
        .join(Rental, Rental.id == FaceTemplate.rental_id)
        .where(
            Rental.state == RentalState.ACTIVE,
            FaceTemplate.kind == "embedding",
            FaceTemplate.model_version == model_version,
        )
        .distinct()
    )
    return set(found)


def change_marker(session: Session) -> int | None:
    """The site's rental change counter (migration 0006): every rental created, changing state
    or getting templates added or deleted since a value ``v`` was read is stamped above ``v``.
    ``None`` when its row is missing (the database was altered): callers read everything."""
    return session.scalar(select(RentalChangeCounter.seq).where(RentalChangeCounter.id == 1))


@dataclass(frozen=True)
class RentalChanges:
    """What :func:`changed_rentals` found: each rental's activity now, and the highest stamp
    among them (``None``: no stamped row)."""

    active: dict[int, bool]
    highest: int | None


def changed_rentals(
    session: Session, model_version: str, since: int, also: Collection[int] = ()
) -> RentalChanges:
    """The rentals of ``model_version`` stamped above ``since`` (see :func:`change_marker`),
    plus those ``also`` names, each with whether it is active now (an indexed read of the
    changed rows only)."""
    found: dict[int, bool] = {}
    highest: int | None = None
    stamped = session.execute(
        select(Rental.id, Rental.state, Rental.change_seq).where(
            Rental.change_seq > since, Rental.model_version == model_version
        )
    )
    for rental_id, state, stamp in stamped:
        found[rental_id] = state == RentalState.ACTIVE
        highest = stamp if highest is None else max(highest, stamp)
    if also:
        named = session.execute(
            select(Rental.id, Rental.state).where(
                Rental.id.in_(list(also)), Rental.model_version == model_version
            )
        )
        found.update({rental_id: state == RentalState.ACTIVE for rental_id, state in named})
    return RentalChanges(found, highest)


def lock_rental(session: Session, rental_id: int) -> Rental | None:
    """The rental ``rental_id`` as committed now, locked until this transaction ends, so that no
    other kiosk ends it between this read and the caller's decision (PostgreSQL ``FOR NO KEY
    UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already holds every other writer off)."""
    return session.scalar(
        select(Rental)
        .where(Rental.id == rental_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def delete_templates(session: Session, rental_id: int) -> int:
    """Delete every template and image of one rental; returns how many."""
    result = session.execute(delete(FaceTemplate).where(FaceTemplate.rental_id == rental_id))
    return int(result.rowcount)  # type: ignore[attr-defined]


def close_rental(
    session: Session,
    rental: Rental,
    state: RentalState,
    *,
    now: datetime,
    reason: str,
    free_locker: bool,
) -> int:
    """End ``rental`` as ``state`` and delete its templates (same transaction).

    ``free_locker`` makes the locker available again unless it is out of service.
    Returns the number of templates deleted.
    """
    rental.state = state
    rental.closed_at = now
    rental.close_reason = reason
    deleted = delete_templates(session, rental.id)
    locker = rental.locker
    if free_locker and locker.status == LockerStatus.OCCUPIED:
        locker.status = LockerStatus.AVAILABLE
    session.flush()
    return deleted


def get_rental(session: Session, rental_id: int) -> Rental | None:
    return session.get(Rental, rental_id)


def require_rental(session: Session, rental_id: int) -> Rental:
    """The rental ``rental_id``, which the caller's own earlier transaction created or matched.

    Raises:
        StoreError: it is gone (rentals are never deleted, so the database was altered).
    """
    rental = session.get(Rental, rental_id)
    if rental is None:
        raise StoreError(
            f"rental {rental_id} vanished from the database between two steps",
            hint="rentals are never deleted: check what else writes to this database",
        )
    return rental


def rentals_to_expire(session: Session, now: datetime) -> list[Rental]:
    """Active rentals whose retention ran out (``expires_at <= now``)."""
    return list(
        session.scalars(
            select(Rental).where(Rental.state == RentalState.ACTIVE, Rental.expires_at <= now)
        )
    )


def count_templates(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(FaceTemplate)) or 0)


def any_template(session: Session) -> FaceTemplate | None:
    return session.scalar(select(FaceTemplate).limit(1))
