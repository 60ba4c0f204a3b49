"""Fixtures of the training tests: small generated face-like datasets in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    # Tiny tensors: thread start-up costs more than it saves on a shared 2-core CI runner.
    torch.set_num_threads(1)


def write_shapes_dataset(
    root: Path, identities: int = 6, per_identity: int = 6, size: int = 32, seed: int = 0
) -> Path:
    """``root/idNN/K.png``: each identity a colour and shape, each image jittered and noisy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for ident in range(identities):
        colour = rng.integers(40, 216, size=3)
        kind = ident % 3
        folder = root / f"id{ident:02d}"
        folder.mkdir(parents=True)
        for k in range(per_identity):
            cy, cx = size / 2 + rng.normal(0, size / 16, 2)
            r = size * (0.25 + 0.05 * rng.random())
            if kind == 0:
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
            elif kind == 1:
                mask = (abs(yy - cy) < r) & (abs(xx - cx) < r)
            else:
                mask = abs(yy - cy) + abs(xx - cx) < r
            img = np.full((size, size, 3), 128, dtype=np.float64)
            img[mask] = colour
            img += rng.normal(0, 8, img.shape)
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(folder / f"{k}.png")
    return root


@pytest.fixture
def shapes_dataset(tmp_path: Path) -> Path:
    """6 identities x 6 images of 32x32 px."""
    return write_shapes_dataset(tmp_path / "shapes")


@pytest.fixture
def make_shapes() -> object:
    """The dataset writer itself, for tests that need other sizes."""
    return write_shapes_dataset


@pytest.fixture(scope="session")
def random_irv1_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid InceptionResnetV1 weights file (random values: the mechanics, not the figures)."""
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random-irv1.pt"
    torch.save(InceptionResnetV1(pretrained=None, classify=False).state_dict(), path)
    return path
