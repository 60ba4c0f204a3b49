"""The per-presentation decision of the passive anti-spoofing check, as the kiosk takes it.

One presentation (a capture: a window of video frames, the variants of one still attack, one
photo) is decided from its frames' scores in two steps: the scores are fused into one
(:func:`fuse_frames`: their mean, as the kiosk fuses its k-of-n window), and a
:class:`PresentationRule` decides on the fused score (:class:`ThresholdRule`: accepted as bona
fide at or above the threshold). The evaluation counts errors through a rule only, so a
different one (a tiered rule that can also ask for a challenge) replaces this one piece.
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


def count_errors(rule: PresentationRule, fused: Iterable[float], bona_fide: bool) -> int:
    """Presentations decided wrongly: real faces refused, or attacks accepted."""
    wrong = Decision.REFUSE if bona_fide else Decision.ACCEPT
    return sum(rule.decide(score) is wrong for score in fused)
