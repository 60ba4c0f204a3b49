"""What the flow offers after a failure: which problems may be retried, what each service
outcome means on screen, and when a retrieve retry is allowed.

The wait before a retrieve retry is the service's decision (its ``retry_after_s``: it counts
the failed attempts, see :class:`~lockers.kiosk.rental_service.RentalService`); the flow only
keeps the retry button disabled until then and shows the seconds left. A scan that timed out
without a decision never reached the service and compared no face: it costs no wait.
"""

from __future__ import annotations

from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow_values import Problem

# Problems the customer may simply try again; the others need staff.
RETRYABLE = frozenset(
    {
        Problem.CAPTURE_TIMEOUT,
        Problem.LIVENESS_FAILED,
        Problem.PRESENTATION_ATTACK,
        Problem.NOT_OPENED,
    }
)

_REGISTER_PROBLEMS = {
    RegisterOutcome.PRESENTATION_ATTACK: Problem.PRESENTATION_ATTACK,
    RegisterOutcome.NO_FREE_LOCKER: Problem.NO_FREE_LOCKER,
    RegisterOutcome.DOOR_NOT_CONFIRMED: Problem.DOOR_NOT_CONFIRMED,
    RegisterOutcome.JAMMED: Problem.DOOR_NOT_CONFIRMED,
    RegisterOutcome.ACTIVE_ELSEWHERE: Problem.AT_OTHER_KIOSK,
}


def register_problem(outcome: RegisterOutcome) -> Problem:
    """The screen of a registration whose door did not open."""
    return _REGISTER_PROBLEMS.get(outcome, Problem.NOT_OPENED)


def kiosk_place(result: RegisterResult | RetrieveResult) -> str:
    """Where another bank's locker is, for the screen: "name (location)" or the name alone."""
    name = result.kiosk_name or result.kiosk_id or "?"
    return f"{name} ({result.kiosk_location})" if result.kiosk_location else name


def retrieve_door_problem(outcome: RetrieveOutcome) -> Problem:
    """The screen of a matched retrieve whose door did not open."""
    if outcome is RetrieveOutcome.DOOR_NOT_CONFIRMED:
        return Problem.DOOR_NOT_CONFIRMED
    return Problem.NOT_OPENED


class RetryGate:
    """Until when a retrieve retry must wait (monotonic seconds of the flow's clock)."""

    def __init__(self) -> None:
        self.blocked_until = 0.0

    def wait(self, now: float, wait_s: float) -> None:
        """The service said: no new attempt for ``wait_s`` seconds (a longer wait stays)."""
        self.blocked_until = max(self.blocked_until, now + max(0.0, wait_s))

    def clear(self) -> None:
        """A retrieve opened: the next customer starts without a wait."""
        self.blocked_until = 0.0

    def blocked(self, now: float) -> bool:
        return now < self.blocked_until

    def left_s(self, now: float) -> float:
        """Seconds left, rounded for the screen (0 when a retry is allowed)."""
        return round(max(0.0, self.blocked_until - now), 1)
