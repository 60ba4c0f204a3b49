"""The three passive-score tiers where a door opens for an existing rental, in the service (real
SQLite store, scripted board) and in the flow (hand-driven clock): an unsure score opens only
after one head move, never while it is pending."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from lockers_storekit import MODEL, ScriptedBoard, face

from lockers.backoff import Backoff
from lockers.config import Settings
from lockers.kiosk.dto import RegisterOutcome, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow import FlowSettings, FrameObservation, KioskFlow, Phase, RetrieveRequest
from lockers.kiosk.liveness_tiers import ChallengeProof, Tier, tier_of
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.startup import Store
from lockers.store import audit
from lockers.vision.liveness import LivenessConfig, LivenessStatus, Turn
from lockers.vision.pad import AttackType, PadScore, PadVerdict

THRESHOLD, CONFIDENT = 0.50, 0.82


def verdict(score: float) -> PadVerdict:
    live = score >= THRESHOLD
    return PadVerdict(live, score, THRESHOLD, None if live else AttackType.PRINT, 5)


def service(settings: Settings, store: Store, board: ScriptedBoard) -> RentalService:
    return RentalService.from_settings(
        settings,
        store.database,
        board,
        store.cipher,
        backoff=Backoff(10.0, 60.0, free=0),
        confident=CONFIDENT,
    )


def audit_rows(store: Store) -> list[tuple[str, str]]:
    with store.database.transaction() as session:
        return [(e.action, e.outcome) for e in audit.entries(session)]


@pytest.mark.parametrize(
    ("score", "tier"),
    [(0.4999, Tier.REFUSE), (0.50, Tier.CHALLENGE), (0.8199, Tier.CHALLENGE), (0.82, Tier.OPEN)],
)
def test_the_tier_boundaries(score: float, tier: Tier) -> None:
    assert tier_of(verdict(score), CONFIDENT) is tier
    assert tier_of(None, CONFIDENT) is Tier.OPEN  # passive off: no score to be unsure about


@pytest.mark.parametrize("final", [True, False], ids=["retrieve", "early_look"])
def test_retrieve_tiers_unsure_opens_only_with_a_completed_move(
    settings: Settings, store: Store, board: ScriptedBoard, final: bool
) -> None:
    svc = service(settings, store, board)
    rented = svc.register(face(3), consent=True, model_version=MODEL)
    probes = face(3, k=3, noise=0.05)
    before = audit_rows(store)
    for score in (0.50, 0.8199):
        pending = svc.retrieve(probes, model_version=MODEL, pad=verdict(score), final=final)
        assert pending.outcome is RetrieveOutcome.CHALLENGE_REQUIRED
        assert pending.retry_after_s == 0.0 and pending.locker_label is None
    assert audit_rows(store) == before  # nothing opened, nothing counted, nothing audited
    assert len(board.calls) == 1  # the registration's only
    # A face that rents nothing is not challenged: the early look goes on, a final fails.
    stranger = svc.retrieve(face(9, k=3), model_version=MODEL, pad=verdict(0.6), final=final)
    assert stranger.outcome is (RetrieveOutcome.NO_MATCH if final else RetrieveOutcome.UNDECIDED)
    svc = service(settings, store, board)  # a fresh back-off
    done = ChallengeProof(True, pad=verdict(0.7))
    opened = svc.retrieve(probes, model_version=MODEL, pad=verdict(0.6), final=final,
                          challenge=done)  # fmt: skip
    assert (opened.outcome, opened.rental_id) == (RetrieveOutcome.OPENED, rented.rental_id)


def test_retrieve_confident_opens_and_below_the_threshold_refuses(
    settings: Settings, store: Store, board: ScriptedBoard
) -> None:
    svc = service(settings, store, board)
    svc.register(face(4), consent=True, model_version=MODEL)
    refused = svc.retrieve(face(4, k=3, noise=0.05), model_version=MODEL, pad=verdict(0.4999))
    assert refused.outcome is RetrieveOutcome.PRESENTATION_ATTACK
    svc = service(settings, store, board)
    opened = svc.retrieve(face(4, k=3, noise=0.05), model_version=MODEL, pad=verdict(0.82))
    assert opened.outcome is RetrieveOutcome.OPENED


@pytest.mark.parametrize(
    "proof",
    [
        ChallengeProof(False, detail="turn_timeout"),
        ChallengeProof(True, pad=verdict(0.3)),  # the move's frames were a photo
    ],
    ids=["timed_out", "photo_during_the_move"],
)
def test_a_failed_move_is_a_failed_attempt_with_the_back_off(
    settings: Settings, store: Store, board: ScriptedBoard, proof: ChallengeProof
) -> None:
    svc = service(settings, store, board)
    rented = svc.register(face(6), consent=True, model_version=MODEL)
    probes = face(6, k=3, noise=0.05)
    failed = svc.retrieve(probes, model_version=MODEL, pad=verdict(0.6), challenge=proof)
    assert failed.outcome is RetrieveOutcome.CHALLENGE_FAILED and failed.retry_after_s == 10.0
    assert ("retrieve", "challenge_failed") in audit_rows(store)
    again = svc.retrieve(probes, model_version=MODEL, pad=verdict(0.9))
    assert again.outcome is RetrieveOutcome.RATE_LIMITED  # the back-off holds
    assert len(board.calls) == 1 and rented.outcome is RegisterOutcome.OPENED


def test_a_registration_that_is_a_duplicate_applies_the_retrieve_tiers(
    settings: Settings, store: Store, board: ScriptedBoard
) -> None:
    svc = service(settings, store, board)
    first = svc.register(face(7), consent=True, model_version=MODEL)
    again = face(7, k=2, noise=0.05)
    pending = svc.register(again, consent=True, model_version=MODEL, pad=verdict(0.6))
    assert pending.outcome is RegisterOutcome.CHALLENGE_REQUIRED and not pending.door_opened
    assert len(board.calls) == 1
    failed = svc.register(again, consent=True, model_version=MODEL, pad=verdict(0.6),
                          challenge=ChallengeProof(False, detail="face_lost"))  # fmt: skip
    assert failed.outcome is RegisterOutcome.CHALLENGE_FAILED and failed.retry_after_s == 10.0
    svc = service(settings, store, board)
    moved = svc.register(again, consent=True, model_version=MODEL, pad=verdict(0.6),
                         challenge=ChallengeProof(True))  # fmt: skip
    assert moved.outcome is RegisterOutcome.REOPENED_EXISTING
    assert moved.rental_id == first.rental_id
    sure = svc.register(again, consent=True, model_version=MODEL, pad=verdict(0.9))
    assert sure.outcome is RegisterOutcome.REOPENED_EXISTING
    # A new face with an unsure score opens an empty locker: nothing of anyone's is inside.
    new = svc.register(face(8), consent=True, model_version=MODEL, pad=verdict(0.6))
    assert new.outcome is RegisterOutcome.OPENED


def test_failed_registration_moves_count_and_the_back_off_stops_a_reopen(
    settings: Settings, store: Store, board: ScriptedBoard
) -> None:
    svc = service(settings, store, board)
    first = svc.register(face(13), consent=True, model_version=MODEL)
    # The registration's own moves were the challenge; failing them is a failed attempt, so
    # registering again and again cannot dodge the back-off...
    failed = svc.register(face(13, k=2), consent=True, model_version=MODEL, pad=verdict(0.9),
                          challenge=ChallengeProof(False, detail="turn_timeout"))  # fmt: skip
    assert failed.outcome is RegisterOutcome.CHALLENGE_FAILED and failed.retry_after_s == 10.0
    # ...which then refuses to reopen the rental, even with the moves done and a sure score,
    done = ChallengeProof(True)
    again = svc.register(face(13, k=2), consent=True, model_version=MODEL, pad=verdict(0.9),
                         challenge=done)  # fmt: skip
    assert again.outcome is RegisterOutcome.CHALLENGE_FAILED and again.retry_after_s > 0
    assert len(board.calls) == 1 and not again.door_opened
    # while a new customer still gets a locker.
    new = svc.register(face(14), consent=True, model_version=MODEL, challenge=done)
    assert new.outcome is RegisterOutcome.OPENED and new.rental_id != first.rental_id


# ----------------------------------------------------------------------------------- the flow

FACE = face(11)[0]
MOVE = LivenessConfig(
    turns=1,
    directions=(Turn.LEFT, Turn.RIGHT, Turn.UP, Turn.DOWN),
    hold_s=(0.3, 1.2),
    turn_timeout_s=6.0,
)
_TARGET = {Turn.LEFT: (25.0, 0.0), Turn.RIGHT: (-25.0, 0.0), Turn.UP: (0.0, 18.0),
           Turn.DOWN: (0.0, -18.0)}  # fmt: skip


def frame(
    real: float, yaw: float = 0.0, pitch: float = 0.0, who: np.ndarray = FACE
) -> FrameObservation:
    frontal = abs(yaw) <= 10 and abs(pitch) <= 10
    row = (0.0, real, 1.0 - real)
    return FrameObservation(
        has_face=True,
        crowded=False,
        issues=() if frontal else ("look_at_camera",),
        embedding=who if frontal else None,
        quality_score=0.8,
        yaw_deg=yaw,
        center=(320.0, 240.0),
        width=160.0,
        pad=PadScore((row, row)),
        pitch_deg=pitch,
    )


class Clock:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self, dt: float = 1 / 15) -> float:
        self.t += dt
        return self.t


def unsure_flow(real: float = 0.66, seed: int = 0) -> tuple[KioskFlow, Clock, RetrieveRequest]:
    settings = FlowSettings(passive_threshold=THRESHOLD, confident=CONFIDENT, move=MOVE,
                            retrieve_frames=3, retrieve_agree_frames=3)  # fmt: skip
    flow, clock = KioskFlow(settings, rng=random.Random(seed)), Clock()
    flow.start_retrieve(clock())
    command = None
    while command is None:
        command = flow.frame(frame(real), clock())
    assert isinstance(command, RetrieveRequest)
    return flow, clock, command


def required(request: RetrieveRequest) -> RetrieveResult:
    return RetrieveResult(RetrieveOutcome.CHALLENGE_REQUIRED, score=0.9)


def do_move(flow: KioskFlow, clock: Clock, real: float = 0.66) -> object:
    state = flow.view.liveness
    assert state is not None and state.prompt is not None
    yaw, pitch = _TARGET[state.prompt]
    command = flow.frame(frame(real), clock())
    for _ in range(int((state.hold_s + 0.4) * 15)):
        command = command or flow.frame(frame(real, yaw, pitch), clock())
    return command


def test_a_confident_request_is_handed_over_and_an_unsure_one_kept_for_its_move() -> None:
    flow, _clock, command = unsure_flow(real=0.9)
    assert command.pad is not None and command.pad.score >= CONFIDENT
    assert not flow.holds_face_data
    flow, _clock, command = unsure_flow(real=0.66)
    assert flow.holds_face_data  # the unsure request, in case the service asks for the move


def test_an_unsure_retrieve_does_one_move_then_sends_the_same_probes_with_the_proof() -> None:
    flow, clock, first = unsure_flow()
    view = flow.retrieve_done(required(first), clock(), request_id=first.request_id)
    assert view.phase is Phase.CHALLENGE and view.liveness is not None
    assert view.liveness.total == 1 and view.liveness.prompt is not None
    assert view.liveness.status is LivenessStatus.WAITING_FOR_FRONTAL  # then the arrow
    assert flow.wants_embedding(clock(0))
    again = do_move(flow, clock)
    assert isinstance(again, RetrieveRequest) and again.challenge is not None
    assert again.challenge.holds and again.challenge.pad is not None
    assert np.array_equal(again.probes, first.probes) and again.final == first.final
    assert again.request_id != first.request_id and flow.phase is Phase.RETRIEVING
    assert not flow.holds_face_data
    opened = RetrieveResult(RetrieveOutcome.OPENED, "3", 1)
    assert flow.retrieve_done(opened, clock(), again.request_id).phase is Phase.RETRIEVE_OPEN


def test_a_failed_move_shows_the_services_wait() -> None:
    flow, clock, first = unsure_flow()
    flow.retrieve_done(required(first), clock(), request_id=first.request_id)
    stranger = face(12)[0]
    failed = flow.frame(frame(0.66, who=stranger), clock())  # someone else stepped in
    assert isinstance(failed, RetrieveRequest) and failed.challenge is not None
    assert not failed.challenge.passed and failed.challenge.detail == "face_changed"
    result = RetrieveResult(RetrieveOutcome.CHALLENGE_FAILED, retry_after_s=10.0)
    view = flow.retrieve_done(result, clock(), failed.request_id)
    assert view.phase is Phase.FAILED and view.retrieving and view.retry_in_s > 9
    assert flow.retry(clock()).phase is Phase.FAILED  # the back-off holds


@pytest.mark.parametrize("order", ["timeout_then_move", "move_then_timeout"])
def test_no_door_opens_while_the_move_is_pending_whatever_the_order(order: str) -> None:
    flow, clock, first = unsure_flow()
    flow.retrieve_done(required(first), clock(), request_id=first.request_id)
    # The old request's answer again (a duplicate, late): nothing changes, nothing opens.
    late = RetrieveResult(RetrieveOutcome.CHALLENGE_REQUIRED)
    assert flow.retrieve_done(late, clock(), first.request_id).phase is Phase.CHALLENGE
    if order == "timeout_then_move":
        flow.tick(clock(MOVE.turn_timeout_s + 0.5))  # the move timed out, no frame came
        sent = flow.take_command()
        assert isinstance(sent, RetrieveRequest) and sent.challenge is not None
        assert not sent.challenge.passed and flow.phase is Phase.RETRIEVING
        assert do_move_late(flow, clock) is None  # a move after the timeout changes nothing
    else:
        sent = do_move(flow, clock)
        assert isinstance(sent, RetrieveRequest) and sent.challenge is not None
        assert sent.challenge.holds
        flow.tick(clock(MOVE.turn_timeout_s + 0.5))  # the timeout passes while the call runs
        assert flow.take_command() is None and flow.phase is Phase.RETRIEVING
    assert flow.phase is not Phase.RETRIEVE_OPEN


def do_move_late(flow: KioskFlow, clock: Clock) -> object:
    command = None
    for yaw in (0, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 0):
        command = command or flow.frame(frame(0.66, yaw), clock())
    return command


def test_leaving_during_the_move_reports_a_failed_move_then_goes_home() -> None:
    flow, clock, first = unsure_flow()
    flow.retrieve_done(required(first), clock(), request_id=first.request_id)
    assert flow.home(clock()).phase is Phase.RETRIEVING  # stays until the service counted it
    sent = flow.take_command()
    assert isinstance(sent, RetrieveRequest) and sent.challenge is not None
    assert sent.challenge.detail == "cancelled"
    result = RetrieveResult(RetrieveOutcome.CHALLENGE_FAILED, retry_after_s=10.0)
    assert flow.retrieve_done(result, clock(), sent.request_id).phase is Phase.HOME
    assert flow.start_retrieve(clock()).phase is Phase.NOT_RECOGNISED  # the wait holds


def test_a_flat_print_cannot_complete_the_move() -> None:
    # A printed face tilted and rocked: its landmarks stay coplanar, yaw and pitch barely move.
    flow, clock, first = unsure_flow()
    flow.retrieve_done(required(first), clock(), request_id=first.request_id)
    sent = None
    for i in range(int(MOVE.turn_timeout_s * 15) + 10):
        wobble = 6.0 * ((i % 20) / 10 - 1)
        sent = sent or flow.frame(frame(0.66, yaw=wobble, pitch=wobble / 2), clock())
    assert isinstance(sent, RetrieveRequest) and sent.challenge is not None
    assert not sent.challenge.passed and sent.challenge.detail == "turn_timeout"


def recorded_move() -> list[tuple[float, float]]:
    """What someone filmed of the owner's earlier move: left, held 0.6 s, back (15 fps)."""
    poses = [(0.0, 0.0)] * 6 + [(25.0 * f, 0.0) for f in (0.3, 0.6, 0.9)]
    return poses + [(25.0, 0.0)] * 9 + [(15.0, 0.0), (7.5, 0.0)] + [(0.0, 0.0)] * 6


