"""Synthetic people: each one a distinct, reproducible set of 512-d template vectors.

Person ``i`` has a base direction drawn from ``(seed, i)``; every capture of that person is the
base plus fresh noise, so two captures of one person agree (cosine about 0.85) and two people
do not (random directions in 512-d are nearly orthogonal: |cosine| < 0.25 for millions of
pairs). This is the embedder's output the kiosk would see, so no model runs in a soak.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lockers.vision.types import EMBEDDING_DIM

DIM = EMBEDDING_DIM  # the kiosk's templates: the soak's people are the same shape
GOOD_NOISE = 0.4  # cosine to the base about 0.93
BAD_NOISE = 3.0  # a blurred, badly lit face: cosine to the base about 0.3, never accepted
STRANGER_BASE = 1 << 40  # ids of people who never register (failed recognitions)


class People:
    """Deterministic template vectors for person ids (registering people count up from 0)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def base(self, person: int) -> npt.NDArray[np.float32]:
        rng = np.random.default_rng([self.seed, person, 0])
        vector = rng.standard_normal(DIM)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def captures(
        self, person: int, count: int, nonce: int, noise: float = GOOD_NOISE
    ) -> npt.NDArray[np.float32]:
        """``count`` unit vectors of ``person``; ``nonce`` makes each capture session differ."""
        rng = np.random.default_rng([self.seed, person, 1, nonce])
        noisy = self.base(person)[None, :] + rng.standard_normal((count, DIM)) * (
            noise / np.sqrt(DIM)
        )
        return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)

    def matches(self, person: int, templates: npt.NDArray[np.float32], cosine: float) -> bool:
        """Whether stored ``templates`` (k, 512) are this person's (mean cosine to the base)."""
        if len(templates) == 0:
            return False
        return float(np.mean(templates @ self.base(person))) >= cosine
