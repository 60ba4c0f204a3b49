"""Which service call the flow waits for: results are matched to the request that caused them.

Each register or retrieve request gets an id; the caller hands it back with the result. Only
one such call runs at a time (it may open a door): while it runs the flow stays on its screen,
and a way home asked for meanwhile is remembered until the result comes.
"""

from __future__ import annotations

import itertools


class RequestTracker:
    """The running door call's id, and whether a way home waits for it."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.running: int | None = None
        self.leave_asked = False

    def start(self) -> int:
        """A new call: its id (the one its result must carry)."""
        request_id = next(self._ids)
        self.running, self.leave_asked = request_id, False
        return request_id

    def ask_leave(self) -> None:
        self.leave_asked = True

    def answer(self, request_id: int | None) -> tuple[bool, bool]:
        """Whether a result answers the running call (``None``: the caller runs its calls one
        at a time and means the running one), and whether a way home was asked for meanwhile.
        The running call is then over; a result of any other request changes nothing."""
        running = self.running
        if running is None or (request_id is not None and request_id != running):
            return False, False
        leave = self.leave_asked
        self.running, self.leave_asked = None, False
        return True, leave
