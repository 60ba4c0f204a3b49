"""``lockers bench``: the register and retrieve times a customer lives, with a simulated person.

A replayed video cannot turn its head, so :mod:`~lockers.kiosk.bench_flow` leaves the head
moves out. Here a simulated person stands in front of the kiosk and follows the screen as a
person does: seeing a prompt, they react after ``reaction_s`` (0.6 s), move there in
``move_s`` (0.4 s), hold as long as the screen asked (plus a frame's margin), and come back.
Their frames go through the real :class:`~lockers.kiosk.flow.KioskFlow` (the real liveness
check, tiers and identity continuity) and its requests through the real
:class:`~lockers.kiosk.rental_service.RentalService` on the bench's SQLite store, to the
unlock command on the board emulator.

The clock is a fake camera clock: frame ``i`` at ``i / fps``; service calls take their real
time. The person's frames carry their landmarks' pose, an embedding (a fixed face with a
little noise per frame) and a passive anti-spoofing score: ``confident`` (above
``liveness.confident``) or ``unsure`` (between the threshold and ``confident``). Detection and
embedding time are not in these figures (the video replay measures them).

``register_total_ms``: the consent tap → the unlock command of a new rental (its
``liveness.register_turns`` moves included); ``retrieve_total_ms``: the face shown → the unlock
command (an unsure score adds the one head move).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from lockers.kiosk.bench_flow import Kiosk, stats
from lockers.kiosk.dto import RegisterResult, RetrieveResult
from lockers.kiosk.flow import (
    Command,
    EmbedRequest,
    FlowSettings,
    FlowView,
    FrameObservation,
    KioskFlow,
    Phase,
    RegisterRequest,
)
from lockers.vision.liveness import LivenessStatus, Turn
from lockers.vision.pad import PadScore

# Where a head goes for each move (degrees: yaw + = the user's left on a normal camera).
_POSE = {Turn.LEFT: (25.0, 0.0), Turn.RIGHT: (-25.0, 0.0), Turn.UP: (0.0, 18.0)}
_POSE[Turn.DOWN] = (0.0, -18.0)
SCORES = {"confident": 0.92, "unsure": 0.66}  # the passive "real" probability of the frames


@dataclass(frozen=True)
class HumanTiming:
    reaction_s: float = 0.6  # from a prompt appearing to the head starting to move
    move_s: float = 0.4  # from frontal to the asked pose (and back)
    fps: float = 15.0  # the camera's frame rate


class SimulatedPerson:
    """A face that follows the screen's prompts with human timing. Not thread-safe."""

    def __init__(
        self, face: npt.NDArray[np.float32], real: float, timing: HumanTiming, seed: int
    ) -> None:
        self.face = face
        self.timing = timing
        self._rng = np.random.default_rng(seed)
        row = (0.0, real, 1.0 - real)
        self._pad = PadScore((row, row))
        self._prompt: tuple[object, ...] | None = None
        self._from = self._to = (0.0, 0.0)
        self._moved_at = 0.0  # when the head starts moving towards _to
        self._return_at: float | None = None  # when a held move ends

    def pose(self, t: float) -> tuple[float, float]:
        if self._return_at is not None and t >= self._return_at:
            self._from, self._to = self._to, (0.0, 0.0)
            self._moved_at, self._return_at = self._return_at, None
        share = min(1.0, max(0.0, (t - self._moved_at) / self.timing.move_s))
        (yaw0, pitch0), (yaw1, pitch1) = self._from, self._to
        return yaw0 + (yaw1 - yaw0) * share, pitch0 + (pitch1 - pitch0) * share

    def see(self, view: FlowView, t: float) -> None:
        """Read the screen: a new prompt starts a move after the reaction time."""
        live = view.liveness
        asking = view.phase in (Phase.LIVENESS, Phase.CHALLENGE) and live is not None
        if not asking or live is None or live.status is not LivenessStatus.TURNING:
            return
        key = (view.phase, live.done, live.prompt, live.hold_s)
        if key == self._prompt or live.prompt is None:
            return
        self._prompt = key
        self._from, self._to = self.pose(t), _POSE[live.prompt]
        self._moved_at = t + self.timing.reaction_s
        # Holds as asked (and a frame more, to be sure), then comes back without waiting.
        margin = 2.0 / self.timing.fps
        self._return_at = self._moved_at + self.timing.move_s + live.hold_s + margin

    def frame(self, t: float, embed: bool) -> FrameObservation:
        yaw, pitch = self.pose(t)
        frontal = abs(yaw) <= 10.0 and abs(pitch) <= 10.0
        embedding = None
        if frontal and embed:
            noisy = self.face + self._rng.normal(0.0, 0.02, self.face.shape).astype(np.float32)
            embedding = (noisy / np.linalg.norm(noisy)).astype(np.float32)
        return FrameObservation(
            has_face=True,
            crowded=False,
            issues=() if frontal else ("look_at_camera",),
            embedding=embedding,
            quality_score=0.8 if frontal else 0.2,
            yaw_deg=yaw,
            center=(320.0, 240.0),
            width=160.0,
            pad=self._pad,
            pitch_deg=pitch,
        )


