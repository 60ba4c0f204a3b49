"""The kiosk's register and retrieve state machine, without Qt, threads or a clock of its own.

Register: consent → a capture window of good frames (the best few are embedded at its end, see
:class:`~lockers.kiosk.capture_window.CaptureWindow`) → active liveness (+ the same face again)
→ the service allocates and opens a locker → "locker N is open, close the door" → done.
Retrieve: look at the camera → good, uncrowded frames, embedded until the decision (``k``
consistent ones are an early look that opens only on an accept; otherwise ``n``) → the service
decides (k-of-n with the margin rule) → "locker N is opening" → done; "not recognised" offers a
retry (after the wait the service asks for) and a staff call.

This module is the phase router (screens, timeouts, results); what a frame means lives in
:mod:`~lockers.kiosk.register_session` and :mod:`~lockers.kiosk.retrieve_session`, what may be
retried and when in :mod:`~lockers.kiosk.retry_policy`.

Every method takes ``now`` (monotonic seconds) from the caller, so tests drive time by hand.
Methods that need the services return a command (:class:`RegisterRequest`,
:class:`RetrieveRequest`, :class:`EmbedRequest`); the caller runs it off the UI thread and
feeds the result back (:meth:`KioskFlow.register_done`, :meth:`KioskFlow.retrieve_done`,
:meth:`KioskFlow.faces_embedded`) with the request's id, so a result is applied to the request
that caused it and no other. While a call that can open a door runs the flow stays on its
screen, and a door the result opened is always shown. Face data lives only inside the flow
until it is handed to the service, and is dropped on every way home.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow_requests import RequestTracker
from lockers.kiosk.flow_values import (
    CALL_PHASES,
    OPEN_PHASES,
    RETRIEVE_PHASES,
    Command,
    EmbedRequest,
    FlowSettings,
    FlowView,
    FrameObservation,
    Guidance,
    Phase,
    Problem,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.kiosk.register_session import RegisterSession
from lockers.kiosk.retrieve_session import RetrieveSession
from lockers.kiosk.retry_policy import (
    RETRYABLE,
    RetryGate,
    kiosk_place,
    register_problem,
    retrieve_door_problem,
)

__all__ = [
    "Command",
    "EmbedRequest",
    "FlowSettings",
    "FlowView",
    "FrameObservation",
    "Guidance",
    "KioskFlow",
    "Phase",
    "Problem",
    "RegisterRequest",
    "RetrieveRequest",
]

log = logging.getLogger(__name__)


class KioskFlow:
    """The phase router. Not thread-safe: call it from one thread (the UI's)."""

    def __init__(self, settings: FlowSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._view = FlowView()
        self._phase_since = 0.0
        self._activity = 0.0
        self._register = RegisterSession(settings, rng or random.Random())
        self._retrieve = RetrieveSession(settings)
        self._gate = RetryGate()
        self._embedded: list[int | None] = []
        self._calls = RequestTracker()  # the running call that can open a door

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
        return self.phase is Phase.RETRIEVE_SCAN

    @property
    def embedded_frames(self) -> tuple[int | None, ...]:
        """Frame indices whose embeddings the last request used (register or retrieve)."""
        return tuple(self._embedded)

    @property
    def holds_face_data(self) -> bool:
        """Whether any embedding or face crop of a user is held (the privacy rule's tests)."""
        return self._register.holds_face_data or self._retrieve.holds_face_data

    # -- transitions -------------------------------------------------------------------------

    def _go(self, now: float, phase: Phase, **fields: object) -> FlowView:
        self._phase_since = self._activity = now
        retrieving = phase in RETRIEVE_PHASES
        keep = {"retrieving": fields.pop("retrieving", retrieving or self._view.retrieving)}
        self._view = FlowView(phase=phase, **keep, **fields)  # type: ignore[arg-type]
        return self._view

    def _discard(self) -> None:
        self._register.clear()
        self._retrieve.clear()

    def home(self, now: float) -> FlowView:
        """Back to the home screen; every captured face datum is dropped. While a call that
        can open a door runs, the flow stays and goes home (or shows the open door) when its
        result comes."""
        if self._calls.running is not None:
            self._calls.ask_leave()
            return self._view
        self._discard()
        return self._go(now, Phase.HOME, retrieving=False)

    cancel = home

    def touch(self, now: float) -> None:
        """The user touched the screen: the idle timer starts again."""
        self._activity = now

    def start_register(self, now: float) -> FlowView:
        if self.phase is Phase.HOME:
            self._discard()
            self._go(now, Phase.CONSENT, retrieving=False)
        return self._view

    def consent(self, accepted: bool, now: float) -> FlowView:
        if self.phase is not Phase.CONSENT:
            return self._view
        if not accepted:
            return self.home(now)
        return self._start_capture(now)

    def _start_capture(self, now: float) -> FlowView:
        self._discard()
        self._register.start(now)
        return self._go(now, Phase.CAPTURE, needed=self.settings.capture_frames, retrieving=False)

    def start_retrieve(self, now: float) -> FlowView:
        if self.phase is not Phase.HOME:
            return self._view
        if self._gate.blocked(now):
            return self._not_recognised(now, 0.0)
        return self._start_scan(now)

    def _start_scan(self, now: float) -> FlowView:
        self._discard()
        self._retrieve.start(now)
        return self._go(now, Phase.RETRIEVE_SCAN, needed=self.settings.retrieve_frames)

    def retry(self, now: float) -> FlowView:
        """The retry button of a failure or "not recognised" screen."""
        view = self._view
        if not view.can_retry or self._gate.blocked(now):
            return self._refresh_wait(now)
        if view.phase is Phase.NOT_RECOGNISED or (view.phase is Phase.FAILED and view.retrieving):
            return self._start_scan(now)
        if view.phase is Phase.FAILED:
            return self._start_capture(now)
        return view

    def finish(self, now: float) -> FlowView:
        """The "done" button on the open-door screens."""
        if self.phase in OPEN_PHASES:
            return self._go(now, Phase.DONE, locker_label=self._view.locker_label)
        return self.home(now)

    def door_closed(self, label: str, now: float) -> FlowView:
        """The board saw the door of ``label`` closed."""
        if self.phase in OPEN_PHASES and self._view.locker_label == label:
            return self._go(now, Phase.DONE, locker_label=label)
        return self._view

    # -- frames ------------------------------------------------------------------------------

    def frame(self, obs: FrameObservation, now: float) -> Command | None:
        """Feed one analysed frame; returns a command when the service must act."""
        self.tick(now)
        if self.phase is Phase.CAPTURE:
            return self._capture(obs, now)
        if self.phase is Phase.LIVENESS:
            return self._challenge(obs, now)
        if self.phase is Phase.RETRIEVE_SCAN:
            return self._scan(obs, now)
        return None

    def _capture(self, obs: FrameObservation, now: float) -> Command | None:
        session = self._register
        if session.embedding_pending:
            return None  # the window is closed; its best frames are being embedded
        closed = session.capture(obs, now)
        self._view = replace(self._view, guidance=obs.guidance, captured=session.captured)
        if not closed:
            return None
        chosen, command = session.close_window(now)
        live = session.liveness
        if live is None:
            return command or self._register_request(now)
        needed = self.settings.capture_frames
        self._go(now, Phase.LIVENESS, captured=chosen, needed=needed, liveness=live.state)
        return command

    def faces_embedded(
        self, job: int, embeddings: npt.NDArray[np.float32], now: float
    ) -> Command | None:
        """The embeddings of :class:`EmbedRequest` ``job`` (same order as its faces)."""
        if not self._register.faces_embedded(job, embeddings):
            return None  # abandoned (home, timeout, a new window): nothing to do
        if self.phase is Phase.CAPTURE and self._register.ready_without_challenge:
            return self._register_request(now)
        return None

    def faces_failed(self, job: int, detail: str, now: float) -> FlowView:
        """Embedding :class:`EmbedRequest` ``job`` failed (the model raised)."""
        if not self._register.awaits(job):
            return self._view
        return self._fail(now, Problem.SERVICE_ERROR, detail=detail)

    def _challenge(self, obs: FrameObservation, now: float) -> Command | None:
        step = self._register.challenge(obs, now)
        if step.failed is not None:
            self._fail(now, Problem.LIVENESS_FAILED, detail=step.failed)
            return None
        if step.ready:
            return self._register_request(now)
        if step.confirm_started:
            self._phase_since = now  # the confirm step has its own timeout
        liveness = self._view.liveness if step.state is None else step.state
        self._view = replace(self._view, liveness=liveness, guidance=step.guidance)
        return None

    def _register_request(self, now: float) -> RegisterRequest:
        request, self._embedded = self._register.request(self._calls.start())
        self._discard()
        self._go(now, Phase.REGISTERING, retrieving=False)
        return request

    def _scan(self, obs: FrameObservation, now: float) -> Command | None:
        decided = self._retrieve.scan(obs, now)
        if decided is None:
            captured = self._retrieve.captured
            self._view = replace(self._view, guidance=obs.guidance, captured=captured)
            return None
        request, self._embedded = decided
        self._go(now, Phase.RETRIEVING)
        return replace(request, request_id=self._calls.start())

    # -- service results ---------------------------------------------------------------------

    def register_done(
        self, result: RegisterResult, now: float, request_id: int | None = None
    ) -> FlowView:
        """The service's answer to :class:`RegisterRequest` ``request_id``."""
        current, _leave = self._calls.answer(request_id)
        if not current:
            return self._stale(result.door_opened, result.locker_label, Phase.REGISTER_OPEN, now)
        if result.door_opened:
            reopened = result.outcome is RegisterOutcome.REOPENED_EXISTING
            label = result.locker_label
            return self._go(now, Phase.REGISTER_OPEN, locker_label=label, reopened=reopened)
        problem = register_problem(result.outcome)
        detail = kiosk_place(result) if problem is Problem.AT_OTHER_KIOSK else result.detail
        return self._fail(now, problem, label=result.locker_label, detail=detail)

    def retrieve_done(
        self, result: RetrieveResult, now: float, request_id: int | None = None
    ) -> FlowView:
        """The service's answer to :class:`RetrieveRequest` ``request_id``."""
        outcome = result.outcome
        current, leave = self._calls.answer(request_id)
        if not current:
            opened = outcome is RetrieveOutcome.OPENED
            return self._stale(opened, result.locker_label, Phase.RETRIEVE_OPEN, now)
        if outcome is RetrieveOutcome.UNDECIDED:
            if leave:
                return self.home(now)
            # The early look did not give an accept: keep scanning (the frames are kept, the
            # scan's timeout keeps running) until all n frames decide.
            since, needed = self._phase_since, self.settings.retrieve_frames
            self._go(now, Phase.RETRIEVE_SCAN, needed=needed, captured=self._retrieve.captured)
            self._phase_since = since
            return self._view
        self._discard()  # the early look's frames, when it decided
        if outcome is RetrieveOutcome.OPENED:
            self._gate.clear()
            return self._go(now, Phase.RETRIEVE_OPEN, locker_label=result.locker_label)
        if outcome in (RetrieveOutcome.NO_MATCH, RetrieveOutcome.RATE_LIMITED):
            return self._not_recognised(now, result.retry_after_s)
        if outcome is RetrieveOutcome.AT_OTHER_KIOSK:  # recognised: no wait, nothing opened
            self._gate.clear()
            place = kiosk_place(result)
            return self._fail(now, Problem.AT_OTHER_KIOSK, label=result.locker_label, detail=place)
        if outcome is RetrieveOutcome.PRESENTATION_ATTACK:
            self._gate.wait(now, result.retry_after_s)
            self._fail(now, Problem.PRESENTATION_ATTACK, detail=result.detail)
            return self._refresh_wait(now)
        self._gate.clear()
        problem = retrieve_door_problem(outcome)
        return self._fail(now, problem, label=result.locker_label, detail=result.detail)

    def service_failed(self, detail: str, now: float, request_id: int | None = None) -> FlowView:
        """The service raised (database down, board error): stop and call staff."""
        current, _leave = self._calls.answer(request_id)
        if not current:
            return self._view
        return self._fail(now, Problem.SERVICE_ERROR, detail=detail)

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

    # -- time --------------------------------------------------------------------------------

    def tick(self, now: float) -> FlowView:
        """Apply timeouts; call it a few times a second (and it is called with every frame)."""
        s = self.settings
        phase = self.phase
        in_phase = now - self._phase_since
        if self._calls.running is not None or phase in CALL_PHASES or phase is Phase.HOME:
            return self._view  # never abandon a running service call
        if now - self._activity > s.idle_timeout_s and phase not in OPEN_PHASES:
            return self.home(now)
        if phase is Phase.CAPTURE and in_phase > s.capture_timeout_s:
            self._fail(now, Problem.CAPTURE_TIMEOUT)
        elif phase is Phase.LIVENESS:
            failure = self._register.challenge_tick(now, in_phase)
            if failure is not None:
                self._fail(now, Problem.LIVENESS_FAILED, detail=failure)
        elif phase is Phase.RETRIEVE_SCAN and in_phase > s.retrieve_timeout_s:
            self._not_recognised(now, 0.0)
        elif phase in OPEN_PHASES and in_phase > s.open_display_s:
            self._go(now, Phase.DONE, locker_label=self._view.locker_label)
        elif phase in (Phase.DONE, Phase.FAILED) and in_phase > s.result_display_s * (
            1 if phase is Phase.DONE else 3
        ):
            self.home(now)
        elif phase is Phase.NOT_RECOGNISED:
            self._refresh_wait(now)
        return self._view
