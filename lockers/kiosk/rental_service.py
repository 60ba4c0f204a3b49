"""Register and retrieve: the two things a kiosk user does, and the housekeeping that expires
rentals whose retention ran out.

This is the kiosk's entry point; the rooms behind it: :mod:`~lockers.kiosk.registering` (the
reservation and what a register door outcome means), :mod:`~lockers.kiosk.retrieving` (matching,
the back-off, ending the rental), :mod:`~lockers.kiosk.recognition` (the rule and the gallery),
:mod:`~lockers.kiosk.housekeeping` (expiry) and :mod:`~lockers.kiosk.unlocking` (the one
intent → pulse → outcome sequence every door opening goes through).

Both refuse a capture the passive anti-spoofing check found to be a photo or a screen (the
``pad`` verdict): one audit entry (attack type and fused score; never an image), nothing stored,
nothing opened, even when the face matches a rental.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from lockers.backoff import Backoff
from lockers.config import Settings
from lockers.config.liveness import DEFAULT_CONFIDENT
from lockers.hardware.board import LockBoard
from lockers.kiosk.audit_trail import record_attack, trail
from lockers.kiosk.dto import (
    HousekeepingReport,
    RegisterOutcome,
    RegisterResult,
    RetrieveOutcome,
    RetrieveResult,
)
from lockers.kiosk.errors import ConsentRequired, InvalidTemplates
from lockers.kiosk.gallery import GalleryCache
from lockers.kiosk.housekeeping import expire_rentals, housekeeping
from lockers.kiosk.liveness_tiers import ChallengeProof, TierGuard
from lockers.kiosk.recognition import (
    DEFAULT_RETRIEVE_BACKOFF,
    Recogniser,
    RecognitionRule,
    RetryGate,
    retrieve_backoff,
    validate_embeddings,
)
from lockers.kiosk.registering import Enrolment, Registrar, RentalTerms
from lockers.kiosk.rental_parts import KioskParts
from lockers.kiosk.retrieving import Retriever
from lockers.kiosk.unlocking import Checkpoint, DoorOpener, no_checkpoint
from lockers.store import lockers_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Database
from lockers.store.models import utcnow
from lockers.vision.pad import PadVerdict
from lockers.vision.types import EMBEDDING_DIM

__all__ = [
    "EMBEDDING_DIM",
    "RecognitionRule",
    "RentalService",
    "expire_rentals",
]


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
        backoff: the retrieve back-off (``recognition.retry_*``); a failed head move counts.
        confident: the passive score at or above which a door for an existing rental opens
            without a head move (``liveness.confident``, see :mod:`~lockers.kiosk.liveness_tiers`).
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
        backoff: Backoff = DEFAULT_RETRIEVE_BACKOFF,
        confident: float = DEFAULT_CONFIDENT,
        clock: Callable[[], datetime] = utcnow,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        self._db = database
        self._cipher = cipher
        self.kiosk_id = kiosk_id
        self._clock = clock
        self._gallery = GalleryCache(cipher, rule.threshold, rule.margin)
        self._parts = KioskParts(
            database,
            DoorOpener(database, board, clock=clock, checkpoint=checkpoint),
            Recogniser(self._gallery, rule),
            cipher,
            kiosk_id,
            clock,
            checkpoint,
        )
        terms = RentalTerms(rental_max_hours, retention_hours, store_face_images, policy)
        self._registrar = Registrar(self._parts, terms)
        gate = RetryGate(backoff)
        self._retriever = Retriever(self._parts, gate)
        self._tiers = TierGuard(self._parts, gate, confident)

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
            "backoff": retrieve_backoff(settings),
            "confident": settings.liveness.confident,
            **kwargs,  # explicit arguments win over the settings
        }
        return cls(
            database,
            board,
            cipher,
            RecognitionRule.from_settings(settings),
            **options,  # type: ignore[arg-type]
        )

    @property
    def _actor(self) -> str:
        return self._parts.actor

    @property
    def _board(self) -> LockBoard:
        """The board doors are opened on (the soak's deliberately broken services swap it)."""
        return self._parts.opener.board

    @_board.setter
    def _board(self, board: LockBoard) -> None:
        self._parts.opener.board = board

    def prepare(self, model_version: str) -> int:
        """Load the active rentals' templates into memory now (a kiosk calls it at start-up,
        so that the first customer does not wait for it); returns how many rentals."""
        with self._db.transaction() as session:
            return len(self._gallery.matcher(session, model_version).identities)

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
        challenge: ChallengeProof | None = None,
    ) -> RegisterResult:
        """Give the user a locker and open it (see :mod:`lockers.kiosk.registering`).

        Args:
            templates: enrolment embeddings, shape ``(k, 512)`` float32, from ``model_version``.
            consent: the user agreed to their face templates being stored for the rental.
            quality: optional per-template quality scores, shape ``(k,)``.
            size: wanted locker size (``by_size`` policy); ``None`` = any.
            face_image: encoded face crop; stored (encrypted, deleted with the templates) only
                when staff enabled ``privacy.store_face_images``, otherwise discarded.
            pad: the passive anti-spoofing verdict over the capture (``None``: check off); a
                verdict that is not live refuses the rental (``PRESENTATION_ATTACK``).
            challenge: the head moves the kiosk saw. A face that already rents a locker with
                an unsure ``pad`` reopens it only with a completed move (otherwise
                ``CHALLENGE_REQUIRED``, nothing written); a failed move is ``CHALLENGE_FAILED``,
                a failed attempt of the retrieve back-off (``retry_after_s``).

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
        vectors = validate_embeddings(templates, "templates")
        qualities = None if quality is None else np.asarray(quality, dtype=np.float32)
        if qualities is not None and qualities.shape != (len(vectors),):
            raise InvalidTemplates(
                f"quality must have shape ({len(vectors)},), got {qualities.shape}"
            )
        if pad is not None and not pad.live:
            record_attack(self._db, self._actor, AuditAction.REGISTER, pad, self._clock())
            return RegisterResult(RegisterOutcome.PRESENTATION_ATTACK, detail=str(pad.attack))
        wait = self._tiers.failed_challenge(AuditAction.REGISTER, challenge)
        if wait is not None and challenge is not None:
            failed = RegisterOutcome.CHALLENGE_FAILED
            return RegisterResult(failed, detail=challenge.detail, retry_after_s=wait)
        enrolment = Enrolment(vectors, qualities, model_version, size, face_image)
        return self._registrar.register(enrolment, self._tiers.reopen_refusal(pad, challenge))

    def retrieve(
        self,
        probes: npt.ArrayLike,
        *,
        model_version: str,
        pad: PadVerdict | None = None,
        final: bool = True,
        challenge: ChallengeProof | None = None,
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
            challenge: the head move the kiosk asked for after ``CHALLENGE_REQUIRED`` (a
                matched face with an unsure ``pad``: nothing opened, nothing counted); a failed
                move is ``CHALLENGE_FAILED``, a failed attempt with the back-off.

        Returns:
            The result; after failed attempts ``retry_after_s`` is the wait this service
            decided (``recognition.retry_*``), which the screen shows as it is.

        Raises:
            InvalidTemplates: wrong shape or values.
            StoreError: the database failed.
        """
        vectors = validate_embeddings(probes, "probes")
        pending = self._tiers.challenge_pending(pad, challenge)
        wait = self._tiers.failed_challenge(AuditAction.RETRIEVE, challenge)
        if wait is not None and challenge is not None:
            failed = RetrieveOutcome.CHALLENGE_FAILED
            return RetrieveResult(failed, detail=challenge.detail, retry_after_s=wait)
        return self._retriever.retrieve(vectors, model_version, pad, final, pending)

    def record_passive_check_off(self) -> None:
        """Audit that this kiosk runs without the passive anti-spoofing check (staff set
        ``liveness.passive: off``)."""
        why = "liveness.passive: off - captures are not checked for photos or screens"
        with trail(self._db, self._clock(), self._actor) as entries:
            entries.add(AuditAction.LIVENESS, AuditOutcome.PASSIVE_OFF, reason=why)

    # -- housekeeping ----------------------------------------------------------------------

    def housekeeping(self, now: datetime | None = None) -> HousekeepingReport:
        """Expire the rentals whose retention ran out (``privacy.retention_hours`` after they
        went overdue): their templates are deleted from the database and dropped from this
        kiosk's in-memory gallery, their lockers flagged for staff (belongings may be inside).
        Audited like the start-up expiry. Run every ``privacy.housekeeping_interval_s`` on the
        kiosk's service thread (not thread-safe, like every method here)."""
        report = housekeeping(self._db, self._clock() if now is None else now, self._actor)
        for rental_id in report.expired_rentals:
            self._gallery.forget(rental_id)
        return report

    def expire_overdue(self) -> list[int]:
        """Expire active rentals past ``expires_at`` (see :meth:`housekeeping`); returns the
        expired rental ids."""
        return list(self.housekeeping().expired_rentals)
