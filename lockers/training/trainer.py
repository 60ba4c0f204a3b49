"""The training loop: recipe + dataset folder → checkpoints, metrics and an exported weights file.

Runs in one process or under ``torchrun`` (DDP, env:// rendezvous; NCCL on GPUs, gloo on CPU).
Only rank 0 writes files and reports progress. Reproducible: batches and flips depend only on
(seed, epoch, step) (see :mod:`lockers.training.sampling`), the torch RNG is seeded and saved in
checkpoints, so a resumed run continues exactly where an uninterrupted one would be.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from lockers.errors import LockersError
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
from lockers.training.dataset import FaceIndex, IdentitySplit, load_rgb, split_by_identity
from lockers.training.metrics import verification_report
from lockers.training.objectives import Objective, build_objective
from lockers.training.recipe import TrainRecipe
from lockers.training.sampling import BatchPlan, flip_mask

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TrainingError(LockersError):
    """A run cannot start or continue (bad resume point, data too small, ...)."""


class FaceImages(Dataset[tuple[torch.Tensor, int]]):
    """Images of a :class:`FaceIndex` as ``(3, s, s)`` uint8 RGB tensors with their labels."""

    def __init__(self, index: FaceIndex, image_size: int) -> None:
        self.index = index
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rgb = load_rgb(self.index.root / self.index.paths[i], self.image_size)
        return torch.from_numpy(rgb).permute(2, 0, 1).contiguous(), self.index.labels[i]


class TrainNet(nn.Module):
    """Backbone and objective in one module, so DDP synchronises the head's gradients too."""

    def __init__(self, backbone: nn.Module, objective: Objective) -> None:
        super().__init__()
        self.backbone = backbone
        self.objective = objective
        # GroupFace: the grouping loss needs the group decision network's logits too.
        self.groupface = objective.grouping is not None
        self.group_counts: torch.Tensor | None = None  # faces per most-likely group, last batch

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.groupface:
            out = self.backbone(images, return_groups=True)
            self.group_counts = torch.bincount(
                out.group_logits.detach().argmax(dim=1), minlength=out.group_logits.shape[1]
            )
            return self.objective(out.embedding, labels, out.group_logits)
        return self.objective(self.backbone(images), labels)


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


