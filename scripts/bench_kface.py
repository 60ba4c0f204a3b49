"""Benchmark of the fine-tuning data path: ``dataset import-kface`` and ``evaluate --compare``.

Builds a K-Face tree of 640x480 JPEGs from augmented ``../shared/faces`` portraits (rotation,
scale, shift, brightness, mirror; the real release is not redistributable), imports it with the
kiosk's pipeline (1 and N workers), then compares 3 weights files on 1,000 pairs of those
images. Prints the figures the commands' own reports give: images/s and wall time.

    python scripts/bench_kface.py [--per-person 25] [--workers 2] [--pairs 1000]

The weights are random (timings do not depend on their values). On a shared CPU the figures
are noisy: run it on a quiet machine for numbers to quote.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "faces" / "identities"
WIDTH, HEIGHT = 640, 480


def _frame(photo: np.ndarray, rng: random.Random) -> np.ndarray:
    """One augmented 640x480 frame of a portrait (face kept inside the picture)."""
    import cv2

    h, w = photo.shape[:2]
    scale = min(WIDTH / w, HEIGHT / h) * rng.uniform(0.85, 1.05)
    angle = rng.uniform(-8, 8)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[0, 2] += WIDTH / 2 - w / 2 + rng.uniform(-25, 25)
    matrix[1, 2] += HEIGHT / 2 - h / 2 + rng.uniform(-15, 15)
    frame = cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE)
    frame = np.clip(frame.astype(np.float32) * rng.uniform(0.75, 1.2), 0, 255).astype(np.uint8)
    return frame[:, ::-1].copy() if rng.random() < 0.5 else frame


def build_tree(root: Path, per_person: int, seed: int = 0) -> list[str]:
    """``root/<person>/S001/L<k>/E0<e>/C<c>.jpg``: ``per_person`` frames of each shared identity."""
    import cv2

    rng = random.Random(seed)
    rels = []
    for n, folder in enumerate(sorted(p for p in SHARED.iterdir() if p.is_dir())):
        photos = [cv2.imread(str(p)) for p in sorted(folder.glob("*.jpg"))]
        person = f"1906{n:04d}"
        for k in range(per_person):
            lux, expression, camera = 1 + k // 15, 1 + (k // 5) % 3, 4 + k % 5
            rel = f"{person}/S001/L{lux}/E0{expression}/C{camera}.jpg"
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            frame = _frame(photos[k % len(photos)], rng)
            cv2.imwrite(str(target), frame, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(85, 95)])
            rels.append(rel)
    return rels


def write_pairs(rels: list[str], path: Path, total: int, seed: int = 0) -> None:
    """``total`` pairs over the tree: 30 % genuine, the rest impostor, no repeats."""
    from lockers.training.dataset import Pair, write_pairs_csv

    rng = random.Random(seed)
    by_person: dict[str, list[str]] = {}
    for rel in rels:
        by_person.setdefault(rel.split("/")[0], []).append(rel)
    genuine = [
        (a, b) for imgs in by_person.values() for i, a in enumerate(imgs) for b in imgs[i + 1 :]
    ]
    chosen = {(a, b, True) for a, b in rng.sample(genuine, min(len(genuine), total * 3 // 10))}
    while len(chosen) < total:
        a, b = rng.sample(rels, 2)
        if a.split("/")[0] != b.split("/")[0]:
            chosen.add((min(a, b), max(a, b), False))
    write_pairs_csv([Pair(a, b, same) for a, b, same in sorted(chosen)], path)


def random_weights(folder: Path, count: int) -> list[Path]:
    import torch
    from facenet_pytorch import InceptionResnetV1

    paths = []
    for seed in range(count):
        torch.manual_seed(seed)
        net = InceptionResnetV1(pretrained=None, classify=False).train()
        with torch.no_grad():
            net(torch.randn(2, 3, 160, 160))  # batch-norm statistics as after training
        path = folder / f"model-{seed}.pt"
        torch.save(net.eval().state_dict(), path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-person", type=int, default=25, help="frames per identity (x12)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = parser.parse_args()

    from lockers.config import load_settings
    from lockers.training.compare import CompareJob, compare_models
    from lockers.training.kface import import_kface

    settings = load_settings(None, env={})
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-kface-"))
    try:
        src = work / "kface"
        rels = build_tree(src, args.per_person)
        print(f"K-Face tree: {len(rels)} images of {WIDTH}x{HEIGHT} in {src}")
        for workers in sorted({1, args.workers}):
            dst = work / f"faces-{workers}"
            shutil.rmtree(dst, ignore_errors=True)
            r = import_kface(src, dst, settings, workers=workers).report
            s = r["speed"]
            print(
                f"import-kface, {workers} worker(s) on {s['cpu_count']} cores: "
                f"{s['images_processed']} images in {s['wall_s']:.1f} s = "
                f"{s['images_per_s']:.1f} images/s ({s['images_per_s_after_startup']} after "
                f"start-up); {r['written']} written, {r['rejected_count']} rejected {r['reasons']}"
            )
        # Pairs over the images that gave a face, so every one of the pairs is scored.
        pairs = work / "pairs.csv"
        write_pairs([rel for rel in rels if rel not in r["rejected"]], pairs, args.pairs)
        models = random_weights(work, args.models)
        for run in ("first run (ONNX export of each model)", "second run (exports cached)"):
            start = time.perf_counter()
            job = CompareJob(pairs, src, work / "compare", models)
            report = compare_models(job, settings).report
            wall = time.perf_counter() - start
            print(
                f"evaluate --compare, {len(models)} models, {report['pairs_used']} of "
                f"{report['pairs_total']} pairs, {run}: {wall:.1f} s "
                f"(faces prepared in {report['timing_s']['prepare_faces']:.1f} s; ms/face "
                + ", ".join(f"{m['ms_per_face_single']:.1f}" for m in report["models"])
                + ")"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
