"""Who is this face: the recognition rule over the in-memory gallery of active rentals, and the
retrieve back-off that slows down a guesser at this kiosk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from lockers.backoff import Backoff
from lockers.config import Settings
from lockers.kiosk.errors import InvalidTemplates
from lockers.kiosk.gallery import GalleryCache
from lockers.store.db import Session
from lockers.vision.matcher import FaceMatcher, KOfNVoter
from lockers.vision.types import EMBEDDING_DIM


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


def retrieve_backoff(settings: Settings) -> Backoff:
    """The retrieve back-off of ``recognition.retry_*``: the service alone decides how long a
    customer waits after failed attempts (the screen only shows ``retry_after_s``)."""
    rec = settings.recognition
    return Backoff(rec.retry_base_s, rec.retry_max_s, free=rec.retry_free_failures)


DEFAULT_RETRIEVE_BACKOFF = Backoff(2.0, 60.0, free=2)
"""The config defaults (``recognition.retry_*``), for services built without settings: two
failed attempts are free, the third waits 2 s, then 4, 8 ... at most 60 s."""


class RetryGate:
    """Counts this kiosk's failed retrieve attempts in a row and blocks matching while the
    back-off runs. One per kiosk process (a guesser stands at one kiosk)."""

    def __init__(self, rule: Backoff) -> None:
        self._rule = rule
        self.failures = 0
        self._blocked_until: datetime | None = None

    def wait_s(self, now: datetime) -> float:
        """Seconds left of the current back-off (0: may match now)."""
        if self._blocked_until is None or now >= self._blocked_until:
            return 0.0
        return (self._blocked_until - now).total_seconds()

    def failed(self, now: datetime) -> float:
        """Count a failed attempt; returns the wait it costs (0 while failures are free)."""
        self.failures += 1
        wait = self._rule.wait_s(self.failures)
        self._blocked_until = None if wait == 0 else now + timedelta(seconds=wait)
        return wait

    def succeeded(self) -> None:
        self.failures, self._blocked_until = 0, None


class Recogniser:
    """Matches embeddings against the active rentals of this site (cached gallery)."""

    def __init__(self, gallery: GalleryCache, rule: RecognitionRule) -> None:
        self.gallery = gallery
        self._rule = rule

    def identify(
        self, session: Session, probes: npt.NDArray[np.float32], model_version: str
    ) -> tuple[int | None, float]:
        """The rental ``k`` of the last ``n`` probes agree on (confirmed against the database,
        never on a stale cache's word), and its score; ``None`` and the top score otherwise."""
        identity, score = self._vote(self.gallery.matcher(session, model_version), probes)
        if identity is not None and not self.gallery.confirm(session, identity, probes, score):
            # Never open on a stale cache's word: match again on the rebuilt gallery.
            identity, score = self._vote(self.gallery.matcher(session, model_version), probes)
        return identity, score

    def duplicate_of(
        self,
        session: Session,
        vectors: npt.NDArray[np.float32],
        model_version: str,
        *,
        again: bool = True,
    ) -> int | None:
        """The active rental most of ``vectors`` match (a face registering twice), if any."""
        matcher = self.gallery.matcher(session, model_version)
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
        if not self.gallery.confirm(session, rental_id, vectors, best[rental_id]):
            # Never reopen a locker on a stale cache's word: look again on the rebuilt gallery.
            if not again:
                return None
            return self.duplicate_of(session, vectors, model_version, again=False)
        return rental_id

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


def validate_embeddings(templates: npt.ArrayLike, what: str) -> npt.NDArray[np.float32]:
    """``templates`` as L2-normalised float32 rows of shape ``(k, 512)``.

    Raises:
        InvalidTemplates: wrong shape, non-finite or all-zero rows.
    """
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
