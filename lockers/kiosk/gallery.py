"""The active rentals' templates, decrypted once and kept in step with the database.

Reading and decrypting every template on each retrieve costs about 1.5 s at 10k active rentals
(50k AES-GCM blobs); a customer waits for it twice when the early look does not decide. The
cache loads them all once, then, before every match, asks the database only what changed since
its last look: the site's rental change counter (one row) and, when it moved, the rentals
stamped above the value it last saw (an indexed read of the changed rows; see migration 0006,
whose triggers stamp every rental created, changing state or getting templates added or
deleted, whichever kiosk or process wrote it). New rentals' templates are decrypted, ended ones
forgotten. Reading every active rental id instead cost 110-170 ms per call at 10k rentals.

A stale cache never opens a door: every match is confirmed against the database's templates of
the matched rental (:meth:`GalleryCache.confirm`, which reads only active rentals' templates)
and the caller re-reads the rental, locked, before it decides (see ``retrieving``). Staleness
would only cost a missed match, so the cache reads everything again whenever it cannot trust
its marker: at start, on another model version, when the counter went backwards (a restored
backup) or is missing, and when a confirmation disagreed.

The decrypted vectors live only in this process's memory, as they did during each match before.
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
    """A :class:`FaceMatcher` over the active rentals of one model version.

    :meth:`matcher` must run before its transaction writes any rental (every caller matches
    first): on SQLite a transaction sees its own uncommitted stamps, which a rollback would take
    back after the cache had moved its marker past them.
    """

    def __init__(self, cipher: TemplateCipher, threshold: float, margin: float) -> None:
        self._cipher = cipher
        self._threshold = threshold
        self._margin = margin
        self._model_version: str | None = None
        self._matcher = self._empty()
        self._known: set[int] = set()  # active rentals already looked at
        # The change counter's value when the cache last looked (None: read everything).
        self._marker: int | None = None
        # Forgotten by this process in a transaction that may still roll back: looked up again.
        self._recheck: set[int] = set()

    def _empty(self) -> FaceMatcher:
        return FaceMatcher(self._threshold, self._margin, dim=EMBEDDING_DIM)

    def _reset(self, model_version: str | None) -> None:
        self._model_version, self._matcher, self._known = model_version, self._empty(), set()
        self._marker, self._recheck = None, set()

    def matcher(self, session: Session, model_version: str) -> FaceMatcher:
        """The matcher, brought up to date with the active rentals in ``session``."""
        if model_version != self._model_version:
            self._reset(model_version)
        # Read before the rentals: a change committed in between is read again next time
        # (applying it twice is harmless), never missed.
        marker = rentals.change_marker(session)
        if marker is None or self._marker is None or marker < self._marker:
            if marker is None:
                _log.warning("the rental change counter is missing: reading every rental")
            elif self._marker is not None:
                _log.warning("the rental change counter went backwards: reading every rental")
            self._full_sync(session, model_version)
        elif marker > self._marker or self._recheck:
            if len(self._recheck) > LOAD_ALL_ABOVE:  # a mass expiry: no long IN list
                # Ids only: a known rental's changed templates still come from the stamps.
                self._full_sync(session, model_version)
            highest = self._incremental_sync(session, model_version, self._marker)
            # On PostgreSQL a change may commit between the two reads; stamps commit in
            # increasing order, so everything up to the highest one seen was read.
            marker = marker if highest is None else max(marker, highest)
        self._marker = marker
        return self._matcher

    def _full_sync(self, session: Session, model_version: str) -> None:
        """Every active rental: forget the ended ones, load the new ones."""
        active = rentals.active_rental_ids(session, model_version)
        for rental_id in self._known - active:
            self._matcher.remove(rental_id)
        self._load(session, model_version, active - self._known)
        self._known, self._recheck = active, set()

    def _incremental_sync(self, session: Session, model_version: str, since: int) -> int | None:
        """Only the rentals stamped since ``since`` (and the ones :meth:`forget` dropped);
        returns the highest stamp read (``None``: none)."""
        changes = rentals.changed_rentals(session, model_version, since, also=self._recheck)
        self._recheck = set()
        for rental_id in changes.active:
            # A changed active rental may have other templates now: read them again.
            self._matcher.remove(rental_id)
            self._known.discard(rental_id)
        started = {rental_id for rental_id, active in changes.active.items() if active}
        self._known |= self._load(session, model_version, started)
        return changes.highest

    def _load(self, session: Session, model_version: str, new: set[int]) -> set[int]:
        """Decrypt and add the templates of the rentals ``new``; returns those that had any."""
        if not new:
            return set()
        only = None if len(new) > LOAD_ALL_ABOVE else new
        loaded = rentals.active_templates(session, self._cipher, model_version, only=only)
        fresh = {rid: rows for rid, rows in loaded.items() if rid in new}
        if fresh:
            owners = [rid for rid, rows in fresh.items() for _ in range(len(rows))]
            self._matcher.add_many(owners, np.concatenate(list(fresh.values())))
        return set(fresh)

    @property
    def rental_ids(self) -> frozenset[int]:
        """The rentals whose templates this process holds now (no database round trip)."""
        return frozenset(self._known)

    def forget(self, rental_id: int) -> None:
        """Drop an ended rental's templates now (the next sync would too). The next sync also
        looks the rental up again, in case the transaction that ended it rolled back."""
        self._matcher.remove(rental_id)
        if rental_id in self._known:
            self._known.discard(rental_id)
            self._recheck.add(rental_id)

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
            self._reset(None)
        return ok
