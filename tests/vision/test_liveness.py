"""Active liveness from yaw over time: real turns pass, photos and swaps do not."""

from __future__ import annotations

import random

import pytest

from lockers.vision.liveness import (
    ActiveLiveness,
    FaceSample,
    LivenessConfig,
    LivenessFailure,
    LivenessStatus,
    Turn,
)

CONFIG = LivenessConfig(turn_deg=18, frontal_deg=10, hold_frames=2, timeout_s=10, max_gap_s=1)


def face(yaw: float, x: float = 320.0, width: float = 150.0) -> FaceSample:
    return FaceSample(yaw_deg=yaw, center=(x, 240.0), width=width)


def run(check: ActiveLiveness, yaws: list[float | None], dt: float = 0.1) -> LivenessStatus:
    t = check.started_at
    status = check.state.status
    for yaw in yaws:
        t += dt
        status = check.observe(None if yaw is None else face(yaw), t).status
    return status


def swing(turn: Turn, mirrored: bool = False) -> list[float | None]:
    sign = 1.0 if turn is Turn.LEFT else -1.0
    if mirrored:
        sign = -sign
    return [0, 2, 8 * sign, 15 * sign, 22 * sign, 25 * sign, 24 * sign, 10 * sign, 3]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("mirrored", [False, True])
def test_real_head_turns_in_the_asked_order_pass(seed: int, mirrored: bool) -> None:
    config = LivenessConfig(**{**vars(CONFIG), "mirrored": mirrored})
    check = ActiveLiveness(config, started_at=0.0, rng=random.Random(seed))
    first, second = check.plan
    assert {first, second} == {Turn.LEFT, Turn.RIGHT}
    assert check.state.prompt is first
    # The swing ends facing the camera again, so the second prompt is already showing.
    assert run(check, swing(first, mirrored)) is LivenessStatus.TURNING
    assert check.state.done == 1 and check.state.prompt is second
    assert run(check, swing(second, mirrored)) is LivenessStatus.PASSED


def test_the_wrong_direction_does_not_count() -> None:
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    first = check.plan[0]
    other = Turn.RIGHT if first is Turn.LEFT else Turn.LEFT
    assert run(check, swing(other) * 3) is LivenessStatus.TURNING
    assert check.state.done == 0


def test_a_flat_photo_keeps_its_yaw_and_times_out() -> None:
    # A printed photo tilted about its vertical axis: landmarks stay coplanar, yaw barely moves.
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    yaws: list[float | None] = [2 + (i % 5) for i in range(150)]
    state_status = run(check, yaws)
    assert state_status is LivenessStatus.FAILED
    assert check.state.failure is LivenessFailure.TIMEOUT


def test_one_frame_at_the_angle_is_not_a_hold() -> None:
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    sign = 1 if check.plan[0] is Turn.LEFT else -1
    run(check, [0, 25 * sign, 0, 25 * sign, 0])
    assert check.state.done == 0


def test_the_face_leaving_fails() -> None:
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    assert run(check, [0, None, None, None] + [None] * 12) is LivenessStatus.FAILED
    assert check.state.failure is LivenessFailure.FACE_LOST


def test_a_short_detector_dropout_is_tolerated() -> None:
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    first, second = check.plan
    yaws = swing(first)
    yaws.insert(3, None)
    run(check, yaws)
    assert run(check, swing(second)) is LivenessStatus.PASSED


def test_a_swapped_face_fails() -> None:
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    check.observe(face(0, x=200), 0.1)
    state = check.observe(face(0, x=420), 0.2)  # jumped by more than a face width
    assert state.failure is LivenessFailure.FACE_CHANGED
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    check.observe(face(0, width=150), 0.1)
    assert check.observe(face(0, width=240), 0.2).failure is LivenessFailure.FACE_CHANGED


def test_a_second_person_fails_and_the_result_is_final() -> None:
    check = ActiveLiveness(CONFIG, started_at=0.0, rng=random.Random(0))
    assert check.observe(face(0), 0.1, crowded=True).failure is LivenessFailure.CROWD
    assert check.observe(face(0), 0.2).status is LivenessStatus.FAILED


@pytest.mark.parametrize(
    "kwargs", [{"frontal_deg": 20, "turn_deg": 18}, {"turns": 0}, {"hold_frames": 0}]
)
def test_bad_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LivenessConfig(**kwargs)  # type: ignore[arg-type]
