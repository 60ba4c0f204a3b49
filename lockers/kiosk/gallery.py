"""The active rentals' templates, decrypted once and kept in step with the database.

Reading and decrypting every template on each retrieve costs about 1.5 s at 10k active rentals
(50k AES-GCM blobs); a customer waits for it twice when the early look does not decide. The
cache asks the database only which rentals are active (ids: milliseconds), decrypts the
templates of rentals it has not seen, and forgets the ones that ended, whichever kiosk ended
them, before every match. The decrypted vectors live only in this process's memory, as they
did during each match before.
"""

from __future__ import annotations

import logging

import numpy as np

from lockers.store import rentals
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Session
from lockers.vision.matcher import FaceMatcher
from lockers.vision.types import EMBEDDING_DIM

_log = logging.getLogger(__name__)
# A cached score and the same score recomputed from the database differ only by float32
# rounding; anything larger means the cache held another rental's templates.
CONFIRM_TOLERANCE = 1e-3
# Past this many unseen rentals one query for all is cheaper than a long IN list (and stays
# under SQLite's bound-parameter limit).
LOAD_ALL_ABOVE = 500


class GalleryCache:
    """A :class:`FaceMatcher` over the active rentals of one model version."""

    def __init__(self, cipher: TemplateCipher, threshold: float, margin: float) -> None:
        self._cipher = cipher
        self._threshold = threshold
        self._margin = margin
        self._model_version: str | None = None
        self._matcher = self._empty()
        self._known: set[int] = set()  # active rentals already looked at

    def _empty(self) -> FaceMatcher:
        return FaceMatcher(self._threshold, self._margin, dim=EMBEDDING_DIM)

    def matcher(self, session: Session, model_version: str) -> FaceMatcher:
        """The matcher, brought up to date with the active rentals in ``session``."""
        if model_version != self._model_version:
            self._model_version, self._matcher, self._known = model_version, self._empty(), set()
        active = rentals.active_rental_ids(session, model_version)
        for rental_id in self._known - active:
            self._matcher.remove(rental_id)
        new = active - self._known
        if new:
            only = None if len(new) > LOAD_ALL_ABOVE else new
            loaded = rentals.active_templates(session, self._cipher, model_version, only=only)
            fresh = {rid: rows for rid, rows in loaded.items() if rid in new}
            if fresh:
                owners = [rid for rid, rows in fresh.items() for _ in range(len(rows))]
                self._matcher.add_many(owners, np.concatenate(list(fresh.values())))
        self._known = active
        return self._matcher

    @property
    def rental_ids(self) -> frozenset[int]:
        """The rentals whose templates this process holds now (no database round trip)."""
        return frozenset(self._known)

    def forget(self, rental_id: int) -> None:
        """Drop an ended rental's templates now (the next sync would too)."""
        self._matcher.remove(rental_id)
        self._known.discard(rental_id)

    def confirm(
        self,
        session: Session,
        rental_id: int,
        probes: np.ndarray,
        score: float,
    ) -> bool:
        """Whether ``rental_id``'s templates in the database give ``probes`` the ``score`` the
        cache gave them (the last check before a door opens on the cache's word).

        A mismatch means the cache is stale (it held other templates under that id): it is
        dropped and rebuilt from the database on the next :meth:`matcher`.
        """
        if self._model_version is None:
            # Nothing was matched since the last rebuild: there is no cached score to confirm.
            return False
        stored = rentals.active_templates(
            session, self._cipher, self._model_version, only=[rental_id]
        ).get(rental_id)
        ok = stored is not None and float(np.max(stored @ np.asarray(probes).T)) >= (
            score - CONFIRM_TOLERANCE
        )
        if not ok:
            _log.warning(
                "the in-memory gallery disagreed with the database on rental %s: rebuilding it",
                rental_id,
            )
            self._model_version, self._matcher, self._known = None, self._empty(), set()
        return ok
