"""``evaluate --compare``: several models on the same pairs and crops, the paired test, labels.

Real photos and the kiosk's detector and aligner; weights are random (the mechanics, not the
figures), one file with batch-norm statistics updated as any training run does.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lockers.cli import app
from lockers.config import Settings, load_settings
from lockers.errors import ConfigError, WeightsError
from lockers.training.compare import (
    UNTRAINED_TAG,
    CompareJob,
    batchnorm_never_updated,
    compare_models,
)
from lockers.training.faces import NotEnoughFacesError
from lockers.training.significance import binomial_two_sided_p, mcnemar

runner = CliRunner()


# ----------------------------------------------------------------------------- McNemar


def _reference_p(b: int, c: int) -> float:
    n, k = b + c, min(b, c)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


@pytest.mark.parametrize(("b", "c"), [(0, 0), (10, 0), (17, 10), (5, 5), (3, 40), (400, 350)])
def test_exact_mcnemar_p_values(b: int, c: int) -> None:
    assert binomial_two_sided_p(b, b + c) == pytest.approx(_reference_p(b, c), rel=1e-9)


def test_mcnemar_counts_only_the_pairs_where_the_models_disagree() -> None:
    base = np.array([True] * 50 + [False] * 10 + [True] * 2 + [False] * 30)
    other = np.array([True] * 50 + [True] * 10 + [False] * 2 + [False] * 30)
    result = mcnemar(base, other)
    assert (result.only_a_correct, result.only_b_correct, result.n_pairs) == (2, 10, 92)
    assert result.p_value == pytest.approx(_reference_p(2, 10))
    assert result.p_value == pytest.approx(158 / 4096)  # 2 * (1 + 12 + 66) / 2**12
    assert result.significant and result.verdict().startswith("better than baseline (10 vs 2")
    close = mcnemar(base, np.array([True] * 50 + [True] * 4 + [False] * 38))
    assert (close.only_a_correct, close.only_b_correct) == (2, 4) and not close.significant
    assert close.verdict().startswith("no significant difference (4 vs 2 pairs, p=0.69)")
    assert mcnemar(np.array([True] * 92), base).verdict().startswith("worse than baseline")
    assert mcnemar(base, base).p_value == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar(base, base[:-1])


# ----------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def updated_bn_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights whose batch-norm statistics have seen batches (as after any training)."""
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(1)
    net = InceptionResnetV1(pretrained=None, classify=False).train()
    with torch.no_grad():
        net(torch.randn(4, 3, 160, 160))
    path = tmp_path_factory.mktemp("weights") / "bn-updated.pt"
    torch.save(net.eval().state_dict(), path)
    return path


def test_untrained_weights_are_recognised_by_their_batchnorm(
    random_irv1_weights: Path, updated_bn_weights: Path
) -> None:
    assert batchnorm_never_updated(torch.load(random_irv1_weights, weights_only=True))
    assert not batchnorm_never_updated(torch.load(updated_bn_weights, weights_only=True))
    assert not batchnorm_never_updated({"conv.weight": torch.zeros(1)})


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(None, env={})


def test_compare_three_models_on_the_same_pairs(
    shared_faces: Path,
    tmp_path: Path,
    settings: Settings,
    random_irv1_weights: Path,
    updated_bn_weights: Path,
) -> None:
    out = tmp_path / "cmp"
    job = CompareJob(
        shared_faces / "pairs.csv",
        shared_faces / "identities",
        out,
        [random_irv1_weights, updated_bn_weights, random_irv1_weights],
        target_far=1e-2,
    )
    result = compare_models(job, settings)
    r = result.report
    assert [m["untrained"] for m in r["models"]] == [True, False, True]
    assert all(UNTRAINED_TAG in m["label"] for m in r["models"] if m["untrained"])
    assert r["untrained_models"] and "UNTRAINED" in r["warning"]
    # Same pairs, same crops for every model: the same genuine/impostor counts everywhere.
    assert {(m["n_genuine"], m["n_impostor"]) for m in r["models"]} == {
        (r["n_genuine"], r["n_impostor"])
    }
    assert r["pairs_used"] <= r["pairs_total"] and r["n_impostor"] > 0
    for m in r["models"]:
        assert 0 <= m["accuracy"]["mean"] <= 1 and 0 <= m["auc"] <= 1
        assert [t["target_far"] for t in m["tar_at_far"]] == [1e-2, 1e-3, 1e-4]
        assert all(t["n_impostor"] == r["n_impostor"] for t in m["tar_at_far"])
        assert m["threshold_at_target_far"]["far"] <= 1e-2
        assert m["ms_per_face_single"] > 0 and m["backend"] == "onnx"
    assert r["models"][0]["vs_baseline"] is None
    # The baseline against itself: identical decisions, nothing to tell apart.
    same = r["models"][2]["vs_baseline"]["at_accuracy_threshold"]
    assert (same["only_a_correct"], same["only_b_correct"], same["p_value"]) == (0, 0, 1.0)
    assert same["verdict"].startswith("no significant difference")
    # Every output says which models are untrained.
    markdown = result.markdown_path.read_text()
    assert "WARNING: UNTRAINED WEIGHTS" in markdown and markdown.count(UNTRAINED_TAG) >= 4
    assert "McNemar" in markdown and "| vs baseline (McNemar) |" in markdown
    saved = json.loads(result.report_path.read_text())
    assert [m["untrained"] for m in saved["models"]] == [True, False, True]
    scores_header = (out / "scores.csv").read_text().splitlines()[0]
    assert scores_header.count(UNTRAINED_TAG) == 2
    for plot in ("roc.png", "det.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_random_weights_need_the_development_flag(
    shared_faces: Path, tmp_path: Path, settings: Settings, random_irv1_weights: Path
) -> None:
    job = CompareJob(
        shared_faces / "pairs.csv",
        shared_faces / "identities",
        tmp_path / "cmp",
        [Path("untrained"), random_irv1_weights],
    )
    with pytest.raises(WeightsError, match="model 1 is 'untrained'") as err:
        compare_models(job, settings)
    assert "--dev-allow-untrained" in err.value.hint
    job.models = [random_irv1_weights]
    with pytest.raises(NotEnoughFacesError, match="at least two weights files"):
        compare_models(job, settings)


def test_cli_compare(
    shared_faces: Path, tmp_path: Path, random_irv1_weights: Path, updated_bn_weights: Path
) -> None:
    base = [
        "evaluate",
        "--pairs",
        str(shared_faces / "pairs.csv"),
        "--images-root",
        str(shared_faces / "identities"),
        "--out",
        str(tmp_path / "cmp"),
    ]
    models = [str(random_irv1_weights), str(updated_bn_weights)]
    result = runner.invoke(app, [*base, "--compare", *models, "--target-far", "0.01"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert out.count("UNTRAINED WEIGHTS (random values, never trained)") == 2
    assert "vs baseline" in out and "McNemar" in out and "wall time" in out
    assert (tmp_path / "cmp" / "compare.md").is_file()
    bad = runner.invoke(app, [*base, *models])
    assert isinstance(bad.exception, ConfigError) and "without --compare" in bad.exception.message
    bad = runner.invoke(app, [*base, "--compare", *models, "--backend", "torch"])
    assert isinstance(bad.exception, ConfigError) and "serving back-end" in bad.exception.message
