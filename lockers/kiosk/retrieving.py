"""Retrieve: open the locker of a face and end its rental.

Matching looks only at active rentals (the in-memory gallery, confirmed against the database
before a door opens; the matched rental is then read again, locked until the intent commits,
and must still be active: another kiosk may have ended it a moment ago). The rental is ended
and its templates deleted in the transaction that records an OPENED door; any other door
outcome keeps it (belongings may be inside). Failed attempts count towards this kiosk's
back-off; the service alone decides the wait and returns it as ``retry_after_s``.

The gallery holds every active rental of the site. A face whose locker is in another kiosk's
bank opens nothing here (only that kiosk drives its board): the result names the locker and the
kiosk (``AT_OTHER_KIOSK``), the attempt is audited, the rental stays active, and it is no failed
attempt (the face matched).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import numpy.typing as npt

from lockers.hardware.board import UnlockOutcome
from lockers.kiosk.audit_trail import record_attack, trail
from lockers.kiosk.dto import RetrieveOutcome, RetrieveResult
from lockers.kiosk.recognition import RetryGate
from lockers.kiosk.rental_parts import KioskParts
from lockers.kiosk.unlocking import DoorOrder, DoorOutcome, Settled
from lockers.store import audit, lockers_repo, rentals, site
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Session
from lockers.store.models import Locker, RentalState, UnlockPurpose
from lockers.vision.pad import PadVerdict


class Retriever:
    def __init__(self, parts: KioskParts, gate: RetryGate) -> None:
        self._parts = parts
        self._gate = gate

    def retrieve(
        self,
        vectors: npt.NDArray[np.float32],
        model_version: str,
        pad: PadVerdict | None,
        final: bool,
        challenge_pending: bool = False,
    ) -> RetrieveResult:
        """See :meth:`lockers.kiosk.rental_service.RentalService.retrieve`."""
        parts = self._parts
        now = parts.clock()
        wait = self._gate.wait_s(now)
        if wait > 0:
            reason = f"{self._gate.failures} failed attempts; retry in {wait:.0f} s"
            with trail(parts.database, now, parts.actor) as entries:
                entries.add(AuditAction.RETRIEVE, AuditOutcome.RATE_LIMITED, reason=reason)
            return RetrieveResult(RetrieveOutcome.RATE_LIMITED, retry_after_s=wait)
        if pad is not None and not pad.live:
            wait = self._gate.failed(now)
            record_attack(parts.database, parts.actor, AuditAction.RETRIEVE, pad, now)
            return RetrieveResult(
                RetrieveOutcome.PRESENTATION_ATTACK,
                score=pad.score,
                retry_after_s=wait,
                detail=str(pad.attack),
            )
        with parts.database.transaction() as session:
            identity, score = parts.recogniser.identify(session, vectors, model_version)
            # The in-memory gallery may be a moment behind another kiosk: the rental is read
            # again, locked until the intent commits, and only an active one opens.
            rental = None if identity is None else rentals.lock_rental(session, identity)
            if rental is None or rental.state != RentalState.ACTIVE:
                return self._no_match(session, score, now, final)
            if rental.locker.kiosk_id != parts.kiosk_id:  # nothing opens here: no move asked
                return self._at_other_kiosk(session, rental.locker, rental.id, score, now)
            if challenge_pending:  # an unsure capture: one head move first (liveness_tiers)
                return RetrieveResult(RetrieveOutcome.CHALLENGE_REQUIRED, score=score)
            self._gate.succeeded()
            order = DoorOrder(
                UnlockPurpose.RETRIEVE, rental.id, parts.actor, None, parts.kiosk_id, score
            )
            intent = parts.opener.intend(session, rental.locker, order, AuditOutcome.MATCHED, now)
        return parts.opener.complete(intent, self._settle)

    def _at_other_kiosk(
        self, session: Session, locker: Locker, rental_id: int, score: float, now: datetime
    ) -> RetrieveResult:
        name, location = site.kiosk_place(session, locker.kiosk_id)
        why = f"locker in the bank of kiosk {locker.kiosk_id} ({name}): nothing opened here"
        trail = audit.Writer(session, now, self._parts.actor)
        trail.add(
            AuditAction.RETRIEVE, AuditOutcome.AT_OTHER_KIOSK, locker.label, rental_id, why, score
        )
        return RetrieveResult(
            RetrieveOutcome.AT_OTHER_KIOSK,
            locker.label,
            rental_id,
            score,
            detail=why,
            kiosk_id=locker.kiosk_id,
            kiosk_name=name,
            kiosk_location=location,
        )

    def _no_match(
        self, session: Session, score: float, now: datetime, final: bool
    ) -> RetrieveResult:
        if not final:
            # The early look: not a failed attempt, nothing audited, no back-off.
            return RetrieveResult(RetrieveOutcome.UNDECIDED, score=score)
        wait = self._gate.failed(now)
        why = f"attempt {self._gate.failures}" + (f"; back-off {wait:.0f} s" if wait else "")
        trail = audit.Writer(session, now, self._parts.actor)
        trail.add(AuditAction.RETRIEVE, AuditOutcome.NO_MATCH, reason=why, score=score)
        return RetrieveResult(RetrieveOutcome.NO_MATCH, score=score, retry_after_s=wait)

    def _settle(self, door: DoorOutcome) -> Settled[RetrieveResult]:
        """An OPENED door ends the rental; anything else keeps it (see the module docstring)."""
        session, result, rental = door.session, door.result, door.named_rental
        if result.outcome is UnlockOutcome.OPENED:
            if rental.state == RentalState.ACTIVE:
                rentals.close_rental(
                    session,
                    rental,
                    RentalState.ENDED,
                    now=door.now,
                    reason="retrieved by face",
                    free_locker=True,
                )
                self._parts.recogniser.gallery.forget(rental.id)
                self._parts.checkpoint("retrieve:ended")
            outcome, audit_outcome = RetrieveOutcome.OPENED, AuditOutcome.OPENED_RENTAL_ENDED
        elif result.outcome is UnlockOutcome.NOT_SENT:
            outcome, audit_outcome = RetrieveOutcome.NOT_OPENED, AuditOutcome.NOT_SENT
        else:
            # The door may or may not be open: keep the rental (belongings may still be
            # inside) and let staff decide.
            note = f"retrieve unlock {result.outcome.value}: check door"
            lockers_repo.flag(session, door.locker, note)
            outcome = RetrieveOutcome.DOOR_NOT_CONFIRMED
            audit_outcome = AuditOutcome(result.outcome.value)
        score = door.intent.order.score
        value = RetrieveResult(outcome, door.locker.label, rental.id, score, detail=result.detail)
        return Settled(value, audit_outcome, result.detail or None)
