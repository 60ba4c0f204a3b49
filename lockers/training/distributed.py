"""Process-group setup for ``torchrun`` (env:// rendezvous): one process per GPU, or gloo on CPU.

``torchrun --nproc-per-node=N -m lockers.cli train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without them training runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and reports progress."""
        return self.rank == 0


def setup(device: str = "auto", backend: str | None = None) -> DistContext:
    """Join the process group named by the environment (if any) and pick this process's device.

    ``device``: ``auto`` (CUDA if present, else CPU), ``cpu``, ``cuda``. ``backend`` defaults to
    nccl on CUDA and gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(
            backend=backend or ("nccl" if use_cuda else "gloo"),
            init_method="env://",
            rank=rank,
            world_size=world_size,
        )
    return DistContext(rank, world_size, local_rank, dev)


def teardown(ctx: DistContext) -> None:
    """Leave the process group (safe to call when none was joined)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def mean_across(ctx: DistContext, value: float) -> float:
    """The mean of ``value`` over all processes (``value`` itself in one process)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if ctx.device.type == "cuda":
        t = t.to(ctx.device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def each_rank(ctx: DistContext, value: float) -> list[float]:
    """``value`` as every process holds it, indexed by rank (``[value]`` in one process).

    One all-reduce of a vector in which each rank fills its own slot (the others add 0, and
    NaN or ±inf survive the sum): every rank learns every rank's value in the same call, so all
    can take the same decision about it.
    """
    if not ctx.distributed:
        return [value]
    t = torch.zeros(ctx.world_size, dtype=torch.float64)
    t[ctx.rank] = value
    if ctx.device.type == "cuda":
        t = t.to(ctx.device)
    dist.all_reduce(t)
    return [float(v) for v in t.tolist()]


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()
