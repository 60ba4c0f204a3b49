"""One customer's retrieve scan: the probe frames until the decision.

Frames are embedded until ``k`` mutually consistent ones (an early look, sent once) or the
last ``n`` (final) decide; the probes and their anti-spoofing scores live here, in memory only,
until the request takes them or :meth:`RetrieveSession.clear` drops them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lockers.kiosk.flow_values import FlowSettings, FrameObservation, RetrieveRequest, pad_verdict
from lockers.vision.pad import PadScore


class RetrieveSession:
    """The probes of one retrieve scan. Not thread-safe."""

    def __init__(self, settings: FlowSettings) -> None:
        self.settings = settings
        self._probes: list[npt.NDArray[np.float32]] = []
        self._pad_scores: list[PadScore | None] = []
        self._frames: list[int | None] = []  # frame indices of the held probes
        self._face_seen = 0.0
        self._early_tried = False  # the early k-frame look was already answered

    @property
    def holds_face_data(self) -> bool:
        return bool(self._probes)

    @property
    def captured(self) -> int:
        return len(self._probes)

    def clear(self) -> None:
        self._probes.clear()
        self._pad_scores.clear()
        self._frames.clear()
        self._early_tried = False

    def start(self, now: float) -> None:
        self.clear()
        self._face_seen = now

    def scan(
        self, obs: FrameObservation, now: float
    ) -> tuple[RetrieveRequest, list[int | None]] | None:
        """Feed a frame; once the frames decide, the request (without its id yet) and the
        frame indices it was made of. A final request takes the probes with it; an early look
        leaves them here in case more are needed."""
        if obs.has_face:
            self._face_seen = now
        lost = not obs.has_face and now - self._face_seen > self.settings.face_lost_reset_s
        if obs.crowded or lost:
            # Never decide on a crowded frame, nor mix frames of two people.
            self.clear()
        elif obs.usable and obs.embedding is not None:
            self._probes.append(obs.embedding.astype(np.float32))
            self._pad_scores.append(obs.pad)
            self._frames.append(obs.frame_index)
        decision = self._decisive_probes()
        if decision is None:
            return None
        probes, final = decision
        request = RetrieveRequest(
            np.stack(probes).astype(np.float32),
            pad=pad_verdict(self._pad_scores[-len(probes) :], self.settings.passive_threshold),
            final=final,
        )
        frames = self._frames[-len(probes) :]
        if final:
            self.clear()
        else:
            self._early_tried = True
        return request, frames

    def _decisive_probes(self) -> tuple[list[npt.NDArray[np.float32]], bool] | None:
        """The probes to send now and whether they are final, or ``None`` to embed more.

        ``k`` consistent frames (every pair at least ``retrieve_consistent_cosine``) are sent
        early, once (not final: the service opens only if they give an accept, as its k-of-n
        vote would); otherwise, and after an early look that did not decide, the last ``n``
        frames (final: the service says match or no match).
        """
        s = self.settings
        k = min(s.retrieve_agree_frames, s.retrieve_frames)
        if len(self._probes) >= s.retrieve_frames:
            return self._probes[-s.retrieve_frames :], True
        if not self._early_tried and len(self._probes) >= k:
            last = np.stack(self._probes[-k:])
            if float(np.min(last @ last.T)) >= s.retrieve_consistent_cosine:
                return self._probes[-k:], False
        return None
