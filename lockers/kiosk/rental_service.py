"""Register and retrieve: the two things a kiosk user does.

Transactions (one per step, never held while the board works):

1. reserve: duplicate check, claim a locker, create the rental and its encrypted templates,
   commit the unlock intent, audit;
2. the board is told to open (outside any transaction);
3. record the outcome: OPENED → done; NOT_SENT or JAMMED → the rental is voided and its
   templates deleted (the door never opened, so nothing of the user is inside; a jammed lock
   is flagged for staff); UNCONFIRMED (no feedback: the door may have opened) → the rental
   stays, the locker is flagged for staff. A face that already rents a locker keeps its rental
   whatever happens to the door.

Retrieval matches only among active rentals; the rental is ended and its templates deleted in
the transaction that records an OPENED door.

Both refuse a capture the passive anti-spoofing check found to be a photo or a screen (the
``pad`` verdict): one audit entry (attack type and fused score; never an image), nothing stored,
nothing opened, even when the face matches a rental.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

from lockers.config import Settings
from lockers.hardware.board import LockAddress, LockBoard, UnlockOutcome, UnlockResult
from lockers.kiosk.dto import (
    RegisterOutcome,
    RegisterResult,
    RetrieveOutcome,
    RetrieveResult,
)
from lockers.kiosk.errors import ConsentRequired, InvalidTemplates
from lockers.kiosk.gallery import GalleryCache
from lockers.kiosk.unlocking import Checkpoint, no_checkpoint, pulse
from lockers.store import audit, lockers_repo, rentals, unlocks
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Database, Session
from lockers.store.models import (
    DoorStateValue,
    Locker,
    Rental,
    RentalState,
    UnlockPurpose,
    utcnow,
)
from lockers.vision.matcher import FaceMatcher, KOfNVoter
from lockers.vision.pad import PadVerdict

EMBEDDING_DIM = 512


@dataclass(frozen=True)
class RecognitionRule:
    """Threshold + margin per frame, then k of n frames must agree."""

    threshold: float
    margin: float
    k: int
    n: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RecognitionRule:
        rec = settings.recognition
        return cls(rec.threshold, rec.margin, rec.frames_to_agree, rec.frames_window)


@dataclass(frozen=True)
class RetrieveBackoff:
    """After ``free_failures`` failed retrieve attempts in a row, this kiosk waits
    ``base_s * 2**(extra failures)`` (at most ``max_s``) before matching again."""

    free_failures: int = 3
    base_s: float = 2.0
    max_s: float = 60.0

    def wait_s(self, failures: int) -> float:
        if failures < self.free_failures:
            return 0.0
        return float(min(self.max_s, self.base_s * 2.0 ** (failures - self.free_failures)))


class RentalService:
    """The kiosk user's actions. One instance per kiosk process; not thread-safe.

    Args:
        database: the store (engine + sessions).
        board: the lock board (real driver or emulator).
        cipher: encrypts templates under the key file.
        rule: recognition threshold/margin/k-of-n.
        kiosk_id: names this kiosk in rentals, unlock intents and the audit log.
        rental_max_hours, retention_hours: from ``settings.privacy``.
        policy: ``first_free`` or ``by_size``.
        clock: returns aware UTC now (tests move time).
        checkpoint: called between steps (crash tests).
    """

    def __init__(
        self,
        database: Database,
        board: LockBoard,
        cipher: TemplateCipher,
        rule: RecognitionRule,
        *,
        kiosk_id: str = "kiosk-1",
        rental_max_hours: float = 24.0,
        retention_hours: float = 72.0,
        policy: lockers_repo.AllocationPolicy = "first_free",
        store_face_images: bool = False,
        backoff: RetrieveBackoff | None = None,
        clock: Callable[[], datetime] = utcnow,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        self._db = database
        self._board = board
        self._cipher = cipher
        self._rule = rule
        self.kiosk_id = kiosk_id
        self._actor = f"kiosk:{kiosk_id}"
        self._max_hours = rental_max_hours
        self._retention_hours = retention_hours
        self._policy: lockers_repo.AllocationPolicy = policy
        self._store_face_images = store_face_images
        self._backoff = backoff or RetrieveBackoff()
        self._clock = clock
        self._checkpoint = checkpoint
        self._failures = 0
        self._blocked_until: datetime | None = None
        self._gallery = GalleryCache(cipher, rule.threshold, rule.margin)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        database: Database,
        board: LockBoard,
        cipher: TemplateCipher,
        **kwargs: object,
    ) -> RentalService:
        """A service configured from ``settings``; ``kwargs`` override any constructor option
        (``clock``, ``checkpoint``, ``policy``, ...)."""
        options: dict[str, object] = {
            "kiosk_id": settings.database.kiosk_id,
            "rental_max_hours": settings.privacy.rental_max_hours,
            "retention_hours": settings.privacy.retention_hours,
            "store_face_images": settings.privacy.store_face_images,
            **kwargs,  # explicit arguments win over the settings
        }
        return cls(
            database,
            board,
            cipher,
            RecognitionRule.from_settings(settings),
            **options,  # type: ignore[arg-type]
        )

    def prepare(self, model_version: str) -> int:
        """Load the active rentals' templates into memory now (a kiosk calls it at start-up,
        so that the first customer does not wait for it); returns how many rentals."""
        with self._db.transaction() as session:
            return len(self._gallery.matcher(session, model_version).identities)

    # -- register ---------------------------------------------------------------------------

    def register(
        self,
        templates: npt.ArrayLike,
        *,
        consent: bool,
        model_version: str,
        quality: npt.ArrayLike | None = None,
        size: Literal["S", "M", "L"] | None = None,
        face_image: bytes | None = None,
        pad: PadVerdict | None = None,
    ) -> RegisterResult:
        """Give the user a locker and open it.

        Args:
            templates: enrolment embeddings, shape ``(k, 512)`` float32, from ``model_version``.
            consent: the user agreed to their face templates being stored for the rental.
            quality: optional per-template quality scores, shape ``(k,)``.
            size: wanted locker size (``by_size`` policy); ``None`` = any.
            face_image: encoded face crop; stored (encrypted, deleted with the templates) only
                when staff enabled ``privacy.store_face_images``, otherwise discarded.
            pad: the passive anti-spoofing verdict over the capture (``None``: check off); a
                verdict that is not live refuses the rental (``PRESENTATION_ATTACK``).

        Raises:
            ConsentRequired: ``consent`` is false (nothing is stored).
            InvalidTemplates: wrong shape or values.
            StoreError: the database failed; nothing was half-written.
        """
        if not consent:
            raise ConsentRequired(
                "the user has not agreed to their face being stored for the rental",
                hint="ask for consent on the consent screen before registering",
            )
        vectors = _validate(templates, "templates")
        qualities = None if quality is None else np.asarray(quality, dtype=np.float32)
        if qualities is not None and qualities.shape != (len(vectors),):
            raise InvalidTemplates(
                f"quality must have shape ({len(vectors)},), got {qualities.shape}"
            )
        now = self._clock()
        if pad is not None and not pad.live:
            self._audit_attack("register", pad, now)
            return RegisterResult(RegisterOutcome.PRESENTATION_ATTACK, detail=str(pad.attack))
        with self._db.transaction() as session:
            lockers_repo.serialise_registrations(session)
            existing = self._find_duplicate(session, vectors, model_version)
            if existing is not None:
                locker = existing.locker
                intent = unlocks.request_unlock(
                    session,
                    locker,
                    UnlockPurpose.REGISTER,
                    now=now,
                    kiosk_id=self.kiosk_id,
                    rental_id=existing.id,
                )
                audit.append(
                    session,
                    at=now,
                    actor=self._actor,
                    action="register",
                    outcome="duplicate",
                    locker_label=locker.label,
                    rental_id=existing.id,
                    reason="face already holds an active rental: reopening its locker",
                )
                rental_id, label, address = existing.id, locker.label, _address(locker)
                intent_id, duplicate = intent.id, True
            else:
                locker_or_none = lockers_repo.claim_free_locker(session, self._policy, size)
                if locker_or_none is None:
                    audit.append(
                        session,
                        at=now,
                        actor=self._actor,
                        action="register",
                        outcome="no_free_locker",
                        reason=f"size {size}" if size else None,
                    )
                    return RegisterResult(RegisterOutcome.NO_FREE_LOCKER, detail="all taken")
                locker = locker_or_none
                self._checkpoint("register:claimed")
                rental = rentals.create_rental(
                    session,
                    locker,
                    now=now,
                    max_hours=self._max_hours,
                    retention_hours=self._retention_hours,
                    model_version=model_version,
                    kiosk_id=self.kiosk_id,
                )
                rentals.add_templates(session, rental, vectors, self._cipher, qualities)
                if face_image is not None and self._store_face_images:
                    rentals.add_face_image(session, rental, face_image, self._cipher)
                self._checkpoint("register:templates_added")
                intent = unlocks.request_unlock(
                    session,
                    locker,
                    UnlockPurpose.REGISTER,
                    now=now,
                    kiosk_id=self.kiosk_id,
                    rental_id=rental.id,
                )
                audit.append(
                    session,
                    at=now,
                    actor=self._actor,
                    action="register",
                    outcome="reserved",
                    locker_label=locker.label,
                    rental_id=rental.id,
                    reason=f"{len(vectors)} templates, model {model_version}",
                )
                rental_id, label, address = rental.id, locker.label, _address(locker)
                intent_id, duplicate = intent.id, False
        self._checkpoint("register:committed")
        result = pulse(self._board, address)
        self._checkpoint("register:pulsed")
        return self._finish_register(result, intent_id, rental_id, label, duplicate)

    def _finish_register(
        self, result: UnlockResult, intent_id: int, rental_id: int, label: str, duplicate: bool
    ) -> RegisterResult:
        now = self._clock()
        with self._db.transaction() as session:
            unlocks.finish_unlock(session, intent_id, result.outcome.value, result.detail, now)
            rental = rentals.get_rental(session, rental_id)
            assert rental is not None
            locker = rental.locker
            _record_door(locker, result)
            if result.outcome is UnlockOutcome.OPENED:
                outcome = RegisterOutcome.REOPENED_EXISTING if duplicate else RegisterOutcome.OPENED
                audit_outcome, reason = "opened", result.detail or None
            elif result.outcome is UnlockOutcome.NOT_SENT and not duplicate:
                # Provably never opened: nothing of the user is inside, so nothing is kept.
                rentals.close_rental(
                    session,
                    rental,
                    RentalState.VOIDED,
                    now=now,
                    reason=f"door never told to open: {result.detail}",
                    free_locker=True,
                )
                outcome, audit_outcome = RegisterOutcome.NOT_OPENED, "rolled_back"
                reason = f"board did not send the unlock: {result.detail}"
            elif result.outcome is UnlockOutcome.NOT_SENT:
                outcome, audit_outcome = RegisterOutcome.NOT_OPENED, "not_sent"
                reason = result.detail
            elif result.outcome is UnlockOutcome.JAMMED and not duplicate:
                # Watched for the whole window and never open: the user could not put anything
                # inside, so keeping their face data would only keep biometrics for nothing.
                rentals.close_rental(
                    session,
                    rental,
                    RentalState.VOIDED,
                    now=now,
                    reason=f"door jammed: {result.detail}",
                    free_locker=True,
                )
                lockers_repo.flag(session, locker, "register unlock jammed: check the lock")
                outcome, audit_outcome = RegisterOutcome.JAMMED, "jammed_rolled_back"
                reason = f"door never opened, rental voided, staff alerted: {result.detail}"
            else:
                lockers_repo.flag(
                    session, locker, f"register unlock {result.outcome.value}: check the door"
                )
                outcome, audit_outcome = RegisterOutcome.DOOR_NOT_CONFIRMED, result.outcome.value
                reason = f"rental kept, staff alerted: {result.detail}"
            audit.append(
                session,
                at=now,
                actor=self._actor,
                action="unlock",
                outcome=audit_outcome,
                locker_label=label,
                rental_id=rental_id,
                reason=reason,
            )
        return RegisterResult(outcome, label, rental_id, result.detail)

    def _find_duplicate(
        self,
        session: Session,
        vectors: npt.NDArray[np.float32],
        model_version: str,
        *,
        again: bool = True,
    ) -> Rental | None:
        matcher = self._gallery.matcher(session, model_version)
        if len(matcher) == 0:
            return None
        votes: dict[int, int] = {}
        best: dict[int, float] = {}
        for row in vectors:
            match = matcher.identify(row)
            if match.accepted and isinstance(match.identity, int):
                votes[match.identity] = votes.get(match.identity, 0) + 1
                best[match.identity] = max(best.get(match.identity, -1.0), match.score)
        if not votes:
            return None
        rental_id, count = max(votes.items(), key=lambda kv: kv[1])
        if count < math.ceil(len(vectors) / 2):
            return None
        if not self._gallery.confirm(session, rental_id, vectors, best[rental_id]):
            # Never reopen a locker on a stale cache's word: look again on the rebuilt gallery.
            if not again:
                return None
            return self._find_duplicate(session, vectors, model_version, again=False)
        return rentals.get_rental(session, rental_id)

    # -- retrieve ---------------------------------------------------------------------------

    def retrieve(
        self,
        probes: npt.ArrayLike,
        *,
        model_version: str,
        pad: PadVerdict | None = None,
        final: bool = True,
    ) -> RetrieveResult:
        """Open the locker of the face in ``probes`` and end its rental.

        Args:
            probes: embeddings of consecutive frames, shape ``(m, 512)`` float32; ``k`` of the
                last ``n`` must agree on one rental (``m >= k``).
            model_version: only templates enrolled with this model are compared.
            pad: the passive anti-spoofing verdict over the probe frames (``None``: check off);
                a verdict that is not live never opens (``PRESENTATION_ATTACK``; it counts as a
                failed attempt for the back-off), whatever the face matches.
            final: ``False`` for the kiosk's early look at fewer than ``n`` frames: without an
                accept the answer is ``UNDECIDED`` (not a failed attempt, nothing audited, no
                back-off) and the kiosk sends all ``n`` frames next.

        Raises:
            InvalidTemplates: wrong shape or values.
            StoreError: the database failed.
        """
        vectors = _validate(probes, "probes")
        now = self._clock()
        if self._blocked_until is not None and now < self._blocked_until:
            wait = (self._blocked_until - now).total_seconds()
            with self._db.transaction() as session:
                audit.append(
                    session,
                    at=now,
                    actor=self._actor,
                    action="retrieve",
                    outcome="rate_limited",
                    reason=f"{self._failures} failed attempts; retry in {wait:.0f} s",
                )
            return RetrieveResult(RetrieveOutcome.RATE_LIMITED, retry_after_s=wait)
        if pad is not None and not pad.live:
            self._failures += 1
            wait = self._backoff.wait_s(self._failures)
            self._blocked_until = None if wait == 0 else now + timedelta(seconds=wait)
            self._audit_attack("retrieve", pad, now)
            return RetrieveResult(
                RetrieveOutcome.PRESENTATION_ATTACK,
                score=pad.score,
                retry_after_s=wait,
                detail=str(pad.attack),
            )
        with self._db.transaction() as session:
            identity, score = self._vote(self._gallery.matcher(session, model_version), vectors)
            if identity is not None and not self._gallery.confirm(
                session, identity, vectors, score
            ):
                # Never open on a stale cache's word: match again on the rebuilt gallery.
                matcher = self._gallery.matcher(session, model_version)
                identity, score = self._vote(matcher, vectors)
            rental = None if identity is None else rentals.get_rental(session, identity)
            if (rental is None or rental.state != RentalState.ACTIVE) and not final:
                return RetrieveResult(RetrieveOutcome.UNDECIDED, score=score)
            if rental is None or rental.state != RentalState.ACTIVE:
                self._failures += 1
                wait = self._backoff.wait_s(self._failures)
                self._blocked_until = None if wait == 0 else now + timedelta(seconds=wait)
                audit.append(
                    session,
                    at=now,
                    actor=self._actor,
                    action="retrieve",
                    outcome="no_match",
                    score=score,
                    reason=f"attempt {self._failures}"
                    + (f"; back-off {wait:.0f} s" if wait else ""),
                )
                return RetrieveResult(RetrieveOutcome.NO_MATCH, score=score, retry_after_s=wait)
            self._failures, self._blocked_until = 0, None
            locker = rental.locker
            intent = unlocks.request_unlock(
                session,
                locker,
                UnlockPurpose.RETRIEVE,
                now=now,
                kiosk_id=self.kiosk_id,
                rental_id=rental.id,
            )
            audit.append(
                session,
                at=now,
                actor=self._actor,
                action="retrieve",
                outcome="matched",
                locker_label=locker.label,
                rental_id=rental.id,
                score=score,
            )
            rental_id, label, address, intent_id = (
                rental.id,
                locker.label,
                _address(locker),
                intent.id,
            )
        self._checkpoint("retrieve:committed")
        result = pulse(self._board, address)
        self._checkpoint("retrieve:pulsed")
        return self._finish_retrieve(result, intent_id, rental_id, label, score)

    def _finish_retrieve(
        self, result: UnlockResult, intent_id: int, rental_id: int, label: str, score: float
    ) -> RetrieveResult:
        now = self._clock()
        with self._db.transaction() as session:
            unlocks.finish_unlock(session, intent_id, result.outcome.value, result.detail, now)
            rental = rentals.get_rental(session, rental_id)
            assert rental is not None
            _record_door(rental.locker, result)
            if result.outcome is UnlockOutcome.OPENED:
                if rental.state == RentalState.ACTIVE:
                    rentals.close_rental(
                        session,
                        rental,
                        RentalState.ENDED,
                        now=now,
                        reason="retrieved by face",
                        free_locker=True,
                    )
                    self._gallery.forget(rental_id)
                    self._checkpoint("retrieve:ended")
                outcome, audit_outcome = RetrieveOutcome.OPENED, "opened_rental_ended"
            elif result.outcome is UnlockOutcome.NOT_SENT:
                outcome, audit_outcome = RetrieveOutcome.NOT_OPENED, "not_sent"
            else:
                # The door may or may not be open: keep the rental (belongings may still be
                # inside) and let staff decide.
                lockers_repo.flag(
                    session, rental.locker, f"retrieve unlock {result.outcome.value}: check door"
                )
                outcome, audit_outcome = RetrieveOutcome.DOOR_NOT_CONFIRMED, result.outcome.value
            audit.append(
                session,
                at=now,
                actor=self._actor,
                action="unlock",
                outcome=audit_outcome,
                locker_label=label,
                rental_id=rental_id,
                score=score,
                reason=result.detail or None,
            )
        return RetrieveResult(outcome, label, rental_id, score, detail=result.detail)

    def _audit_attack(self, action: str, pad: PadVerdict, now: datetime) -> None:
        """The refusal's audit entry: attack type and fused score, never an image."""
        with self._db.transaction() as session:
            audit.append(
                session,
                at=now,
                actor=self._actor,
                action=action,
                outcome="presentation_attack",
                score=pad.score,
                reason=pad.describe(),
            )

    def record_passive_check_off(self) -> None:
        """Audit that this kiosk runs without the passive anti-spoofing check (staff set
        ``liveness.passive: off``)."""
        with self._db.transaction() as session:
            audit.append(
                session,
                at=self._clock(),
                actor=self._actor,
                action="liveness",
                outcome="passive_off",
                reason="liveness.passive: off - captures are not checked for photos or screens",
            )

    def _vote(
        self, matcher: FaceMatcher, probes: npt.NDArray[np.float32]
    ) -> tuple[int | None, float]:
        """The rental ``k`` of the last ``n`` probes agree on, and its best accepted score."""
        if len(matcher) == 0:
            return None, -1.0
        voter = KOfNVoter(self._rule.k, self._rule.n)
        best_scores: dict[int, float] = {}
        top_score = -1.0
        for row in probes:
            match = matcher.identify(row)
            top_score = max(top_score, match.score)
            if match.accepted and isinstance(match.identity, int):
                best_scores[match.identity] = max(
                    best_scores.get(match.identity, -1.0), match.score
                )
            agreed = voter.feed(match)
            if isinstance(agreed, int):
                return agreed, best_scores[agreed]
        return None, top_score

    # -- housekeeping ----------------------------------------------------------------------

    def expire_overdue(self) -> list[int]:
        """Expire active rentals past ``expires_at``: delete templates, flag the locker (the
        belongings are still inside). Returns the expired rental ids."""
        return expire_rentals(self._db, self._clock(), self._actor)


