"""The kiosk's register and retrieve state machine, without Qt, threads or a clock of its own.

Register: consent → a capture window of good frames (the best embedded at its end) →
``liveness.register_turns`` head moves by the same face → the service opens a locker.
Retrieve: good, uncrowded frames embedded until ``k`` consistent ones (an early look that opens
only on an accept) or ``n`` decide → the service decides → "locker N is opening"; "not
recognised" offers a retry (after the service's wait) and a staff call. Where a door would open
for an existing rental with an unsure passive score the service answers ``CHALLENGE_REQUIRED``:
the flow asks for one head move (:mod:`~lockers.kiosk.move_challenge`) and sends the request
again with what it saw (:mod:`~lockers.kiosk.liveness_tiers`).

This is the phase router; what a frame means lives in the sessions
(:mod:`~lockers.kiosk.register_session`, :mod:`~lockers.kiosk.retrieve_session`), retries in
:mod:`~lockers.kiosk.retry_policy`. Every method takes ``now`` (monotonic seconds), so tests
drive time. Methods that need the services return a command; the caller runs it off the UI
thread and feeds the result back with the request's id, so a result is applied to the request
that caused it and no other (a command born of a timeout or a way home waits in
:meth:`KioskFlow.take_command`). While a door call runs the flow stays on its screen; a door a
result opened is always shown. Face data lives only in the flow until handed to the service,
and is dropped on every way home.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow_core import FlowCore
from lockers.kiosk.flow_values import (
    CALL_PHASES,
    OPEN_PHASES,
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
from lockers.kiosk.liveness_tiers import ChallengeProof
from lockers.kiosk.retry_policy import (
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


class KioskFlow(FlowCore):
    """The phase router. Not thread-safe: call it from one thread (the UI's)."""

    def home(self, now: float) -> FlowView:
        """Back to the home screen; every captured face datum is dropped. While a call that
        can open a door runs, the flow stays and goes home (or shows the open door) when its
        result comes."""
        if self._move is not None and self.phase is Phase.CHALLENGE:
            # Leaving the move is failing it (else walking away would dodge the back-off).
            self._outbox = self._resubmit(ChallengeProof(False, detail="cancelled"), now)
        elif self.phase is Phase.LIVENESS and self._register.can_report:
            self._outbox = self._register_failed(now, "cancelled")
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
        self._renew_sessions()
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
        self._renew_sessions()
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
        if self._outbox is not None:
            return self.take_command()  # the time passed made one (a head move timed out)
        if self.phase is Phase.CAPTURE:
            return self._capture(obs, now)
        if self.phase is Phase.LIVENESS:
            return self._challenge(obs, now)
        if self.phase is Phase.CHALLENGE and self._move is not None:
            proof = self._move.frame(obs, now)
            if proof is not None:
                return self._resubmit(proof, now)
            guidance = Guidance.STEP_BACK.value if obs.crowded else None
            self._view = replace(self._view, liveness=self._move.state, guidance=guidance)
            return None
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
            return self._register_failed(now, step.failed)
        if step.ready:
            return self._register_request(now)
        if step.confirm_started:
            self._phase_since = now  # the confirm step has its own timeout
        liveness = self._view.liveness if step.state is None else step.state
        self._view = replace(self._view, liveness=liveness, guidance=step.guidance)
        return None

    def _register_failed(self, now: float, detail: str) -> RegisterRequest | None:
        """The registration's moves were not done: reported to the service, which counts a
        failed attempt (they are the challenge of a face that already rents a locker, so
        registering again and again must not dodge the back-off); failed here when the
        templates are not in yet (nothing to compare with the active rentals)."""
        if not self._register.can_report:
            self._fail(now, Problem.LIVENESS_FAILED, detail=detail)
            return None
        request, self._embedded = self._register.request(self._calls.start(), failed=detail)
        self._discard()
        self._go(now, Phase.REGISTERING, retrieving=False)
        return request

    def _register_request(self, now: float) -> RegisterRequest:
        request, self._embedded = self._register.request(self._calls.start())
        self._discard()
        self._hold(request)
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
        return self._hold(replace(request, request_id=self._calls.start()))

    def _move_failed(self, now: float, wait_s: float, detail: str, leave: bool) -> FlowView:
        """The service counted a failed move: its wait, then a retry or the way home."""
        self._gate.wait(now, wait_s)
        if leave:
            return self.home(now)
        self._fail(now, Problem.LIVENESS_FAILED, detail=detail)
        return self._refresh_wait(now)

    # -- service results ---------------------------------------------------------------------

    def register_done(
        self, result: RegisterResult, now: float, request_id: int | None = None
    ) -> FlowView:
        """The service's answer to :class:`RegisterRequest` ``request_id``."""
        current, leave = self._calls.answer(request_id)
        if not current:
            return self._stale(result.door_opened, result.locker_label, Phase.REGISTER_OPEN, now)
        if result.outcome is RegisterOutcome.CHALLENGE_REQUIRED:
            return self.home(now) if leave else self._start_move(now, retrieving=False)
        self._held = None
        if result.outcome is RegisterOutcome.CHALLENGE_FAILED:
            return self._move_failed(now, result.retry_after_s, result.detail, leave)
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
        if outcome is RetrieveOutcome.CHALLENGE_REQUIRED:
            return self.home(now) if leave else self._start_move(now, retrieving=True)
        self._held = None
        if outcome is RetrieveOutcome.CHALLENGE_FAILED:
            self._discard()
            return self._move_failed(now, result.retry_after_s, result.detail, leave)
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

    # -- time --------------------------------------------------------------------------------

    def tick(self, now: float) -> FlowView:
        """Apply timeouts; call it a few times a second (and it is called with every frame)."""
        s = self.settings
        phase = self.phase
        if self._calls.running is not None or phase in CALL_PHASES or phase is Phase.HOME:
            return self._view  # never abandon a running service call
        self._warn_if_near(now)
        in_phase = now - self._phase_since  # the warning may have moved the clocks
        if now - self._activity > s.idle_timeout_s and phase not in OPEN_PHASES:
            return self.home(now)
        if phase is Phase.CAPTURE and in_phase > s.capture_timeout_s:
            self._fail(now, Problem.CAPTURE_TIMEOUT)
        elif phase is Phase.LIVENESS:
            failure = self._register.challenge_tick(now, in_phase)
            if failure is not None:
                self._outbox = self._register_failed(now, failure)
        elif phase is Phase.CHALLENGE and self._move is not None:
            proof = self._move.tick(now)
            if proof is not None:
                self._outbox = self._resubmit(proof, now)
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
