"""The kiosk's recognition latency histogram, as its heartbeat stores it on its kiosk row
(``kiosks.recognition_latency``) and the console's /metrics reads it back.

Fixed buckets (upper bounds in seconds, Prometheus's ``le``), counts cumulative since the kiosk
process started (a restart starts from zero: Prometheus reads that as a counter reset), with
the sum and the count of every observation.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Retrieve: the probes handed to the service → its decision (k-of-n vote among the active
# rentals, rental ended, lock pulsed). Around the 500 ms click→lock target and beyond.
RECOGNITION_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class HistogramSnapshot:
    """Counts per bucket: ``counts[i]`` observations ``<= bounds[i]`` and above the bound
    before; ``counts[-1]`` the ones above the highest bound (one more count than bounds)."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum_s: float
    count: int

    def cumulative(self) -> list[tuple[str, float]]:
        """Prometheus buckets: ``(le, observations <= le)``, ending with ``("+Inf", count)``."""
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            buckets.append((_le(bound), float(running)))
        buckets.append(("+Inf", float(self.count)))
        return buckets

    def as_json(self) -> dict[str, Any]:
        return {
            "bounds": list(self.bounds),
            "counts": list(self.counts),
            "sum": self.sum_s,
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: object) -> HistogramSnapshot | None:
        """The snapshot stored on a kiosk row; ``None`` when there is none or it does not add
        up (a kiosk of another version wrote something else: no metric beats a wrong one)."""
        if not isinstance(data, Mapping):
            return None
        bounds, counts = data.get("bounds"), data.get("counts")
        total, count = data.get("sum"), data.get("count")
        if not (_numbers(bounds) and _numbers(counts, int) and isinstance(count, int)):
            return None
        if not isinstance(total, int | float) or not math.isfinite(total) or total < 0:
            return None
        if list(bounds) != sorted(set(bounds)) or any(c < 0 for c in counts):
            return None
        if len(counts) != len(bounds) + 1 or sum(counts) != count:
            return None
        return cls(tuple(float(b) for b in bounds), tuple(counts), float(total), count)


def _numbers(values: object, kind: type | tuple[type, ...] = (int, float)) -> bool:
    return isinstance(values, Sequence) and all(
        isinstance(v, kind) and not isinstance(v, bool) for v in values
    )


def _le(bound: float) -> str:
    """``0.5`` → ``"0.5"``, ``1.0`` → ``"1.0"`` (prometheus-client's own ``le`` spelling)."""
    return repr(float(bound))


class LatencyHistogram:
    """Observations counted into fixed buckets; safe to observe from one thread (the kiosk's
    service thread) while another (the heartbeat) takes snapshots."""

    def __init__(self, bounds: Sequence[float] = RECOGNITION_BUCKETS_S) -> None:
        if not bounds or list(bounds) != sorted(set(bounds)) or bounds[0] <= 0:
            raise ValueError(f"bucket bounds must be positive and increasing, got {bounds}")
        self.bounds = tuple(float(b) for b in bounds)
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        """Count one latency (negative clock steps count as 0; NaN is ignored)."""
        if math.isnan(seconds):
            return
        seconds = max(0.0, seconds)
        index = next((i for i, b in enumerate(self.bounds) if seconds <= b), len(self.bounds))
        with self._lock:
            self._counts[index] += 1
            self._sum += seconds

    def snapshot(self) -> HistogramSnapshot:
        with self._lock:
            counts = tuple(self._counts)
            total = self._sum
        return HistogramSnapshot(self.bounds, counts, total, sum(counts))
