"""The passive presentation-attack decision, pure: per-frame model outputs in, one verdict out.

Each anti-spoofing model gives, per frame, softmax probabilities over (print, real, screen).
The fused score is the mean of every model's "real" probability over every scored frame; a
capture is live when it reaches the threshold. The attack type of a refused capture is the
attack class with the larger mean probability. No pixels here, no numpy needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

CLASSES = ("print", "real", "screen")
REAL = 1


class AttackType(StrEnum):
    PRINT = "print"  # paper: a printed photo
    SCREEN = "screen"  # a phone, tablet or monitor replaying a photo or video


@dataclass(frozen=True)
class PadScore:
    """One frame's output: per model, probabilities (print, real, screen) summing to 1."""

    probabilities: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        if not self.probabilities:
            raise ValueError("a PadScore needs the output of at least one model")
        for p in self.probabilities:
            if len(p) != 3 or any(not 0.0 <= v <= 1.0 for v in p) or abs(sum(p) - 1.0) > 1e-3:
                raise ValueError(f"expected 3 probabilities summing to 1, got {p}")

    @property
    def real(self) -> float:
        """The mean "real" probability over the models."""
        return sum(p[REAL] for p in self.probabilities) / len(self.probabilities)


@dataclass(frozen=True)
class PadVerdict:
    """The fused decision over a capture's frames.

    ``score``: the mean "real" probability; ``live``: ``score >= threshold``; ``attack``: the
    likelier attack type when not live; ``frames``: how many frames were scored.
    """

    live: bool
    score: float
    threshold: float
    attack: AttackType | None
    frames: int

    def describe(self) -> str:
        """For the audit log: never an image, only numbers."""
        if self.live:
            what = "live"
        elif self.attack is None:
            what = "not scored (no frame reached the anti-spoofing models)"
        else:
            what = f"{self.attack} attack"
        return (
            f"{what}: fused real score {self.score:.3f} (threshold {self.threshold:.2f}), "
            f"{self.frames} frames"
        )


def fuse(scores: Sequence[PadScore], threshold: float) -> PadVerdict:
    """The verdict over ``scores`` at ``threshold``.

    Raises:
        ValueError: no scores (a capture that was never scored is not evidence of life), or a
            threshold outside (0, 1).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
    if not scores:
        raise ValueError("no frame was scored by the anti-spoofing models")
    n = sum(len(s.probabilities) for s in scores)
    real = sum(p[REAL] for s in scores for p in s.probabilities) / n
    printed = sum(p[0] for s in scores for p in s.probabilities) / n
    screen = sum(p[2] for s in scores for p in s.probabilities) / n
    live = real >= threshold
    attack = None if live else (AttackType.PRINT if printed >= screen else AttackType.SCREEN)
    return PadVerdict(live, real, threshold, attack, len(scores))
