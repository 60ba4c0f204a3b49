"""The passive check under the kiosk's tiered rule, and the two thresholds it proposes.

At a door of an existing rental the kiosk decides one presentation (its fused score) in three
tiers (:class:`~lockers.training.pad_decision.TieredRule`): at or above ``confident`` the door
opens; from ``threshold`` up to ``confident`` it asks for one head move first; below
``threshold`` it refuses. Per presentation this module reports:

- **attacks opened without a challenge** (per attack type; the worst type as ISO/IEC 30107-3
  reports APCER): the figure the passive check alone answers for;
- **attacks challenged**: a flat print or screen is expected to fail the move (it cannot turn
  its head: the yaw check), but that is the challenge's merit, so they are counted apart and
  never as refused;
- **BPCER**: real faces refused (below ``threshold``);
- **challenge rate**: real faces asked for a move (the time it costs them).

The proposal: ``threshold`` is the highest one whose pooled BPCER meets the BPCER target
(:func:`~lockers.training.pad_eval.threshold_for_bpcer`); ``confident`` the lowest one (on a
0.001 grid) at which every attack type's share opened without a challenge meets the APCER
target (target 0: just above the highest attack score), and never below ``threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lockers.training.pad_decision import Decision, DecisionCounts, TieredRule, count_decisions
from lockers.training.pad_eval import threshold_for_bpcer
from lockers.training.pad_scores import SourceScores

_GRID = 1000  # proposals on a 0.001 grid


def _just_above(score: float) -> float | None:
    """The lowest value on the grid strictly above ``score``; None when that is above 1 (an
    attack scoring 1.0 is accepted at any ``confident``)."""
    value = (math.floor(score * _GRID + 1e-9) + 1) / _GRID
    return value if value <= 1.0 else None


def confident_for_apcer(attacks: Sequence[SourceScores], target: float) -> float | None:
    """The lowest ``confident`` (0.001 grid) at which, for every attack type, at most
    ``target`` of its presentations score at or above it. None without attack scores, or when
    no value up to 1.0 meets the target."""
    scored = [s for s in attacks if s.scores]
    if not scored:
        return None
    proposals: list[float] = []
    for source in scored:
        descending = np.sort(np.asarray(source.scores, dtype=float))[::-1]
        allowed = int(np.floor(target * descending.size + 1e-9))  # attacks that may open
        if allowed >= descending.size:
            continue  # the target allows them all
        above = _just_above(float(descending[allowed]))
        if above is None:
            return None
        proposals.append(above)
    return max(proposals, default=0.0)


@dataclass(frozen=True)
class TierFigures:
    """What a tiered rule does to the real faces and to each attack type."""

    rule: TieredRule
    real: DecisionCounts
    real_per_source: dict[str, DecisionCounts]
    attacks: dict[str, DecisionCounts]

    @classmethod
    def measure(cls, rule: TieredRule, sources: Sequence[SourceScores]) -> TierFigures:
        real = [s for s in sources if s.bona_fide]
        pooled = [score for s in real for score in s.scores]
        return cls(
            rule,
            count_decisions(rule, pooled),
            {s.name: count_decisions(rule, s.scores) for s in real},
            {s.name: count_decisions(rule, s.scores) for s in sources if not s.bona_fide},
        )

    @property
    def bpcer(self) -> float:
        return self.real.share(Decision.REFUSE)

    @property
    def challenge_rate(self) -> float:
        return self.real.share(Decision.CHALLENGE)

    def apcer_without_challenge(self) -> float:
        """The worst attack type's share opened without a challenge (NaN without attacks)."""
        return _worst(c.share(Decision.ACCEPT) for c in self.attacks.values())

    def attacks_challenged(self) -> float:
        """The worst attack type's share sent to the challenge."""
        return _worst(c.share(Decision.CHALLENGE) for c in self.attacks.values())

    def to_json(self) -> dict[str, object]:
        return {
            "threshold": self.rule.threshold,
            "confident": self.rule.confident,
            "bpcer": _number(self.bpcer),
            "challenge_rate": _number(self.challenge_rate),
            "apcer_without_challenge_max": _number(self.apcer_without_challenge()),
            "attacks_challenged_max": _number(self.attacks_challenged()),
            "real": _real_json(self.real),
            "real_per_source": {name: _real_json(c) for name, c in self.real_per_source.items()},
            "attacks": {name: _attack_json(c) for name, c in self.attacks.items()},
        }


@dataclass(frozen=True)
class TierReport:
    """The tiered rule at the configured thresholds, and at the proposed ones."""

    current: TierFigures
    target_apcer: float
    target_bpcer: float
    highest_attack_score: float | None
    proposed: TierFigures | None

    def to_json(self) -> dict[str, object]:
        return self.current.to_json() | {
            "target_apcer": self.target_apcer,
            "target_bpcer": self.target_bpcer,
            "highest_attack_score": self.highest_attack_score,
            "proposed": None if self.proposed is None else self.proposed.to_json(),
        }


def propose_rule(
    sources: Sequence[SourceScores], target_apcer: float, target_bpcer: float
) -> TieredRule | None:
    """``threshold`` for the BPCER target and ``confident`` for the APCER-without-challenge
    target (see the module's docstring); None without real or attack scores."""
    threshold = threshold_for_bpcer([s for s in sources if s.bona_fide], target_bpcer)
    confident = confident_for_apcer([s for s in sources if not s.bona_fide], target_apcer)
    if threshold is None or confident is None:
        return None
    # threshold_for_bpcer gives a real score itself; on the grid, rounded down keeps it.
    threshold = math.floor(threshold * _GRID + 1e-9) / _GRID
    return TieredRule(threshold, max(confident, threshold))


def build_tier_report(
    sources: Sequence[SourceScores],
    rule: TieredRule,
    target_apcer: float = 0.0,
    target_bpcer: float = 0.05,
) -> TierReport:
    """``sources`` (per presentation) under ``rule`` and under the proposed rule."""
    attack_scores = [score for s in sources if not s.bona_fide for score in s.scores]
    proposal = propose_rule(sources, target_apcer, target_bpcer)
    return TierReport(
        TierFigures.measure(rule, sources),
        target_apcer,
        target_bpcer,
        max(attack_scores) if attack_scores else None,
        None if proposal is None else TierFigures.measure(proposal, sources),
    )


def _worst(rates: Iterable[float]) -> float:
    values = [r for r in rates if not np.isnan(r)]
    return max(values) if values else float("nan")


def _number(value: float) -> float | None:
    return None if np.isnan(value) else round(value, 6)


def _real_json(counts: DecisionCounts) -> dict[str, object]:
    return {
        "presentations": counts.total,
        "opened": counts.accepted,
        "challenged": counts.challenged,
        "refused": counts.refused,
        "challenge_rate": _number(counts.share(Decision.CHALLENGE)),
        "bpcer": _number(counts.share(Decision.REFUSE)),
    }


def _attack_json(counts: DecisionCounts) -> dict[str, object]:
    return {
        "presentations": counts.total,
        "opened_without_challenge": counts.accepted,
        "challenged": counts.challenged,
        "refused": counts.refused,
        "apcer_without_challenge": _number(counts.share(Decision.ACCEPT)),
        "challenged_rate": _number(counts.share(Decision.CHALLENGE)),
    }
