"""Which images go into which batch: deterministic from (seed, epoch), the same on every process.

Every process computes the same *global* batches and takes its own contiguous slice, so a run
on N processes sees exactly the images (and flips) of a one-process run with the same global
batch size; only the gradient averaging differs, and DDP makes that an exact mean.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class BatchPlan:
    """Global batches of ``batch_size`` dataset indices for one epoch, sliced for ``rank``.

    With ``images_per_identity = K`` (pair losses) each batch is P identities x K images, the
    K images of one identity adjacent, so a rank's slice holds whole identity groups when the
    local batch is a multiple of K. Identities with fewer than K images are sampled with
    replacement. Without it, batches are a shuffled pass over all images (last partial batch
    dropped).
    """

    def __init__(
        self,
        labels: Sequence[int],
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        images_per_identity: int | None = None,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(
                f"global batch {batch_size} is not divisible by {world_size} processes"
            )
        local = batch_size // world_size
        if images_per_identity and local % images_per_identity:
            raise ValueError(
                f"per-process batch {local} is not a multiple of images_per_identity "
                f"{images_per_identity}"
            )
        if len(labels) < batch_size:
            raise ValueError(
                f"the training set has {len(labels)} images, fewer than one batch of "
                f"{batch_size}; lower batch_size"
            )
        self.labels = np.asarray(labels)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.images_per_identity = images_per_identity
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labels) // self.batch_size

    def global_batches(self) -> list[np.ndarray]:
        """Every process's batches for the current epoch, ``(len(self), batch_size)`` indices."""
        rng = np.random.default_rng([self.seed, self.epoch])
        if not self.images_per_identity:
            order = rng.permutation(len(self.labels))
            b = self.batch_size
            return [order[i * b : (i + 1) * b] for i in range(len(self))]
        k = self.images_per_identity
        groups = [np.flatnonzero(self.labels == lab) for lab in np.unique(self.labels)]
        per_batch = self.batch_size // k
        if len(groups) < per_batch:
            raise ValueError(
                f"a batch needs {per_batch} identities ({self.batch_size} / {k}), "
                f"the training set has {len(groups)}"
            )
        batches = []
        for _ in range(len(self)):
            chosen = rng.choice(len(groups), size=per_batch, replace=False)
            batch = [rng.choice(groups[g], size=k, replace=len(groups[g]) < k) for g in chosen]
            batches.append(np.concatenate(batch))
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        local = self.batch_size // self.world_size
        lo = self.rank * local
        for batch in self.global_batches():
            yield batch[lo : lo + local].tolist()


def flip_mask(seed: int, epoch: int, step: int, batch_size: int) -> np.ndarray:
    """Which images of global batch ``step`` are mirrored, ``(batch_size,)`` bool."""
    return np.random.default_rng([seed, epoch, step, 1]).random(batch_size) < 0.5
