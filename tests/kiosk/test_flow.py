"""The kiosk state machine with a hand-driven clock: no Qt, no camera, no database."""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt
import pytest
from flow_kit import PERSON_A, PERSON_B, Clock, capture, good, settings, vector

from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow import (
    FlowSettings,
    FrameObservation,
    Guidance,
    KioskFlow,
    Phase,
    Problem,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.vision.liveness import LivenessConfig, LivenessStatus, Turn


def turned(yaw: float) -> FrameObservation:
    # Turned heads fail the gate's pose check: no embedding, but the pose is there.
    return FrameObservation(True, False, ("look_at_camera",), None, 0.2, yaw, (320.0, 240.0), 160.0)


NO_FACE = FrameObservation(has_face=False, crowded=False, issues=("no_face",))
CROWD = FrameObservation(True, True, ("multiple_faces",), None, 0.5, 0.0, (320.0, 240.0), 160.0)
DARK = FrameObservation(True, False, ("too_dark",), None, 0.5, 0.0, (320.0, 240.0), 160.0)


def test_register_happy_path_without_liveness() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    assert flow.start_register(clock()).phase is Phase.CONSENT
    assert flow.consent(True, clock()).phase is Phase.CAPTURE
    assert flow.frame(good(), clock()) is None
    assert flow.view.captured == 1 and flow.view.guidance == Guidance.HOLD_STILL
    command = capture(flow, clock, good(), 2)
    assert isinstance(command, RegisterRequest)
    assert command.templates.shape == (3, 512) and command.qualities.shape == (3,)
    assert flow.phase is Phase.REGISTERING
    assert not flow.holds_face_data  # handed over, not kept
    view = flow.register_done(RegisterResult(RegisterOutcome.OPENED, "12", 7), clock())
    assert view.phase is Phase.REGISTER_OPEN and view.locker_label == "12"
    assert flow.door_closed("3", clock()).phase is Phase.REGISTER_OPEN  # another door
    assert flow.door_closed("12", clock()).phase is Phase.DONE
    assert flow.tick(clock(10.0)).phase is Phase.HOME


def test_declining_consent_goes_home() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_register(clock())
    assert flow.consent(False, clock()).phase is Phase.HOME


def test_frames_too_close_in_time_count_once() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    flow.frame(good(), clock(0.2))
    flow.frame(good(), clock(0.01))
    assert flow.view.captured == 1


def test_guidance_follows_the_quality_gate_and_crowds_reset_capture() -> None:
    flow, clock = KioskFlow(settings(capture_frames=5)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    flow.frame(DARK, clock())
    assert flow.view.guidance == "too_dark"
    capture(flow, clock, good(), 2)
    assert flow.view.captured == 2
    flow.frame(CROWD, clock())
    assert flow.view.guidance == Guidance.STEP_BACK and flow.view.captured == 0


def test_a_face_gone_for_long_drops_what_was_captured() -> None:
    flow, clock = KioskFlow(settings(capture_frames=5)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, good(), 2)
    flow.frame(NO_FACE, clock(3.0))
    assert flow.view.captured == 0 and not flow.holds_face_data


def test_capture_timeout_offers_a_retry() -> None:
    flow, clock = KioskFlow(settings(capture_timeout_s=5.0)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    flow.frame(good(), clock())
    view = flow.tick(clock(6.0))
    assert view.phase is Phase.FAILED and view.problem is Problem.CAPTURE_TIMEOUT
    assert view.can_retry and not flow.holds_face_data
    assert flow.retry(clock()).phase is Phase.CAPTURE


def test_idle_timeout_returns_home_and_discards_face_data() -> None:
    flow, clock = KioskFlow(settings(capture_frames=10, capture_timeout_s=60)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, good(), 3)
    assert flow.holds_face_data
    flow.touch(clock(20.0))
    assert flow.tick(clock(20.0)).phase is Phase.CAPTURE  # the touch restarted the timer
    assert flow.tick(clock(11.0)).phase is Phase.HOME
    assert not flow.holds_face_data


def test_idle_timeout_on_consent() -> None:
    flow, clock = KioskFlow(settings(idle_timeout_s=5)), Clock()
    flow.start_register(clock())
    assert flow.tick(clock(6)).phase is Phase.HOME


def liveness_flow(seed: int = 0) -> tuple[KioskFlow, Clock]:
    config = LivenessConfig(turn_deg=18, frontal_deg=10, hold_frames=2, timeout_s=10)
    flow = KioskFlow(settings(liveness=config), rng=random.Random(seed))
    clock = Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, good(), 3)
    return flow, clock


def do_turn(flow: KioskFlow, clock: Clock, turn: Turn) -> object:
    sign = 1 if turn is Turn.LEFT else -1
    command = None
    for yaw in (0, 10 * sign, 22 * sign, 25 * sign, 24 * sign, 5 * sign, 0):
        obs = turned(yaw) if abs(yaw) > 10 else good(yaw=yaw)
        command = flow.frame(obs, clock(0.1)) or command
    return command


def reported(flow: KioskFlow, clock: Clock, command: object, detail: str) -> None:
    """A failed registration challenge goes to the service (it counts the failed attempt);
    its answer shows the failure with the service's wait."""
    assert isinstance(command, RegisterRequest) and command.challenge is not None
    assert not command.challenge.passed and command.challenge.detail == detail
    assert flow.phase is Phase.REGISTERING and not flow.holds_face_data
    failed = RegisterResult(RegisterOutcome.CHALLENGE_FAILED, detail=detail)
    flow.register_done(failed, clock(), request_id=command.request_id)


def test_register_with_liveness_then_the_same_face_again() -> None:
    flow, clock = liveness_flow()
    view = flow.view
    assert view.phase is Phase.LIVENESS and view.liveness is not None
    first = view.liveness.prompt
    assert first is not None
    do_turn(flow, clock, first)
    second = flow.view.liveness.prompt  # type: ignore[union-attr]
    assert second is not None and second is not first
    command = do_turn(flow, clock, second)
    # Every frontal frame of the turns was A's, compared with the templates as it came: the
    # request goes when the last move is held, without a confirming look.
    assert isinstance(command, RegisterRequest) and flow.phase is Phase.REGISTERING
    assert command.templates.shape == (3, 512)


def test_liveness_confirm_refuses_another_face() -> None:
    flow, clock = liveness_flow()
    for _ in range(2):
        turn = flow.view.liveness.prompt  # type: ignore[union-attr]
        assert turn is not None
        sign = 1 if turn is Turn.LEFT else -1
        for yaw in (0, 22 * sign, 25 * sign, 5 * sign):
            flow.frame(turned(yaw), clock(0.1))  # never a good frame: no early confirmation
    assert flow.view.liveness.status is LivenessStatus.PASSED  # type: ignore[union-attr]
    reported(flow, clock, flow.frame(good(PERSON_B), clock()), "face_changed")
    view = flow.view
    assert view.phase is Phase.FAILED and view.problem is Problem.LIVENESS_FAILED
    assert view.detail == "face_changed" and not flow.holds_face_data


def test_a_photo_cannot_pass_liveness() -> None:
    flow, clock = liveness_flow()
    command = None
    for _ in range(120):
        command = command or flow.frame(good(yaw=3.0), clock(0.1))
    reported(flow, clock, command, "timeout")
    view = flow.view
    assert view.phase is Phase.FAILED and view.problem is Problem.LIVENESS_FAILED
    assert view.can_retry
    assert flow.retry(clock()).phase is Phase.CAPTURE


@pytest.mark.parametrize(
    ("outcome", "problem", "retry"),
    [
        (RegisterOutcome.NO_FREE_LOCKER, Problem.NO_FREE_LOCKER, False),
        (RegisterOutcome.DOOR_NOT_CONFIRMED, Problem.DOOR_NOT_CONFIRMED, False),
        (RegisterOutcome.NOT_OPENED, Problem.NOT_OPENED, True),
    ],
)
def test_register_failures(outcome: RegisterOutcome, problem: Problem, retry: bool) -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, good(), 3)
    view = flow.register_done(RegisterResult(outcome, "4"), clock())
    assert view.phase is Phase.FAILED and view.problem is problem and view.can_retry is retry
    assert flow.tick(clock(60)).phase is Phase.HOME


def test_reopened_existing_rental_is_reported() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, good(), 3)
    view = flow.register_done(RegisterResult(RegisterOutcome.REOPENED_EXISTING, "2"), clock())
    assert view.phase is Phase.REGISTER_OPEN and view.reopened


