"""GroupFace training: recipe, grouping loss, a short real run, and its export to the kiosk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lockers.errors import ConfigError, WeightsError
from lockers.training.grouping import (
    SelfDistributedGroupingLoss,
    group_usage,
    self_distributed_labels,
)
from lockers.training.recipe import TrainRecipe, load_recipe, with_groupface_groups
from lockers.training.trainer import TrainJob, TrainResult, train

from .conftest import write_shapes_dataset

GROUPS, HIDDEN = 4, 16

# --------------------------------------------------------------------------- recipe


def test_bundled_groupface_recipe() -> None:
    recipe = load_recipe(Path("finetune-groupface"))
    assert recipe.groupface is not None and recipe.loss == "arcface"
    assert recipe.groupface.groups == 32 and recipe.groupface.loss_weight == pytest.approx(0.1)
    assert with_groupface_groups(recipe, 8).groupface.groups == 8  # type: ignore[union-attr]
    assert with_groupface_groups(recipe, 8).groupface.loss_weight == pytest.approx(0.1)  # type: ignore[union-attr]
    assert with_groupface_groups(recipe, 0).groupface is None
    plain = load_recipe(Path("finetune-cosface-step"))
    assert with_groupface_groups(plain, 16).groupface.groups == 16  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"loss": "triplet"}, "trained with arcface or cosface"),
        ({"backbone": "tiny_cnn", "train_from": None}, "inception_resnet_v1 backbone only"),
        ({"groupface": {"groups": 1}}, r"groupface\.groups"),
        ({"groupface": {"groups": 8, "k": 3}}, r"groupface\.k: unknown key"),
    ],
)
def test_groupface_recipe_errors(overrides: dict[str, object], expected: str) -> None:
    base = {"groupface": {"groups": 8}, "loss": "arcface"}
    with pytest.raises(ConfigError, match=expected):
        load_recipe(None, {**base, **overrides})


# --------------------------------------------------------------------------- grouping loss


def test_self_distributed_labels_spread_a_skewed_batch() -> None:
    """Every face prefers group 0; the labels still go to the groups each face likes most
    *relative to the batch*, which spreads them."""
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(0, 0.5, (64, 4))).float()
    logits[:, 0] += 4.0
    probs = torch.softmax(logits, dim=1)
    assert (probs.argmax(dim=1) == 0).all()
    counts = torch.bincount(self_distributed_labels(probs), minlength=4)
    assert (counts > 0).all() and counts[0] < 64 * 0.6


def _train_gdn(loss_fn: torch.nn.Module, steps: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Group usage of a linear GDN before and after ``steps`` of ``loss_fn`` alone."""
    torch.manual_seed(0)
    features = torch.randn(128, 16)
    gdn = torch.nn.Linear(16, 4)
    with torch.no_grad():
        gdn.bias.copy_(torch.tensor([3.0, 0.0, 0.0, 0.0]))  # everyone starts in group 0
    before = group_usage(gdn(features))
    optimizer = torch.optim.SGD(gdn.parameters(), lr=0.5)
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(gdn(features)).backward()
        optimizer.step()
    return before, group_usage(gdn(features))


