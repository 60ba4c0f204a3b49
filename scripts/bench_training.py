"""Training throughput (images/s) of InceptionResnetV1 + ArcFace, on CPU and on a GPU if present.

Measures the optimiser step the trainer runs (forward, margin head, backward, SGD step, AMP on
CUDA) on synthetic 160x160 uint8 batches already in memory, so JPEG decoding and disk are not
part of the figure. Prints one JSON document.

    .venv/bin/python scripts/bench_training.py                    # CPU, plus CUDA when present
    .venv/bin/python scripts/bench_training.py --device cuda --batch-size 128 --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch

from lockers.training.backbone import build_backbone, frozen_blocks, set_frozen, standardise
from lockers.training.objectives import build_objective
from lockers.training.recipe import load_recipe
from lockers.training.trainer import TrainNet, build_optimizer


def bench(
    device: torch.device,
    batch_size: int,
    steps: int,
    warmup: int,
    amp: bool,
    classes: int,
    train_from: str | None,
    backbone: str,
) -> dict[str, Any]:
    recipe = load_recipe(
        None,
        {"backbone": backbone, "loss": "arcface", "batch_size": batch_size, "amp": amp,
         "train_from": train_from, "loss_params": {"scale": 32.0, "margin": 0.4}},
    )  # fmt: skip
    torch.manual_seed(0)
    dim = 512 if backbone == "inception_resnet_v1" else recipe.embedding_dim
    net = TrainNet(
        build_backbone(recipe), build_objective("arcface", dim, classes, recipe.loss_params)
    )
    net = net.to(device).train()
    set_frozen(net.backbone, frozen_blocks(recipe))
    optimizer = build_optimizer(recipe, net)
    use_amp = amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, 160, 160), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, classes, (batch_size,), generator=gen)
    images, labels = images.to(device), labels.to(device)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            loss, _ = net(standardise(images), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss.detach())

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "backbone": backbone,
        "train_from": train_from,
        "batch_size": batch_size,
        "amp": use_amp,
        "steps": steps,
        "step_ms": round(1000 * seconds / steps, 2),
        "images_per_s": round(batch_size * steps / seconds, 1),
    }
    if device.type == "cuda":
        result["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: CPU, then CUDA too when available",
    )
    parser.add_argument("--batch-size", type=int, default=0, help="0: 8 on CPU, 128 on CUDA")
    parser.add_argument("--steps", type=int, default=0, help="0: 3 on CPU, 30 on CUDA")
    parser.add_argument("--warmup", type=int, default=0, help="0: 1 on CPU, 5 on CUDA")
    parser.add_argument("--classes", type=int, default=1000, help="identities in the head")
    parser.add_argument("--train-from", default=None, help="freeze blocks before this one")
    parser.add_argument(
        "--backbone", default="inception_resnet_v1", choices=["inception_resnet_v1", "tiny_cnn"]
    )
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = []
    if args.device in ("auto", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda", 0))
    results = []
    for device in devices:
        gpu = device.type == "cuda"
        batch = args.batch_size or (128 if gpu else 8)
        steps = args.steps or (30 if gpu else 3)
        warmup = args.warmup or (5 if gpu else 1)
        amp_modes = (True, False) if gpu else (False,)
        for amp in amp_modes:
            results.append(
                bench(
                    device, batch, steps, warmup, amp, args.classes, args.train_from, args.backbone
                )
            )
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "cuda_available": torch.cuda.is_available(),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