def expire_rentals(database: Database, now: datetime, actor: str) -> list[int]:
    """See :meth:`RentalService.expire_overdue`."""
    expired: list[int] = []
    with database.transaction() as session:
        for rental in rentals.rentals_to_expire(session, now):
            deleted = rentals.close_rental(
                session,
                rental,
                RentalState.EXPIRED,
                now=now,
                reason="retention ran out: templates deleted",
                free_locker=False,
            )
            lockers_repo.flag(
                session,
                rental.locker,
                f"rental {rental.id} expired: belongings may be inside, reset after emptying",
            )
            audit.append(
                session,
                at=now,
                actor=actor,
                action="expire",
                outcome="templates_deleted",
                locker_label=rental.locker.label,
                rental_id=rental.id,
                reason=f"{deleted} templates deleted after retention",
            )
            expired.append(rental.id)
    return expired


def _validate(templates: npt.ArrayLike, what: str) -> npt.NDArray[np.float32]:
    arr = np.asarray(templates, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != EMBEDDING_DIM or len(arr) == 0:
        raise InvalidTemplates(
            f"{what} must have shape (k, {EMBEDDING_DIM}) with k >= 1, got {arr.shape}",
            hint="pass the embedder's output for the captured frames",
        )
    norms = np.linalg.norm(arr, axis=1)
    if not np.all(np.isfinite(arr)) or np.any(norms == 0):
        raise InvalidTemplates(f"{what} contain non-finite or all-zero rows")
    return np.ascontiguousarray(arr / norms[:, None], dtype=np.float32)


def _address(locker: Locker) -> LockAddress:
    return LockAddress(locker.board, locker.channel)


def _record_door(locker: Locker, result: UnlockResult) -> None:
    locker.door_state = (
        DoorStateValue.OPEN if result.outcome is UnlockOutcome.OPENED else DoorStateValue.UNKNOWN
    )