@dataclass
class PersonRun:
    unlock_s: float | None = None
    outcomes: tuple[str, ...] = ()


def live_through(
    flow: KioskFlow, person: SimulatedPerson, kiosk: Kiosk, *, limit_s: float = 20.0
) -> PersonRun:
    """Feed the person's frames from t = 0 (the tap or the face shown) until the door opens
    or the flow stops; commands run on the real service, in their real time."""
    run, t, step = PersonRun(), 0.0, 1.0 / person.timing.fps
    while t < limit_s and run.unlock_s is None:
        t += step
        person.see(flow.view, t)
        obs = person.frame(t, embed=flow.wants_embedding(t) or flow.phase is Phase.CAPTURE)
        command = flow.frame(obs, t) or flow.take_command()
        if command is not None:
            t = _serve(command, flow, kiosk, run, t)
        flow.tick(t)
        if flow.phase in (Phase.FAILED, Phase.NOT_RECOGNISED, Phase.HOME):
            break
    return run


def _serve(command: Command, flow: KioskFlow, kiosk: Kiosk, run: PersonRun, t: float) -> float:
    if isinstance(command, EmbedRequest):
        raise RuntimeError("the simulated person's frames carry their embeddings")
    sent_before, t0 = len(kiosk.board.sent), time.perf_counter()
    version, service = kiosk.model_version, kiosk.service
    result: RegisterResult | RetrieveResult
    if isinstance(command, RegisterRequest):
        result = service.register(
            command.templates,
            consent=True,
            model_version=version,
            quality=command.qualities,
            pad=command.pad,
            challenge=command.challenge,
        )
    else:
        result = service.retrieve(
            command.probes,
            model_version=version,
            pad=command.pad,
            final=command.final,
            challenge=command.challenge,
        )
    elapsed = time.perf_counter() - t0
    if len(kiosk.board.sent) > sent_before:
        run.unlock_s = t + (kiosk.board.sent[-1] - t0)
    run.outcomes += (result.outcome.value,)
    now = t + elapsed
    if isinstance(result, RegisterResult):
        flow.register_done(result, now, request_id=command.request_id)
    else:
        flow.retrieve_done(result, now, request_id=command.request_id)
    return now


def bench_person(
    kiosk: Kiosk, settings: FlowSettings, *, repeats: int = 5, timing: HumanTiming | None = None
) -> dict[str, Any]:
    """Register then retrieve ``repeats`` simulated people per score tier."""
    timing = timing or HumanTiming()
    figures: dict[str, dict[str, list[float]]] = {"register": {}, "retrieve": {}}
    outcomes: dict[str, list[list[str]]] = {}
    for tier, real in SCORES.items():
        register_ms, retrieve_ms = [], []
        outcomes[tier] = []
        for r in range(repeats):
            seed = 1000 * (1 + list(SCORES).index(tier)) + r
            face = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
            face /= np.linalg.norm(face)
            flow = KioskFlow(settings, rng=random.Random(seed))
            flow.start_register(0.0)
            flow.consent(True, 0.0)  # the tap: t = 0
            registered = live_through(flow, SimulatedPerson(face, real, timing, seed), kiosk)
            flow = KioskFlow(settings, rng=random.Random(seed + 1))
            flow.start_retrieve(0.0)  # the face is shown from t = 0
            retrieved = live_through(flow, SimulatedPerson(face, real, timing, seed + 1), kiosk)
            outcomes[tier].append([*registered.outcomes, *retrieved.outcomes])
            if registered.unlock_s is not None:
                register_ms.append(registered.unlock_s * 1e3)
            if retrieved.unlock_s is not None:
                retrieve_ms.append(retrieved.unlock_s * 1e3)
            time.sleep(0.35)  # the emulated door closes by itself before the next customer
        figures["register"][tier], figures["retrieve"][tier] = register_ms, retrieve_ms
    return {
        "register_total_ms": {tier: stats(v) for tier, v in figures["register"].items()},
        "retrieve_total_ms": {tier: stats(v) for tier, v in figures["retrieve"].items()},
        "person": {
            "reaction_s": timing.reaction_s,
            "move_s": timing.move_s,
            "fps": timing.fps,
            "passive_scores": dict(SCORES),
            "register_turns": 0 if settings.liveness is None else settings.liveness.turns,
        },
        "person_outcomes": outcomes,
    }
