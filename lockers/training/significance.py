"""Is one model's accuracy really different from another's on the same pairs? (numpy only)

McNemar's test looks only at the pairs where the two models disagree: ``b`` pairs only model A
decides correctly, ``c`` pairs only model B does. Under "no difference" each disagreement is a
fair coin, so ``min(b, c)`` follows Binomial(b + c, 1/2). The exact two-sided p-value is used at
every size (no chi-square approximation to go wrong on small counts).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class McNemarResult:
    """The paired comparison of two models' decisions on the same pairs."""

    n_pairs: int
    only_a_correct: int  # b
    only_b_correct: int  # c
    p_value: float
    alpha: float = DEFAULT_ALPHA

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def discordant(self) -> int:
        return self.only_a_correct + self.only_b_correct

    def verdict(self) -> str:
        """Model B against model A (the baseline), for a table cell."""
        counts = f"{self.only_b_correct} vs {self.only_a_correct} pairs, p={self.p_value:.2g}"
        if not self.significant:
            return f"no significant difference ({counts})"
        word = "better" if self.only_b_correct > self.only_a_correct else "worse"
        return f"{word} than baseline ({counts})"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["significant"] = self.significant
        data["test"] = "McNemar, exact binomial, two-sided"
        return data


def binomial_two_sided_p(k: int, n: int) -> float:
    """P(X <= min(k, n-k)) + P(X >= max(k, n-k)) for X ~ Binomial(n, 1/2), capped at 1."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    log_half_n = -n * math.log(2.0)
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half_n
        for i in range(low + 1)
    ]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return min(1.0, 2.0 * tail)


def mcnemar(
    correct_a: npt.ArrayLike, correct_b: npt.ArrayLike, alpha: float = DEFAULT_ALPHA
) -> McNemarResult:
    """McNemar's exact test on per-pair correctness of two models (same pairs, same order).

    Raises:
        ValueError: the two arrays differ in length.
    """
    a = np.asarray(correct_a, dtype=bool).ravel()
    b = np.asarray(correct_b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"decisions {a.shape} and {b.shape} differ in length")
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    return McNemarResult(
        n_pairs=int(a.size),
        only_a_correct=only_a,
        only_b_correct=only_b,
        p_value=binomial_two_sided_p(only_a, only_a + only_b),
        alpha=alpha,
    )
