"""The matcher's template rows: a growable float32 matrix whose rows are added and removed in
time proportional to the rows changed, not to the gallery.

A kiosk's gallery (10k rentals x 5 templates x 512 float32, about 100 MB) changes on almost
every retrieve at a site of several kiosks. Concatenating or masking the whole matrix for each
rental added or dropped cost up to 290 ms and 73 ms per call; here an add writes into spare
capacity (grown by a quarter when full, so each row is copied O(1) times on average) and a
removal moves the last rows into the hole. Row order is therefore not enrolment order; nothing
depends on it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Smallest capacity allocated: a handful of rows is not worth growing one by one.
_MIN_CAPACITY = 16
# Capacity grows by a quarter when full (each row is copied at most about 4 times on average,
# and a 100 MB gallery keeps at most 25 MB spare, where doubling would keep up to 100 MB).
# Once less than half of it is used (a mass expiry) it shrinks back to a quarter above the
# rows, so a gallery hovering around a boundary does not copy itself on every call.
_GROWTH = 1.25
_SHRINK_BELOW = 0.5


class TemplateRows:
    """Unit-norm template rows, each with an owner code and a snapshot row.

    ``snapshot_rows[r]`` is the row that template ``r`` had when :meth:`mark_snapshot` last ran
    (the int8 first pass is built over that layout), ``-1`` for a template added since. It moves
    with its row, so the first pass finds each live row's approximate score after any removal.

    Not thread-safe (nor is :class:`~lockers.vision.matcher.FaceMatcher`): one caller at a time.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._count = 0
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._owners = np.empty(0, dtype=np.int64)
        self._snapshot = np.empty(0, dtype=np.int64)
        self._rows_of: dict[int, list[int]] = {}  # owner code -> its rows

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return len(self._owners)

    @property
    def matrix(self) -> npt.NDArray[np.float32]:
        """The live rows, ``(len(self), dim)`` (a view: valid until the next change)."""
        return self._vectors[: self._count]

    @property
    def owners(self) -> npt.NDArray[np.int64]:
        """Each live row's owner code (a view: valid until the next change)."""
        return self._owners[: self._count]

    @property
    def snapshot_rows(self) -> npt.NDArray[np.int64]:
        """Each live row's row in the last snapshot, ``-1`` if added since (a view)."""
        return self._snapshot[: self._count]

    def rows_of(self, code: int) -> list[int]:
        """The rows owned by ``code`` (empty if none)."""
        return list(self._rows_of.get(code, ()))

    def append(self, vectors: npt.NDArray[np.float32], codes: npt.NDArray[np.int64]) -> None:
        """Add ``vectors[i]`` owned by ``codes[i]`` (copies only the new rows, amortised)."""
        added = len(vectors)
        start, stop = self._count, self._count + added
        if stop > self.capacity:
            self._resize(max(stop, int(_GROWTH * self.capacity), _MIN_CAPACITY))
        self._vectors[start:stop] = vectors
        self._owners[start:stop] = codes
        self._snapshot[start:stop] = -1
        for row, code in enumerate(codes.tolist(), start):
            self._rows_of.setdefault(code, []).append(row)
        self._count = stop

    def remove(self, code: int) -> int:
        """Drop every row owned by ``code``, filling the holes with the last rows; returns
        how many rows were dropped."""
        rows = self._rows_of.pop(code, None)
        if not rows:
            return 0
        remaining = self._count - len(rows)
        dropped = set(rows)
        holes = sorted(row for row in rows if row < remaining)
        # Exactly as many survivors sit past the new end as there are holes before it.
        movers = [row for row in range(remaining, self._count) if row not in dropped]
        if holes:
            self._vectors[holes] = self._vectors[movers]
            self._owners[holes] = self._owners[movers]
            self._snapshot[holes] = self._snapshot[movers]
            for source, target in zip(movers, holes, strict=True):
                owned = self._rows_of[int(self._owners[target])]
                owned[owned.index(source)] = target
        self._count = remaining
        if self.capacity > _MIN_CAPACITY and remaining < _SHRINK_BELOW * self.capacity:
            self._resize(max(int(_GROWTH * remaining), _MIN_CAPACITY))
        return len(rows)

    def mark_snapshot(self) -> None:
        """Record the current layout as the snapshot's (every live row is its own row)."""
        self._snapshot[: self._count] = np.arange(self._count, dtype=np.int64)

    def _resize(self, capacity: int) -> None:
        count = self._count
        vectors = np.empty((capacity, self.dim), dtype=np.float32)
        vectors[:count] = self._vectors[:count]
        owners = np.empty(capacity, dtype=np.int64)
        owners[:count] = self._owners[:count]
        snapshot = np.empty(capacity, dtype=np.int64)
        snapshot[:count] = self._snapshot[:count]
        self._vectors, self._owners, self._snapshot = vectors, owners, snapshot
