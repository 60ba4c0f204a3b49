"""The training loop: recipe + dataset folder → checkpoints, metrics and an exported weights file.

Runs in one process or under ``torchrun`` (DDP, env:// rendezvous; NCCL on GPUs, gloo on CPU).
Only rank 0 writes files and reports progress. Reproducible: batches and flips depend only on
(seed, epoch, step) (see :mod:`lockers.training.sampling`), the torch RNG is seeded and saved in
checkpoints, so a resumed run continues exactly where an uninterrupted one would be.

The parts a run is built from are in :mod:`lockers.training.train_parts`, the files it writes
and reads in :mod:`lockers.training.run_files`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from lockers.training import distributed
from lockers.training.backbone import (
    InitialWeights,
    build_backbone,
    eval_frozen,
    frozen_blocks,
    load_backbone_weights,
    read_initial_weights,
    set_frozen,
    standardise,
)
from lockers.training.dataset import IdentitySplit, split_by_identity
from lockers.training.objectives import build_objective
from lockers.training.recipe import TrainRecipe
from lockers.training.run_files import (
    CHECKPOINT_FORMAT,
    export_model,
    read_checkpoint,
    save_atomic,
    write_metrics,
)
from lockers.training.sampling import BatchPlan, flip_mask
from lockers.training.train_parts import (
    VERSION_PATTERN,
    FaceImages,
    TrainingError,
    TrainNet,
    build_optimizer,
    default_version,
    embedding_dim,
    lr_factor,
    seed_everything,
)
from lockers.training.train_steps import EpochTally, check_loss_finite, validation_metrics

__all__ = [
    "FaceImages",
    "TrainJob",
    "TrainNet",
    "TrainObserver",
    "TrainResult",
    "TrainingError",
    "build_optimizer",
    "default_version",
    "lr_factor",
    "seed_everything",
    "train",
]


class TrainObserver(Protocol):
    """Progress callbacks (called on rank 0 only)."""

    def on_start(self, epochs: int, start_epoch: int, steps_per_epoch: int) -> None: ...
    def on_step(self, epoch: int, step: int, loss: float) -> None: ...
    def on_epoch(self, row: dict[str, float]) -> None: ...


@dataclass
class TrainResult:
    """What a finished run produced (paths are ``None`` on ranks other than 0)."""

    weights_path: Path | None
    card_path: Path | None
    model_version: str
    history: list[dict[str, float]] = field(default_factory=list)
    images_per_s: float = 0.0


@dataclass
class TrainJob:
    """Everything one run needs. ``weights``: initial backbone weights (VGGFace2 file or a
    checkpoint); ``None`` with ``from_scratch`` trains from random initialisation."""

    data_root: Path
    out_dir: Path
    recipe: TrainRecipe
    weights: Path | None = None
    from_scratch: bool = False
    resume: Path | None = None
    split: IdentitySplit | None = None
    model_version: str | None = None
    device: str = "auto"
    max_steps_per_epoch: int | None = None  # benchmarks and smoke tests only
    validate: bool = True


def train(job: TrainJob, observer: TrainObserver | None = None) -> TrainResult:
    """Run ``job`` in this process (joining the torchrun process group if there is one).

    Raises:
        TrainingError, DatasetError, WeightsError, ConfigError: with what to change.
    """
    ctx = distributed.setup(job.device)
    try:
        return _Run(job, ctx, observer).run()
    finally:
        distributed.teardown(ctx)


class _Run:
    def __init__(
        self, job: TrainJob, ctx: distributed.DistContext, observer: TrainObserver | None
    ) -> None:
        self.job, self.ctx, self.recipe = job, ctx, job.recipe
        self.observer = observer if ctx.is_main else None
        if job.weights is None and not job.from_scratch and job.resume is None:
            raise TrainingError(
                "no initial weights given",
                hint="pass --weights (VGGFace2 file or a checkpoint), --resume, or --from-scratch",
            )
        seed_everything(self.recipe.seed, self.recipe.deterministic)
        self._load_data()
        self.init: InitialWeights | None = None
        self.net = self._build_net()
        self.frozen = frozen_blocks(self.recipe)
        self.plan = self._batch_plan()
        self.steps_per_epoch = len(self.plan)
        if job.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, job.max_steps_per_epoch)
        self.optimizer = build_optimizer(self.recipe, self.net)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda step: lr_factor(self.recipe, step, self.steps_per_epoch),
        )
        self.use_amp = self.recipe.amp and ctx.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.start_epoch = 0
        self.history: list[dict[str, float]] = []
        base = self.init.model_version if self.init else "scratch"
        if job.resume is not None:
            base = self._restore(job.resume)
        self.base_version = base
        self.model_version = job.model_version or default_version(self.recipe, base)
        if not VERSION_PATTERN.match(self.model_version):
            raise TrainingError(
                f"model version {self.model_version!r} is not a valid name",
                hint="use letters, digits, '.', '_' and '-' (at most 64 characters)",
            )
        self.ddp: nn.Module = self.net
        self._apply_freeze(self.start_epoch)

    # -- set-up

    def _load_data(self) -> None:
        """The identity split and the training and validation indexes."""
        from lockers.training.dataset import scan_identity_tree

        full = scan_identity_tree(self.job.data_root)
        self.split = self.job.split or split_by_identity(
            full, self.recipe.val_fraction, self.recipe.seed
        )
        self.train_index = full.subset(set(self.split.train))
        self.val_index = full.subset(set(self.split.val))
        if len(self.train_index.identities) < 2:
            raise TrainingError(
                f"the training split has {len(self.train_index.identities)} identity; need >= 2"
            )

    def _build_net(self) -> TrainNet:
        """Backbone (with the initial weights, unless resuming) and objective, on the device."""
        backbone = build_backbone(self.recipe)
        if self.job.weights is not None and self.job.resume is None:
            self.init = read_initial_weights(self.job.weights)
            load_backbone_weights(backbone, self.init)
        objective = build_objective(
            self.recipe.loss,
            embedding_dim(self.recipe),
            len(self.train_index.identities),
            self.recipe.loss_params,
            self.recipe.groupface.loss_weight if self.recipe.groupface else None,
        )
        ctx = self.ctx
        if ctx.distributed and ctx.device.type == "cuda" and self.recipe.sync_batchnorm:
            # (SyncBatchNorm is CUDA-only; on CPU each process normalises its own slice.)
            backbone = nn.SyncBatchNorm.convert_sync_batchnorm(backbone)
        return TrainNet(backbone, objective).to(ctx.device)

    def _batch_plan(self) -> BatchPlan:
        try:
            return BatchPlan(
                self.train_index.labels,
                self.recipe.batch_size,
                self.recipe.seed,
                self.ctx.rank,
                self.ctx.world_size,
                self.recipe.images_per_identity if self.recipe.pair_loss else None,
            )
        except ValueError as exc:
            raise TrainingError(
                str(exc), hint="change batch_size in the recipe or --batch-size"
            ) from None

    # -- state

    def _apply_freeze(self, epoch: int) -> None:
        unfreeze_at = self.recipe.unfreeze_at_epoch
        blocks = () if unfreeze_at is not None and epoch >= unfreeze_at else self.frozen
        self.active_frozen = blocks
        set_frozen(self.net.backbone, blocks)
        if self.ctx.distributed:
            # DDP fixes the set of trainable parameters when it is built: rebuild on a change.
            ids = [self.ctx.local_rank] if self.ctx.device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.net, device_ids=ids)

    def _checkpoint(self, epoch_done: int) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "recipe": self.recipe.model_dump(),
            "backbone": {k: v.detach().cpu() for k, v in self.net.backbone.state_dict().items()},
            "objective": self.net.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch_done,
            "torch_rng": torch.get_rng_state(),
            "identities": list(self.train_index.identities),
            "split": {"train": list(self.split.train), "val": list(self.split.val)},
            "base_version": self.base_version,
            "model_version": self.model_version,
            "history": self.history,
        }

    def _restore(self, path: Path) -> str:
        ckpt = read_checkpoint(path, self.recipe, self.train_index.identities)
        self.net.backbone.load_state_dict(ckpt["backbone"])
        self.net.objective.load_state_dict(ckpt["objective"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["torch_rng"])
        self.start_epoch = int(ckpt["epoch"])
        self.history = list(ckpt["history"])
        self.job.model_version = self.job.model_version or str(ckpt["model_version"])
        return str(ckpt["base_version"])

    # -- loop

    def run(self) -> TrainResult:
        out = self.job.out_dir
        if self.ctx.is_main:
            (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        if self.observer:
            self.observer.on_start(self.recipe.epochs, self.start_epoch, self.steps_per_epoch)
        loader = DataLoader(
            FaceImages(self.train_index, self.recipe.image_size),
            batch_sampler=self.plan,
            num_workers=self.recipe.num_workers,
            pin_memory=self.ctx.device.type == "cuda",
            persistent_workers=False,
        )
        images_seen, busy_s = 0, 0.0
        for epoch in range(self.start_epoch, self.recipe.epochs):
            if epoch == self.recipe.unfreeze_at_epoch and self.frozen:
                self._apply_freeze(epoch)
            self.plan.set_epoch(epoch)
            row, seen, seconds = self._train_epoch(epoch, loader)
            images_seen += seen
            busy_s += seconds
            if self.job.validate and self.ctx.is_main:
                row.update(self._validate())
            self.history.append(row)
            if self.ctx.is_main:
                self._write_metrics()
                # last.pt every epoch (resume loses at most one); a numbered copy every
                # checkpoint_every_epochs, since each holds the optimiser state too.
                ckpt = self._checkpoint(epoch + 1)
                save_atomic(ckpt, out / "checkpoints" / "last.pt")
                if (epoch + 1) % self.recipe.checkpoint_every_epochs == 0 or (
                    epoch + 1 == self.recipe.epochs
                ):
                    save_atomic(ckpt, out / "checkpoints" / f"epoch_{epoch + 1:03d}.pt")
                if self.observer:
                    self.observer.on_epoch(row)
            distributed.barrier(self.ctx)
        result = TrainResult(None, None, self.model_version, self.history)
        result.images_per_s = images_seen * self.ctx.world_size / busy_s if busy_s else 0.0
        if self.ctx.is_main:
            result.weights_path, result.card_path = self._export()
        return result

    def _train_epoch(
        self, epoch: int, loader: DataLoader[tuple[torch.Tensor, int]]
    ) -> tuple[dict[str, float], int, float]:
        self.ddp.train()
        eval_frozen(self.net.backbone, self.active_frozen)
        tally = EpochTally()
        started = time.perf_counter()
        for step, (images, labels) in enumerate(loader):
            if step >= self.steps_per_epoch:
                break
            labels = labels.to(self.ctx.device, non_blocking=True)
            loss, logits = self._train_step(epoch, step, images, labels)
            tally.add(loss, logits, labels, self.net.group_counts)
            if self.observer:
                self.observer.on_step(epoch, step, loss)
        if self.ctx.device.type == "cuda":
            torch.cuda.synchronize(self.ctx.device)
        seconds = time.perf_counter() - started
        return self._epoch_row(epoch, tally, seconds), tally.seen, seconds

    def _train_step(
        self, epoch: int, step: int, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[float, torch.Tensor | None]:
        """One optimiser step on this rank's slice of the batch; its loss and logits."""
        dev = self.ctx.device
        images = images.to(dev, non_blocking=True)
        if self.recipe.hflip:
            local = self.recipe.batch_size // self.ctx.world_size
            flips = flip_mask(self.recipe.seed, epoch, step, self.recipe.batch_size)
            mine = torch.from_numpy(flips[self.ctx.rank * local : (self.ctx.rank + 1) * local])
            images = torch.where(mine.to(dev)[:, None, None, None], images.flip(3), images)
        x = standardise(images)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
            loss, logits = self.ddp(x, labels)
        check_loss_finite(self.ctx, loss, epoch, step)  # on every rank, before backward
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.item()), logits

    def _epoch_row(self, epoch: int, tally: EpochTally, seconds: float) -> dict[str, float]:
        """The epoch's metrics, averaged over the ranks."""
        ctx = self.ctx
        steps = max(min(self.steps_per_epoch, len(self.plan)), 1)
        row: dict[str, float] = {
            "epoch": epoch + 1,
            "train_loss": distributed.mean_across(ctx, tally.total_loss / steps),
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "images_per_s": tally.seen * ctx.world_size / seconds if seconds else 0.0,
        }
        if tally.counted:
            row["train_accuracy"] = distributed.mean_across(ctx, tally.correct / tally.counted)
        if tally.group_counts is not None:
            # How evenly GroupFace spreads faces: 1/K is perfectly balanced, 1.0 is collapse.
            counts = tally.group_counts
            share = float(counts.max()) / max(int(counts.sum()), 1)
            row["train_group_max_share"] = distributed.mean_across(ctx, share)
            row["train_groups_used"] = distributed.mean_across(ctx, float((counts > 0).sum()))
        return row

    def _validate(self) -> dict[str, float]:
        return validation_metrics(self.net.backbone, self.val_index, self.recipe, self.ctx.device)

    def _write_metrics(self) -> None:
        write_metrics(self.history, self.job.out_dir)

    def _export(self) -> tuple[Path, Path]:
        return export_model(
            self.net.backbone,
            self.recipe,
            self.job.out_dir,
            self.model_version,
            base_version=self.base_version,
            base_sha256=self.init.sha256 if self.init else None,
            train_index=self.train_index,
            val_index=self.val_index,
            history=self.history,
        )
