"""The one head move an unsure capture must do before a door opens for an existing rental.

The service answered ``CHALLENGE_REQUIRED`` (see :mod:`~lockers.kiosk.liveness_tiers`): the
flow keeps the request it sent (its face data, in memory only), asks for one move (a random
direction and hold from ``liveness.directions`` and the hold range, within
``liveness.turn_timeout_s``), and sends the same request again with a
:class:`~lockers.kiosk.liveness_tiers.ChallengeProof`, passed or not: the service decides what
a failed move costs. Identity continuity as at registration: every frontal frame embedded
during the move must be the face of the request, at least one must be seen, and the face may
not jump or leave the frame (the tracker's check in :class:`ActiveLiveness`). The move's frames
are passively scored; below the threshold the move does not count.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from lockers.kiosk.flow_values import (
    FrameObservation,
    RegisterRequest,
    RetrieveRequest,
    pad_verdict,
)
from lockers.kiosk.liveness_tiers import ChallengeProof
from lockers.vision.liveness import ActiveLiveness, LivenessConfig, LivenessState, LivenessStatus
from lockers.vision.pad import PadScore

DoorRequest = RegisterRequest | RetrieveRequest


def one_move(config: LivenessConfig) -> LivenessConfig:
    """The challenge of an unsure capture: one move, its own timeout."""
    limit = config.turn_timeout_s if config.turn_timeout_s is not None else config.timeout_s
    return replace(config, turns=1, timeout_s=limit + 1.0)


def identity_of(request: DoorRequest) -> npt.NDArray[np.float32]:
    """The unit mean of the request's embeddings: the face the move must be done by."""
    vectors = request.templates if isinstance(request, RegisterRequest) else request.probes
    mean = np.mean(np.asarray(vectors, dtype=np.float32), axis=0)
    return (mean / max(1e-6, float(np.linalg.norm(mean)))).astype(np.float32)


class MoveChallenge:
    """One move for one held request. Not thread-safe; create one per challenge."""

    def __init__(
        self,
        request: DoorRequest,
        config: LivenessConfig,
        *,
        now: float,
        rng: random.Random,
        same_face_min_cosine: float,
        passive_threshold: float | None,
        embed_interval_s: float,
    ) -> None:
        self.request = request
        self._identity = identity_of(request)
        self._liveness = ActiveLiveness(one_move(config), started_at=now, rng=rng)
        self._min_cosine = same_face_min_cosine
        self._threshold = passive_threshold
        self._embed_interval_s = embed_interval_s
        self._pad_scores: list[PadScore | None] = []
        self._confirmed = False  # a frontal frame of the move was the request's face
        self._embedded_at = -float("inf")

    @property
    def state(self) -> LivenessState:
        return self._liveness.state

    def wants_embedding(self, now: float) -> bool:
        """A frontal frame now and then (identity continuity); every frame until one was."""
        return not self._confirmed or now - self._embedded_at >= self._embed_interval_s

    def frame(self, obs: FrameObservation, now: float) -> ChallengeProof | None:
        """Feed a frame; the proof once the move is decided (passed or failed)."""
        if obs.crowded:
            return ChallengeProof(False, detail="crowd")
        if obs.has_face:
            self._pad_scores.append(obs.pad)
        if obs.usable and obs.embedding is not None:
            if float(obs.embedding @ self._identity) < self._min_cosine:
                return ChallengeProof(False, detail="face_changed")
            self._confirmed, self._embedded_at = True, now
        live = self._liveness
        state = live.state if live.finished else live.observe(obs.sample(), now)
        if state.status is LivenessStatus.FAILED:
            return ChallengeProof(False, detail=str(state.failure))
        if state.status is LivenessStatus.PASSED and self._confirmed:
            return self._passed()
        return None  # turning, or passed and looking back at the camera to be recognised

    def tick(self, now: float) -> ChallengeProof | None:
        """Time passing without frames: the failed proof once the move timed out."""
        live = self._liveness
        if not live.finished:
            state = live.observe(None, now)
            if state.status is LivenessStatus.FAILED:
                return ChallengeProof(False, detail=str(state.failure))
        elif now - live.started_at > live.config.timeout_s:
            return ChallengeProof(False, detail="face_not_confirmed")
        return None

    def _passed(self) -> ChallengeProof:
        verdict = pad_verdict(self._pad_scores, self._threshold)
        if verdict is not None and not verdict.live:
            return ChallengeProof(True, pad=verdict, detail=f"{verdict.attack} during the move")
        return ChallengeProof(True, pad=verdict)

    def submit(self, proof: ChallengeProof, request_id: int) -> DoorRequest:
        """The held request again, with the proof and the id of the new call."""
        return replace(self.request, challenge=proof, request_id=request_id)
