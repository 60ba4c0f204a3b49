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

from lockers.vision.int8_index import QuantisedRows, quantise

# Smallest capacity allocated: a handful of rows is not worth growing one by one.
_MIN_CAPACITY = 16
# Capacity grows by a quarter when full (each row is copied at most about 4 times on average,
# and a 100 MB gallery keeps at most 25 MB spare, where doubling would keep up to 100 MB).
# Once less than half of it is used (a mass expiry) it shrinks back to a quarter above the
# rows, so a gallery hovering around a boundary does not copy itself on every call.
_GROWTH = 1.25
_SHRINK_BELOW = 0.5
# The per-row arrays of the int8 first pass (QuantisedRows' fields), kept once quantising.
_QUANTISED_COLUMNS = ("values", "inv_row_scale", "bound_u", "bound_v")


class TemplateRows:
    """Unit-norm template rows, each with an owner code, a snapshot row and, once
    :meth:`start_quantising` ran, its int8 quantisation (kept in step with every change).

    ``snapshot_rows[r]`` is the row that template ``r`` had when :meth:`mark_snapshot` last ran
    (the int8 first pass is built over that layout), ``-1`` for a template added since. It moves
    with its row, so the first pass finds each live row's approximate score after any removal.

    Not thread-safe (nor is :class:`~lockers.vision.matcher.FaceMatcher`): one caller at a time.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._count = 0
        # Every per-row array, all of the same capacity: moved and resized together.
        self._columns: dict[str, np.ndarray] = {
            "vectors": np.empty((0, dim), dtype=np.float32),
            "owners": np.empty(0, dtype=np.int64),
            "snapshot": np.empty(0, dtype=np.int64),
        }
        self._rows_of: dict[int, list[int]] = {}  # owner code -> its rows

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        return len(self._columns["owners"])

    @property
    def matrix(self) -> npt.NDArray[np.float32]:
        """The live rows, ``(len(self), dim)`` (a view: valid until the next change)."""
        return self._columns["vectors"][: self._count]

    @property
    def owners(self) -> npt.NDArray[np.int64]:
        """Each live row's owner code (a view: valid until the next change)."""
        return self._columns["owners"][: self._count]

    @property
    def snapshot_rows(self) -> npt.NDArray[np.int64]:
        """Each live row's row in the last snapshot, ``-1`` if added since (a view)."""
        return self._columns["snapshot"][: self._count]

    @property
    def quantising(self) -> bool:
        return _QUANTISED_COLUMNS[0] in self._columns

    def quantised(self) -> QuantisedRows:
        """The live rows' int8 quantisation (views: valid until the next change).

        Raises:
            RuntimeError: :meth:`start_quantising` never ran.
        """
        if not self.quantising:
            raise RuntimeError("the template rows are not quantised: call start_quantising()")
        live = {name: self._columns[name][: self._count] for name in _QUANTISED_COLUMNS}
        return QuantisedRows(**live)

    def start_quantising(self) -> None:
        """Quantise every row now (once, O(rows)) and each row added from now on."""
        if self.quantising:
            return
        live = quantise(self.matrix)
        for name in _QUANTISED_COLUMNS:
            values = getattr(live, name)
            column = np.empty((self.capacity, *values.shape[1:]), dtype=values.dtype)
            column[: self._count] = values
            self._columns[name] = column

    def stop_quantising(self) -> None:
        """Drop the quantised rows (the int8 first pass is not used on this CPU)."""
        for name in _QUANTISED_COLUMNS:
            self._columns.pop(name, None)

    def rows_of(self, code: int) -> list[int]:
        """The rows owned by ``code`` (empty if none)."""
        return list(self._rows_of.get(code, ()))

    def append(self, vectors: npt.NDArray[np.float32], codes: npt.NDArray[np.int64]) -> None:
        """Add ``vectors[i]`` owned by ``codes[i]`` (copies only the new rows, amortised)."""
        start, stop = self._count, self._count + len(vectors)
        if stop > self.capacity:
            self._resize(max(stop, int(_GROWTH * self.capacity), _MIN_CAPACITY))
        new = {"vectors": vectors, "owners": codes, "snapshot": -1}
        if self.quantising:
            fresh = quantise(vectors)
            new.update({name: getattr(fresh, name) for name in _QUANTISED_COLUMNS})
        for name, values in new.items():
            self._columns[name][start:stop] = values
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
            for column in self._columns.values():
                column[holes] = column[movers]
            owners = self._columns["owners"]
            for source, target in zip(movers, holes, strict=True):
                owned = self._rows_of[int(owners[target])]
                owned[owned.index(source)] = target
        self._count = remaining
        if self.capacity > _MIN_CAPACITY and remaining < _SHRINK_BELOW * self.capacity:
            self._resize(max(int(_GROWTH * remaining), _MIN_CAPACITY))
        return len(rows)

    def mark_snapshot(self) -> None:
        """Record the current layout as the snapshot's (every live row is its own row)."""
        self._columns["snapshot"][: self._count] = np.arange(self._count, dtype=np.int64)

    def _resize(self, capacity: int) -> None:
        count = self._count
        for name, column in self._columns.items():
            grown = np.empty((capacity, *column.shape[1:]), dtype=column.dtype)
            grown[:count] = column[:count]
            self._columns[name] = grown