def test_a_looped_recording_of_an_earlier_move_fails_at_least_three_times_in_four() -> None:
    clip = recorded_move()
    passed = []
    for seed in range(4):
        flow, clock, first = unsure_flow(seed=seed)
        flow.retrieve_done(required(first), clock(), request_id=first.request_id)
        sent = None
        for i in range(int(MOVE.turn_timeout_s * 15) + 10):  # the attacker loops the clip
            yaw, pitch = clip[i % len(clip)]
            sent = sent or flow.frame(frame(0.66, yaw, pitch), clock())
        assert isinstance(sent, RetrieveRequest) and sent.challenge is not None
        passed.append(sent.challenge.passed)
    assert passed.count(False) >= 3, passed


def test_with_register_turns_0_and_passive_off_the_flow_still_works(settings: Settings) -> None:
    live = settings.liveness.model_copy(update={"register_turns": 0})
    no_moves = FlowSettings.from_settings(settings.model_copy(update={"liveness": live}))
    assert no_moves.liveness is None and no_moves.move is not None
    assert no_moves.move.turns >= 1 and no_moves.confident == settings.liveness.confident
    off = FlowSettings.from_settings(settings, passive=False)
    assert off.passive_threshold is None
    flow, clock = KioskFlow(replace(off, retrieve_frames=3, retrieve_agree_frames=3)), Clock()
    flow.start_retrieve(clock())
    command = None
    while command is None:
        command = flow.frame(frame(0.3), clock())
    assert isinstance(command, RetrieveRequest) and command.pad is None
    assert not flow.holds_face_data  # no score, no tier: handed over as before