def test_a_service_error_stops_for_staff() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, good(), 3)
    view = flow.service_failed("database is locked", clock())
    assert view.problem is Problem.SERVICE_ERROR and not view.can_retry


def scan(flow: KioskFlow, clock: Clock) -> RetrieveRequest:
    flow.start_retrieve(clock())
    command = capture(flow, clock, good(), 3)
    assert isinstance(command, RetrieveRequest)
    return command


def test_retrieve_happy_path() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    command = scan(flow, clock)
    assert command.probes.shape == (3, 512) and flow.phase is Phase.RETRIEVING
    result = RetrieveResult(RetrieveOutcome.OPENED, "12", 7, 0.9)
    view = flow.retrieve_done(result, clock())
    assert view.phase is Phase.RETRIEVE_OPEN and view.locker_label == "12" and view.retrieving
    assert flow.finish(clock()).phase is Phase.DONE
    assert flow.view.retrieving


def test_retrieve_never_decides_on_a_crowded_frame() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_retrieve(clock())
    capture(flow, clock, good(), 2)
    assert flow.frame(CROWD, clock()) is None
    assert flow.view.captured == 0 and flow.view.guidance == Guidance.STEP_BACK
    assert capture(flow, clock, good(), 2) is None
    assert isinstance(flow.frame(good(), clock()), RetrieveRequest)


