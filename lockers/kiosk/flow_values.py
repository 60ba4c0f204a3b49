"""The kiosk flow's values: phases, problems, guidance, what a frame tells the flow, its
settings, the commands it hands to the services and the view the screens draw.

Frozen dataclasses and enums only; the state machine itself is :mod:`lockers.kiosk.flow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from lockers.config.liveness import DEFAULT_CONFIDENT
from lockers.kiosk.liveness_tiers import ChallengeProof
from lockers.vision.liveness import FaceSample, LivenessConfig, LivenessState, Turn
from lockers.vision.pad import PadScore, PadVerdict, fuse

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.vision.pipeline import Analysis


class Phase(StrEnum):
    HOME = "home"
    CONSENT = "consent"
    CAPTURE = "capture"  # collecting good frames for enrolment
    LIVENESS = "liveness"  # turn left/right, then look at the camera again
    # An unsure passive score for an existing rental: one head move before the door opens.
    CHALLENGE = "challenge"
    REGISTERING = "registering"  # the service allocates and opens (off the UI thread)
    REGISTER_OPEN = "register_open"  # locker N is open: put things in, close the door
    RETRIEVE_SCAN = "retrieve_scan"
    RETRIEVING = "retrieving"
    RETRIEVE_OPEN = "retrieve_open"  # locker N is open: take your things
    NOT_RECOGNISED = "not_recognised"
    DONE = "done"  # thank you; home shortly
    FAILED = "failed"  # see FlowView.problem


# Frames are analysed on these screens; the service runs on these; a door stands open on these.
ANALYSING_PHASES = frozenset({Phase.CAPTURE, Phase.LIVENESS, Phase.CHALLENGE, Phase.RETRIEVE_SCAN})
CALL_PHASES = frozenset({Phase.REGISTERING, Phase.RETRIEVING})
OPEN_PHASES = frozenset({Phase.REGISTER_OPEN, Phase.RETRIEVE_OPEN})
# Which flow a FAILED or DONE screen that follows these belongs to.
RETRIEVE_PHASES = frozenset(
    {Phase.RETRIEVE_SCAN, Phase.RETRIEVING, Phase.RETRIEVE_OPEN, Phase.NOT_RECOGNISED}
)


class Problem(StrEnum):
    """Why a flow stopped; each has its own message and offered actions in the UI."""

    CAPTURE_TIMEOUT = "capture_timeout"  # no clear picture in time: retry
    LIVENESS_FAILED = "liveness_failed"  # turns not seen / face changed: retry
    NO_FREE_LOCKER = "no_free_locker"
    DOOR_NOT_CONFIRMED = "door_not_confirmed"  # staff called
    NOT_OPENED = "not_opened"  # the board was never told: retry
    SERVICE_ERROR = "service_error"  # database or board failure: staff called
    # The passive anti-spoofing models saw paper or a screen: "please look at the camera
    # yourself"; nothing was stored (register) or opened (retrieve).
    PRESENTATION_ATTACK = "presentation_attack"
    # The face rents a locker in another kiosk's bank: nothing opened here; the screen names
    # that locker and kiosk (``detail``: the kiosk's name and location).
    AT_OTHER_KIOSK = "at_other_kiosk"


class Guidance(StrEnum):
    """Live hints during capture and scanning (besides the quality gate's issue codes)."""

    HOLD_STILL = "hold_still"  # a good frame: keep going
    STEP_BACK = "step_back"  # a second person: ask them to step back
    LOOK_AGAIN = "look_again"  # after the turns: look straight at the camera once more


@dataclass(frozen=True)
class FrameObservation:
    """What the flow needs from one analysed frame (no pixels are kept).

    ``issues``: the quality gate's issue codes (empty when the face passed);
    ``embedding``: ``(512,)`` float32 of norm 1 when the face passed and was embedded;
    ``yaw_deg``/``center``/``width``: the subject's pose and box (``None`` without a subject);
    ``pad``: the passive anti-spoofing models' output for the subject (``None`` when off).
    ``aligned``: the aligned ``(160, 160, 3)`` uint8 crop of a face that passed the gate. The
    capture window keeps it (in memory only) to embed the best frames at its end; it is dropped
    with every other face datum.
    """

    has_face: bool
    crowded: bool
    issues: tuple[str, ...] = ()
    embedding: npt.NDArray[np.float32] | None = None
    quality_score: float = 0.0
    yaw_deg: float | None = None
    center: tuple[float, float] | None = None
    width: float | None = None
    pad: PadScore | None = None
    pitch_deg: float = 0.0
    frame_index: int | None = None  # the camera's frame count, to say which frames were embedded
    aligned: npt.NDArray[np.uint8] | None = field(default=None, repr=False)

    @property
    def usable(self) -> bool:
        return self.embedding is not None and not self.issues and not self.crowded

    @property
    def passed(self) -> bool:
        """A single face that passed the quality gate (embedded or not)."""
        return self.has_face and not self.issues and not self.crowded

    @property
    def guidance(self) -> str | None:
        """The live hint this frame calls for (``None``: nothing to say)."""
        if self.crowded:
            return Guidance.STEP_BACK.value
        if self.issues:
            return self.issues[0]
        return Guidance.HOLD_STILL.value if self.passed else None

    def sample(self) -> FaceSample | None:
        if not self.has_face or self.yaw_deg is None or self.center is None or self.width is None:
            return None
        return FaceSample(self.yaw_deg, self.center, self.width, self.pitch_deg)

    @classmethod
    def from_analysis(cls, analysis: Analysis, frame_index: int | None = None) -> FrameObservation:
        """Reduce a pipeline :class:`~lockers.vision.pipeline.Analysis` to what the flow uses."""
        subject = analysis.subject
        pose = analysis.quality.pose
        return cls(
            has_face=subject is not None,
            crowded=analysis.multiple_faces,
            issues=tuple(analysis.quality.reasons),
            embedding=analysis.embedding if analysis.usable else None,
            quality_score=analysis.quality.score,
            yaw_deg=None if pose is None else pose.yaw,
            center=None if subject is None else subject.center,
            width=None if subject is None else subject.width,
            pad=analysis.pad,
            pitch_deg=0.0 if pose is None else pose.pitch,
            frame_index=frame_index,
            aligned=analysis.aligned if analysis.usable else None,
        )


@dataclass(frozen=True)
class FlowSettings:
    """Counts and times of the flow (seconds).

    ``liveness=None`` skips a registration's moves (``liveness.register_turns: 0``, or a
    replayed video in demo mode, which cannot turn its head).
    ``same_face_min_cosine``: every frontal frame of the challenge must be this close to the
    mean of the captured templates (or of a retrieve's probes) and to the challenge's first
    one; a frame after the turns is asked only when one of them came before the templates
    (identity continuity: binds the liveness check to the enrolled face).
    ``passive_threshold``: the fused anti-spoofing score a capture needs (register: the embedded
    frames and the head-turn frames; retrieve: the probe frames); ``None`` = passive check off.
    ``liveness`` is a registration's moves (``None`` with ``liveness.register_turns: 0``);
    ``move`` the one move an unsure capture for an existing rental must do (``None``: demo).
    """

    capture_frames: int = 5
    capture_min_interval_s: float = 0.15  # consecutive frames are near-duplicates
    # Register enrols the capture_frames best-quality frames (at least capture_min_interval_s
    # apart) of a window this long from the first good frame; only those are embedded, once,
    # at the end of the window. The window holds at most capture_pool frames' aligned crops
    # (at least capture_frames + 1).
    capture_window_s: float = 1.0
    capture_pool: int = 48
    capture_timeout_s: float = 25.0
    face_lost_reset_s: float = 2.0  # a face gone this long may come back as someone else
    liveness: LivenessConfig | None = field(default_factory=LivenessConfig)
    same_face_min_cosine: float = 0.5
    challenge_embed_interval_s: float = 0.5
    # Retrieve decides as soon as k mutually consistent frames are in (k of n, n at most):
    # frames are embedded until then and not after. Consecutive frames of one face agree far
    # above this; a frame below it (another face, a bad crop) means waiting for more frames.
    retrieve_agree_frames: int = 5
    retrieve_consistent_cosine: float = 0.8
    confirm_timeout_s: float = 8.0
    retrieve_frames: int = 5
    retrieve_timeout_s: float = 15.0
    idle_timeout_s: float = 30.0
    open_display_s: float = 25.0  # "close the door" screen, unless the door is seen closed
    result_display_s: float = 6.0  # done / failure screens before going home
    # How long a retrieve retry must wait is the service's to say (``retry_after_s`` of its
    # result): the flow only shows it. A scan that timed out never reached the service and
    # compared no face, so it costs no wait.
    passive_threshold: float | None = None
    move: LivenessConfig | None = field(default_factory=lambda: LivenessConfig(turns=1))
    # At or above it an existing rental's door opens without a move (liveness.confident).
    confident: float = DEFAULT_CONFIDENT

    def __post_init__(self) -> None:
        if self.capture_frames < 1 or self.retrieve_frames < 1:
            raise ValueError("capture_frames and retrieve_frames must be at least 1")

    def scaled(self, factor: float) -> FlowSettings:
        """Every timeout ``factor`` times longer (accessibility mode's ``time_factor``); the
        counts, thresholds and a move's random hold stay (the hold is the challenge itself)."""
        if factor == 1.0:
            return self
        return replace(
            self,
            capture_timeout_s=self.capture_timeout_s * factor,
            confirm_timeout_s=self.confirm_timeout_s * factor,
            retrieve_timeout_s=self.retrieve_timeout_s * factor,
            idle_timeout_s=self.idle_timeout_s * factor,
            open_display_s=self.open_display_s * factor,
            result_display_s=self.result_display_s * factor,
            liveness=_slower(self.liveness, factor),
            move=_slower(self.move, factor),
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, liveness: bool = True, passive: bool | None = None
    ) -> FlowSettings:
        """``passive``: score captures with the anti-spoofing models (default: unless
        ``liveness.passive`` is off)."""
        rec = settings.recognition
        live = settings.liveness
        passive = live.passive == "on" if passive is None else passive
        challenge = LivenessConfig(
            turns=max(1, live.register_turns),
            directions=tuple(Turn(d) for d in live.directions),
            turn_timeout_s=live.turn_timeout_s,
            hold_s=(live.hold_min_s, live.hold_max_s),
            # Room for every move (its hold included) plus the pauses between them.
            timeout_s=max(15.0, live.register_turns * (live.turn_timeout_s + 1.0)),
        )
        moves = liveness and live.register_turns > 0
        return cls(
            retrieve_frames=rec.frames_window,
            retrieve_agree_frames=rec.frames_to_agree,
            idle_timeout_s=settings.ui.idle_timeout_s,
            liveness=challenge if moves else None,
            move=challenge if liveness else None,
            same_face_min_cosine=live.same_face_min_cosine,
            passive_threshold=live.threshold if passive else None,
            confident=live.confident,
        )


def _slower(config: LivenessConfig | None, factor: float) -> LivenessConfig | None:
    if config is None:
        return None
    turn = config.turn_timeout_s
    return replace(
        config,
        timeout_s=config.timeout_s * factor,
        turn_timeout_s=None if turn is None else turn * factor,
    )


def pad_verdict(scores: list[PadScore | None], threshold: float | None) -> PadVerdict | None:
    """The fused verdict of ``scores``; ``None`` when the passive check is off. With the check
    on, a capture none of whose frames was scored fails (never assumed live)."""
    if threshold is None:
        return None
    scored = [score for score in scores if score is not None]
    if not scored:
        return PadVerdict(False, 0.0, threshold, None, 0)
    return fuse(scored, threshold)


@dataclass(frozen=True)
class RegisterRequest:
    """Run :meth:`RentalService.register` with these (consent was given on screen).

    ``request_id``: hand it back with the result (:meth:`KioskFlow.register_done`), so the
    result is applied to this request and no other.
    """

    templates: npt.NDArray[np.float32]  # (k, 512)
    qualities: npt.NDArray[np.float32]  # (k,)
    pad: PadVerdict | None = None  # the passive check's verdict; None = check off
    request_id: int = 0
    challenge: ChallengeProof | None = None  # the head moves seen (liveness_tiers)


@dataclass(frozen=True)
class RetrieveRequest:
    """Run :meth:`RentalService.retrieve` with these consecutive frames' embeddings.

    ``final=False``: an early look at ``k`` consistent frames before all ``n`` are in; the
    service opens only on an accept and otherwise answers ``UNDECIDED`` (not a failure), and
    the flow goes on to ``n`` frames. ``request_id``: as for :class:`RegisterRequest`.
    """

    probes: npt.NDArray[np.float32]  # (n, 512)
    pad: PadVerdict | None = None  # the passive check's verdict; None = check off
    final: bool = True
    request_id: int = 0
    challenge: ChallengeProof | None = None  # the head move seen after CHALLENGE_REQUIRED


@dataclass(frozen=True, eq=False)
class EmbedRequest:
    """Embed these aligned faces (the best frames of the capture window) off the UI thread
    and hand the embeddings back with :meth:`KioskFlow.faces_embedded` (``job`` says which
    request they answer; a late answer to an abandoned request is ignored)."""

    job: int
    faces: npt.NDArray[np.uint8] = field(repr=False)  # (m, 160, 160, 3)


Command = RegisterRequest | RetrieveRequest | EmbedRequest


@dataclass(frozen=True)
class FlowView:
    """An immutable snapshot for the screens.

    ``guidance``: a :class:`Guidance` or quality-issue code to show now (or ``None``);
    ``captured``/``needed``: enrolment progress; ``locker_label``: the locker concerned;
    ``retry_in_s``: seconds before a retry is allowed (0 = now); ``can_retry``: whether the
    screen offers a retry at all; ``time_warning``: the screen's timeout is near (accessibility
    mode warns before it and offers "more time", :meth:`FlowCore.more_time`).
    """

    phase: Phase = Phase.HOME
    guidance: str | None = None
    captured: int = 0
    needed: int = 0
    liveness: LivenessState | None = None
    locker_label: str | None = None
    reopened: bool = False
    problem: Problem | None = None
    detail: str = ""
    retry_in_s: float = 0.0
    can_retry: bool = False
    retrieving: bool = False  # which flow a FAILED / DONE screen belongs to
    time_warning: bool = False