def test_a_registration_without_moves_that_reopens_an_existing_rental_does_the_move() -> None:
    from lockers.kiosk.dto import RegisterResult
    from lockers.kiosk.flow import RegisterRequest

    settings = FlowSettings(
        liveness=None,
        move=MOVE,
        passive_threshold=THRESHOLD,
        confident=CONFIDENT,
        capture_frames=3,
        capture_window_s=0.0,
    )
    flow, clock = KioskFlow(settings, rng=random.Random(3)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    first = None
    while first is None:
        first = flow.frame(frame(0.66), clock(0.2))
    assert isinstance(first, RegisterRequest) and first.challenge is None  # register_turns: 0
    pending = RegisterResult(RegisterOutcome.CHALLENGE_REQUIRED)
    view = flow.register_done(pending, clock(), request_id=first.request_id)
    assert view.phase is Phase.CHALLENGE and not view.retrieving
    again = do_move(flow, clock)
    assert isinstance(again, RegisterRequest) and again.challenge is not None
    assert again.challenge.holds and np.array_equal(again.templates, first.templates)
    reopened = RegisterResult(RegisterOutcome.REOPENED_EXISTING, "2", 7)
    view = flow.register_done(reopened, clock(), request_id=again.request_id)
    assert view.phase is Phase.REGISTER_OPEN and view.reopened


def test_a_registration_with_moves_carries_them_as_its_proof() -> None:
    from lockers.kiosk.flow import RegisterRequest

    settings = FlowSettings(liveness=replace(MOVE, hold_s=(0.0, 0.0)), passive_threshold=THRESHOLD,
                            capture_frames=3, capture_window_s=0.0)  # fmt: skip
    flow, clock = KioskFlow(settings, rng=random.Random(3)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    command = None
    for _ in range(5):
        command = command or flow.frame(frame(0.66), clock(0.2))
    assert flow.phase is Phase.LIVENESS
    command = command if isinstance(command, RegisterRequest) else do_move(flow, clock)
    for _ in range(3):
        command = command or flow.frame(frame(0.66), clock())  # the look back at the camera
    assert isinstance(command, RegisterRequest) and command.challenge is not None
    assert command.challenge.holds and command.challenge.moves == 1