def test_the_wait_before_a_retry_is_the_services_and_the_flow_adds_none() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    free = RetrieveResult(RetrieveOutcome.NO_MATCH, score=0.2)
    for _ in range(4):  # however many failures: no wait the service did not ask for
        scan(flow, clock)
        view = flow.retrieve_done(free, clock())
        assert view.phase is Phase.NOT_RECOGNISED and view.can_retry and view.retry_in_s == 0
        flow.home(clock())
    assert flow.start_retrieve(clock()).phase is Phase.RETRIEVE_SCAN
    capture(flow, clock, good(PERSON_B), 3)
    view = flow.retrieve_done(
        RetrieveResult(RetrieveOutcome.NO_MATCH, score=0.2, retry_after_s=10.0), clock()
    )
    assert view.retry_in_s == pytest.approx(10.0, abs=0.5)
    assert flow.retry(clock()).phase is Phase.NOT_RECOGNISED  # still waiting
    flow.home(clock())
    assert flow.start_retrieve(clock()).phase is Phase.NOT_RECOGNISED  # home does not reset it
    assert flow.tick(clock(11.0)).retry_in_s == 0
    assert flow.retry(clock()).phase is Phase.RETRIEVE_SCAN


def test_the_services_rate_limit_is_respected() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    scan(flow, clock)
    limited = RetrieveResult(RetrieveOutcome.RATE_LIMITED, retry_after_s=30.0)
    view = flow.retrieve_done(limited, clock())
    assert view.phase is Phase.NOT_RECOGNISED and view.retry_in_s == pytest.approx(30, abs=0.5)


def test_scan_timeout_is_not_recognised() -> None:
    flow, clock = KioskFlow(settings(retrieve_timeout_s=5.0)), Clock()
    for _ in range(3):
        flow.start_retrieve(clock())
        flow.frame(good(), clock())
        view = flow.tick(clock(6.0))
        assert view.phase is Phase.NOT_RECOGNISED
        assert view.retry_in_s == 0  # no face was compared: the service never saw it
        assert not flow.holds_face_data
        flow.home(clock())


@pytest.mark.parametrize(
    ("outcome", "problem"),
    [
        (RetrieveOutcome.DOOR_NOT_CONFIRMED, Problem.DOOR_NOT_CONFIRMED),
        (RetrieveOutcome.NOT_OPENED, Problem.NOT_OPENED),
    ],
)
def test_retrieve_door_failures(outcome: RetrieveOutcome, problem: Problem) -> None:
    flow, clock = KioskFlow(settings()), Clock()
    scan(flow, clock)
    view = flow.retrieve_done(RetrieveResult(outcome, "5", 3, 0.9), clock())
    assert view.phase is Phase.FAILED and view.problem is problem and view.retrieving
    if view.can_retry:
        assert flow.retry(clock()).phase is Phase.RETRIEVE_SCAN


def test_results_nobody_waits_for_change_nothing_unless_a_door_opened() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    failed = RegisterResult(RegisterOutcome.NO_FREE_LOCKER)
    assert flow.register_done(failed, clock()).phase is Phase.HOME
    no_match = RetrieveResult(RetrieveOutcome.NO_MATCH, retry_after_s=30.0)
    assert flow.retrieve_done(no_match, clock(), request_id=3).phase is Phase.HOME
    assert flow.service_failed("board", clock()).phase is Phase.HOME
    assert flow.consent(True, clock()).phase is Phase.HOME
    # A door is open: whoever stands there is told its number.
    view = flow.retrieve_done(RetrieveResult(RetrieveOutcome.OPENED, "1"), clock())
    assert view.phase is Phase.RETRIEVE_OPEN and view.locker_label == "1"


