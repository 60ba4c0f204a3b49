"""Verification metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from lockers.training.metrics import (
    best_threshold,
    equal_error_rate,
    kfold_accuracy,
    roc_auc,
    roc_curve,
    tar_at_far,
    verification_report,
)

# 3 genuine, 4 impostor pairs.
SCORES = [0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1]
SAME = [1, 1, 1, 0, 0, 0, 0]


def test_roc_points_by_hand() -> None:
    roc = roc_curve(SCORES, SAME)
    assert roc.thresholds[1:].tolist() == [0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1]
    assert roc.tar.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    assert roc.far.tolist() == pytest.approx([0, 0, 0, 0.25, 0.25, 0.5, 0.75, 1])


def test_auc_is_the_probability_genuine_beats_impostor() -> None:
    # 0.9 and 0.8 beat all 4 impostors, 0.4 beats 3 of them: 11 / 12.
    assert roc_auc(roc_curve(SCORES, SAME)) == pytest.approx(11 / 12)


def test_auc_counts_ties_as_half() -> None:
    assert roc_auc(roc_curve([0.5, 0.5], [1, 0])) == pytest.approx(0.5)


def test_eer_by_hand() -> None:
    # FAR stays 1/4 while FRR falls from 1/3 (t=0.7) to 0 (t=0.4): they cross at 1/4.
    eer = equal_error_rate(roc_curve(SCORES, SAME))
    assert eer.eer == pytest.approx(0.25)
    assert eer.threshold == pytest.approx(0.75 * 0.7 + 0.25 * 0.4)


def test_eer_of_separable_scores_is_zero() -> None:
    assert equal_error_rate(roc_curve([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0])).eer == 0.0


def test_tar_at_far_with_enough_impostors() -> None:
    result = tar_at_far(roc_curve(SCORES, SAME), 0.25)
    assert (result.tar, result.far, result.threshold) == (1.0, 0.25, 0.4)
    assert result.supported and result.n_impostor_needed == 4


def test_tar_at_far_says_when_impostors_are_too_few() -> None:
    result = tar_at_far(roc_curve(SCORES, SAME), 1e-2)
    assert result.tar == pytest.approx(2 / 3) and result.far == 0.0
    assert not result.supported
    assert "not enough impostor pairs" in result.note and "100" in result.note


def test_best_threshold_by_hand() -> None:
    # Midpoints 0.35 and 0.75 both give 6/7; the lower wins.
    threshold, accuracy = best_threshold(SCORES, SAME)
    assert threshold == pytest.approx(0.35) and accuracy == pytest.approx(6 / 7)


def test_kfold_uses_threshold_from_other_folds_by_hand() -> None:
    # Two folds, no shuffle: fold 0 = even indices, fold 1 = odd.
    scores = [0.9, 0.8, 0.6, 0.3, 0.2, 0.1]
    same = [1, 1, 0, 1, 0, 0]
    # Fold 0 tests {0.9:1, 0.6:0, 0.2:0} with the best threshold of {0.8:1, 0.3:1, 0.1:0} = 0.2
    # (midpoint of 0.3 and 0.1) → accepts all three (0.2 >= 0.2): 1/3. Fold 1 tests
    # {0.8:1, 0.3:1, 0.1:0} with the threshold of {0.9:1, 0.6:0, 0.2:0} = 0.75
    # → 0.8 right, 0.3 wrong, 0.1 right: 2/3.
    result = kfold_accuracy(scores, same, folds=2, seed=None)
    assert result.fold_thresholds == pytest.approx([0.2, 0.75])
    assert result.fold_accuracies == pytest.approx([1 / 3, 2 / 3])
    assert result.mean == pytest.approx(0.5)


def test_kfold_matches_brute_force_on_random_scores() -> None:
    rng = np.random.default_rng(1)
    same = rng.random(200) < 0.5
    scores = np.where(same, rng.normal(0.6, 0.15, 200), rng.normal(0.2, 0.15, 200))
    result = kfold_accuracy(scores, same, folds=10, seed=0)
    order = np.random.default_rng(0).permutation(200)
    fold_of = np.empty(200, int)
    fold_of[order] = np.arange(200) % 10
    accs = []
    for k in range(10):
        train, test = fold_of != k, fold_of == k
        grid = np.unique(scores[train])
        cands = np.concatenate([[grid[0] - 1], (grid[:-1] + grid[1:]) / 2, [grid[-1] + 1]])
        acc = [np.mean((scores[train] >= c) == same[train]) for c in cands]
        t = cands[int(np.argmax(acc))]
        accs.append(np.mean((scores[test] >= t) == same[test]))
    assert result.mean == pytest.approx(np.mean(accs))


def test_report_to_dict_is_json_ready() -> None:
    import json

    report, _ = verification_report(SCORES, SAME, folds=3)
    data = report.to_dict()
    text = json.dumps(data)
    assert data["n_impostor"] == 4 and "not enough impostor pairs" in text
    assert [t["target_far"] for t in data["tar_at_far"]] == [1e-2, 1e-3, 1e-4]


@pytest.mark.parametrize(
    ("scores", "same", "match"),
    [
        ([0.1, 0.2], [1, 1], "both genuine and impostor"),
        ([0.1], [1, 0], "differ in length"),
        ([float("nan"), 0.2], [1, 0], "finite"),
    ],
)
def test_bad_inputs_are_explained(scores: list[float], same: list[int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        roc_curve(scores, same)


def test_plots_write_png(tmp_path) -> None:
    from lockers.training.plots import plot_det, plot_roc, plot_training_curves

    roc = roc_curve(SCORES, SAME)
    for path in (
        plot_roc({"a": roc}, tmp_path / "roc.png"),
        plot_det({"a": roc}, tmp_path / "det.png"),
        plot_training_curves(
            [
                {"epoch": 1, "train_loss": 2.0, "train_accuracy": 0.3},
                {"epoch": 2, "train_loss": 1.0, "train_accuracy": 0.6},
            ],
            tmp_path / "curves.png",
        ),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
