"""Three tiers of the passive anti-spoofing score where a door opens for an existing rental.

A new registration opens an empty locker; a retrieve, or a registration whose face already
rents a locker (it reopens that locker), opens someone's belongings. There the fused passive
score of the decision frames falls in one of three tiers (``liveness.threshold`` <=
``liveness.confident``):

* ``score >= confident``: the door opens as before;
* ``threshold <= score < confident``: unsure; the door opens only after one head move (random
  direction and hold, the same face throughout, the move's frames scored too) was done;
* ``score < threshold``: refused as a presentation attack.

The kiosk flow runs the move (:mod:`~lockers.kiosk.move_challenge`) and sends the request
again with a :class:`ChallengeProof`. The service enforces the rule itself (defence in depth):
an unsure verdict without a completed move never opens (``CHALLENGE_REQUIRED``: nothing opened,
nothing counted, nothing audited), and a failed move is a failed attempt with the back-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from lockers.kiosk.audit_trail import trail
from lockers.kiosk.dto import RegisterOutcome, RegisterResult
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.vision.pad import PadVerdict

if TYPE_CHECKING:
    from lockers.kiosk.recognition import RetryGate
    from lockers.kiosk.rental_parts import KioskParts


class Tier(StrEnum):
    OPEN = "open"  # confident (or the passive check is off): open as before
    CHALLENGE = "challenge"  # unsure: one head move first
    REFUSE = "refuse"  # below the threshold: a presentation attack


def tier_of(pad: PadVerdict | None, confident: float) -> Tier:
    """The tier of a verdict. ``None`` (``liveness.passive: off``, a staff decision the audit
    log and ``lockers doctor`` show) opens as before: there is no score to be unsure about."""
    if pad is None:
        return Tier.OPEN
    if not pad.live:
        return Tier.REFUSE
    return Tier.OPEN if pad.score >= confident else Tier.CHALLENGE


@dataclass(frozen=True)
class ChallengeProof:
    """What the kiosk saw of the head moves it asked for.

    ``passed``: every move was done in time, held as asked, by the same face; ``moves``: how
    many (a registration's ``register_turns``, or the one move of an unsure capture); ``pad``:
    the fused passive verdict of the moves' frames (``None``: check off, or already part of
    the request's own verdict as at registration); ``detail``: why it failed.
    """

    passed: bool
    moves: int = 1
    pad: PadVerdict | None = None
    detail: str = ""

    @property
    def holds(self) -> bool:
        """A completed move whose frames did not fall below the threshold."""
        return self.passed and self.moves >= 1 and (self.pad is None or self.pad.live)

    def describe(self) -> str:
        """For the audit log: numbers and words, never an image."""
        why = self.detail or ("presentation attack during the move" if self.passed else "failed")
        scored = "" if self.pad is None else f"; {self.pad.describe()}"
        return f"head-move challenge ({self.moves} move(s)) not passed: {why}{scored}"


class TierGuard:
    """The service's side of the tiers: which request must do a move first, and what a
    failed move costs (a failed attempt of this kiosk's retrieve back-off)."""

    def __init__(self, parts: KioskParts, gate: RetryGate, confident: float) -> None:
        self._parts = parts
        self._gate = gate
        self.confident = confident

    def challenge_pending(self, pad: PadVerdict | None, challenge: ChallengeProof | None) -> bool:
        """Whether a door for an existing rental must wait for a head move."""
        if tier_of(pad, self.confident) is not Tier.CHALLENGE:
            return False
        return challenge is None or not challenge.holds

    def reopen_refusal(
        self, pad: PadVerdict | None, challenge: ChallengeProof | None
    ) -> RegisterResult | None:
        """Why a registration that turns out to be a duplicate may not reopen its locker: the
        back-off of failed attempts still runs (else registering would dodge it), or an unsure
        score without a completed move. ``None``: it may."""
        wait = self._gate.wait_s(self._parts.clock())
        if wait > 0:
            why = f"{self._gate.failures} failed attempts; retry in {wait:.0f} s"
            return RegisterResult(RegisterOutcome.CHALLENGE_FAILED, detail=why, retry_after_s=wait)
        if self.challenge_pending(pad, challenge):
            return RegisterResult(RegisterOutcome.CHALLENGE_REQUIRED)
        return None

    def failed_challenge(
        self, action: AuditAction, challenge: ChallengeProof | None
    ) -> float | None:
        """A move that was asked and not done: counted and audited; returns the wait it costs
        (``None``: no failed move here)."""
        if challenge is None or challenge.holds:
            return None
        parts = self._parts
        now = parts.clock()
        wait = self._gate.failed(now)
        score = None if challenge.pad is None else challenge.pad.score
        with trail(parts.database, now, parts.actor) as entries:
            why = f"{challenge.describe()}; attempt {self._gate.failures}"
            entries.add(action, AuditOutcome.CHALLENGE_FAILED, reason=why, score=score)
        return wait
