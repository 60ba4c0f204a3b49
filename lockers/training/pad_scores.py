"""The scores of one source (a folder or a video) of the PAD evaluation, per frame and per
presentation: what was scored, what never reached the check, and how the frames group into
presentations (see :mod:`lockers.training.pad_eval` for the terms)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from lockers.training.pad_decision import (
    PresentationRule,
    ThresholdRule,
    count_errors,
    fuse_frames,
)

BINS = 10


@dataclass(frozen=True)
class FrameScore:
    """One image or video frame of a source and what became of it.

    ``sequence``: the frames that belong together (a video, one attack variant of a video, the
    variants of one still-photo attack, or a single photo); ``windowed``: a video sequence, cut
    into windows of consecutive frames; ``unit``: what the calibration split keeps together
    (a person's folder; for videos the window). ``score`` is None when the frame was not scored
    (``status`` "no_face" or "gated").
    """

    name: str
    sequence: str
    windowed: bool
    unit: str
    order: int
    score: float | None
    status: str = "scored"

    @property
    def origin(self) -> str:
        """Where the frame (or the picture an attack shows) came from: a video's name, or
        "photos" for still images."""
        if not self.windowed:
            return "photos"
        return self.sequence.split(" variant ", 1)[0]


@dataclass
class SourceScores:
    """The fused "real" score of every presentation of one source (a folder or a video).

    At the frame level (``level == "frame"``) each score is one frame; :meth:`presentations`
    gives the same source at the presentation level. ``units`` (parallel to ``scores`` when
    known) name what the calibration split keeps together.
    """

    name: str
    bona_fide: bool
    scores: list[float] = field(default_factory=list)
    no_face: int = 0
    crowded: int = 0
    gated: int = 0
    frames: list[FrameScore] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    level: str = "frame"
    frame_counts: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)

    def errors(self, threshold: float) -> int:
        """Attacks accepted (score >= threshold) or real faces refused (score < threshold)."""
        return self.wrong_decisions(ThresholdRule(threshold))

    def wrong_decisions(self, rule: PresentationRule) -> int:
        """Attacks ``rule`` accepts, or real faces it refuses."""
        return count_errors(rule, self.scores, self.bona_fide)

    def rate(self, threshold: float) -> float:
        return self.errors(threshold) / len(self.scores) if self.scores else float("nan")

    def histogram(self) -> list[int]:
        counts, _ = np.histogram(self.scores, bins=BINS, range=(0.0, 1.0))
        return [int(c) for c in counts]

    def presentations(self, window: int) -> SourceScores:
        """This source per presentation: the mean score over the scored frames of each.

        A video sequence's scored frames are cut, in order, into windows of ``window`` frames
        (as the kiosk's k-of-n window fills with frames that passed the gate; a shorter last
        window is kept: a presentation that ended early). Any other sequence is one
        presentation. A still sequence without a scored frame counts as ``gated`` (a face was
        found but gated) or ``no_face``; a video's unscored frames count as that many windows
        (rounded up).
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        by_sequence: dict[str, list[FrameScore]] = {}
        for frame in self.frames:
            by_sequence.setdefault(frame.sequence, []).append(frame)
        out = SourceScores(self.name, self.bona_fide, level="presentation")
        for frames in by_sequence.values():
            frames = sorted(frames, key=lambda f: f.order)
            scored = [f for f in frames if f.score is not None]
            if not frames[0].windowed:
                if scored:
                    out._add([f.score for f in scored if f.score is not None], frames[0])
                elif any(f.status == "gated" for f in frames):
                    out.gated += 1
                else:
                    out.no_face += 1
                continue
            for start in range(0, len(scored), window):
                chunk = scored[start : start + window]
                out._add([f.score for f in chunk if f.score is not None], chunk[0])
            # The video's frames that never reached the check, in windows' worth.
            out.gated += math.ceil(sum(f.status == "gated" for f in frames) / window)
            out.no_face += math.ceil(sum(f.status == "no_face" for f in frames) / window)
        return out

    def _add(self, frame_scores: list[float], first: FrameScore) -> None:
        self.scores.append(fuse_frames(frame_scores))
        self.units.append(first.unit)
        self.origins.append(first.origin)
        self.frame_counts.append(len(frame_scores))

    def by_origin(self) -> list[SourceScores]:
        """The scores split by where they came from (an attack folder holds attacks made from
        photos and from video frames), in order; one entry when there is one origin."""
        if len(self.origins) != len(self.scores):
            return [self]
        out: dict[str, SourceScores] = {}
        for score, origin in zip(self.scores, self.origins, strict=True):
            part = out.setdefault(
                origin, SourceScores(f"{self.name} from {origin}", self.bona_fide, level=self.level)
            )
            part.scores.append(score)
            part.origins.append(origin)
        return list(out.values())

    def split(self) -> tuple[SourceScores, SourceScores]:
        """Two halves that share no unit (person or video window), in order: the first units
        until at least half of the scores are in, and the rest."""
        known = len(self.units) == len(self.scores)
        units = self.units if known else [str(i) for i in range(len(self.scores))]
        order = list(dict.fromkeys(units))
        first: set[str] = set()
        count = 0
        for unit in order:
            if count * 2 >= len(self.scores):
                break
            first.add(unit)
            count += units.count(unit)
        a = SourceScores(f"{self.name} (1st half)", self.bona_fide, level=self.level)
        b = SourceScores(f"{self.name} (2nd half)", self.bona_fide, level=self.level)
        for score, unit in zip(self.scores, units, strict=True):
            half = a if unit in first else b
            half.scores.append(score)
            half.units.append(unit)
        return a, b
