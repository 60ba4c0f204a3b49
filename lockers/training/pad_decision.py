"""The per-presentation decision of the passive anti-spoofing check, as the kiosk takes it.

One presentation (a capture: a window of video frames, the variants of one still attack, one
photo) is decided from its frames' scores in two steps: the scores are fused into one
(:func:`fuse_frames`: their mean, as the kiosk fuses its k-of-n window), and a
:class:`PresentationRule` decides on the fused score (:class:`ThresholdRule`: accepted as bona
fide at or above the threshold; :class:`TieredRule`: the kiosk's rule for a door of an
existing rental, which can also ask for a head-move challenge). The evaluation counts errors
through a rule only, so the rule is this one replaceable piece.

A challenged presentation is neither accepted nor refused here: whether it opens depends on the
move. A flat print or screen cannot turn its head (the yaw check), so a challenged attack of that
kind is expected to fail, but the report counts it apart ("challenged"), never as refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np


class Decision(StrEnum):
    """What the check does with one presentation."""

    ACCEPT = "accept"  # taken as a live face
    REFUSE = "refuse"  # taken as an attack
    CHALLENGE = "challenge"  # unsure: opens only after one head move


def fuse_frames(frame_scores: Sequence[float]) -> float:
    """The fused "real" score of one presentation: the mean over its scored frames."""
    return float(np.mean(frame_scores))


class PresentationRule(Protocol):
    """How one presentation is decided from its fused score."""

    def decide(self, fused: float) -> Decision: ...


@dataclass(frozen=True)
class ThresholdRule:
    """The kiosk's rule today: accepted when the fused score is at least ``threshold``."""

    threshold: float

    def decide(self, fused: float) -> Decision:
        return Decision.ACCEPT if fused >= self.threshold else Decision.REFUSE


@dataclass(frozen=True)
class TieredRule:
    """The kiosk's rule at a door of an existing rental: accepted at or above ``confident``,
    refused below ``threshold``, a one-move challenge in between (none when they are equal)."""

    threshold: float
    confident: float

    def __post_init__(self) -> None:
        if self.confident < self.threshold:
            raise ValueError(
                f"confident ({self.confident}) must be at least threshold ({self.threshold})"
            )

    def decide(self, fused: float) -> Decision:
        if fused >= self.confident:
            return Decision.ACCEPT
        return Decision.CHALLENGE if fused >= self.threshold else Decision.REFUSE


@dataclass(frozen=True)
class DecisionCounts:
    """How many presentations a rule accepted, challenged and refused."""

    accepted: int
    challenged: int
    refused: int

    @property
    def total(self) -> int:
        return self.accepted + self.challenged + self.refused

    def share(self, decision: Decision) -> float:
        """The fraction of the presentations decided ``decision`` (NaN over none)."""
        count = {
            Decision.ACCEPT: self.accepted,
            Decision.CHALLENGE: self.challenged,
            Decision.REFUSE: self.refused,
        }[decision]
        return count / self.total if self.total else float("nan")


def count_decisions(rule: PresentationRule, fused: Iterable[float]) -> DecisionCounts:
    """Each decision of ``rule`` over the fused scores, counted."""
    decisions = [rule.decide(score) for score in fused]
    return DecisionCounts(
        decisions.count(Decision.ACCEPT),
        decisions.count(Decision.CHALLENGE),
        decisions.count(Decision.REFUSE),
    )


def count_errors(rule: PresentationRule, fused: Iterable[float], bona_fide: bool) -> int:
    """Presentations decided wrongly: real faces refused, or attacks accepted (a challenge is
    neither: see :class:`DecisionCounts`)."""
    wrong = Decision.REFUSE if bona_fide else Decision.ACCEPT
    return sum(rule.decide(score) is wrong for score in fused)
