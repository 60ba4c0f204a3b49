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

from lockers.vision.template_rows import TemplateRows
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

    Templates live in a growable float32 matrix (:class:`~lockers.vision.template_rows.
    TemplateRows`): adding or removing an identity costs time in proportion to its templates,
    not to the gallery. From ``index_min_rows`` templates up, a probe is first scored against
    an int8 copy (:class:`~lockers.vision.int8_index.Int8Index`) and only rows that can still be
    among the two best identities are rescored exactly: same results, a quarter of the memory
    traffic. Building that copy costs about as much as 100 float32 queries, so it is built once
    the large gallery has been queried ``index_after_queries`` times (or on
    :meth:`prepare_index`). It is then a snapshot: templates added since are scored exactly in
    float32, removed ones are skipped, and it is rebuilt once more than a sixteenth of its rows
    changed (``index_stale_fraction``: a rebuild is paid once per many changed rows, and the
    exact part stays small).

    Not thread-safe (it never was): one caller at a time.
    """

    def __init__(
        self,
        threshold: float,
        margin: float,
        dim: int = EMBEDDING_DIM,
        index_min_rows: int = 20_000,
        index_after_queries: int = 100,
        index_stale_fraction: float = 1 / 16,
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.dim = dim
        self._rows = TemplateRows(dim)
        self._codes: dict[Identity, int] = {}
        self._identity_of: dict[int, Identity] = {}
        self._next_code = 0
        self.index_min_rows = index_min_rows
        self.index_after_queries = index_after_queries
        # The int8 snapshot is rebuilt once the rows added or removed since it was built exceed
        # this fraction of it: every query scores the added rows exactly (a gather and a
        # float32 product over them) and still scores the removed ones in int8, while a rebuild
        # costs about 100 float32 queries of the whole gallery.
        self.index_stale_fraction = index_stale_fraction
        self._index: Int8Index | None = None
        # Rows added or removed since the int8 snapshot was built (see prepare_index).
        self._changed_since_index = 0
        # Set once ONNX Runtime's integer GEMM failed its exactness check on this CPU: from
        # then on every search is the plain float32 scan (slower, never wrong).
        self._index_unusable = False
        self._queries_without_index = 0

    def __len__(self) -> int:
        """Number of templates (not identities)."""
        return len(self._rows)

    @property
    def _matrix(self) -> npt.NDArray[np.float32]:
        return self._rows.matrix

    @property
    def _owner_codes(self) -> npt.NDArray[np.int64]:
        return self._rows.owners

    @property
    def identities(self) -> set[Identity]:
        return set(self._codes)

    def add(self, identity: Identity, templates: npt.ArrayLike) -> None:
        """Enrol ``templates`` (shape ``(k, dim)`` or ``(dim,)``) for ``identity``."""
        rows = normalise(templates)
        if rows.shape[1] != self.dim:
            raise ValueError(f"templates must have {self.dim} values, got {rows.shape[1]}")
        self._append(rows, np.full(len(rows), self._code_for(identity), dtype=np.int64))

    def add_many(self, identities: Iterable[Identity], templates: npt.ArrayLike) -> None:
        """Enrol one template per identity in one step (row ``i`` belongs to ``identities[i]``)."""
        rows = normalise(templates)
        ids = list(identities)
        if len(ids) != len(rows) or rows.shape[1] != self.dim:
            raise ValueError(
                f"need one {self.dim}-value template per identity, got {len(ids)} identities "
                f"and templates of shape {rows.shape}"
            )
        self._append(rows, np.array([self._code_for(i) for i in ids], dtype=np.int64))

    def _code_for(self, identity: Identity) -> int:
        code = self._codes.get(identity)
        if code is None:
            code = self._codes[identity] = self._next_code
            self._identity_of[code] = identity
            self._next_code += 1
        return code

    def _append(self, rows: npt.NDArray[np.float32], codes: npt.NDArray[np.int64]) -> None:
        self._rows.append(rows, codes)
        if self._index is not None:
            self._changed_since_index += len(rows)

    def remove(self, identity: Identity) -> None:
        """Forget every template of ``identity`` (no error if it is unknown)."""
        code = self._codes.pop(identity, None)
        if code is None:
            return
        del self._identity_of[code]
        removed = self._rows.remove(code)
        if self._index is not None:
            self._changed_since_index += removed

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
        index = self._index_for_query()
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

    def _index_for_query(self) -> Int8Index | None:
        """The int8 first pass for this query, built or rebuilt now if due; ``None``: scan."""
        if len(self._rows) < self.index_min_rows or self._index_unusable:
            return None
        if self._index is None:
            self._queries_without_index += 1
            if self._queries_without_index <= self.index_after_queries:
                return None
        return self.prepare_index()

    def prepare_index(self) -> Int8Index | None:
        """Build the int8 first-pass index now (a long-lived gallery about to be searched), or
        rebuild it if too many rows changed since it was built.

        Returns ``None`` when this CPU's integer GEMM is not exact (searches then scan
        float32) or the gallery is empty.
        """
        if self._index_unusable or len(self._rows) == 0:
            return None
        stale = self._changed_since_index > self.index_stale_fraction * len(self._rows)
        if self._index is None or stale:
            from lockers.vision.int8_index import Int8Index, Int8IndexError

            self._index = None
            # Quantised once, then row by row as the gallery changes: a rebuild only packs.
            self._rows.start_quantising()
            try:
                self._index = Int8Index(self._rows.quantised())
            except Int8IndexError as exc:
                _log.warning("int8 first pass disabled, float32 scan only: %s", exc)
                self._index_unusable = True
                self._rows.stop_quantising()
                return None
            self._rows.mark_snapshot()
            self._changed_since_index = 0
        return self._index

    def _approximate_scores(
        self, index: Int8Index, vec: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], float]:
        """Every live row's approximate score and one bound on every score's error.

        Rows still in the int8 snapshot take their score from it (wherever removals moved
        them); rows added since are scored exactly, which the bound covers trivially.
        """
        snapshot_scores, bound = index.scores(vec)
        if self._changed_since_index == 0:
            return snapshot_scores, bound  # the layout is still the snapshot's
        snapshot_rows = self._rows.snapshot_rows
        approx = snapshot_scores[snapshot_rows]
        fresh = np.flatnonzero(snapshot_rows < 0)
        if len(fresh):
            approx[fresh] = self._matrix[fresh] @ vec
        return approx, bound

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
        approx, bound = self._approximate_scores(index, vec)
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
        rows = self._rows.rows_of(self._codes[identity])
        best = float(np.max(self._matrix[rows] @ vec))
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
