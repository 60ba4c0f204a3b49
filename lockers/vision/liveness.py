"""Active liveness: "turn your head left, then right", verified from the landmarks' pose over time.

A flat photo held up to the camera keeps its nose-to-eyes geometry when it is tilted or turned
(every landmark lies on one plane, so the yaw read from the 5 landmarks barely changes), whereas
a real head turning shows a large, smooth yaw swing. The check asks for a random order of turns
(so a recorded video of someone else's turns is unlikely to fit), each starting from a frontal
pose, each held for a few frames, all by one face that never leaves the frame.

Pure: no clock, no camera, no numpy. Callers feed :meth:`ActiveLiveness.observe` one
observation per frame with the frame's monotonic time in seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum


class Turn(StrEnum):
    """A head turn the user is asked for, in the user's own frame of reference."""

    LEFT = "left"
    RIGHT = "right"


class LivenessStatus(StrEnum):
    WAITING_FOR_FRONTAL = "waiting_for_frontal"  # face the camera before the next turn
    TURNING = "turning"  # the prompt "turn left/right" is showing
    PASSED = "passed"
    FAILED = "failed"


class LivenessFailure(StrEnum):
    TIMEOUT = "timeout"  # the turns did not happen in time
    FACE_LOST = "face_lost"  # the face left the frame for too long
    FACE_CHANGED = "face_changed"  # the face jumped or changed size: a swap, not a turn
    CROWD = "crowd"  # a second person appeared


@dataclass(frozen=True)
class LivenessConfig:
    """Thresholds of the check. Angles in degrees, times in seconds.

    ``turn_deg`` is the yaw a turn must reach (the quality gate's pose estimate saturates
    around 40°, so keep it well below); ``frontal_deg`` the yaw that counts as facing the camera;
    ``hold_frames`` how many frames in a row must show the turn; ``max_gap_s`` how long the face
    may be missing (blinks of the detector) before the check fails; ``max_jump`` the largest
    move of the face centre between frames as a fraction of the face width, and
    ``max_size_change`` the largest relative change of face width between frames (a swap of
    photo or person shows as a jump). ``mirrored``: the user's left is the image's left (a camera
    that mirrors its picture); default is a normal camera, where it is the image's right.
    """

    turns: int = 2
    turn_deg: float = 18.0
    frontal_deg: float = 10.0
    hold_frames: int = 2
    timeout_s: float = 15.0
    max_gap_s: float = 1.0
    max_jump: float = 0.6
    max_size_change: float = 0.35
    mirrored: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.frontal_deg < self.turn_deg < 60:
            raise ValueError(
                f"need 0 < frontal_deg < turn_deg < 60, got {self.frontal_deg}, {self.turn_deg}"
            )
        if self.turns < 1 or self.hold_frames < 1:
            raise ValueError("turns and hold_frames must be at least 1")


@dataclass(frozen=True)
class FaceSample:
    """One frame's subject as liveness sees it.

    ``yaw_deg``: + = the face turned towards the image's right (:class:`HeadPose` convention);
    ``center``: face box centre in frame pixels; ``width``: face box width in pixels.
    """

    yaw_deg: float
    center: tuple[float, float]
    width: float


@dataclass(frozen=True)
class LivenessState:
    """What the UI shows: the status, the turn being asked for, how many turns are done."""

    status: LivenessStatus
    prompt: Turn | None
    done: int
    total: int
    failure: LivenessFailure | None = None


@dataclass
class ActiveLiveness:
    """One liveness challenge. Create a new one per attempt.

    Args:
        config: thresholds.
        rng: picks the order of turns (pass ``random.Random(seed)`` in tests).
        started_at: monotonic seconds when the challenge was shown.
    """

    config: LivenessConfig
    started_at: float
    rng: random.Random = field(default_factory=random.Random)
    _plan: list[Turn] = field(init=False)
    _done: int = field(init=False, default=0)
    _status: LivenessStatus = field(init=False, default=LivenessStatus.WAITING_FOR_FRONTAL)
    _failure: LivenessFailure | None = field(init=False, default=None)
    _held: int = field(init=False, default=0)
    _last_seen: float = field(init=False)
    _last: FaceSample | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        first = self.rng.choice([Turn.LEFT, Turn.RIGHT])
        # Alternate so that every turn is a real swing through the frontal pose.
        other = Turn.RIGHT if first is Turn.LEFT else Turn.LEFT
        self._plan = [first if i % 2 == 0 else other for i in range(self.config.turns)]
        self._last_seen = self.started_at

    @property
    def plan(self) -> tuple[Turn, ...]:
        return tuple(self._plan)

    @property
    def state(self) -> LivenessState:
        prompt = (
            self._plan[self._done]
            if self._status in (LivenessStatus.TURNING, LivenessStatus.WAITING_FOR_FRONTAL)
            else None
        )
        return LivenessState(self._status, prompt, self._done, len(self._plan), self._failure)

    @property
    def finished(self) -> bool:
        return self._status in (LivenessStatus.PASSED, LivenessStatus.FAILED)

    def _fail(self, why: LivenessFailure) -> LivenessState:
        self._status, self._failure = LivenessStatus.FAILED, why
        return self.state

    def _signed_yaw(self, sample: FaceSample) -> float:
        """Yaw with + meaning "turned to the user's left"."""
        # A user turning to their left shows their face turned to the image's right on a normal
        # camera, and to the image's left on a mirrored one.
        return -sample.yaw_deg if self.config.mirrored else sample.yaw_deg

    def observe(
        self, sample: FaceSample | None, now: float, *, crowded: bool = False
    ) -> LivenessState:
        """Feed one frame: the subject's sample (``None`` when no face), its time in seconds.

        Returns the state after this frame; once PASSED or FAILED it no longer changes.
        """
        if self.finished:
            return self.state
        cfg = self.config
        if crowded:
            return self._fail(LivenessFailure.CROWD)
        if now - self.started_at > cfg.timeout_s:
            return self._fail(LivenessFailure.TIMEOUT)
        if sample is None:
            if now - self._last_seen > cfg.max_gap_s:
                return self._fail(LivenessFailure.FACE_LOST)
            return self.state
        if now - self._last_seen > cfg.max_gap_s:
            return self._fail(LivenessFailure.FACE_LOST)
        if self._last is not None and self._jumped(self._last, sample):
            return self._fail(LivenessFailure.FACE_CHANGED)
        self._last, self._last_seen = sample, now
        yaw = self._signed_yaw(sample)
        if self._status is LivenessStatus.WAITING_FOR_FRONTAL:
            if abs(yaw) <= cfg.frontal_deg:
                self._status, self._held = LivenessStatus.TURNING, 0
            return self.state
        wanted = self._plan[self._done]
        reached = yaw >= cfg.turn_deg if wanted is Turn.LEFT else yaw <= -cfg.turn_deg
        self._held = self._held + 1 if reached else 0
        if self._held >= cfg.hold_frames:
            self._done += 1
            if self._done == len(self._plan):
                self._status = LivenessStatus.PASSED
            else:
                self._status = LivenessStatus.WAITING_FOR_FRONTAL
            self._held = 0
        return self.state

    def _jumped(self, before: FaceSample, after: FaceSample) -> bool:
        width = max(1.0, before.width)
        dx = after.center[0] - before.center[0]
        dy = after.center[1] - before.center[1]
        moved = (dx * dx + dy * dy) ** 0.5 / width
        resized = abs(after.width - before.width) / width
        return moved > self.config.max_jump or resized > self.config.max_size_change
