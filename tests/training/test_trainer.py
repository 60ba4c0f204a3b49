"""The train loop on tiny generated datasets: outputs, determinism, resume, freezing, DDP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lockers.errors import ConfigError
from lockers.training.backbone import TinyCnn
from lockers.training.recipe import load_recipe, parse_set_options
from lockers.training.trainer import TrainingError, TrainJob, lr_factor, train

TINY = {"epochs": 2, "batch_size": 8, "lr": 0.05, "seed": 1}


def _job(data: Path, out: Path, **recipe: object) -> TrainJob:
    return TrainJob(
        data,
        out,
        load_recipe("smoke-tiny", {**TINY, **recipe}),
        from_scratch=True,
        model_version="tiny-test",
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_training_writes_weights_card_metrics_and_curves(shapes_dataset: Path, tmp_path) -> None:
    out = tmp_path / "run"
    result = train(_job(shapes_dataset, out, epochs=3))
    assert result.weights_path == out / "tiny-test.pt"
    state = _weights(result.weights_path)
    assert not any(k.startswith(("objective", "head", "logits")) for k in state)
    TinyCnn(64).load_state_dict(state)  # exactly the backbone, nothing else
    card = json.loads((out / "tiny-test.json").read_text())
    assert card["model_version"] == "tiny-test" and card["base_version"] == "scratch"
    assert "lockers models import" in card["import_command"]
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert "val_verification_accuracy" in rows[0] and "val_auc" in rows[0]
    assert (out / "metrics.csv").read_text().startswith("epoch,train_loss")
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "checkpoints" / "epoch_003.pt").is_file()


def test_same_seed_same_weights(shapes_dataset: Path, tmp_path) -> None:
    a = train(_job(shapes_dataset, tmp_path / "a", epochs=1))
    b = train(_job(shapes_dataset, tmp_path / "b", epochs=1))
    for key, value in _weights(a.weights_path).items():
        assert torch.equal(value, _weights(b.weights_path)[key]), key


def test_resume_continues_exactly(shapes_dataset: Path, tmp_path) -> None:
    # A constant rate: a cosine schedule depends on the total epochs, which differ here.
    whole = train(_job(shapes_dataset, tmp_path / "whole", epochs=2, schedule="constant"))
    train(_job(shapes_dataset, tmp_path / "part", epochs=1, schedule="constant"))
    job = _job(shapes_dataset, tmp_path / "part", epochs=2, schedule="constant")
    job.resume, job.from_scratch = tmp_path / "part" / "checkpoints" / "last.pt", False
    resumed = train(job)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    for key, value in _weights(whole.weights_path).items():
        assert torch.allclose(value, _weights(resumed.weights_path)[key], atol=1e-6), key


def test_resume_refuses_a_different_recipe(shapes_dataset: Path, tmp_path) -> None:
    train(_job(shapes_dataset, tmp_path / "a", epochs=1))
    job = _job(shapes_dataset, tmp_path / "a", epochs=2, lr=0.01)
    job.resume = tmp_path / "a" / "checkpoints" / "last.pt"
    with pytest.raises(TrainingError, match=r"different recipe.*lr"):
        train(job)


def test_pair_loss_training_runs(shapes_dataset: Path, tmp_path) -> None:
    result = train(
        _job(
            shapes_dataset,
            tmp_path / "t",
            loss="contrastive",
            loss_params={},
            optimizer="adam",
            lr=0.003,
            images_per_identity=2,
        )
    )
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_no_weights_and_not_from_scratch_is_refused(shapes_dataset: Path, tmp_path) -> None:
    job = _job(shapes_dataset, tmp_path / "x")
    job.from_scratch = False
    with pytest.raises(TrainingError, match="no initial weights"):
        train(job)


def test_batch_bigger_than_dataset_is_explained(shapes_dataset: Path, tmp_path) -> None:
    with pytest.raises(TrainingError, match="fewer than one batch"):
        train(_job(shapes_dataset, tmp_path / "x", batch_size=64))


def test_recipe_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="lr") as info:
        load_recipe(None, {"lr": -1, "loss": "arcface"})
    assert "recipes" in info.value.hint
    with pytest.raises(ConfigError, match="not one of"):
        load_recipe(None, {"loss": "focal"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(Path("nope.yaml"))
    assert parse_set_options(["lr=0.1", "loss_params={scale: 8}"]) == {
        "lr": 0.1,
        "loss_params": {"scale": 8},
    }


@pytest.mark.parametrize(
    "name",
    [
        "finetune-arcface",
        "finetune-cosface-step",
        "finetune-groupface",
        "finetune-triplet",
        "softmax-baseline",
        "smoke-tiny",
    ],
)
def test_bundled_recipes_are_valid(name: str) -> None:
    assert load_recipe(Path(name)).epochs >= 1


def test_schedules() -> None:
    step = load_recipe(
        None,
        {
            "schedule": "step",
            "step_size_epochs": 2,
            "gamma": 0.5,
            "warmup_steps": 4,
            "warmup_start_factor": 0.2,
            "epochs": 6,
        },
    )
    assert lr_factor(step, 0, 10) == pytest.approx(0.2)
    assert lr_factor(step, 2, 10) == pytest.approx(0.6)
    assert lr_factor(step, 19, 10) == 1.0 and lr_factor(step, 20, 10) == 0.5
    assert lr_factor(step, 45, 10) == 0.25
    cosine = load_recipe(None, {"schedule": "cosine", "epochs": 2, "min_lr_factor": 0.1})
    assert lr_factor(cosine, 0, 5) == pytest.approx(1.0)
    assert lr_factor(cosine, 5, 5) == pytest.approx(0.55)
    assert lr_factor(cosine, 10, 5) == pytest.approx(0.1)


def test_inception_resnet_smoke_with_frozen_blocks(make_shapes, tmp_path) -> None:
    """The real backbone: 2 steps of batch 4, early blocks frozen (weights and BN stats)."""
    data = make_shapes(tmp_path / "d", identities=4, per_identity=3, size=32)
    recipe = load_recipe(
        None,
        {
            "backbone": "inception_resnet_v1",
            "image_size": 160,
            "batch_size": 4,
            "epochs": 1,
            "loss": "cosface",
            "train_from": "repeat_3",
            "val_fraction": 0.3,
            "amp": False,
        },
    )
    from lockers.training.backbone import build_backbone

    torch.manual_seed(recipe.seed)
    initial = build_backbone(recipe).state_dict()
    job = TrainJob(
        data,
        tmp_path / "o",
        recipe,
        from_scratch=True,
        model_version="irv1-smoke",
        max_steps_per_epoch=2,
        validate=False,
    )
    state = _weights(train(job).weights_path)
    assert set(state) == set(initial)
    assert torch.equal(
        state["repeat_1.0.branch0.conv.weight"], initial["repeat_1.0.branch0.conv.weight"]
    )
    assert torch.equal(state["conv2d_1a.bn.running_mean"], initial["conv2d_1a.bn.running_mean"])
    assert not torch.equal(state["last_linear.weight"], initial["last_linear.weight"])
    from lockers.vision.weights import verify_state_dict

    verify_state_dict(state, origin="the exported weights")  # what `lockers models import` checks


def test_ddp_two_gloo_processes_match_one_process(make_shapes, tmp_path) -> None:
    from lockers.training.launch import launch_local

    data = make_shapes(tmp_path / "d", identities=6, per_identity=6, size=32)
    overrides = {**TINY, "epochs": 1, "batch_size": 12, "loss": "arcface", "val_fraction": 0.2}
    one = TrainJob(
        data,
        tmp_path / "one",
        load_recipe("smoke-tiny", overrides),
        from_scratch=True,
        model_version="ddp",
        validate=False,
    )
    two = TrainJob(
        data,
        tmp_path / "two",
        load_recipe("smoke-tiny", overrides),
        from_scratch=True,
        model_version="ddp",
        validate=False,
    )
    train(one)
    launch_local(two, world_size=2, threads_per_process=1)
    a, b = _weights(tmp_path / "one" / "ddp.pt"), _weights(tmp_path / "two" / "ddp.pt")
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    torch.manual_seed(1)  # the recipe's seed: the initial weights of both runs
    initial = TinyCnn(64).state_dict()
    assert any(not torch.equal(a[k], v) for k, v in initial.items())  # it did train
    one_rows = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two_rows = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert one_rows[0]["train_loss"] == pytest.approx(two_rows[0]["train_loss"], rel=1e-4)


def test_initial_weights_go_through_the_kiosk_loader(random_irv1_weights: Path) -> None:
    from lockers.training.backbone import (
        build_backbone,
        load_backbone_weights,
        read_initial_weights,
    )
    from lockers.vision.weights import default_model_version

    weights = read_initial_weights(random_irv1_weights)
    assert weights.model_version == default_model_version(weights.sha256)
    model = build_backbone(load_recipe(None, {}))
    load_backbone_weights(model, weights)
    assert torch.equal(
        model.state_dict()["last_linear.weight"], weights.state_dict["last_linear.weight"]
    )


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    from lockers.errors import WeightsError
    from lockers.training.backbone import read_initial_weights

    path = tmp_path / "tiny.pt"
    torch.save(TinyCnn(8).state_dict(), path)
    with pytest.raises(WeightsError):
        read_initial_weights(path)


def test_start_from_a_checkpoint_of_another_run(shapes_dataset: Path, tmp_path: Path) -> None:
    first = train(_job(shapes_dataset, tmp_path / "a", epochs=1))
    job = _job(shapes_dataset, tmp_path / "b", epochs=1, lr=0.01)
    job.from_scratch, job.weights = False, tmp_path / "a" / "checkpoints" / "last.pt"
    job.model_version = None
    second = train(job)
    card = json.loads(second.card_path.read_text())
    assert card["base_version"] == first.model_version == "tiny-test"
    assert second.model_version.startswith("tiny-test-ft-arcface-")


def _train_with_nan_on_rank_1(
    rank: int, port: int, job: TrainJob, outcomes: object, stepped: object
) -> None:
    """A DDP rank whose loss (rank 1 only) turns NaN at the second step; reports how it ended.

    The NaN comes from a wrapped ``TrainNet.forward`` (the model boundary): a real divergence
    would hit every rank, and the point here is one rank seeing it alone.
    """
    import os

    from lockers.training.train_parts import TrainNet

    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    torch.set_num_threads(1)
    forward = TrainNet.forward
    calls = 0

    def poisoned(
        self: TrainNet, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        nonlocal calls
        calls += 1
        loss, logits = forward(self, images, labels)
        if calls == 2:
            stepped.set()  # type: ignore[attr-defined]  # both ranks got through step 1
            if rank == 1:
                loss = loss * float("nan")
        return loss, logits

    TrainNet.forward = poisoned  # type: ignore[method-assign]
    try:
        train(job)
        outcomes.put((rank, "finished", ""))  # type: ignore[attr-defined]
    except TrainingError as exc:
        outcomes.put((rank, "TrainingError", exc.message))  # type: ignore[attr-defined]
    except Exception as exc:  # what a rank left waiting on a dead peer gets
        outcomes.put((rank, type(exc).__name__, str(exc)))  # type: ignore[attr-defined]


def test_ddp_a_nan_loss_on_one_rank_stops_every_rank_with_the_same_error(
    make_shapes, tmp_path
) -> None:
    """Rank 1 alone sees a NaN loss: both ranks raise the same TrainingError, promptly (a rank
    raising alone would leave rank 0 waiting in the gradient all-reduce)."""
    import queue

    import torch.multiprocessing as mp

    from lockers.training.launch import free_port

    data = make_shapes(tmp_path / "d", identities=6, per_identity=6, size=32)
    overrides = {**TINY, "epochs": 1, "batch_size": 12, "loss": "arcface", "val_fraction": 0.2}
    job = TrainJob(
        data,
        tmp_path / "run",
        load_recipe("smoke-tiny", overrides),
        from_scratch=True,
        model_version="ddp-nan",
        validate=False,
    )
    spawn = mp.get_context("spawn")
    outcomes, stepped = spawn.Queue(), spawn.Event()
    port = free_port()
    ranks = [
        spawn.Process(target=_train_with_nan_on_rank_1, args=(r, port, job, outcomes, stepped))
        for r in range(2)
    ]
    for process in ranks:
        process.start()
    # Far below gloo's 30-minute default timeout: a hang fails here, not in CI's job limit.
    deadline_s = 120.0
    ended: dict[int, tuple[str, str]] = {}
    try:
        while len(ended) < 2:
            rank, kind, message = outcomes.get(timeout=deadline_s)
            ended[rank] = (kind, message)
    except queue.Empty:
        pass
    finally:
        for process in ranks:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    assert stepped.is_set()  # the ranks really trained together before the NaN
    assert set(ended) == {0, 1}, f"ranks that never ended: {sorted({0, 1} - set(ended))}"
    expected = "the loss became nan on rank 1 at epoch 1, step 2"
    assert ended[0] == ended[1] == ("TrainingError", expected)
    assert [p.exitcode for p in ranks] == [0, 0]


def test_a_non_finite_loss_in_one_process_names_the_value_and_the_step() -> None:
    from lockers.training.distributed import DistContext
    from lockers.training.train_steps import check_loss_finite

    alone = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    check_loss_finite(alone, torch.tensor(2.5), epoch=0, step=0)  # a finite loss passes
    with pytest.raises(TrainingError, match=r"^the loss became inf at epoch 2, step 3") as info:
        check_loss_finite(alone, torch.tensor(float("inf")), epoch=1, step=2)
    assert "lower lr" in info.value.hint
