"""Active liveness from yaw over time: real turns pass, photos and swaps do not."""

from __future__ import annotations

import itertools
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


# --------------------------------------------------------------------------- the harder challenge

HARD = LivenessConfig(
    turns=3,
    directions=(Turn.LEFT, Turn.RIGHT, Turn.UP, Turn.DOWN),
    turn_deg=18,
    frontal_deg=10,
    tilt_deg=12,
    hold_frames=2,
    hold_s=(0.3, 1.2),
    turn_timeout_s=6.0,
    timeout_s=21.0,
    max_gap_s=1,
)
FPS = 15.0


def pose(yaw: float = 0.0, pitch: float = 0.0) -> FaceSample:
    return FaceSample(yaw_deg=yaw, center=(320.0, 240.0), width=150.0, pitch_deg=pitch)


def _target(turn: Turn) -> tuple[float, float]:
    return {
        Turn.LEFT: (25.0, 0.0),
        Turn.RIGHT: (-25.0, 0.0),
        Turn.UP: (0.0, 18.0),
        Turn.DOWN: (0.0, -18.0),
    }[turn]


def perform(check: ActiveLiveness, t: float) -> tuple[LivenessStatus, float]:
    """A real user: reads each prompt, swings there, holds as long as shown, comes back."""
    while not check.finished:
        state = check.state
        if state.prompt is None:
            break
        yaw, pitch = _target(state.prompt)
        hold_frames = int((state.hold_s + 0.3) * FPS)
        frames = [pose()] * 3
        frames += [pose(yaw * f, pitch * f) for f in (0.3, 0.6, 0.9)]
        frames += [pose(yaw, pitch)] * hold_frames
        frames += [pose(yaw * f, pitch * f) for f in (0.6, 0.3)] + [pose()] * 2
        for sample in frames:
            t += 1 / FPS
            check.observe(sample, t)
            if check.finished:
                break
    return check.state.status, t


def recorded_two_turns() -> list[FaceSample]:
    """What someone filmed of the old challenge: left, back, right, back (15 fps, brief holds)."""
    frames = [pose()] * 5
    for yaw in (25.0, -25.0):
        frames += [pose(yaw * f) for f in (0.3, 0.6, 0.9)] + [pose(yaw)] * 3
        frames += [pose(yaw * f) for f in (0.6, 0.3)] + [pose()] * 4
    return frames


def replay(check: ActiveLiveness, frames: list[FaceSample], seconds: float) -> LivenessStatus:
    t = check.started_at
    i = 0
    while t < check.started_at + seconds and not check.finished:
        t += 1 / FPS
        check.observe(frames[i % len(frames)], t)  # the attacker loops the clip
        i += 1
    return check.state.status


def test_the_sequence_is_drawn_from_four_moves_without_immediate_repeats() -> None:
    plans = {ActiveLiveness(HARD, started_at=0.0, rng=random.Random(s)).plan for s in range(300)}
    assert len(plans) >= 30  # of the 4 * 3 * 3 = 36 possible, not 2
    assert all(a is not b for plan in plans for a, b in itertools.pairwise(plan))
    assert any(Turn.UP in plan or Turn.DOWN in plan for plan in plans)
    holds = {ActiveLiveness(HARD, 0.0, random.Random(s)).state.hold_s for s in range(50)}
    assert len(holds) > 3 and all(0.3 <= h <= 1.2 for h in holds)


@pytest.mark.parametrize("seed", range(6))
def test_a_real_user_following_the_prompts_passes(seed: int) -> None:
    check = ActiveLiveness(HARD, started_at=0.0, rng=random.Random(seed))
    status, _ = perform(check, 0.0)
    assert status is LivenessStatus.PASSED, (check.plan, check.state)


def test_a_replayed_video_of_two_turns_fails_at_least_three_times_in_four() -> None:
    clip = recorded_two_turns()
    results = [
        replay(ActiveLiveness(HARD, started_at=0.0, rng=random.Random(seed)), clip, 30.0)
        for seed in range(4)
    ]
    assert sum(r is LivenessStatus.FAILED for r in results) >= 3, results
    # Reversed (right first): the same.
    back = [pose(-s.yaw_deg) for s in clip]
    results = [
        replay(ActiveLiveness(HARD, started_at=0.0, rng=random.Random(seed)), back, 30.0)
        for seed in range(4)
    ]
    assert sum(r is LivenessStatus.FAILED for r in results) >= 3, results