class _ArgmaxLabels(torch.nn.Module):
    """The naive self-labelling the paper improves on: each face's own most likely group."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits, logits.detach().argmax(dim=1))


def test_grouping_loss_balances_the_groups_a_network_chooses() -> None:
    before, after = _train_gdn(SelfDistributedGroupingLoss())
    assert before[0] > 0.9
    assert after.max() < 0.5 and after.min() > 0.1  # every group used, none dominant
    _, naive = _train_gdn(_ArgmaxLabels())
    assert naive[0] > 0.9  # without the expectation term, the first winner keeps everyone


# --------------------------------------------------------------------------- a real run


@dataclass
class Run:
    result: TrainResult
    recipe: TrainRecipe
    out: Path


@pytest.fixture(scope="module")
def groupface_run(tmp_path_factory: pytest.TempPathFactory, random_irv1_weights: Path) -> Run:
    """The bundled GroupFace recipe, scaled down: 3 epochs of 2 steps of 8 faces at 160 px,
    starting from (random stand-in) VGGFace2 weights with the early blocks frozen."""
    root = tmp_path_factory.mktemp("groupface")
    data = write_shapes_dataset(root / "data", identities=5, per_identity=6, size=32, seed=4)
    recipe = load_recipe(
        "finetune-groupface",
        {
            "groupface": {"groups": GROUPS, "gdn_hidden": HIDDEN},
            "epochs": 3,
            "batch_size": 8,
            "warmup_steps": 0,
            "val_fraction": 0.2,
            "seed": 3,
        },
    )
    job = TrainJob(
        data,
        root / "run",
        recipe,
        weights=random_irv1_weights,
        model_version="site-gf-test",
        max_steps_per_epoch=2,
        validate=False,
    )
    return Run(train(job), recipe, root / "run")


def test_groupface_training_lowers_the_loss(groupface_run: Run) -> None:
    history = groupface_run.result.history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for row in history:  # group balance is reported every epoch
        assert 1 / GROUPS <= row["train_group_max_share"] <= 1.0
        assert 1 <= row["train_groups_used"] <= GROUPS


def test_export_holds_the_backbone_and_the_grown_block(
    groupface_run: Run, random_irv1_weights: Path
) -> None:
    from lockers.vision.groupface import block_architecture
    from lockers.vision.weights import expected_architecture, verify_state_dict

    assert groupface_run.result.weights_path is not None
    state = torch.load(groupface_run.result.weights_path, weights_only=True)
    assert set(state) == set(expected_architecture()) | set(block_architecture(GROUPS, HIDDEN))
    verify_state_dict(state, origin="the exported weights")
    assert state["groupface.group_weight"].abs().max() > 0  # it learned from its zero start
    start = torch.load(random_irv1_weights, weights_only=True)
    frozen = "repeat_1.0.branch0.conv.weight"  # train_from: repeat_3 in the recipe
    assert torch.equal(state[frozen], start[frozen])
    card = json.loads(groupface_run.result.card_path.read_text())  # type: ignore[union-attr]
    assert card["architecture"] == "inception_resnet_v1+groupface"
    assert card["groupface"]["groups"] == GROUPS and card["model_version"] == "site-gf-test"


def test_export_imports_and_the_kiosk_embeds_like_the_training_module(
    groupface_run: Run, tmp_path: Path
) -> None:
    from lockers.cli import app
    from lockers.config import RecognitionConfig
    from lockers.training.backbone import build_backbone, standardise
    from lockers.vision.embedder import MIN_EXPORT_COSINE, create_embedder
    from lockers.vision.weights import load_weights, read_manifest

    dest = tmp_path / "models" / "irv1.pt"
    result = CliRunner().invoke(
        app,
        [
            "models", "import", str(groupface_run.result.weights_path),
            "--dest", str(dest), "--version", groupface_run.result.model_version,
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_manifest(dest.parent)["irv1.pt"].model_version == "site-gf-test"

    # The training-time module: the recipe's network with the last checkpoint's weights.
    module = build_backbone(groupface_run.recipe)
    ckpt = torch.load(groupface_run.out / "checkpoints" / "last.pt", weights_only=True)
    module.load_state_dict(ckpt["backbone"])
    faces = np.random.default_rng(5).integers(0, 256, (3, 160, 160, 3), dtype=np.uint8)
    with torch.no_grad():
        reference = module.eval()(standardise(torch.from_numpy(faces).permute(0, 3, 1, 2)))
    reference = reference.numpy()

    loaded = load_weights(dest)
    assert loaded.architecture == "inception_resnet_v1+groupface"
    config = RecognitionConfig(weights=dest, threads=2)
    eager = create_embedder(config.model_copy(update={"backend": "torch"}), loaded)
    assert np.allclose(eager.embed(faces), reference, atol=1e-5)
    onnx = create_embedder(config, loaded)
    assert onnx.backend == "onnx" and onnx.model_version == "site-gf-test"
    assert np.min(np.sum(onnx.embed(faces) * reference, axis=1)) >= MIN_EXPORT_COSINE


def test_groupface_weights_need_a_groupface_recipe(groupface_run: Run) -> None:
    from lockers.training.backbone import (
        build_backbone,
        load_backbone_weights,
        read_initial_weights,
    )

    weights = read_initial_weights(groupface_run.result.weights_path)  # type: ignore[arg-type]
    plain = build_backbone(load_recipe(None, {}))
    with pytest.raises(WeightsError, match="carry a GroupFace block"):
        load_backbone_weights(plain, weights)
    again = build_backbone(groupface_run.recipe)  # continue fine-tuning: the block loads too
    load_backbone_weights(again, weights)
    assert torch.equal(
        again.state_dict()["groupface.group_weight"], weights.state_dict["groupface.group_weight"]
    )


def test_train_command_groupface_flag(
    make_shapes, tmp_path: Path, random_irv1_weights: Path
) -> None:
    from lockers.cli import app

    data = make_shapes(tmp_path / "d", identities=5, per_identity=3, size=32)
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", str(data), "--out", str(out), "--recipe", "finetune-arcface",
            "--weights", str(random_irv1_weights), "--groupface", "4", "--epochs", "1",
            "--batch-size", "6", "--set", "warmup_steps=0", "--version", "gf-cli",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    state = torch.load(out / "gf-cli.pt", weights_only=True)
    assert state["groupface.group_weight"].shape == (4, 512, 512)
    assert "lockers models import" in result.output
