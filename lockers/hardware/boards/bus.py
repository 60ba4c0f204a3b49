"""One transaction at a time on a bus, unlocks ahead of status polls."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class BusArbiter:
    """A lock with two priorities: an urgent holder (an unlock) is served before routine ones.

    Routine holders (status polls) wait while any urgent holder is waiting, so a burst of polls
    never delays a door opening by more than the transaction in progress.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent_waiting = 0
        self._waiting = 0  # holders of either kind waiting for the bus

    def wait_for_waiting(self, count: int, timeout_s: float) -> bool:
        """Wait until the bus is held and ``count`` more holders wait for it (``False`` on
        timeout): lets a caller (a test, a diagnostic) see the queue it is about to join."""
        with self._cond:
            return self._cond.wait_for(lambda: self._busy and self._waiting >= count, timeout_s)

    @contextmanager
    def hold(self, *, urgent: bool, deadline: float) -> Iterator[bool]:
        """Hold the bus until the block ends; yields ``False`` if ``deadline`` passed first.

        ``deadline`` is a ``time.monotonic()`` value. The caller must not touch the bus when
        ``False`` is yielded.
        """
        acquired = False
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
            self._waiting += 1
            self._cond.notify_all()
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                else:
                    self._busy = acquired = True
            finally:
                if urgent:
                    self._urgent_waiting -= 1
                self._waiting -= 1
                self._cond.notify_all()
        try:
            yield acquired
        finally:
            if acquired:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
