"""The commands end to end: real images, the kiosk's own pipeline, real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from lockers.cli import app
from lockers.errors import LockersError, WeightsError

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _run(*args: str) -> object:
    result = runner.invoke(app, list(args), catch_exceptions=True)
    if result.exception and not isinstance(result.exception, (SystemExit, LockersError)):
        raise result.exception
    return result


def test_dataset_split_and_pairs(shapes_dataset: Path, tmp_path: Path) -> None:
    split = tmp_path / "split.json"
    result = _run("dataset", "split", str(shapes_dataset), "--out", str(split), "--seed", "3")
    assert result.exit_code == 0, result.output
    parts = json.loads(split.read_text())
    assert len(parts["val"]) == 2 and not set(parts["train"]) & set(parts["val"])
    pairs = tmp_path / "pairs.csv"
    result = _run(
        "dataset",
        "pairs",
        str(shapes_dataset),
        "--out",
        str(pairs),
        "--genuine",
        "5",
        "--impostor",
        "7",
        "--split",
        str(split),
        "--subset",
        "val",
    )
    assert result.exit_code == 0, result.output
    rows = pairs.read_text().splitlines()
    assert rows[0] == "a,b,same" and len(rows) == 1 + 5 + 7
    assert all(r.split("/")[0] in parts["val"] for r in rows[1:])
    assert "TAR at FAR=1e-3 will not be measurable" in result.output


def test_train_command_writes_importable_output(shapes_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _run(
        "train",
        str(shapes_dataset),
        "--out",
        str(out),
        "--recipe",
        "smoke-tiny",
        "--from-scratch",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--set",
        "seed=2",
        "--version",
        "shapes-v1",
    )
    assert result.exit_code == 0, result.output
    assert (out / "shapes-v1.pt").is_file()
    assert "lockers models import" in result.output and "--version shapes-v1" in result.output


def test_train_command_bad_recipe_key_is_a_clear_error(shapes_dataset: Path, tmp_path) -> None:
    result = _run(
        "train", str(shapes_dataset), "--out", str(tmp_path), "--from-scratch", "--set", "lrate=0.1"
    )
    assert result.exit_code != 0 and "lrate" in str(result.exception)


def test_evaluate_shared_pairs_untrained_end_to_end(shared_faces: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = _run(
        "evaluate",
        "--pairs",
        str(shared_faces / "pairs.csv"),
        "--images-root",
        str(shared_faces / "identities"),
        "--out",
        str(out),
        "--backend",
        "torch",
        "--mode",
        "both",
        "--dev-allow-untrained",
    )
    assert result.exit_code == 0, result.output
    assert "UNTRAINED RANDOM WEIGHTS" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["untrained"] is True and "UNTRAINED" in report["warning"]
    # Whatever the quality gate thinks of these photos today, nearly all pairs are usable.
    assert report["pairs_total"] == 148 and report["pairs_used"] >= 120
    assert set(report["variants"]) == {"aligned/torch", "crop/torch"}
    figures = report["variants"]["aligned/torch"]
    assert len(figures["accuracy"]["fold_accuracies"]) == 10
    assert 0.0 <= figures["auc"] <= 1.0
    far_1e3 = figures["tar_at_far"][1]
    assert not far_1e3["supported"] and "not enough impostor pairs" in far_1e3["note"]
    for name in ("roc.png", "det.png", "scores.csv"):
        assert (out / name).stat().st_size > 0


def test_evaluate_without_weights_refuses(shared_faces: Path, tmp_path: Path) -> None:
    result = _run(
        "evaluate",
        "--pairs",
        str(shared_faces / "pairs.csv"),
        "--images-root",
        str(shared_faces / "identities"),
        "--out",
        str(tmp_path),
        "--backend",
        "torch",
    )
    assert isinstance(result.exception, WeightsError)


def test_calibrate_writes_config_and_keeps_evidence(
    shared_faces: Path, tmp_path: Path, random_irv1_weights: Path
) -> None:
    config = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", config)
    result = _run(
        "--config",
        str(config),
        "calibrate",
        str(shared_faces / "identities"),
        "--target-far",
        "0.01",
        "--weights",
        str(random_irv1_weights),
    )
    assert result.exit_code == 0, result.output
    text = config.read_text()
    recognition = yaml.safe_load(text)["recognition"]
    evidence = json.loads(next((tmp_path / "calibration").glob("calibration-*.json")).read_text())
    assert recognition["threshold"] == evidence["threshold"]
    assert recognition["margin"] == evidence["margin"]
    assert evidence["impostor_pairs"] >= 100 and evidence["supported"]
    assert evidence["far_at_threshold"] <= 0.01
    assert evidence["previous"] == {"threshold": 0.55, "margin": 0.08}
    assert "# minimum cosine similarity to accept a match" in text
    assert (tmp_path / "config.yaml.bak").is_file()


def test_calibrate_refuses_an_unsupported_target(
    shared_faces: Path, tmp_path: Path, random_irv1_weights: Path
) -> None:
    config = tmp_path / "config.yaml"
    shutil.copy(REPO / "config.yaml", config)
    before = config.read_text()
    result = _run(
        "--config",
        str(config),
        "calibrate",
        str(shared_faces / "identities"),
        "--target-far",
        "1e-4",
        "--weights",
        str(random_irv1_weights),
    )
    assert "not enough impostor pairs" in str(result.exception)
    assert config.read_text() == before


def test_dataset_align_uses_the_kiosk_pipeline(
    shared_faces: Path, shapes_dataset: Path, tmp_path: Path
) -> None:
    src = tmp_path / "photos"
    shutil.copytree(shared_faces / "identities" / "person02", src / "person02")
    shutil.copytree(shared_faces / "identities" / "person03", src / "person03")
    shutil.copy(shapes_dataset / "id00" / "0.png", src / "person02" / "no-face.png")
    dst = tmp_path / "aligned"
    result = _run("dataset", "align", str(src), str(dst))
    assert result.exit_code == 0, result.output
    from PIL import Image

    written = sorted(p.name for p in (dst / "person02").iterdir())
    assert len(list((dst / "person03").iterdir())) == 2
    assert written == ["1.png", "2.png", "3.png"]
    with Image.open(dst / "person02" / "1.png") as face:
        assert face.size == (160, 160)
    report = json.loads((dst / "align-report.json").read_text())
    assert report["rejected"] == {"person02/no-face.png": ["no_face"]}
    again = _run("dataset", "align", str(src), str(dst))  # resumable: nothing redone
    assert "wrote 0 faces (5 already there)" in again.output

    # The aligned tree is what training and evaluation read directly.
    pairs = tmp_path / "pairs.csv"
    assert _run("dataset", "pairs", str(dst), "--out", str(pairs)).exit_code == 0
    out = tmp_path / "eval"
    result = _run(
        "evaluate",
        "--pairs",
        str(pairs),
        "--images-root",
        str(dst),
        "--out",
        str(out),
        "--prealigned",
        "--backend",
        "torch",
        "--dev-allow-untrained",
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["source"] == "prealigned" and report["pairs_used"] == 10  # 4 genuine, 6 not
