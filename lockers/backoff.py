"""One back-off rule for everything that waits longer after each failure: a customer's retrieve
attempts, the staff PIN lockout, the camera reconnect and the serial port reopen.

The rule is pure (:class:`Backoff`); :class:`BackoffTimer` is the small stateful helper for loops
that count their own failures. Values come from the config of whoever uses them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """``free`` failures cost nothing; after them each one waits ``base_s * factor**extra``,
    at most ``max_s``.

    Raises:
        ValueError: ``base_s`` is not positive, ``max_s`` is below it, ``factor`` is below 1 or
            ``free`` is negative.
    """

    base_s: float
    max_s: float
    free: int = 0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s < self.base_s:
            raise ValueError(f"need 0 < base_s <= max_s, got {self.base_s} and {self.max_s}")
        if self.factor < 1 or self.free < 0:
            raise ValueError(f"need factor >= 1 and free >= 0, got {self.factor} and {self.free}")

    def wait_s(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (0 while they are free)."""
        extra = failures - self.free - 1
        if extra < 0:
            return 0.0
        # min() before the power would overflow for a very long run of failures.
        return float(min(self.max_s, self.base_s * self.factor ** min(extra, 64)))


class BackoffTimer:
    """Counts consecutive failures of one loop and says how long to wait before the next try."""

    def __init__(self, rule: Backoff) -> None:
        self.rule = rule
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure and return the wait before the next attempt."""
        self.failures += 1
        return self.rule.wait_s(self.failures)

    def reset(self) -> None:
        """A success: the next failure starts from the first delay again."""
        self.failures = 0
