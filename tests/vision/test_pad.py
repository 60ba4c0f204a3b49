"""The fused passive-PAD decision on hand-made probabilities."""

from __future__ import annotations

import pytest

from lockers.vision.pad import AttackType, PadScore, fuse


def _frame(*models: tuple[float, float, float]) -> PadScore:
    return PadScore(tuple(models))


def test_the_fused_score_is_the_mean_real_probability_of_both_models_over_the_frames() -> None:
    frames = [
        _frame((0.1, 0.8, 0.1), (0.0, 0.6, 0.4)),
        _frame((0.2, 0.7, 0.1), (0.1, 0.9, 0.0)),
    ]
    verdict = fuse(frames, threshold=0.7)
    assert verdict.score == pytest.approx(0.75)
    assert verdict.live and verdict.attack is None and verdict.frames == 2


def test_below_the_threshold_is_an_attack_of_the_likelier_type() -> None:
    screen = [_frame((0.1, 0.3, 0.6), (0.2, 0.4, 0.4))] * 3
    verdict = fuse(screen, threshold=0.5)
    assert not verdict.live and verdict.attack is AttackType.SCREEN
    assert verdict.score == pytest.approx(0.35)
    printed = fuse([_frame((0.7, 0.2, 0.1), (0.5, 0.45, 0.05))], threshold=0.5)
    assert printed.attack is AttackType.PRINT
    assert printed.describe() == "print attack: fused real score 0.325 (threshold 0.50), 1 frames"


def test_one_confident_frame_does_not_outvote_many_attack_frames() -> None:
    frames = [_frame((0.0, 1.0, 0.0), (0.0, 1.0, 0.0))] + [
        _frame((0.9, 0.1, 0.0), (0.8, 0.2, 0.0))
    ] * 4
    assert not fuse(frames, threshold=0.5).live


def test_the_threshold_itself_is_live() -> None:
    assert fuse([_frame((0.25, 0.5, 0.25))], threshold=0.5).live


def test_nothing_scored_or_bad_input_is_an_error() -> None:
    with pytest.raises(ValueError, match="no frame was scored"):
        fuse([], threshold=0.5)
    with pytest.raises(ValueError, match="threshold"):
        fuse([_frame((0.0, 1.0, 0.0))], threshold=1.0)
    with pytest.raises(ValueError, match="summing to 1"):
        _frame((0.5, 0.6, 0.1))
    with pytest.raises(ValueError, match="at least one model"):
        PadScore(())