def register_request(flow: KioskFlow, clock: Clock) -> RegisterRequest:
    flow.start_register(clock())
    flow.consent(True, clock())
    request = capture(flow, clock, good(), 3)
    assert isinstance(request, RegisterRequest) and flow.phase is Phase.REGISTERING
    return request


@pytest.mark.parametrize("leave", ["cancel", "home", "finish", "idle"])
def test_a_slow_register_keeps_its_screen_and_its_open_door_is_shown(leave: str) -> None:
    """The way home comes before the result: the flow waits for it, then shows the locker."""
    flow, clock = KioskFlow(settings(idle_timeout_s=5.0)), Clock()
    request = register_request(flow, clock)
    assert flow.door_call_running
    view = flow.tick(clock(60.0)) if leave == "idle" else getattr(flow, leave)(clock())
    assert view.phase is Phase.REGISTERING  # nobody can start anything meanwhile
    assert flow.start_retrieve(clock()).phase is Phase.REGISTERING
    opened = RegisterResult(RegisterOutcome.OPENED, "7", 3)
    view = flow.register_done(opened, clock(), request_id=request.request_id)
    assert view.phase is Phase.REGISTER_OPEN and view.locker_label == "7"
    assert not flow.door_call_running


def test_a_result_before_the_way_home_is_shown_then_home() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    request = register_request(flow, clock)
    opened = RegisterResult(RegisterOutcome.OPENED, "7", 3)
    assert flow.register_done(opened, clock(), request_id=request.request_id).phase is (
        Phase.REGISTER_OPEN
    )
    assert flow.cancel(clock()).phase is Phase.HOME
    # The same answer again (a duplicate) is not this flow's any more and is not re-applied
    # while another call runs.
    request2 = register_request(flow, clock)
    view = flow.register_done(opened, clock(), request_id=request.request_id)
    assert view.phase is Phase.REGISTERING and flow.door_call_running
    failed = RegisterResult(RegisterOutcome.NO_FREE_LOCKER)
    view = flow.register_done(failed, clock(), request_id=request2.request_id)
    assert view.phase is Phase.FAILED and view.problem is Problem.NO_FREE_LOCKER


def test_a_retrieve_result_is_applied_to_its_own_request_only() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    first = scan(flow, clock)
    other = RetrieveResult(RetrieveOutcome.OPENED, "2", 5, 0.9)
    view = flow.retrieve_done(other, clock(), request_id=first.request_id + 100)
    assert view.phase is Phase.RETRIEVING  # another request's answer: not this customer's
    assert flow.service_failed("late", clock(), request_id=first.request_id + 100).phase is (
        Phase.RETRIEVING
    )
    mine = RetrieveResult(RetrieveOutcome.OPENED, "4", 9, 0.9)
    view = flow.retrieve_done(mine, clock(), request_id=first.request_id)
    assert view.phase is Phase.RETRIEVE_OPEN and view.locker_label == "4"


def test_an_early_look_answered_after_the_way_home_goes_home() -> None:
    flow, clock = KioskFlow(settings(retrieve_agree_frames=2)), Clock()
    flow.start_retrieve(clock())
    request = capture(flow, clock, good(), 2)
    assert isinstance(request, RetrieveRequest) and not request.final
    assert flow.cancel(clock()).phase is Phase.RETRIEVING
    undecided = RetrieveResult(RetrieveOutcome.UNDECIDED, score=0.3)
    view = flow.retrieve_done(undecided, clock(), request_id=request.request_id)
    assert view.phase is Phase.HOME and not flow.holds_face_data


def test_a_service_error_after_the_way_home_is_still_shown() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    request = register_request(flow, clock)
    flow.home(clock())
    view = flow.service_failed("board timeout", clock(), request_id=request.request_id)
    assert view.phase is Phase.FAILED and view.problem is Problem.SERVICE_ERROR


def test_service_calls_are_never_abandoned_by_timeouts() -> None:
    flow, clock = KioskFlow(settings(idle_timeout_s=1)), Clock()
    scan(flow, clock)
    assert flow.tick(clock(100)).phase is Phase.RETRIEVING


def test_open_screen_times_out_to_done() -> None:
    flow, clock = KioskFlow(settings(open_display_s=5, idle_timeout_s=2)), Clock()
    scan(flow, clock)
    flow.retrieve_done(RetrieveResult(RetrieveOutcome.OPENED, "1", 1, 0.9), clock())
    assert flow.tick(clock(3)).phase is Phase.RETRIEVE_OPEN  # idle does not cut it short
    assert flow.tick(clock(3)).phase is Phase.DONE


