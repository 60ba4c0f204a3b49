"""Active liveness: "turn your head left, up, right…", checked from the landmarks' pose over time.

A flat photo held up to the camera keeps its nose-to-eyes geometry when it is tilted or turned
(every landmark lies on one plane, so the yaw and pitch read from the 5 landmarks barely
change), whereas a real head turning shows a large, smooth swing. The check asks for a random
sequence of moves, each starting from a frontal pose, each held for a while, all by one face
that never leaves the frame.

Against a replayed video of someone's turns: the kiosk draws ``turns`` moves from
``directions`` (left, right, up, down) with no immediate repeat, so with 3 moves from 4
directions there are 36 sequences, not the 2 of "left-right or right-left"; each move must be
held for a random time the user is shown, and done within ``turn_timeout_s``. The flow adds
identity continuity (every frontal frame of the challenge, the first and the last, must be the
enrolled face), see :mod:`lockers.kiosk.flow`.

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
    UP = "up"  # chin up
    DOWN = "down"  # chin down


class LivenessStatus(StrEnum):
    WAITING_FOR_FRONTAL = "waiting_for_frontal"  # face the camera before the next turn
    TURNING = "turning"  # the prompt "turn left/right" is showing
    PASSED = "passed"
    FAILED = "failed"


class LivenessFailure(StrEnum):
    TIMEOUT = "timeout"  # the turns did not happen in time
    FACE_LOST = "face_lost"  # the face left the frame for too long
    FACE_CHANGED = "face_changed"  # the face jumped or changed size: a swap, not a turn
    TURN_TIMEOUT = "turn_timeout"  # one move took longer than turn_timeout_s
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

    ``directions``: the moves the sequence is drawn from (no move twice in a row); ``tilt_deg``:
    the pitch an up/down move must reach; ``turn_timeout_s``: the most one move may take from
    its prompt (``None``: only the overall ``timeout_s``); ``hold_s``: the range a random hold
    time is drawn from per move (shown to the user); the move counts once held that long *and*
    for ``hold_frames`` frames.
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
    directions: tuple[Turn, ...] = (Turn.LEFT, Turn.RIGHT)
    tilt_deg: float = 12.0
    turn_timeout_s: float | None = None
    hold_s: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not 0 < self.frontal_deg < self.turn_deg < 60:
            raise ValueError(
                f"need 0 < frontal_deg < turn_deg < 60, got {self.frontal_deg}, {self.turn_deg}"
            )
        if self.turns < 1 or self.hold_frames < 1:
            raise ValueError("turns and hold_frames must be at least 1")
        if len(set(self.directions)) < 2:
            raise ValueError("directions needs at least two different moves")
        if not 0 <= self.hold_s[0] <= self.hold_s[1]:
            raise ValueError(f"need 0 <= hold_s[0] <= hold_s[1], got {self.hold_s}")
        if not 0 < self.tilt_deg < 60:
            raise ValueError(f"tilt_deg must lie in (0, 60), got {self.tilt_deg}")


@dataclass(frozen=True)
class FaceSample:
    """One frame's subject as liveness sees it.

    ``yaw_deg``: + = the face turned towards the image's right (:class:`HeadPose` convention);
    ``center``: face box centre in frame pixels; ``width``: face box width in pixels;
    ``pitch_deg``: + = chin up.
    """

    yaw_deg: float
    center: tuple[float, float]
    width: float
    pitch_deg: float = 0.0


@dataclass(frozen=True)
class LivenessState:
    """What the UI shows: the status, the turn being asked for, how many turns are done, and
    how long the current move must be held (seconds, 0 = a moment)."""

    status: LivenessStatus
    prompt: Turn | None
    done: int
    total: int
    failure: LivenessFailure | None = None
    hold_s: float = 0.0


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
    _holds: list[float] = field(init=False)
    _held_since: float | None = field(init=False, default=None)
    _turn_started: float = field(init=False)

    def __post_init__(self) -> None:
        # No move twice in a row, so that every move is a real swing through the frontal pose
        # (with the two directions left and right, this alternates).
        directions = list(self.config.directions)
        plan = [self.rng.choice(directions)]
        while len(plan) < self.config.turns:
            plan.append(self.rng.choice([d for d in directions if d is not plan[-1]]))
        self._plan = plan
        low, high = self.config.hold_s
        self._holds = [
            round(self.rng.uniform(low, high), 1) if high > 0 else 0.0 for _ in self._plan
        ]
        self._last_seen = self.started_at
        self._turn_started = self.started_at

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
        hold = self._holds[self._done] if prompt is not None else 0.0
        return LivenessState(self._status, prompt, self._done, len(self._plan), self._failure, hold)

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
        if cfg.turn_timeout_s is not None and now - self._turn_started > cfg.turn_timeout_s:
            return self._fail(LivenessFailure.TURN_TIMEOUT)
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
        pitch = sample.pitch_deg
        if self._status is LivenessStatus.WAITING_FOR_FRONTAL:
            if abs(yaw) <= cfg.frontal_deg and abs(pitch) <= cfg.frontal_deg:
                self._status, self._held, self._held_since = LivenessStatus.TURNING, 0, None
            return self.state
        wanted = self._plan[self._done]
        reached = {
            Turn.LEFT: yaw >= cfg.turn_deg,
            Turn.RIGHT: yaw <= -cfg.turn_deg,
            Turn.UP: pitch >= cfg.tilt_deg,
            Turn.DOWN: pitch <= -cfg.tilt_deg,
        }[wanted]
        if reached:
            self._held += 1
            self._held_since = now if self._held_since is None else self._held_since
        else:
            self._held, self._held_since = 0, None
        held_long = (
            self._held_since is not None and now - self._held_since >= self._holds[self._done]
        )
        if self._held >= cfg.hold_frames and held_long:
            self._done += 1
            if self._done == len(self._plan):
                self._status = LivenessStatus.PASSED
            else:
                self._status = LivenessStatus.WAITING_FOR_FRONTAL
            self._held, self._held_since, self._turn_started = 0, None, now
        return self.state

    def _jumped(self, before: FaceSample, after: FaceSample) -> bool:
        width = max(1.0, before.width)
        dx = after.center[0] - before.center[0]
        dy = after.center[1] - before.center[1]
        moved = (dx * dx + dy * dy) ** 0.5 / width
        resized = abs(after.width - before.width) / width
        return moved > self.config.max_jump or resized > self.config.max_size_change
