"""Belongings nobody can get back: the ``lost_rentals`` invariant's reading of the database."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from lockers.soak.people import People
from lockers.store import inspection
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Session
from lockers.vision.types import EMBEDDING_DIM

MATCH_COSINE = 0.5  # stored templates are a person's when their mean cosine to its base is this


def unreachable(
    contents: Mapping[str, int],
    people: People,
    states: Sequence[inspection.LockerState],
    session: Session,
    cipher: TemplateCipher,
    staff_on: Collection[str],
) -> list[tuple[str, int, int | None, str]]:
    """``(label, person, rental id, why)`` of each locker that holds someone's belongings (by
    the ledger's ``contents``), is not flagged for staff, and has no active rental carrying
    that person's templates; ``staff_on``: lockers staff are emptying (they know)."""
    lockers = {state.label: state for state in states}
    found = []
    for label, person in sorted(contents.items()):
        state = lockers.get(label)
        if state is None or label in staff_on or state.attention is not None:
            continue
        rental_id = state.active_rental_id
        templates = (
            inspection.rental_embeddings(session, cipher, rental_id)
            if rental_id is not None
            else np.zeros((0, EMBEDDING_DIM), np.float32)
        )
        if not people.matches(person, templates, MATCH_COSINE):
            why = "no active rental" if rental_id is None else f"rental {rental_id} is not theirs"
            found.append((label, person, rental_id, why))
    return found