def test_a_move_shorter_than_the_hold_time_does_not_count() -> None:
    config = LivenessConfig(**{**vars(HARD), "hold_s": (1.0, 1.0)})
    check = ActiveLiveness(config, started_at=0.0, rng=random.Random(0))
    assert check.state.hold_s == 1.0
    yaw, pitch = _target(check.plan[0])
    t = 0.0
    for sample in [pose()] + [pose(yaw, pitch)] * 10 + [pose()]:  # 10 frames: 0.67 s held
        t += 1 / FPS
        check.observe(sample, t)
    assert check.state.done == 0
    for sample in [pose(yaw, pitch)] * 17:  # 1.1 s
        t += 1 / FPS
        check.observe(sample, t)
    assert check.state.done == 1


def test_each_move_has_a_time_limit() -> None:
    check = ActiveLiveness(HARD, started_at=0.0, rng=random.Random(1))
    t = 0.0
    while t < 6.5 and not check.finished:
        t += 1 / FPS
        check.observe(pose(), t)  # faces the camera, never moves
    assert check.state.failure is LivenessFailure.TURN_TIMEOUT and t < HARD.timeout_s


def test_a_flat_photo_tilted_back_and_forth_never_reaches_up_or_down() -> None:
    config = LivenessConfig(**{**vars(HARD), "directions": (Turn.UP, Turn.DOWN)})
    check = ActiveLiveness(config, started_at=0.0, rng=random.Random(0))
    t = 0.0
    for i in range(200):  # a printed face rocked about its horizontal axis: pitch stays small
        t += 1 / FPS
        check.observe(pose(yaw=1.0, pitch=5.0 * ((i % 20) / 10 - 1)), t)
    assert check.state.status is LivenessStatus.FAILED and check.state.done == 0


def _paper_tilted(image: object, yaw_deg: float, pitch_deg: float) -> object:
    """``image`` as a printed photo turned by ``yaw_deg`` about its vertical axis and
    ``pitch_deg`` about its horizontal one, seen by a close camera (focal length 1.2 widths)."""
    import math

    import cv2
    import numpy as np

    h, w = image.shape[:2]  # type: ignore[attr-defined]
    f = 1.2 * w
    corners = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0],
                        [-w / 2, h / 2, 0]])  # fmt: skip
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    turn = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    seen = corners @ (tilt @ turn).T
    depth = seen[:, 2] + f
    where = np.stack([f * seen[:, 0] / depth + w / 2, f * seen[:, 1] / depth + h / 2], 1)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    warp = cv2.getPerspectiveTransform(src, where.astype(np.float32))
    return cv2.warpPerspective(image, warp, (w, h), borderValue=(128, 128, 128))


def test_a_print_rocked_in_front_of_the_camera_cannot_do_the_one_move(
    detector: object, portraits: dict[str, object]
) -> None:
    """Real MTCNN landmarks of real photos, printed and rocked by hand (up to 25 degrees about
    either axis): the 5-landmark pose of a flat face barely moves, so no move of the unsure
    capture's challenge is done, whichever direction and hold it asks."""
    from lockers.kiosk.move_challenge import one_move
    from lockers.vision.quality import estimate_pose

    sweep = [0, 5, 10, 15, 20, 25, 20, 15, 10, 5, 0, -5, -10, -15, -20, -25, -20, -15, -10, -5]
    for name, image in portraits.items():
        clip: list[FaceSample | None] = []
        for axis in ("yaw", "pitch"):
            for angle in sweep:
                paper = _paper_tilted(
                    image, angle if axis == "yaw" else 0, angle * (axis == "pitch")
                )
                found = detector.detect(paper).subject  # type: ignore[attr-defined]
                if found is None:
                    clip.append(None)
                    continue
                pose = estimate_pose(found.landmarks)
                x1, y1, x2, y2 = found.box
                center = ((x1 + x2) / 2, (y1 + y2) / 2)
                clip.append(FaceSample(pose.yaw, center, x2 - x1, pose.pitch))
        asked = set()
        for seed in range(12):
            check = ActiveLiveness(one_move(HARD), started_at=0.0, rng=random.Random(seed))
            asked.add(check.plan[0])
            t, i = 0.0, 0
            while not check.finished and t < 8.0:  # the attacker keeps rocking the print
                t += 1 / FPS
                check.observe(clip[i % len(clip)], t)
                i += 1
            assert check.state.status is LivenessStatus.FAILED and check.state.done == 0, name
        assert asked == set(Turn)
