"""The kiosk flow's state and its transitions: what :class:`~lockers.kiosk.flow.KioskFlow`
holds (the sessions, the running door call, the request it answers, a pending head move), what
the screens read, and the moves between phases every event handler shares.

:mod:`~lockers.kiosk.flow` routes the events (taps, frames, results, time) through these.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from typing import TypeVar

from lockers.kiosk.flow_requests import RequestTracker
from lockers.kiosk.flow_values import (
    CALL_PHASES,
    OPEN_PHASES,
    RETRIEVE_PHASES,
    Command,
    FlowSettings,
    FlowView,
    Phase,
    Problem,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.kiosk.liveness_tiers import ChallengeProof, Tier, tier_of
from lockers.kiosk.move_challenge import DoorRequest, MoveChallenge
from lockers.kiosk.register_session import RegisterSession
from lockers.kiosk.retrieve_session import RetrieveSession
from lockers.kiosk.retry_policy import RETRYABLE, RetryGate

log = logging.getLogger("lockers.kiosk.flow")
_Request = TypeVar("_Request", RegisterRequest, RetrieveRequest)


class FlowCore:
    """The flow's state and shared transitions. Not thread-safe (the UI thread's)."""

    def __init__(self, settings: FlowSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.base_settings = settings  # before accessibility mode's time factor
        self._warn_before_s: float | None = None  # accessibility mode: warn, then expire
        self._view = FlowView()
        self._phase_since = 0.0
        self._activity = 0.0
        self._rng = rng or random.Random()
        self._register = RegisterSession(settings, self._rng)
        self._retrieve = RetrieveSession(settings)
        self._gate = RetryGate()
        self._embedded: list[int | None] = []
        self._calls = RequestTracker()  # the running call that can open a door
        # An unsure door request, kept until its answer in case it must be sent again after
        # a head move (only then: any other request is not kept once handed over).
        self._held: DoorRequest | None = None
        self._move: MoveChallenge | None = None  # the head move of an unsure capture
        self._outbox: Command | None = None  # a command born of a timeout or a way home

    # -- reading -----------------------------------------------------------------------------

    @property
    def view(self) -> FlowView:
        return self._view

    @property
    def phase(self) -> Phase:
        return self._view.phase

    @property
    def door_call_running(self) -> bool:
        """A register or retrieve call (it may open a door) runs: the flow stays on its screen."""
        return self._calls.running is not None

    def wants_embedding(self, now: float) -> bool:
        """Whether the face of a frame arriving at ``now`` should be embedded (callers pass it
        as ``FacePipeline.analyse(embed=...)``): while scanning until the decision, and during
        the challenge as :meth:`RegisterSession.wants_embedding` says. Never while capturing
        (the window embeds its best frames at its end), after a decision, on idle screens."""
        if self.phase is Phase.LIVENESS:
            return self._register.wants_embedding(now)
        if self.phase is Phase.CHALLENGE:
            return self._move is not None and self._move.wants_embedding(now)
        return self.phase is Phase.RETRIEVE_SCAN

    @property
    def embedded_frames(self) -> tuple[int | None, ...]:
        """Frame indices whose embeddings the last request used (register or retrieve)."""
        return tuple(self._embedded)

    @property
    def holds_face_data(self) -> bool:
        """Whether any embedding or face crop of a user is held (the privacy rule's tests)."""
        held = self._held is not None or self._move is not None
        return held or self._register.holds_face_data or self._retrieve.holds_face_data

    def take_command(self) -> Command | None:
        """The command a timeout (:meth:`tick`) or a way home (:meth:`home`) produced: a failed
        head move is reported to the service, which counts it. Run it like any other."""
        command, self._outbox = self._outbox, None
        return command

    # -- transitions -------------------------------------------------------------------------

    # -- time (accessibility mode: longer timeouts, a warning first, "more time") -------------

    def set_pace(self, time_factor: float, warn_before_s: float | None) -> None:
        """Every timeout ``time_factor`` times longer, and none expiring without
        :attr:`FlowView.time_warning` raised at least ``warn_before_s`` before (``None``: no
        warnings). The screen's own timeouts change at once; a capture's or scan's session
        (its head moves' timeouts) at its next start."""
        self.settings = self.base_settings.scaled(time_factor)
        self._warn_before_s = warn_before_s
        if warn_before_s is None and self._view.time_warning:
            self._view = replace(self._view, time_warning=False)

    def _renew_sessions(self) -> None:
        """A capture or scan starts: its session takes the current pace's settings."""
        if self._register.settings is not self.settings:
            self._register = RegisterSession(self.settings, self._rng)
            self._retrieve = RetrieveSession(self.settings)

    def time_left_s(self, now: float) -> float | None:
        """Seconds before this screen's timeout acts (``None``: it has none now: home, a
        running service call)."""
        s, phase = self.settings, self.phase
        if self._calls.running is not None or phase in CALL_PHASES or phase is Phase.HOME:
            return None
        in_phase = now - self._phase_since
        limits = [] if phase in OPEN_PHASES else [s.idle_timeout_s - (now - self._activity)]
        if phase is Phase.CAPTURE:
            limits.append(s.capture_timeout_s - in_phase)
        elif phase is Phase.RETRIEVE_SCAN:
            limits.append(s.retrieve_timeout_s - in_phase)
        elif phase in OPEN_PHASES:
            limits.append(s.open_display_s - in_phase)
        elif phase in (Phase.DONE, Phase.FAILED):
            factor = 1 if phase is Phase.DONE else 3
            limits.append(s.result_display_s * factor - in_phase)
        return min(limits) if limits else None

    def _warn_if_near(self, now: float) -> None:
        """Raise the warning when the timeout is ``warn_before_s`` away; where it is nearer
        (a screen shorter than the warning, or the warning just came), the clocks move so that
        the timeout comes ``warn_before_s`` after the warning, never sooner."""
        warn = self._warn_before_s
        left = self.time_left_s(now)
        if warn is None or left is None or left > warn:
            if self._view.time_warning:
                self._view = replace(self._view, time_warning=False)
            return
        if self._view.time_warning:
            return
        shortfall = warn - left
        self._phase_since += shortfall
        self._activity += shortfall
        self._view = replace(self._view, time_warning=True)

    def more_time(self, now: float) -> FlowView:
        """The "more time" key or button: the screen's timeout starts again (a head move's
        own timeout does not: the move is a liveness challenge, it cannot wait)."""
        self._activity = now
        if self.phase not in (Phase.LIVENESS, Phase.CHALLENGE):
            self._phase_since = now
        if self._view.time_warning:
            self._view = replace(self._view, time_warning=False)
        return self._view

    def _go(self, now: float, phase: Phase, **fields: object) -> FlowView:
        self._phase_since = self._activity = now
        retrieving = phase in RETRIEVE_PHASES
        keep = {"retrieving": fields.pop("retrieving", retrieving or self._view.retrieving)}
        self._view = FlowView(phase=phase, **keep, **fields)  # type: ignore[arg-type]
        return self._view

    def _discard(self) -> None:
        self._register.clear()
        self._retrieve.clear()
        self._held = self._move = None

    # -- the head move of an unsure capture (liveness_tiers) ---------------------------------

    def _hold(self, request: _Request) -> _Request:
        """Keep ``request`` while it runs when its passive score is unsure (the service may
        answer ``CHALLENGE_REQUIRED``); any other is handed over and not kept."""
        proof = request.challenge
        unsure = tier_of(request.pad, self.settings.confident) is Tier.CHALLENGE
        self._held = request if unsure and (proof is None or not proof.holds) else None
        return request

    def _start_move(self, now: float, retrieving: bool) -> FlowView:
        held, config = self._held, self.settings.move
        if held is None or config is None or held.challenge is not None:
            # No move to ask (a demo without liveness), or the move was already done.
            return self._fail(now, Problem.LIVENESS_FAILED, detail="challenge")
        self._discard()
        s = self.settings
        self._move = MoveChallenge(
            held,
            config,
            now=now,
            rng=self._rng,
            same_face_min_cosine=s.same_face_min_cosine,
            passive_threshold=s.passive_threshold,
            embed_interval_s=s.challenge_embed_interval_s,
        )
        return self._go(now, Phase.CHALLENGE, liveness=self._move.state, retrieving=retrieving)

    def _resubmit(self, proof: ChallengeProof, now: float) -> DoorRequest:
        """The held request again with what the move showed; the service decides."""
        move = self._move
        if move is None:
            raise RuntimeError("no head move is pending")
        request = move.submit(proof, self._calls.start())
        self._discard()
        retrieving = isinstance(request, RetrieveRequest)
        phase = Phase.RETRIEVING if retrieving else Phase.REGISTERING
        self._go(now, phase, retrieving=retrieving)
        return request

    def _stale(self, opened: bool, label: str | None, phase: Phase, now: float) -> FlowView:
        """A result of a request the flow no longer waits for. A door it opened is still
        shown (whoever stands there must be told its number); anything else is dropped."""
        if not opened or self._calls.running is not None:
            if opened:
                log.warning("locker %s opened for a request nobody waits for", label)
            return self._view
        log.warning("locker %s opened for an earlier request: shown now", label)
        self._discard()
        return self._go(now, phase, locker_label=label, retrieving=phase in RETRIEVE_PHASES)

    def _not_recognised(self, now: float, wait_s: float) -> FlowView:
        self._gate.wait(now, wait_s)
        self._discard()
        self._go(now, Phase.NOT_RECOGNISED, can_retry=True)
        return self._refresh_wait(now)

    def _fail(
        self, now: float, problem: Problem, *, label: str | None = None, detail: str = ""
    ) -> FlowView:
        self._discard()
        return self._go(
            now,
            Phase.FAILED,
            problem=problem,
            locker_label=label,
            detail=detail,
            can_retry=problem in RETRYABLE,
        )

    def _refresh_wait(self, now: float) -> FlowView:
        wait = self._gate.left_s(now)
        if wait != self._view.retry_in_s:
            self._view = replace(self._view, retry_in_s=wait)
        return self._view
