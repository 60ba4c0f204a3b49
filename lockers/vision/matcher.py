"""Matching probe embeddings against an in-memory gallery of enrolled templates.

Pure numpy (no torch), so the kiosk services can use it without loading a model.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lockers.vision.types import EMBEDDING_DIM

_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from lockers.vision.int8_index import Int8Index

Identity = Hashable  # a rental id in the kiosk; any hashable key in tests and tools


class MatchReason(StrEnum):
    """Why a probe was accepted or refused."""

    ACCEPTED = "accepted"
    EMPTY_GALLERY = "empty_gallery"  # nobody (among the allowed ids) is enrolled
    BELOW_THRESHOLD = "below_threshold"
    AMBIGUOUS = "ambiguous"  # best and second best are closer than the margin


@dataclass(frozen=True)
class MatchResult:
    """The outcome for one probe.

    ``identity`` is the best candidate even when refused (for auditing the score);
    ``accepted`` is what the kiosk may act on. Scores are cosine similarities in [-1, 1];
    ``second_score`` is -1.0 when there is no second identity.
    """

    accepted: bool
    identity: Identity | None
    score: float
    second_score: float
    reason: MatchReason


def normalise(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Rows scaled to unit L2 norm, as float32 of shape ``(n, d)``.

    Raises:
        ValueError: a row is all zeros or not finite (it cannot be a face embedding).
    """
    arr = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if arr.ndim != 2:
        raise ValueError(f"expected embeddings of shape (n, d), got {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    if not np.all(np.isfinite(arr)) or np.any(norms == 0):
        raise ValueError("embeddings must be finite and non-zero")
    return arr / norms


class FaceMatcher:
    """A gallery of templates (several per identity allowed) with the kiosk's acceptance rule.

    A probe is accepted for identity X only if its best cosine score over X's templates is
    ``>= threshold`` and beats the best score of every other identity by ``>= margin``.
    Search can be restricted to a set of identities (the active rentals).

    Templates are kept in one contiguous float32 matrix. From ``index_min_rows`` templates up, a
    probe is first scored against an int8 copy (:class:`~lockers.vision.int8_index.Int8Index`)
    and only rows that can still be among the two best identities are rescored exactly: same
    results, a quarter of the memory traffic. Building that copy costs about as much as 100
    float32 queries, so it is built once the gallery has been queried ``index_after_queries``
    times without changing (or on :meth:`prepare_index`), and dropped when it changes.
    """

    def __init__(
        self,
        threshold: float,
        margin: float,
        dim: int = EMBEDDING_DIM,
        index_min_rows: int = 20_000,
        index_after_queries: int = 100,
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.dim = dim
        self._matrix = np.empty((0, dim), dtype=np.float32)
        self._owner_codes = np.empty(0, dtype=np.int64)  # row -> identity code
        self._codes: dict[Identity, int] = {}
        self._identity_of: dict[int, Identity] = {}
        self._next_code = 0
        self.index_min_rows = index_min_rows
        self.index_after_queries = index_after_queries
        self._index: Int8Index | None = None
        # Set once ONNX Runtime's integer GEMM failed its exactness check on this CPU: from
        # then on every search is the plain float32 scan (slower, never wrong).
        self._index_unusable = False
        self._queries_since_change = 0

    def __len__(self) -> int:
        """Number of templates (not identities)."""
        return len(self._owner_codes)

    @property
    def identities(self) -> set[Identity]:
        return set(self._codes)

    def add(self, identity: Identity, templates: npt.ArrayLike) -> None:
        """Enrol ``templates`` (shape ``(k, dim)`` or ``(dim,)``) for ``identity``."""
        rows = normalise(templates)
        if rows.shape[1] != self.dim:
            raise ValueError(f"templates must have {self.dim} values, got {rows.shape[1]}")
        code = self._codes.get(identity)
        if code is None:
            code = self._codes[identity] = self._next_code
            self._identity_of[code] = identity
            self._next_code += 1
        self._matrix = np.concatenate([self._matrix, rows])
        self._index, self._queries_since_change = None, 0
        self._owner_codes = np.concatenate(
            [self._owner_codes, np.full(len(rows), code, dtype=np.int64)]
        )

    def add_many(self, identities: Iterable[Identity], templates: npt.ArrayLike) -> None:
        """Enrol one template per identity in one step (row ``i`` belongs to ``identities[i]``).

        Loading a large gallery row by row would copy the matrix once per row.
        """
        rows = normalise(templates)
        ids = list(identities)
        if len(ids) != len(rows) or rows.shape[1] != self.dim:
            raise ValueError(
                f"need one {self.dim}-value template per identity, got {len(ids)} identities "
                f"and templates of shape {rows.shape}"
            )
        codes = np.empty(len(ids), dtype=np.int64)
        for i, identity in enumerate(ids):
            code = self._codes.get(identity)
            if code is None:
                code = self._codes[identity] = self._next_code
                self._identity_of[code] = identity
                self._next_code += 1
            codes[i] = code
        self._matrix = np.concatenate([self._matrix, rows])
        self._index, self._queries_since_change = None, 0
        self._owner_codes = np.concatenate([self._owner_codes, codes])

    def remove(self, identity: Identity) -> None:
        """Forget every template of ``identity`` (no error if it is unknown)."""
        code = self._codes.pop(identity, None)
        if code is None:
            return
        del self._identity_of[code]
        keep = self._owner_codes != code
        self._matrix = self._matrix[keep]
        self._owner_codes = self._owner_codes[keep]
        self._index, self._queries_since_change = None, 0

    def identify(
        self, probe: npt.ArrayLike, among: Collection[Identity] | None = None
    ) -> MatchResult:
        """1:N search of one probe embedding (shape ``(dim,)``), optionally only ``among`` ids."""
        vec = normalise(probe)[0]
        if vec.shape[0] != self.dim:
            raise ValueError(f"probe must have {self.dim} values, got {vec.shape[0]}")
        mask = None
        if among is not None:
            wanted = [self._codes[i] for i in among if i in self._codes]
            mask = np.isin(self._owner_codes, wanted)
            if not mask.any():
                return MatchResult(False, None, -1.0, -1.0, MatchReason.EMPTY_GALLERY)
        if len(self._owner_codes) == 0:
            return MatchResult(False, None, -1.0, -1.0, MatchReason.EMPTY_GALLERY)
        self._queries_since_change += 1
        index = (
            self.prepare_index()
            if len(self._owner_codes) >= self.index_min_rows
            and (self._index is not None or self._queries_since_change > self.index_after_queries)
            else None
        )
        if index is not None:
            rows = self._candidate_rows(index, vec, mask)
        else:
            rows = np.flatnonzero(mask) if mask is not None else None
        matrix = self._matrix if rows is None else self._matrix[rows]
        owner_codes = self._owner_codes if rows is None else self._owner_codes[rows]
        scores = matrix @ vec
        # Best identity = owner of the best row; second = best row of any *other* identity.
        top = int(np.argmax(scores))
        best, best_code = float(scores[top]), int(owner_codes[top])
        others = np.where(owner_codes != best_code, scores, -np.inf)
        second = float(others.max()) if np.isfinite(others.max()) else -1.0
        identity = self._identity_of[best_code]
        return self._decide(identity, best, second)

    def prepare_index(self) -> Int8Index | None:
        """Build the int8 first-pass index now (a long-lived gallery about to be searched).

        Returns ``None`` when this CPU's integer GEMM is not exact; searches then scan float32.
        """
        if self._index is None and not self._index_unusable:
            from lockers.vision.int8_index import Int8Index, Int8IndexError

            try:
                self._index = Int8Index(self._matrix)
            except Int8IndexError as exc:
                _log.warning("int8 first pass disabled, float32 scan only: %s", exc)
                self._index_unusable = True
        return self._index

    def _candidate_rows(
        self,
        index: Int8Index,
        vec: npt.NDArray[np.float32],
        mask: npt.NDArray[np.bool_] | None,
    ) -> npt.NDArray[np.int64]:
        """Rows that may hold the best score of either of the two best identities.

        The two identities with the largest lower bounds both score at least ``floor`` exactly,
        so the true top two do as well; a row whose upper bound is below ``floor`` cannot be
        the best row of either.
        """
        approx, bound = index.scores(vec)
        if mask is not None:
            approx = np.where(mask, approx, -np.inf)
        leader = int(np.argmax(approx))
        # The runner-up identity's best approximate score: mask out the leader's rows.
        others = approx.copy()
        others[self._owner_codes == self._owner_codes[leader]] = -np.inf
        runner_up = float(others.max())
        # Both of the two best identities score >= runner_up - bound exactly; a row whose
        # approximate score is below that minus its own bound cannot be the best row of either.
        floor = runner_up if np.isfinite(runner_up) else float(approx[leader])
        return np.flatnonzero(approx >= floor - 2 * bound)

    def verify(self, probe: npt.ArrayLike, identity: Identity) -> MatchResult:
        """1:1 check against one claimed identity: threshold only, no competitor, no margin."""
        if identity not in self._codes:
            return MatchResult(False, None, -1.0, -1.0, MatchReason.EMPTY_GALLERY)
        vec = normalise(probe)[0]
        mask = self._owner_codes == self._codes[identity]
        best = float(np.max(self._matrix[mask] @ vec))
        ok = best >= self.threshold
        reason = MatchReason.ACCEPTED if ok else MatchReason.BELOW_THRESHOLD
        return MatchResult(ok, identity, best, -1.0, reason)

    def _decide(self, identity: Identity, best: float, second: float) -> MatchResult:
        if best < self.threshold:
            return MatchResult(False, identity, best, second, MatchReason.BELOW_THRESHOLD)
        if best - second < self.margin:
            return MatchResult(False, identity, best, second, MatchReason.AMBIGUOUS)
        return MatchResult(True, identity, best, second, MatchReason.ACCEPTED)


class KOfNVoter:
    """Accept an identity only when ``k`` of the last ``n`` frames accepted that same identity.

    Refused frames count as votes for nobody, so one lucky frame among strangers is not enough.
    """

    def __init__(self, k: int, n: int) -> None:
        if not 1 <= k <= n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        self.k, self.n = k, n
        self._votes: deque[Identity | None] = deque(maxlen=n)

    def feed(self, result: MatchResult) -> Identity | None:
        """Add one frame's result; returns the agreed identity, or ``None`` while undecided."""
        self._votes.append(result.identity if result.accepted else None)
        counts = Counter(v for v in self._votes if v is not None)
        if not counts:
            return None
        identity, votes = counts.most_common(1)[0]
        return identity if votes >= self.k else None

    def reset(self) -> None:
        """Forget all votes (a new person, a new attempt)."""
        self._votes.clear()