def lr_factor(recipe: TrainRecipe, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warm-up from ``warmup_start_factor`` over ``warmup_steps``, then constant, StepLR
    (× ``gamma`` every ``step_size_epochs``) or cosine annealing to ``min_lr_factor`` over the
    remaining steps.
    """
    if step < recipe.warmup_steps:
        w = recipe.warmup_start_factor
        return w + (1.0 - w) * step / recipe.warmup_steps
    if recipe.schedule == "step":
        return recipe.gamma ** ((step // steps_per_epoch) // recipe.step_size_epochs)
    if recipe.schedule == "cosine":
        total = max(recipe.epochs * steps_per_epoch - recipe.warmup_steps, 1)
        progress = min((step - recipe.warmup_steps) / total, 1.0)
        floor = recipe.min_lr_factor
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def build_optimizer(recipe: TrainRecipe, net: TrainNet) -> torch.optim.Optimizer:
    # A GroupFace block is new like the head (its group projections start at zero): it learns
    # at the head's rate, or fine-tuning's small backbone rate would leave it near zero.
    fresh = [p for name, p in net.backbone.named_parameters() if name.startswith("groupface.")]
    fresh_ids = {id(p) for p in fresh}
    backbone = [p for p in net.backbone.parameters() if id(p) not in fresh_ids]
    groups: list[dict[str, Any]] = [{"params": backbone, "lr": recipe.lr}]
    head = list(net.objective.parameters()) + fresh
    if head:
        groups.append({"params": head, "lr": recipe.lr * recipe.head_lr_factor})
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)


def default_version(recipe: TrainRecipe, base: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M")
    method = recipe.loss
    if recipe.groupface is not None:
        method = f"groupface{recipe.groupface.groups}-{recipe.loss}"
    return f"{base}-ft-{method}-{stamp}"[:64]


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


def _save_atomic(obj: object, path: Path) -> None:
    """``torch.save`` that never leaves a half-written file (a crash mid-save keeps the old)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


class _Run:
    def __init__(
        self, job: TrainJob, ctx: distributed.DistContext, observer: TrainObserver | None
    ) -> None:
        from lockers.training.dataset import scan_identity_tree

        self.job, self.ctx, self.recipe = job, ctx, job.recipe
        self.observer = observer if ctx.is_main else None
        if job.weights is None and not job.from_scratch and job.resume is None:
            raise TrainingError(
                "no initial weights given",
                hint="pass --weights (VGGFace2 file or a checkpoint), --resume, or --from-scratch",
            )
        seed_everything(self.recipe.seed, self.recipe.deterministic)
        full = scan_identity_tree(job.data_root)
        self.split = job.split or split_by_identity(
            full, self.recipe.val_fraction, self.recipe.seed
        )
        self.train_index = full.subset(set(self.split.train))
        self.val_index = full.subset(set(self.split.val))
        if len(self.train_index.identities) < 2:
            raise TrainingError(
                f"the training split has {len(self.train_index.identities)} identity; need >= 2"
            )
        self.init: InitialWeights | None = None
        backbone = build_backbone(self.recipe)
        if job.weights is not None and job.resume is None:
            self.init = read_initial_weights(job.weights)
            load_backbone_weights(backbone, self.init)
        embedding_dim = (
            512 if self.recipe.backbone == "inception_resnet_v1" else (self.recipe.embedding_dim)
        )
        objective = build_objective(
            self.recipe.loss,
            embedding_dim,
            len(self.train_index.identities),
            self.recipe.loss_params,
            self.recipe.groupface.loss_weight if self.recipe.groupface else None,
        )
        if ctx.distributed and ctx.device.type == "cuda" and self.recipe.sync_batchnorm:
            # (SyncBatchNorm is CUDA-only; on CPU each process normalises its own slice.)
            backbone = nn.SyncBatchNorm.convert_sync_batchnorm(backbone)
        self.net = TrainNet(backbone, objective).to(ctx.device)
        self.frozen = frozen_blocks(self.recipe)
        try:
            self.plan = BatchPlan(
                self.train_index.labels,
                self.recipe.batch_size,
                self.recipe.seed,
                ctx.rank,
                ctx.world_size,
                self.recipe.images_per_identity if self.recipe.pair_loss else None,
            )
        except ValueError as exc:
            raise TrainingError(
                str(exc), hint="change batch_size in the recipe or --batch-size"
            ) from None
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
            "format": "lockers-train-checkpoint/1",
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
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise TrainingError(f"checkpoint {path} does not exist") from None
        except Exception as exc:
            raise TrainingError(f"cannot read checkpoint {path}: {exc}") from None
        if not isinstance(ckpt, dict) or ckpt.get("format") != "lockers-train-checkpoint/1":
            raise TrainingError(
                f"{path} is not a training checkpoint",
                hint="to start from plain weights use --weights instead of --resume",
            )
        saved = {k: v for k, v in ckpt["recipe"].items() if k != "epochs"}
        now = {k: v for k, v in self.recipe.model_dump().items() if k != "epochs"}
        changed = sorted(k for k in now if saved.get(k) != now[k])
        if changed:
            raise TrainingError(
                f"checkpoint {path} was trained with a different recipe ({', '.join(changed)})",
                hint="resume with the same recipe (only 'epochs' may change)",
            )
        if list(ckpt["identities"]) != list(self.train_index.identities):
            raise TrainingError(
                f"the training identities differ from those in checkpoint {path}",
                hint="resume on the same dataset and split",
            )
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
                _save_atomic(ckpt, out / "checkpoints" / "last.pt")
                if (epoch + 1) % self.recipe.checkpoint_every_epochs == 0 or (
                    epoch + 1 == self.recipe.epochs
                ):
                    _save_atomic(ckpt, out / "checkpoints" / f"epoch_{epoch + 1:03d}.pt")
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
        dev = self.ctx.device
        local = self.recipe.batch_size // self.ctx.world_size
        total_loss, correct, counted, seen = 0.0, 0, 0, 0
        group_counts: torch.Tensor | None = None
        started = time.perf_counter()
        for step, (images, labels) in enumerate(loader):
            if step >= self.steps_per_epoch:
                break
            images = images.to(dev, non_blocking=True)
            labels = labels.to(dev, non_blocking=True)
            if self.recipe.hflip:
                flips = flip_mask(self.recipe.seed, epoch, step, self.recipe.batch_size)
                mine = torch.from_numpy(flips[self.ctx.rank * local : (self.ctx.rank + 1) * local])
                images = torch.where(mine.to(dev)[:, None, None, None], images.flip(3), images)
            x = standardise(images)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
                loss, logits = self.ddp(x, labels)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}",
                    hint="lower lr, add warm-up, or lower the margin head's scale",
                )
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            total_loss += float(loss.item())
            if logits is not None:
                correct += int((logits.argmax(dim=1) == labels).sum())
                counted += len(labels)
            seen += len(labels)
            if self.net.group_counts is not None:
                batch_counts = self.net.group_counts.cpu()
                group_counts = batch_counts if group_counts is None else group_counts + batch_counts
            if self.observer:
                self.observer.on_step(epoch, step, float(loss.item()))
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        seconds = time.perf_counter() - started
        steps = max(min(self.steps_per_epoch, len(self.plan)), 1)
        row: dict[str, float] = {
            "epoch": epoch + 1,
            "train_loss": distributed.mean_across(self.ctx, total_loss / steps),
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "images_per_s": seen * self.ctx.world_size / seconds if seconds else 0.0,
        }
        if counted:
            row["train_accuracy"] = distributed.mean_across(self.ctx, correct / counted)
        if group_counts is not None:
            # How evenly GroupFace spreads faces: 1/K is perfectly balanced, 1.0 is collapse.
            share = float(group_counts.max()) / max(int(group_counts.sum()), 1)
            row["train_group_max_share"] = distributed.mean_across(self.ctx, share)
            row["train_groups_used"] = distributed.mean_across(
                self.ctx, float((group_counts > 0).sum())
            )
        return row, seen, seconds

    @torch.no_grad()
    def _embed(self, index: FaceIndex) -> np.ndarray:
        self.net.backbone.eval()
        data = FaceImages(index, self.recipe.image_size)
        loader = DataLoader(data, batch_size=64, shuffle=False)
        chunks = []
        for images, _ in loader:
            emb = self.net.backbone(standardise(images.to(self.ctx.device))).float()
            chunks.append(torch.nn.functional.normalize(emb, dim=1).cpu().numpy())
        return np.concatenate(chunks)

    def _validate(self) -> dict[str, float]:
        if len(self.val_index) < 2:
            return {}
        emb = self._embed(self.val_index)
        labels = np.asarray(self.val_index.labels)
        i, j = np.triu_indices(len(labels), k=1)
        same = labels[i] == labels[j]
        if same.all() or not same.any():
            return {}
        if len(i) > self.recipe.val_max_pairs:
            keep = np.random.default_rng(self.recipe.seed).choice(
                len(i), self.recipe.val_max_pairs, replace=False
            )
            i, j, same = i[keep], j[keep], same[keep]
            if same.all() or not same.any():
                return {}
        scores = np.sum(emb[i] * emb[j], axis=1)
        report, _ = verification_report(scores, same, folds=min(10, len(scores)))
        return {
            "val_verification_accuracy": report.accuracy.mean,
            "val_auc": report.auc,
            "val_eer": report.eer.eer,
            "val_pairs": float(report.n_pairs),
        }

    def _write_metrics(self) -> None:
        out = self.job.out_dir
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        with (out / "metrics.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)
        (out / "metrics.json").write_text(json.dumps(self.history, indent=2) + "\n")
        from lockers.training.plots import plot_training_curves

        plot_training_curves(self.history, out / "curves.png")

    def _export(self) -> tuple[Path, Path]:
        """The kiosk's weights file: the backbone state_dict only (no head), float32, CPU.

        With GroupFace the backbone's state_dict holds the ``groupface.*`` block as well, which
        the kiosk's weights check accepts and its embedder builds the GroupFace network for.
        """
        out = self.job.out_dir
        state = {
            k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
            for k, v in self.net.backbone.state_dict().items()
        }
        weights_path = out / f"{self.model_version}.pt"
        _save_atomic(state, weights_path)
        import hashlib

        groupface = self.recipe.groupface
        card = {
            "model_version": self.model_version,
            "architecture": self.recipe.backbone + ("+groupface" if groupface else ""),
            "groupface": groupface.model_dump() if groupface else None,
            "embedding_dim": 512
            if self.recipe.backbone == "inception_resnet_v1"
            else (self.recipe.embedding_dim),
            "image_size": self.recipe.image_size,
            "standardisation": "(x - 127.5) / 128",
            "base_version": self.base_version,
            "base_sha256": self.init.sha256 if self.init else None,
            "sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
            "recipe": self.recipe.model_dump(),
            "train_identities": len(self.train_index.identities),
            "train_images": len(self.train_index),
            "val_identities": len(self.val_index.identities),
            "final_metrics": self.history[-1] if self.history else {},
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "import_command": (
                f"lockers models import {weights_path} --version {self.model_version}"
            ),
        }
        card_path = out / f"{self.model_version}.json"
        card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        return weights_path, card_path
