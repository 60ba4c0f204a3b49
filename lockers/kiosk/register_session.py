"""One customer's registration between consent and the service call: the capture window, the
active liveness challenge and the same face again.

The face data (crops, embeddings, anti-spoofing scores) live here, in memory only, until
:meth:`RegisterSession.request` hands them to the service or :meth:`RegisterSession.clear`
drops them. The phase router (:class:`~lockers.kiosk.flow.KioskFlow`) decides the screens;
this class decides what a frame means for the registration.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lockers.kiosk.capture_window import Candidate, CaptureWindow
from lockers.kiosk.flow_values import (
    EmbedRequest,
    FlowSettings,
    FrameObservation,
    Guidance,
    RegisterRequest,
    pad_verdict,
)
from lockers.vision.liveness import ActiveLiveness, LivenessState, LivenessStatus
from lockers.vision.pad import PadScore


@dataclass(frozen=True)
class ChallengeStep:
    """What one frame of the challenge (or its confirming look) did.

    ``failed``: the liveness failure's detail (the registration stops); ``ready``: the
    confirming frame matched and the request can go; otherwise ``state``/``guidance`` update
    the screen, and ``confirm_started`` says the turns were just passed (the confirming look
    has its own timeout).
    """

    failed: str | None = None
    ready: bool = False
    state: LivenessState | None = None
    guidance: str | None = None
    confirm_started: bool = False


class RegisterSession:
    """The capture window and the challenge of one registration. Not thread-safe."""

    def __init__(self, settings: FlowSettings, rng: random.Random) -> None:
        self.settings = settings
        self._rng = rng
        self._templates: list[npt.NDArray[np.float32]] = []
        self._qualities: list[float] = []
        self._frames: list[int | None] = []  # frame indices of the held templates
        # Passive anti-spoofing scores of the embedded frames and of every head-turn frame;
        # numbers only, never pixels.
        self._pad_scores: list[PadScore | None] = []
        self._window = CaptureWindow(
            settings.capture_frames,
            settings.capture_min_interval_s,
            settings.capture_window_s,
            settings.capture_pool,
        )
        self._face_seen = 0.0
        self._embed_job = 0
        self._pending: list[Candidate] | None = None  # chosen frames awaiting their embeddings
        self._liveness: ActiveLiveness | None = None
        # The first usable embedding seen during the challenge (identity continuity).
        self._challenge_first: npt.NDArray[np.float32] | None = None
        self._challenge_embedded_at = -float("inf")

    # -- state -------------------------------------------------------------------------------

    @property
    def holds_face_data(self) -> bool:
        return bool(self._templates or self._window or self._pending)

    @property
    def captured(self) -> int:
        """Good, spaced frames of the window so far (the screen's progress)."""
        return len(self._window.best())

    @property
    def embedding_pending(self) -> bool:
        """The window is closed and its best frames are being embedded."""
        return self._pending is not None

    @property
    def liveness(self) -> ActiveLiveness | None:
        return self._liveness

    def clear(self) -> None:
        """Drop every face datum; a late embedding answer then finds no job and is ignored."""
        self._reset_capture()
        self._pending = None
        self._liveness = None
        self._challenge_first = None
        self._challenge_embedded_at = -float("inf")

    def _reset_capture(self) -> None:
        """Whatever was captured may be someone else's: start the window again."""
        self._templates.clear()
        self._qualities.clear()
        self._pad_scores.clear()
        self._frames.clear()
        self._window.clear()

    def start(self, now: float) -> None:
        self.clear()
        self._face_seen = now

    def wants_embedding(self, now: float) -> bool:
        """During the turns only a frontal frame now and then (identity continuity); after
        them the confirming frame, once the captured templates are in."""
        live = self._liveness
        if live is None:
            return False
        if live.finished:
            return self._pending is None
        # The first frontal frame, then one every challenge_embed_interval_s: a swap is caught
        # in time without embedding every frame.
        return (
            self._challenge_first is None
            or now - self._challenge_embedded_at >= self.settings.challenge_embed_interval_s
        )

    # -- the capture window ------------------------------------------------------------------

    def capture(self, obs: FrameObservation, now: float) -> bool:
        """Feed a frame to the window; ``True`` once it is closed (call :meth:`close_window`)."""
        if self._pending is not None:
            return False  # the window is closed; its best frames are being embedded
        if obs.has_face:
            self._face_seen = now
        elif now - self._face_seen > self.settings.face_lost_reset_s and self._window:
            self._reset_capture()  # whoever comes back may be someone else
        if obs.crowded:
            # The templates must all be one person's: start again once alone.
            self._reset_capture()
        if obs.passed and (obs.aligned is not None or obs.embedding is not None):
            embedding = None if obs.embedding is None else obs.embedding.astype(np.float32)
            self._window.add(
                Candidate(obs.quality_score, now, obs.frame_index, obs.aligned, embedding, obs.pad)
            )
        return self._window.closed(now)

    def close_window(self, now: float) -> tuple[int, EmbedRequest | None]:
        """Keep the window's best frames (the others' crops are dropped now) and start the
        challenge when there is one. Returns how many frames were chosen and the request to
        embed those that are not embedded yet."""
        chosen = self._window.best()
        self._window.clear()
        self._qualities = [c.quality for c in chosen]
        self._frames = [c.frame_index for c in chosen]
        self._pad_scores = [c.pad for c in chosen]
        command: EmbedRequest | None = None
        if all(c.embedding is not None for c in chosen):
            self._templates = [c.embedding for c in chosen if c.embedding is not None]
        else:
            self._embed_job += 1
            self._pending = chosen
            faces = np.stack(
                [c.aligned for c in chosen if c.embedding is None and c.aligned is not None]
            )
            command = EmbedRequest(self._embed_job, faces)
        if self.settings.liveness is not None:
            # The turns start now; the best frames are embedded meanwhile.
            self._liveness = ActiveLiveness(self.settings.liveness, started_at=now, rng=self._rng)
        return len(chosen), command

    def awaits(self, job: int) -> bool:
        """Whether embedding job ``job`` is the one this registration waits for."""
        return self._pending is not None and job == self._embed_job

    def faces_embedded(self, job: int, embeddings: npt.NDArray[np.float32]) -> bool:
        """Take the embeddings of job ``job``; ``False`` when nobody waits for them."""
        pending = self._pending
        if pending is None or job != self._embed_job:
            return False
        rows = iter(np.asarray(embeddings, dtype=np.float32))
        self._templates = [c.embedding if c.embedding is not None else next(rows) for c in pending]
        self._pending = None
        return True

    # -- the challenge -----------------------------------------------------------------------

    def challenge(self, obs: FrameObservation, now: float) -> ChallengeStep:
        """Feed a frame of the liveness phase (the turns, then the confirming look)."""
        live = self._liveness
        if live is None:
            return ChallengeStep(failed="no challenge")
        if not live.finished:
            return self._turn(live, obs, now)
        # Passed: one more good frontal frame, which must be the face we captured.
        if obs.crowded:
            return ChallengeStep(failed="crowd")
        if not obs.usable or obs.embedding is None or self._pending is not None:
            return ChallengeStep(guidance=obs.guidance or Guidance.LOOK_AGAIN.value)
        first = self._challenge_first
        continuous = first is not None and (
            float(obs.embedding @ first) >= self.settings.same_face_min_cosine
        )
        if not continuous or not self._same_face(obs.embedding) or not self._same_face(first):
            return ChallengeStep(failed="face_changed")
        self._templates.append(obs.embedding.astype(np.float32))
        self._qualities.append(obs.quality_score)
        self._pad_scores.append(obs.pad)
        self._frames.append(obs.frame_index)
        return ChallengeStep(ready=True)

    def _turn(self, live: ActiveLiveness, obs: FrameObservation, now: float) -> ChallengeStep:
        if not obs.crowded:
            self._pad_scores.append(obs.pad)
            if obs.usable and obs.embedding is not None:
                # Every frontal frame of the challenge must be the enrolled face: someone else
                # (or another photo) stepping in between the moves fails here. The captured
                # templates may still be on their way (EmbedRequest); the first challenge
                # frame is then checked against them after the turns.
                if self._templates and not self._same_face(obs.embedding):
                    return ChallengeStep(failed="face_changed")
                self._challenge_embedded_at = now
                if self._challenge_first is None:
                    self._challenge_first = obs.embedding.astype(np.float32)
        state = live.observe(obs.sample(), now, crowded=obs.crowded)
        if state.status is LivenessStatus.FAILED:
            return ChallengeStep(failed=str(state.failure))
        passed = state.status is LivenessStatus.PASSED
        guidance = Guidance.STEP_BACK.value if obs.crowded else None
        return ChallengeStep(
            state=state,
            guidance=Guidance.LOOK_AGAIN.value if passed else guidance,
            confirm_started=passed,
        )

    def challenge_tick(self, now: float, in_phase_s: float) -> str | None:
        """Time passing without frames; the failure's detail when the challenge failed."""
        live = self._liveness
        if live is not None and not live.finished:
            # No frame is a missing face: the camera stalled or the user walked away.
            state = live.observe(None, now)
            return str(state.failure) if state.status is LivenessStatus.FAILED else None
        if in_phase_s > self.settings.confirm_timeout_s:
            return "timeout"
        return None

    def _same_face(self, embedding: npt.NDArray[np.float32]) -> bool:
        """Whether ``embedding`` is close enough to the mean of the captured templates."""
        mean = np.mean(np.stack(self._templates), axis=0)
        cosine = float(embedding @ (mean / max(1e-6, float(np.linalg.norm(mean)))))
        return cosine >= self.settings.same_face_min_cosine

    # -- the request -------------------------------------------------------------------------

    @property
    def ready_without_challenge(self) -> bool:
        """No challenge and every template embedded: the request can go."""
        return self.settings.liveness is None and self._pending is None and bool(self._templates)

    def request(self, request_id: int) -> tuple[RegisterRequest, list[int | None]]:
        """The service request (it now owns the data: this session keeps none) and the frame
        indices it was made of."""
        request = RegisterRequest(
            templates=np.stack(self._templates).astype(np.float32),
            qualities=np.asarray(self._qualities, dtype=np.float32),
            pad=pad_verdict(self._pad_scores, self.settings.passive_threshold),
            request_id=request_id,
        )
        frames = list(self._frames)
        self.clear()
        return request, frames
