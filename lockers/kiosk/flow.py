"""The kiosk's register and retrieve state machine, without Qt, threads or a clock of its own.

Register: consent → a capture window of good frames (the best few are embedded at its end, see
:class:`~lockers.kiosk.capture_window.CaptureWindow`) → active liveness (+ the same face again)
→ the service allocates and opens a locker → "locker N is open, close the door" → done.
Retrieve: look at the camera → good, uncrowded frames, embedded until the decision (``k``
consistent ones are an early look that opens only on an accept; otherwise ``n``) → the service
decides (k-of-n with the margin rule) → "locker N is opening" → done; "not recognised" offers a
retry (with a growing wait after repeated failures) and a staff call.

Every method takes ``now`` (monotonic seconds) from the caller, so tests drive time by hand.
Methods that need the services return a command (:class:`RegisterRequest`,
:class:`RetrieveRequest`, :class:`EmbedRequest`); the caller runs it (off the UI thread) and
feeds the result back with :meth:`KioskFlow.register_done` / :meth:`KioskFlow.retrieve_done` /
:meth:`KioskFlow.faces_embedded`. Face data (embeddings) lives
only inside the flow until it is handed to the service, and is dropped on every way home.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from lockers.kiosk.capture_window import Candidate, CaptureWindow
from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow_values import (
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
from lockers.vision.liveness import ActiveLiveness, LivenessStatus
from lockers.vision.pad import PadScore, PadVerdict, fuse

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


class KioskFlow:
    """The state machine. Not thread-safe: call it from one thread (the UI's)."""

    def __init__(self, settings: FlowSettings, *, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()
        self._view = FlowView()
        self._phase_since = 0.0
        self._activity = 0.0
        self._templates: list[npt.NDArray[np.float32]] = []
        self._qualities: list[float] = []
        self._last_capture = -1e9
        self._face_seen = 0.0
        self._probes: list[npt.NDArray[np.float32]] = []
        # Passive anti-spoofing scores of the frames whose embeddings are kept (and, while
        # registering, of every head-turn frame); numbers only, never pixels.
        self._pad_scores: list[PadScore | None] = []
        self._liveness: ActiveLiveness | None = None
        # The first usable embedding seen during the challenge (identity continuity).
        self._challenge_first: npt.NDArray[np.float32] | None = None
        self._challenge_embedded_at = -float("inf")
        self._failures = 0
        self._blocked_until = 0.0
        self._embedded: list[int | None] = []
        self._frames: list[int | None] = []  # frame indices of the held templates or probes
        self._window = CaptureWindow(
            settings.capture_frames,
            settings.capture_min_interval_s,
            settings.capture_window_s,
            settings.capture_pool,
        )
        self._embed_job = 0
        self._pending: list[Candidate] | None = None  # chosen frames awaiting their embeddings
        self._early_tried = False  # retrieve: the early k-frame look was already answered

    # -- reading -----------------------------------------------------------------------------

    @property
    def view(self) -> FlowView:
        return self._view

    @property
    def phase(self) -> Phase:
        return self._view.phase

    def wants_embedding(self, now: float) -> bool:
        """Whether the face of a frame arriving at ``now`` should be embedded at all (callers
        pass it as ``FacePipeline.analyse(embed=...)``): the confirming frame after the turns
        (once the captured templates are in); while scanning until the decision. Never while
        capturing (the window keeps crops and embeds its best frames at its end, see
        :class:`EmbedRequest`); during the turns only a frontal frame now and then (identity
        continuity); never after a decision, never on the idle screens. Frames that fail the
        quality gate are never embedded by the pipeline."""
        phase = self.phase
        if phase is Phase.LIVENESS:
            live = self._liveness
            if live is None:
                return False
            if live.finished:
                return self._pending is None
            # During the turns, frontal frames bind the challenge to the enrolled face: the
            # first one, then one every challenge_embed_interval_s (a swap is caught in time
            # without embedding every frame).
            return (
                self._challenge_first is None
                or now - self._challenge_embedded_at >= self.settings.challenge_embed_interval_s
            )
        return phase is Phase.RETRIEVE_SCAN

    @property
    def embedded_frames(self) -> tuple[int | None, ...]:
        """Frame indices whose embeddings the last request used (register or retrieve)."""
        return tuple(self._embedded)

    @property
    def holds_face_data(self) -> bool:
        """Whether any embedding or face crop of a user is held (for tests of the privacy
        rule)."""
        return bool(self._templates or self._probes or self._window or self._pending)

    # -- transitions -------------------------------------------------------------------------

    def _go(self, now: float, phase: Phase, **fields: object) -> FlowView:
        self._phase_since = self._activity = now
        retrieving = phase in (
            Phase.RETRIEVE_SCAN,
            Phase.RETRIEVING,
            Phase.RETRIEVE_OPEN,
            Phase.NOT_RECOGNISED,
        )
        keep = {"retrieving": fields.pop("retrieving", retrieving or self._view.retrieving)}
        self._view = FlowView(phase=phase, **keep, **fields)  # type: ignore[arg-type]
        return self._view

    def _discard(self) -> None:
        self._templates.clear()
        self._qualities.clear()
        self._probes.clear()
        self._pad_scores.clear()
        self._frames.clear()
        self._window.clear()
        self._pending = None  # a late EmbedRequest answer finds no job and is ignored
        self._early_tried = False
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

    def home(self, now: float) -> FlowView:
        """Back to the home screen; every captured face datum is dropped."""
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
        self._face_seen = now
        self._last_capture = -1e9
        return self._go(now, Phase.CAPTURE, needed=self.settings.capture_frames, retrieving=False)

    def start_retrieve(self, now: float) -> FlowView:
        if self.phase is not Phase.HOME:
            return self._view
        if now < self._blocked_until:
            return self._not_recognised(now, counted=False)
        return self._start_scan(now)

    def _start_scan(self, now: float) -> FlowView:
        self._discard()
        self._face_seen = now
        return self._go(now, Phase.RETRIEVE_SCAN, needed=self.settings.retrieve_frames)

    def retry(self, now: float) -> FlowView:
        """The retry button of a failure or "not recognised" screen."""
        view = self._view
        if not view.can_retry or now < self._blocked_until:
            return self._refresh_wait(now)
        if view.phase is Phase.NOT_RECOGNISED or (view.phase is Phase.FAILED and view.retrieving):
            return self._start_scan(now)
        if view.phase is Phase.FAILED:
            return self._start_capture(now)
        return view

    def finish(self, now: float) -> FlowView:
        """The "done" button on the open-door screens."""
        if self.phase in (Phase.REGISTER_OPEN, Phase.RETRIEVE_OPEN):
            return self._go(now, Phase.DONE, locker_label=self._view.locker_label)
        return self.home(now)

    def door_closed(self, label: str, now: float) -> FlowView:
        """The board saw the door of ``label`` closed."""
        if self.phase in (Phase.REGISTER_OPEN, Phase.RETRIEVE_OPEN) and (
            self._view.locker_label == label
        ):
            return self._go(now, Phase.DONE, locker_label=label)
        return self._view

    # -- frames ------------------------------------------------------------------------------

    def frame(self, obs: FrameObservation, now: float) -> Command | None:
        """Feed one analysed frame; returns a command when the service must act."""
        self.tick(now)
        if self.phase is Phase.CAPTURE:
            return self._capture(obs, now)
        if self.phase is Phase.LIVENESS:
            return self._liveness_frame(obs, now)
        if self.phase is Phase.RETRIEVE_SCAN:
            return self._scan(obs, now)
        return None

    def _capture(self, obs: FrameObservation, now: float) -> Command | None:
        s = self.settings
        if self._pending is not None:
            return None  # the window is closed; its best frames are being embedded
        if obs.has_face:
            self._face_seen = now
        elif now - self._face_seen > s.face_lost_reset_s and self._window:
            self._reset_capture()  # whoever comes back may be someone else
        if obs.crowded:
            # The templates must all be one person's: start again once alone.
            self._reset_capture()
        if obs.passed and (obs.aligned is not None or obs.embedding is not None):
            embedding = None if obs.embedding is None else obs.embedding.astype(np.float32)
            self._window.add(
                Candidate(obs.quality_score, now, obs.frame_index, obs.aligned, embedding, obs.pad)
            )
            self._last_capture = now
        self._view = replace(
            self._view, guidance=self._guidance(obs), captured=len(self._window.best())
        )
        if not self._window.closed(now):
            return None
        return self._close_window(self._window.best(), now)

    def _guidance(self, obs: FrameObservation) -> str | None:
        if obs.crowded:
            return Guidance.STEP_BACK.value
        if obs.issues:
            return obs.issues[0]
        return Guidance.HOLD_STILL.value if obs.passed else None

    def _close_window(self, chosen: list[Candidate], now: float) -> Command | None:
        s = self.settings
        self._window.clear()  # the other crops are not needed: drop them now
        self._qualities = [c.quality for c in chosen]
        self._frames = [c.frame_index for c in chosen]
        self._pad_scores = [c.pad for c in chosen]
        command: Command | None = None
        if all(c.embedding is not None for c in chosen):
            self._templates = [c.embedding for c in chosen if c.embedding is not None]
        else:
            self._embed_job += 1
            self._pending = chosen
            faces = np.stack(
                [c.aligned for c in chosen if c.embedding is None and c.aligned is not None]
            )
            command = EmbedRequest(self._embed_job, faces)
        if s.liveness is None:
            return command or self._register_request(now)
        # The turns start now; the best frames are embedded meanwhile.
        self._liveness = ActiveLiveness(s.liveness, started_at=now, rng=self._rng)
        self._go(
            now,
            Phase.LIVENESS,
            captured=len(chosen),
            needed=s.capture_frames,
            liveness=self._liveness.state,
            retrieving=False,
        )
        return command

    def faces_embedded(
        self, job: int, embeddings: npt.NDArray[np.float32], now: float
    ) -> Command | None:
        """The embeddings of :class:`EmbedRequest` ``job`` (same order as its faces)."""
        pending = self._pending
        if pending is None or job != self._embed_job:
            return None  # abandoned (home, timeout, a new window): nothing to do
        rows = iter(np.asarray(embeddings, dtype=np.float32))
        self._templates = [
            c.embedding if c.embedding is not None else next(rows) for c in pending
        ]
        self._pending = None
        if self.phase is Phase.CAPTURE and self.settings.liveness is None:
            return self._register_request(now)
        return None

    def faces_failed(self, job: int, detail: str, now: float) -> FlowView:
        """Embedding :class:`EmbedRequest` ``job`` failed (the model raised)."""
        if self._pending is None or job != self._embed_job:
            return self._view
        return self._fail(now, Problem.SERVICE_ERROR, detail=detail)

    def _liveness_frame(self, obs: FrameObservation, now: float) -> Command | None:
        live = self._liveness
        assert live is not None
        if not live.finished:
            if not obs.crowded:
                self._pad_scores.append(obs.pad)
                if obs.usable and obs.embedding is not None:
                    # Every frontal frame of the challenge must be the enrolled face: someone
                    # else (or another photo) stepping in between the moves fails here. The
                    # captured templates may still be on their way (EmbedRequest); the first
                    # challenge frame is then checked against them after the turns.
                    if self._templates and not self._same_face(obs.embedding):
                        self._fail(now, Problem.LIVENESS_FAILED, detail="face_changed")
                        return None
                    self._challenge_embedded_at = now
                    if self._challenge_first is None:
                        self._challenge_first = obs.embedding.astype(np.float32)
            state = live.observe(obs.sample(), now, crowded=obs.crowded)
            if state.status is LivenessStatus.FAILED:
                self._fail(now, Problem.LIVENESS_FAILED, detail=str(state.failure))
                return None
            guidance = Guidance.STEP_BACK.value if obs.crowded else None
            if state.status is LivenessStatus.PASSED:
                self._phase_since = now  # the confirm step has its own timeout
                guidance = Guidance.LOOK_AGAIN.value
            self._view = replace(self._view, liveness=state, guidance=guidance)
            return None
        # Passed: one more good frontal frame, which must be the face we captured.
        if obs.crowded:
            self._fail(now, Problem.LIVENESS_FAILED, detail="crowd")
            return None
        if not obs.usable or obs.embedding is None or self._pending is not None:
            self._view = replace(self._view, guidance=self._guidance(obs) or "look_again")
            return None
        first = self._challenge_first
        continuous = first is not None and (
            float(obs.embedding @ first) >= self.settings.same_face_min_cosine
        )
        if not continuous or not self._same_face(obs.embedding) or not self._same_face(first):
            self._fail(now, Problem.LIVENESS_FAILED, detail="face_changed")
            return None
        self._templates.append(obs.embedding.astype(np.float32))
        self._qualities.append(obs.quality_score)
        self._pad_scores.append(obs.pad)
        self._frames.append(obs.frame_index)
        return self._register_request(now)

    def _same_face(self, embedding: npt.NDArray[np.float32]) -> bool:
        """Whether ``embedding`` is close enough to the mean of the captured templates."""
        mean = np.mean(np.stack(self._templates), axis=0)
        cosine = float(embedding @ (mean / max(1e-6, float(np.linalg.norm(mean)))))
        return cosine >= self.settings.same_face_min_cosine

    def _pad_verdict(self, scores: list[PadScore | None]) -> PadVerdict | None:
        """The fused verdict of ``scores``; ``None`` when the passive check is off. With the
        check on, a capture none of whose frames was scored fails (never assumed live)."""
        threshold = self.settings.passive_threshold
        if threshold is None:
            return None
        scored = [score for score in scores if score is not None]
        if not scored:
            return PadVerdict(False, 0.0, threshold, None, 0)
        return fuse(scored, threshold)

    def _register_request(self, now: float) -> RegisterRequest:
        request = RegisterRequest(
            templates=np.stack(self._templates).astype(np.float32),
            qualities=np.asarray(self._qualities, dtype=np.float32),
            pad=self._pad_verdict(self._pad_scores),
        )
        # The request now owns the data; the flow keeps none of it.
        self._embedded = list(self._frames)
        self._discard()
        self._go(now, Phase.REGISTERING, retrieving=False)
        return request

    def _scan(self, obs: FrameObservation, now: float) -> Command | None:
        s = self.settings
        if obs.has_face:
            self._face_seen = now
        if obs.crowded or (not obs.has_face and now - self._face_seen > s.face_lost_reset_s):
            # Never decide on a crowded frame, nor mix frames of two people.
            self._probes.clear()
            self._pad_scores.clear()
            self._frames.clear()
            self._early_tried = False
        elif obs.usable and obs.embedding is not None:
            self._probes.append(obs.embedding.astype(np.float32))
            self._pad_scores.append(obs.pad)
            self._frames.append(obs.frame_index)
        self._view = replace(self._view, guidance=self._guidance(obs), captured=len(self._probes))
        decision = self._decisive_probes()
        if decision is None:
            return None
        probes, final = decision
        request = RetrieveRequest(
            np.stack(probes).astype(np.float32),
            pad=self._pad_verdict(self._pad_scores[-len(probes) :]),
            final=final,
        )
        self._embedded = self._frames[-len(probes) :]
        if final:
            self._discard()
        else:
            # An early look: the frames stay (in the flow only) in case more are needed.
            self._early_tried = True
        self._go(now, Phase.RETRIEVING)
        return request

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

    # -- service results ---------------------------------------------------------------------

    def register_done(self, result: RegisterResult, now: float) -> FlowView:
        if self.phase is not Phase.REGISTERING:
            return self._view
        outcome = result.outcome
        if result.door_opened:
            return self._go(
                now,
                Phase.REGISTER_OPEN,
                locker_label=result.locker_label,
                reopened=outcome is RegisterOutcome.REOPENED_EXISTING,
                retrieving=False,
            )
        problem = {
            RegisterOutcome.PRESENTATION_ATTACK: Problem.PRESENTATION_ATTACK,
            RegisterOutcome.NO_FREE_LOCKER: Problem.NO_FREE_LOCKER,
            RegisterOutcome.DOOR_NOT_CONFIRMED: Problem.DOOR_NOT_CONFIRMED,
            RegisterOutcome.JAMMED: Problem.DOOR_NOT_CONFIRMED,
        }.get(outcome, Problem.NOT_OPENED)
        return self._fail(now, problem, label=result.locker_label, detail=result.detail)

    def retrieve_done(self, result: RetrieveResult, now: float) -> FlowView:
        if self.phase is not Phase.RETRIEVING:
            return self._view
        outcome = result.outcome
        if outcome is RetrieveOutcome.UNDECIDED:
            # The early look did not give an accept: keep scanning (the frames are kept, the
            # scan's timeout keeps running) until all n frames decide.
            since = self._phase_since
            self._go(now, Phase.RETRIEVE_SCAN, needed=self.settings.retrieve_frames,
                     captured=len(self._probes))
            self._phase_since = since
            return self._view
        self._discard()  # the early look's frames, when it decided
        if outcome is RetrieveOutcome.OPENED:
            self._failures, self._blocked_until = 0, 0.0
            return self._go(now, Phase.RETRIEVE_OPEN, locker_label=result.locker_label)
        if outcome in (RetrieveOutcome.NO_MATCH, RetrieveOutcome.RATE_LIMITED):
            counted = outcome is RetrieveOutcome.NO_MATCH
            return self._not_recognised(now, counted=counted, service_wait_s=result.retry_after_s)
        if outcome is RetrieveOutcome.PRESENTATION_ATTACK:
            # Counted like a failed match: repeated attempts wait longer and longer.
            self._failures += 1
            wait = max(result.retry_after_s, self.settings.backoff_s(self._failures))
            self._blocked_until = max(self._blocked_until, now + wait)
            self._fail(now, Problem.PRESENTATION_ATTACK, detail=result.detail)
            return self._refresh_wait(now)
        self._failures, self._blocked_until = 0, 0.0
        problem = (
            Problem.DOOR_NOT_CONFIRMED
            if outcome is RetrieveOutcome.DOOR_NOT_CONFIRMED
            else Problem.NOT_OPENED
        )
        return self._fail(now, problem, label=result.locker_label, detail=result.detail)

    def service_failed(self, detail: str, now: float) -> FlowView:
        """The service raised (database down, board error): stop and call staff."""
        if self.phase not in (Phase.REGISTERING, Phase.RETRIEVING):
            return self._view
        return self._fail(now, Problem.SERVICE_ERROR, detail=detail)

    def _not_recognised(
        self, now: float, *, counted: bool, service_wait_s: float = 0.0
    ) -> FlowView:
        if counted:
            self._failures += 1
        wait = max(service_wait_s, self.settings.backoff_s(self._failures) if counted else 0.0)
        self._blocked_until = max(self._blocked_until, now + wait)
        self._discard()
        self._go(now, Phase.NOT_RECOGNISED, can_retry=True)
        return self._refresh_wait(now)

    def _fail(
        self, now: float, problem: Problem, *, label: str | None = None, detail: str = ""
    ) -> FlowView:
        retry = problem in (
            Problem.CAPTURE_TIMEOUT,
            Problem.LIVENESS_FAILED,
            Problem.PRESENTATION_ATTACK,
            Problem.NOT_OPENED,
        )
        self._discard()
        return self._go(
            now, Phase.FAILED, problem=problem, locker_label=label, detail=detail, can_retry=retry
        )

    def _refresh_wait(self, now: float) -> FlowView:
        wait = max(0.0, self._blocked_until - now)
        if wait != self._view.retry_in_s:
            self._view = replace(self._view, retry_in_s=round(wait, 1))
        return self._view

    # -- time --------------------------------------------------------------------------------

    def tick(self, now: float) -> FlowView:
        """Apply timeouts; call it a few times a second (and it is called with every frame)."""
        s = self.settings
        phase = self.phase
        in_phase = now - self._phase_since
        if phase in (Phase.REGISTERING, Phase.RETRIEVING, Phase.HOME):
            return self._view  # never abandon a running service call
        if now - self._activity > s.idle_timeout_s and phase not in (
            Phase.REGISTER_OPEN,
            Phase.RETRIEVE_OPEN,
        ):
            return self.home(now)
        if phase is Phase.CAPTURE and in_phase > s.capture_timeout_s:
            self._fail(now, Problem.CAPTURE_TIMEOUT)
        elif phase is Phase.LIVENESS:
            live = self._liveness
            if live is not None and not live.finished:
                # No frame is a missing face: the camera stalled or the user walked away.
                state = live.observe(None, now)
                if state.status is LivenessStatus.FAILED:
                    self._fail(now, Problem.LIVENESS_FAILED, detail=str(state.failure))
            elif in_phase > s.confirm_timeout_s:
                self._fail(now, Problem.LIVENESS_FAILED, detail="timeout")
        elif phase is Phase.RETRIEVE_SCAN and in_phase > s.retrieve_timeout_s:
            self._not_recognised(now, counted=True)
        elif phase in (Phase.REGISTER_OPEN, Phase.RETRIEVE_OPEN) and in_phase > s.open_display_s:
            self._go(now, Phase.DONE, locker_label=self._view.locker_label)
        elif phase in (Phase.DONE, Phase.FAILED) and in_phase > s.result_display_s * (
            1 if phase is Phase.DONE else 3
        ):
            self.home(now)
        elif phase is Phase.NOT_RECOGNISED:
            self._refresh_wait(now)
        return self._view
