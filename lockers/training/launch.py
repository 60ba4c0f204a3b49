"""Run a training job in N local processes without ``torchrun`` (gloo on CPU, or one per GPU).

``torchrun`` is the way for real multi-GPU and multi-node jobs; this launcher exists so one
machine can use several processes from ``lockers train --processes N`` and so the DDP path is
testable on a CPU-only CI runner.
"""

from __future__ import annotations

import os
import socket

from lockers.training.trainer import TrainJob


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1 (for the rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(rank: int, world_size: int, port: int, job: TrainJob, threads: int) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    import torch

    from lockers.training.trainer import train

    if threads:
        torch.set_num_threads(threads)
    train(job)


def launch_local(job: TrainJob, world_size: int, threads_per_process: int = 0) -> None:
    """Train ``job`` in ``world_size`` spawned processes and wait for all of them.

    Rank 0 writes the outputs to ``job.out_dir``. Raises whatever a worker raised (wrapped by
    torch.multiprocessing as ``ProcessRaisedException``).
    """
    import torch.multiprocessing as mp

    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    port = free_port()
    mp.spawn(_worker, args=(world_size, port, job, threads_per_process), nprocs=world_size)
