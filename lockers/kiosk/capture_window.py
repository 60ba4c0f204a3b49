"""The register capture window: which good frames to enrol.

Neighbouring frames are near-duplicates and the first good frames are rarely the best, so the
kiosk watches a short window of good frames, keeps their aligned crops (in memory only, a
bounded number) with the quality gate's score, and at the end enrols the best few that are
far enough apart in time. Only those are embedded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lockers.vision.pad import PadScore


@dataclass
class Candidate:
    """A good frame of the window: its crop (or an embedding a caller already made)."""

    quality: float
    at: float
    frame_index: int | None
    aligned: npt.NDArray[np.uint8] | None
    embedding: npt.NDArray[np.float32] | None
    pad: PadScore | None = None  # the passive anti-spoofing score of this frame, when on


class CaptureWindow:
    """Good frames from the first one for ``duration_s``; :meth:`best` picks ``count``.

    Args:
        count: frames to enrol.
        min_interval_s: chosen frames are at least this far apart.
        duration_s: the window's length from its first good frame.
        max_frames: crops held at most (at least ``count + 1``); the worst frame that is not
            among the chosen ones is dropped first.
    """

    def __init__(
        self, count: int, min_interval_s: float, duration_s: float, max_frames: int
    ) -> None:
        self.count = count
        self.min_interval_s = min_interval_s
        self.duration_s = duration_s
        self.max_frames = max(max_frames, count + 1)
        self.frames: list[Candidate] = []
        self.started: float | None = None

    def __bool__(self) -> bool:
        return bool(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def clear(self) -> None:
        """Drop every crop; the next good frame starts a new window."""
        self.frames.clear()
        self.started = None

    def add(self, candidate: Candidate) -> None:
        if self.started is None:
            self.started = candidate.at
        self.frames.append(candidate)
        if len(self.frames) > self.max_frames:
            keep = {id(c) for c in self.best()}
            spare = [c for c in self.frames if id(c) not in keep]
            self.frames.remove(min(spare, key=lambda c: c.quality))

    def best(self) -> list[Candidate]:
        """Up to ``count`` best-quality frames, each ``min_interval_s`` from the others, in
        time order (greedy by quality)."""
        chosen: list[Candidate] = []
        for cand in sorted(self.frames, key=lambda c: (-c.quality, c.at)):
            if all(abs(cand.at - c.at) >= self.min_interval_s - 1e-9 for c in chosen):
                chosen.append(cand)
                if len(chosen) == self.count:
                    break
        return sorted(chosen, key=lambda c: c.at)

    def closed(self, now: float) -> bool:
        """Whether the window has lasted ``duration_s`` and holds ``count`` spaced frames."""
        return (
            self.started is not None
            and now - self.started >= self.duration_s
            and len(self.best()) >= self.count
        )