def test_observation_from_a_real_analysis(fixtures_dir: object) -> None:
    from pathlib import Path

    from lockers.config import DetectionConfig, QualityConfig
    from lockers.vision.detector import FaceDetector
    from lockers.vision.image_io import load_image
    from lockers.vision.pipeline import FacePipeline

    class FixedEmbedder:
        backend, model_version = "double", "double"

        def embed(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
            return np.tile(PERSON_A, (len(faces), 1))

    # The detector's default cache (~/.cache/lockers) is shared with tests/vision.
    pipeline = FacePipeline(FaceDetector(DetectionConfig()), QualityConfig(), FixedEmbedder())
    image = load_image(Path(str(fixtures_dir)) / "faces" / "person01_1.jpg")
    obs = FrameObservation.from_analysis(pipeline.analyse(image))
    assert obs.has_face and obs.yaw_deg is not None and obs.width
    assert obs.usable == (obs.embedding is not None)


# --------------------------------------------------------------------------- passive PAD


def pad_frame(real: float, attack: str = "screen") -> FrameObservation:
    from dataclasses import replace

    from lockers.vision.pad import PadScore

    rest = 1.0 - real
    row = (rest, real, 0.0) if attack == "print" else (0.0, real, rest)
    return replace(good(), pad=PadScore((row, row)))


def test_register_carries_the_fused_verdict_of_the_embedded_frames() -> None:
    flow, clock = KioskFlow(settings(passive_threshold=0.6)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    command = capture(flow, clock, pad_frame(0.9), 3)
    assert isinstance(command, RegisterRequest) and command.pad is not None
    assert command.pad.live and command.pad.frames == 3
    assert command.pad.score == pytest.approx(0.9)


def test_a_screen_is_refused_calmly_with_a_retry() -> None:
    from lockers.vision.pad import AttackType

    flow, clock = KioskFlow(settings(passive_threshold=0.6)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    command = capture(flow, clock, pad_frame(0.2), 3)
    assert isinstance(command, RegisterRequest) and command.pad is not None
    assert not command.pad.live and command.pad.attack is AttackType.SCREEN
    result = RegisterResult(RegisterOutcome.PRESENTATION_ATTACK, detail="screen")
    view = flow.register_done(result, clock())
    assert view.phase is Phase.FAILED and view.problem is Problem.PRESENTATION_ATTACK
    assert view.can_retry and not flow.holds_face_data
    assert flow.retry(clock()).phase is Phase.CAPTURE


def test_the_head_turn_frames_are_scored_too() -> None:
    from dataclasses import replace

    from lockers.vision.pad import PadScore

    config = LivenessConfig(turn_deg=18, frontal_deg=10, hold_frames=2, timeout_s=10)
    flow = KioskFlow(settings(liveness=config, passive_threshold=0.6), rng=random.Random(0))
    clock = Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, pad_frame(0.95), 3)  # the frontal frames look live...
    paper = PadScore(((0.95, 0.05, 0.0), (0.95, 0.05, 0.0)))  # ...the turns show paper
    command = None
    for _ in range(2):
        prompt = flow.view.liveness.prompt  # type: ignore[union-attr]
        sign = 1 if prompt is Turn.LEFT else -1
        for yaw in (0, 10 * sign, 22 * sign, 25 * sign, 24 * sign, 5 * sign, 0):
            obs = turned(yaw) if abs(yaw) > 10 else good(yaw=yaw)
            command = flow.frame(replace(obs, pad=paper), clock(0.1)) or command
    assert isinstance(command, RegisterRequest) and command.pad is not None
    assert not command.pad.live and command.pad.frames > 3


def test_with_the_check_on_an_unscored_capture_is_never_live() -> None:
    flow, clock = KioskFlow(settings(passive_threshold=0.6)), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    command = capture(flow, clock, good(), 3)
    assert isinstance(command, RegisterRequest) and command.pad is not None
    assert not command.pad.live and command.pad.frames == 0


def test_with_the_check_off_requests_carry_no_verdict() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    command = capture(flow, clock, pad_frame(0.1), 3)
    assert isinstance(command, RegisterRequest) and command.pad is None


def test_retrieve_scores_exactly_its_probe_frames_and_backs_off_on_attacks() -> None:
    s = settings(passive_threshold=0.6)
    flow, clock = KioskFlow(s), Clock()
    flow.start_retrieve(clock())
    flow.frame(pad_frame(0.1), clock())
    flow.frame(CROWD, clock())  # a crowd drops what was collected, scores included
    command = capture(flow, clock, pad_frame(0.3, "print"), 3)
    assert isinstance(command, RetrieveRequest) and command.pad is not None
    assert command.pad.frames == 3 and command.pad.score == pytest.approx(0.3)
    result = RetrieveResult(
        RetrieveOutcome.PRESENTATION_ATTACK, score=0.3, retry_after_s=10.0, detail="print"
    )
    view = flow.retrieve_done(result, clock())
    assert view.phase is Phase.FAILED and view.problem is Problem.PRESENTATION_ATTACK
    assert view.retrieving and view.can_retry and view.retry_in_s == pytest.approx(10.0, abs=0.5)
    assert flow.retry(clock()).phase is Phase.FAILED  # must wait
    assert flow.retry(clock(11.0)).phase is Phase.RETRIEVE_SCAN


# --------------------------------------------------------------------------- identity continuity


def test_a_face_swapped_mid_challenge_fails() -> None:
    flow, clock = liveness_flow()
    first = flow.view.liveness.prompt  # type: ignore[union-attr]
    assert first is not None
    do_turn(flow, clock, first)  # A does the first turn...
    assert flow.phase is Phase.LIVENESS
    # ...then B steps in where A stood (same place and size: no jump) and faces the camera.
    reported(flow, clock, flow.frame(good(PERSON_B), clock(0.1)), "face_changed")
    view = flow.view
    assert view.phase is Phase.FAILED and view.problem is Problem.LIVENESS_FAILED
    assert view.detail == "face_changed" and not flow.holds_face_data


def test_the_last_frame_must_match_the_first_frame_of_the_challenge() -> None:
    # Templates of A, a challenge started by a look-alike C (close enough to A's mean), then
    # finished by A: the first and the last challenge frames disagree.
    base = PERSON_A
    other = vector(7)
    look_alike = base + 0.9 * (other - (other @ base) * base)
    look_alike = (look_alike / np.linalg.norm(look_alike)).astype(np.float32)
    assert float(look_alike @ base) > 0.5
    config = LivenessConfig(turn_deg=18, frontal_deg=10, hold_frames=2, timeout_s=10, turns=1)
    flow = KioskFlow(settings(liveness=config, same_face_min_cosine=0.5), rng=random.Random(0))
    clock = Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, good(), 3)
    flow.frame(good(look_alike), clock(0.1))  # the challenge's first frontal frame
    far = base - 0.9 * (other - (other @ base) * base)
    far = (far / np.linalg.norm(far)).astype(np.float32)
    assert float(far @ base) > 0.5 and float(far @ look_alike) < 0.5
    # A later frontal frame of the challenge (each is compared with its first one, and the
    # turns need no confirming look after them when all were): the first and it disagree.
    reported(flow, clock, flow.frame(good(far), clock(0.6)), "face_changed")
    assert flow.view.detail == "face_changed"


def test_the_kiosk_config_builds_the_harder_challenge() -> None:
    from lockers.config import Settings

    s = FlowSettings.from_settings(Settings())
    assert s.liveness is not None and s.liveness.turns == 1  # liveness.register_turns
    assert set(s.liveness.directions) == {Turn.LEFT, Turn.RIGHT, Turn.UP, Turn.DOWN}
    assert s.liveness.turn_timeout_s == 6.0 and s.liveness.hold_s == (0.3, 1.2)
    assert s.passive_threshold == 0.5  # liveness.threshold
    off = FlowSettings.from_settings(Settings(liveness={"passive": "off", "turns": 4}))
    assert off.passive_threshold is None and off.liveness is not None
    assert off.liveness.turns == 4


def test_retrieve_stops_embedding_once_k_consistent_frames_decide() -> None:
    from lockers.kiosk.flow import FlowSettings, FrameObservation, KioskFlow, Phase, RetrieveRequest

    settings = FlowSettings(liveness=None, retrieve_frames=5, retrieve_agree_frames=3)
    flow = KioskFlow(settings)
    flow.start_retrieve(0.0)
    face = np.zeros(512, np.float32)
    face[0] = 1.0
    requests = []
    embedded = 0
    for i in range(8):
        now = 0.1 * (i + 1)
        want = flow.wants_embedding(now)
        embedding = face if want else None
        embedded += embedding is not None
        obs = FrameObservation(
            has_face=True,
            crowded=False,
            embedding=embedding,
            quality_score=0.9,
            yaw_deg=0.0,
            center=(320.0, 240.0),
            width=150.0,
            frame_index=i,
        )
        command = flow.frame(obs, now)
        if command is not None:
            requests.append(command)
    assert len(requests) == 1 and isinstance(requests[0], RetrieveRequest)
    assert len(requests[0].probes) == 3 and embedded == 3
    assert flow.phase is Phase.RETRIEVING and not flow.wants_embedding(9.0)
    assert flow.embedded_frames == (0, 1, 2)


def test_inconsistent_frames_wait_for_all_n() -> None:
    from lockers.kiosk.flow import FlowSettings, FrameObservation, KioskFlow, RetrieveRequest

    flow = KioskFlow(FlowSettings(liveness=None, retrieve_frames=5, retrieve_agree_frames=3))
    flow.start_retrieve(0.0)
    rng = np.random.default_rng(0)
    command = None
    for i in range(5):
        vec = rng.standard_normal(512).astype(np.float32)
        obs = FrameObservation(
            has_face=True,
            crowded=False,
            embedding=vec / np.linalg.norm(vec),
            quality_score=0.9,
            frame_index=i,
        )
        command = flow.frame(obs, 0.1 * (i + 1))
        if i < 4:
            assert command is None
    assert isinstance(command, RetrieveRequest) and len(command.probes) == 5


def crop_frame(quality: float, index: int, yaw: float = 0.0) -> FrameObservation:
    """A good frame as the camera worker hands it over while capturing: a crop, no embedding."""
    crop = np.full((160, 160, 3), index % 256, dtype=np.uint8)
    return FrameObservation(
        has_face=True,
        crowded=False,
        quality_score=quality,
        yaw_deg=yaw,
        center=(320.0, 240.0),
        width=160.0,
        frame_index=index,
        aligned=crop,
    )


def test_register_embeds_the_best_frames_of_the_capture_window_once_at_its_end() -> None:
    from lockers.kiosk.flow import EmbedRequest

    s = settings(capture_frames=3, capture_window_s=1.0, capture_min_interval_s=0.15)
    flow = KioskFlow(s)
    flow.start_register(0.0)
    flow.consent(True, 0.0)
    assert not flow.wants_embedding(0.1)  # capture keeps crops, embeds nothing per frame
    qualities = [0.5, 0.9, 0.6, 0.95, 0.4, 0.7, 0.8, 0.3, 0.85, 0.2, 0.65, 0.55]
    command = None
    for i, quality in enumerate(qualities):  # 0.1 s apart: 1.1 s of good frames
        command = flow.frame(crop_frame(quality, i), 0.1 * (i + 1))
        assert not flow.wants_embedding(0.1 * (i + 1))
        if command is not None:
            break
    assert isinstance(command, EmbedRequest)
    assert i == 10  # the window (1 s from the first good frame) closed, not the first 3 frames
    # The three best, at least 0.15 s apart: frames 3 (0.95), 1 (0.9) and 8 (0.85).
    assert len(command.faces) == 3
    assert [int(face[0, 0, 0]) for face in command.faces] == [1, 3, 8]
    assert flow.phase is Phase.CAPTURE and flow.holds_face_data
    assert flow.frame(crop_frame(0.99, 11), 1.2) is None  # closed: later frames change nothing
    embeddings = np.stack([PERSON_A, PERSON_A, PERSON_A])
    assert flow.faces_embedded(command.job + 1, embeddings, 1.3) is None  # not that job
    request = flow.faces_embedded(command.job, embeddings, 1.3)
    assert isinstance(request, RegisterRequest)
    assert request.templates.shape == (3, 512)
    assert request.qualities.tolist() == pytest.approx([0.9, 0.95, 0.85])
    assert flow.embedded_frames == (1, 3, 8)
    assert not flow.holds_face_data


def test_the_capture_window_waits_for_enough_spaced_good_frames_and_bounds_its_crops() -> None:
    s = settings(
        capture_frames=3, capture_window_s=0.2, capture_min_interval_s=0.15, capture_pool=4
    )
    flow = KioskFlow(s)
    flow.start_register(0.0)
    flow.consent(True, 0.0)
    command = None
    for i in range(6):  # 0.05 s apart: only 2 frames 0.15 s apart so far
        command = flow.frame(crop_frame(0.5 + 0.01 * i, i), 1.0 + 0.05 * i)
        assert command is None
        assert len(flow._register._window) <= 4  # the memory bound
    assert flow.view.captured == 2
    command = flow.frame(crop_frame(0.9, 6), 1.4)
    assert command is not None and len(command.faces) == 3  # type: ignore[union-attr]


def test_leaving_during_the_window_or_while_embedding_drops_every_crop() -> None:
    flow = KioskFlow(settings(capture_frames=2, capture_window_s=0.3))
    flow.start_register(0.0)
    flow.consent(True, 0.0)
    flow.frame(crop_frame(0.8, 0), 0.1)
    assert flow.holds_face_data
    flow.frame(CROWD, 0.2)  # two people: the window starts again
    assert not flow.holds_face_data and flow.view.captured == 0
    command = None
    for i in range(1, 8):
        command = flow.frame(crop_frame(0.8, i), 0.2 + 0.2 * i) or command
    assert command is not None
    flow.home(2.0)
    assert not flow.holds_face_data
    late = flow.faces_embedded(command.job, np.stack([PERSON_A, PERSON_A]), 2.1)  # type: ignore[union-attr]
    assert late is None and flow.phase is Phase.HOME


def test_with_liveness_the_turns_start_while_the_best_frames_are_embedded() -> None:
    from lockers.kiosk.flow import EmbedRequest

    s = settings(capture_frames=2, capture_window_s=0.3, liveness=LivenessConfig())
    flow = KioskFlow(s, rng=random.Random(0))
    flow.start_register(0.0)
    flow.consent(True, 0.0)
    command = None
    for i in range(6):
        command = flow.frame(crop_frame(0.8, i), 0.2 * (i + 1)) or command
    assert isinstance(command, EmbedRequest) and flow.phase is Phase.LIVENESS
    # The turns need poses; only a frontal frame now and then is embedded, to bind the
    # challenge to the enrolled face.
    # Not before the templates are in, so that every one is compared with them.
    assert not flow.wants_embedding(1.5)
    assert flow.faces_embedded(command.job, np.stack([PERSON_A, PERSON_A]), 1.5) is None
    assert flow.phase is Phase.LIVENESS and flow.holds_face_data
    assert flow.wants_embedding(1.5)
    flow.frame(good(), 1.5)
    assert not flow.wants_embedding(1.6) and flow.wants_embedding(2.0)


def test_embedding_failure_at_the_end_of_the_window_calls_staff() -> None:
    flow = KioskFlow(settings(capture_frames=1, capture_window_s=0.0))
    flow.start_register(0.0)
    flow.consent(True, 0.0)
    command = flow.frame(crop_frame(0.8, 0), 0.1)
    assert command is not None
    view = flow.faces_failed(command.job, "the face model failed", 0.2)  # type: ignore[union-attr]
    assert view.problem is Problem.SERVICE_ERROR and not flow.holds_face_data


def consistent_scan(flow: KioskFlow, frames: range, embedding: npt.NDArray[np.float32]) -> list:
    commands = []
    for i in frames:
        now = 0.1 * (i + 1)
        obs = FrameObservation(
            has_face=True,
            crowded=False,
            embedding=embedding if flow.wants_embedding(now) else None,
            quality_score=0.9,
            frame_index=i,
        )
        command = flow.frame(obs, now)
        if command is not None:
            commands.append(command)
    return commands


def test_an_early_look_that_does_not_match_goes_on_to_n_frames_before_no_match() -> None:
    flow = KioskFlow(FlowSettings(liveness=None, retrieve_frames=5, retrieve_agree_frames=3))
    flow.start_retrieve(0.0)
    first = consistent_scan(flow, range(3), PERSON_B)
    assert len(first) == 1 and not first[0].final and len(first[0].probes) == 3
    assert flow.phase is Phase.RETRIEVING and flow.holds_face_data
    view = flow.retrieve_done(RetrieveResult(RetrieveOutcome.UNDECIDED, score=0.3), 0.4)
    assert view.phase is Phase.RETRIEVE_SCAN and view.captured == 3
    assert flow.wants_embedding(0.5)  # more frames are needed
    second = consistent_scan(flow, range(3, 6), PERSON_B)
    assert len(second) == 1 and second[0].final and len(second[0].probes) == 5
    assert flow.embedded_frames == (0, 1, 2, 3, 4) and not flow.holds_face_data
    view = flow.retrieve_done(RetrieveResult(RetrieveOutcome.NO_MATCH, score=0.3), 0.7)
    assert view.phase is Phase.NOT_RECOGNISED


def test_an_early_look_that_accepts_opens_at_k_frames() -> None:
    flow = KioskFlow(FlowSettings(liveness=None, retrieve_frames=5, retrieve_agree_frames=3))
    flow.start_retrieve(0.0)
    commands = consistent_scan(flow, range(8), PERSON_A)
    assert len(commands) == 1 and not commands[0].final
    view = flow.retrieve_done(RetrieveResult(RetrieveOutcome.OPENED, "4", 9, 0.9), 0.9)
    assert view.phase is Phase.RETRIEVE_OPEN and not flow.holds_face_data
    assert flow.embedded_frames == (0, 1, 2)
