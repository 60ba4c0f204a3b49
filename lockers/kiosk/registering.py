"""Register: give a face a locker and open it.

Reservation (one transaction, serialised across kiosks): duplicate check, claim a locker,
create the rental and its encrypted templates, commit the unlock intent; then the door is
opened through :class:`~lockers.kiosk.unlocking.DoorOpener` and its outcome settled here:
OPENED → done; NOT_SENT or JAMMED → the rental is voided and its templates deleted (the door
never opened, so nothing of the user is inside; a jammed lock is flagged for staff);
UNCONFIRMED (the door may have opened) → the rental stays, the locker is flagged for staff. A
face that already rents a locker keeps its rental whatever happens to the door.

A kiosk hands out only lockers of its own bank, but the duplicate-face check covers the whole
site: a face already renting a locker of another kiosk's bank is told where it is
(``ACTIVE_ELSEWHERE``) and nothing opens here (this kiosk never drives another bank's board).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from lockers.hardware.board import UnlockOutcome
from lockers.kiosk.dto import RegisterOutcome, RegisterResult
from lockers.kiosk.rental_parts import KioskParts
from lockers.kiosk.unlocking import DoorOrder, DoorOutcome, Intent, Settled
from lockers.store import audit, lockers_repo, rentals, site
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Session
from lockers.store.models import Locker, Rental, RentalState, UnlockPurpose


@dataclass(frozen=True)
class Enrolment:
    """What a registration stores: validated templates and what goes with them."""

    vectors: npt.NDArray[np.float32]
    qualities: npt.NDArray[np.float32] | None
    model_version: str
    size: Literal["S", "M", "L"] | None
    face_image: bytes | None


@dataclass(frozen=True)
class RentalTerms:
    """How long a rental lasts and whether a face image is kept (from ``privacy``)."""

    max_hours: float
    retention_hours: float
    store_face_images: bool
    policy: lockers_repo.AllocationPolicy


class Registrar:
    def __init__(self, parts: KioskParts, terms: RentalTerms) -> None:
        self._parts = parts
        self._terms = terms

    def register(
        self, enrolment: Enrolment, reopen_refusal: RegisterResult | None = None
    ) -> RegisterResult:
        """Reserve (or find this face's rental), then open the door and settle its outcome."""
        parts = self._parts
        with parts.database.transaction() as session:
            lockers_repo.serialise_registrations(session)
            matched = parts.recogniser.duplicate_of(
                session, enrolment.vectors, enrolment.model_version
            )
            existing = _still_active(session, matched)
            if existing is not None:
                locker = existing.locker
                if locker.kiosk_id != parts.kiosk_id:  # nothing opens here: no move asked
                    return self._elsewhere(session, locker, existing.id)
                if reopen_refusal is not None:  # an unsure or failed move: see liveness_tiers
                    return reopen_refusal
                intent = self._reopen(session, locker, existing.id)
            else:
                reserved = self._reserve(session, enrolment)
                if reserved is None:
                    return RegisterResult(RegisterOutcome.NO_FREE_LOCKER, detail="all taken")
                intent = reserved
        duplicate = existing is not None
        return parts.opener.complete(intent, lambda door: _settle(door, duplicate))

    def _reopen(self, session: Session, locker: Locker, rental_id: int) -> Intent:
        order = self._order(rental_id, "face already holds an active rental: reopening its locker")
        return self._parts.opener.intend(
            session, locker, order, AuditOutcome.DUPLICATE, self._parts.clock()
        )

    def _elsewhere(self, session: Session, locker: Locker, rental_id: int) -> RegisterResult:
        """The face rents a locker of another kiosk's bank: audited, nothing opened."""
        parts = self._parts
        name, location = site.kiosk_place(session, locker.kiosk_id)
        why = f"face already holds an active rental at kiosk {locker.kiosk_id} ({name})"
        trail = audit.Writer(session, parts.clock(), parts.actor)
        trail.add(AuditAction.REGISTER, AuditOutcome.ACTIVE_ELSEWHERE, locker.label, rental_id, why)
        return RegisterResult(
            RegisterOutcome.ACTIVE_ELSEWHERE,
            locker.label,
            rental_id,
            why,
            kiosk_id=locker.kiosk_id,
            kiosk_name=name,
            kiosk_location=location,
        )

    def _reserve(self, session: Session, enrolment: Enrolment) -> Intent | None:
        parts, terms = self._parts, self._terms
        now = parts.clock()
        # Only this kiosk's bank: it alone drives those lockers' board.
        locker = lockers_repo.claim_free_locker(
            session, terms.policy, enrolment.size, kiosk_id=parts.kiosk_id
        )
        if locker is None:
            why = f"size {enrolment.size}" if enrolment.size else None
            trail = audit.Writer(session, now, parts.actor)
            trail.add(AuditAction.REGISTER, AuditOutcome.NO_FREE_LOCKER, reason=why)
            return None
        parts.checkpoint("register:claimed")
        rental = rentals.create_rental(
            session,
            locker,
            now=now,
            max_hours=terms.max_hours,
            retention_hours=terms.retention_hours,
            model_version=enrolment.model_version,
            kiosk_id=parts.kiosk_id,
        )
        rentals.add_templates(session, rental, enrolment.vectors, parts.cipher, enrolment.qualities)
        if enrolment.face_image is not None and terms.store_face_images:
            rentals.add_face_image(session, rental, enrolment.face_image, parts.cipher)
        parts.checkpoint("register:templates_added")
        reason = f"{len(enrolment.vectors)} templates, model {enrolment.model_version}"
        order = self._order(rental.id, reason)
        return parts.opener.intend(session, locker, order, AuditOutcome.RESERVED, now)

    def _order(self, rental_id: int, reason: str) -> DoorOrder:
        parts = self._parts
        return DoorOrder(UnlockPurpose.REGISTER, rental_id, parts.actor, reason, parts.kiosk_id)


def _still_active(session: Session, rental_id: int | None) -> Rental | None:
    """The matched rental, locked and read again, if it is still active.

    Another kiosk may have ended it since the match (a retrieve there is no registration, so
    ``serialise_registrations`` does not hold it off): an ended rental's locker must never be
    reopened for this face, who then registers afresh.
    """
    if rental_id is None:
        return None
    rental = rentals.lock_rental(session, rental_id)
    if rental is None or rental.state is not RentalState.ACTIVE:
        return None
    return rental


def _settle(door: DoorOutcome, duplicate: bool) -> Settled[RegisterResult]:
    """What the door's outcome means for the rental (see the module docstring)."""
    session, locker, result, now = door.session, door.locker, door.result, door.now
    rental = door.named_rental
    outcome: RegisterOutcome
    if result.outcome is UnlockOutcome.OPENED:
        outcome = RegisterOutcome.REOPENED_EXISTING if duplicate else RegisterOutcome.OPENED
        audit_outcome, reason = AuditOutcome.OPENED, result.detail or None
    elif result.outcome is UnlockOutcome.NOT_SENT and not duplicate:
        # Provably never opened: nothing of the user is inside, so nothing is kept.
        _void(session, rental, now, f"door never told to open: {result.detail}")
        outcome, audit_outcome = RegisterOutcome.NOT_OPENED, AuditOutcome.ROLLED_BACK
        reason = f"board did not send the unlock: {result.detail}"
    elif result.outcome is UnlockOutcome.NOT_SENT:
        outcome, audit_outcome = RegisterOutcome.NOT_OPENED, AuditOutcome.NOT_SENT
        reason = result.detail
    elif result.outcome is UnlockOutcome.JAMMED and not duplicate:
        # Watched for the whole window and never open: the user could not put anything
        # inside, so keeping their face data would only keep biometrics for nothing.
        _void(session, rental, now, f"door jammed: {result.detail}")
        lockers_repo.flag(session, locker, "register unlock jammed: check the lock")
        outcome, audit_outcome = RegisterOutcome.JAMMED, AuditOutcome.JAMMED_ROLLED_BACK
        reason = f"door never opened, rental voided, staff alerted: {result.detail}"
    else:
        note = f"register unlock {result.outcome.value}: check the door"
        lockers_repo.flag(session, locker, note)
        outcome = RegisterOutcome.DOOR_NOT_CONFIRMED
        audit_outcome = AuditOutcome(result.outcome.value)
        reason = f"rental kept, staff alerted: {result.detail}"
    value = RegisterResult(outcome, locker.label, rental.id, result.detail)
    return Settled(value, audit_outcome, reason)


def _void(session: Session, rental: Rental, now: datetime, reason: str) -> None:
    """The door never opened: the rental ends, its templates go, the locker is free again."""
    rentals.close_rental(
        session, rental, RentalState.VOIDED, now=now, reason=reason, free_locker=True
    )
