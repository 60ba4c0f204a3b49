"""The kiosk's tiered decision (accept / challenge / refuse) and the thresholds proposed for an
APCER-without-challenge and a BPCER target."""

from __future__ import annotations

import pytest

from lockers.training.pad_decision import Decision, TieredRule, count_decisions
from lockers.training.pad_scores import SourceScores
from lockers.training.pad_tiers import build_tier_report, confident_for_apcer, propose_rule


def test_tier_boundaries_belong_to_the_upper_tier() -> None:
    rule = TieredRule(threshold=0.5, confident=0.8)
    assert rule.decide(0.4999) is Decision.REFUSE
    assert rule.decide(0.5) is Decision.CHALLENGE  # at the threshold: asked for a move
    assert rule.decide(0.7999) is Decision.CHALLENGE
    assert rule.decide(0.8) is Decision.ACCEPT  # at confident: opens without a challenge
    assert rule.decide(1.0) is Decision.ACCEPT and rule.decide(0.0) is Decision.REFUSE
    # Equal thresholds: the old single-threshold rule, never a challenge.
    flat = TieredRule(0.69, 0.69)
    assert [flat.decide(s) for s in (0.6899, 0.69)] == [Decision.REFUSE, Decision.ACCEPT]
    with pytest.raises(ValueError, match="confident"):
        TieredRule(threshold=0.7, confident=0.6)
    counts = count_decisions(rule, [0.1, 0.5, 0.6, 0.8, 0.9])
    assert (counts.accepted, counts.challenged, counts.refused) == (2, 2, 1)
    assert counts.share(Decision.CHALLENGE) == pytest.approx(0.4)


def test_confident_is_proposed_above_the_attacks_the_target_allows() -> None:
    printed = SourceScores("print", False, [0.1, 0.3, 0.62, 0.7345])
    screen = SourceScores("screen", False, [0.2, 0.5])
    # Target 0: just above the highest attack score of any type, on a 0.001 grid.
    assert confident_for_apcer([printed, screen], 0.0) == pytest.approx(0.735)
    # 25% of 4 print attacks may open: above the second highest print; screen: above 0.5.
    assert confident_for_apcer([printed, screen], 0.25) == pytest.approx(0.621)
    # 50%: 2 of 4 prints (above 0.3) and 1 of 2 screens (above 0.2): the stricter, 0.301.
    assert confident_for_apcer([printed, screen], 0.5) == pytest.approx(0.301)
    assert confident_for_apcer([SourceScores("x", False)], 0.0) is None  # nothing scored
    assert confident_for_apcer([SourceScores("x", False, [1.0])], 0.0) is None  # unreachable


def test_the_tier_report_counts_challenges_apart_and_proposes_both_thresholds() -> None:
    real = SourceScores("real", True, [0.3, 0.55, 0.75, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 1.0])
    printed = SourceScores("print", False, [0.05, 0.2, 0.6, 0.8])
    screen = SourceScores("screen", False, [0.0, 0.4])
    report = build_tier_report([real, printed, screen], TieredRule(0.5, 0.7), 0.0, 0.1)
    now = report.current
    assert (now.real.accepted, now.real.challenged, now.real.refused) == (8, 1, 1)
    assert now.bpcer == pytest.approx(0.1) and now.challenge_rate == pytest.approx(0.1)
    # The 0.8 print opens without a challenge; the 0.6 print is challenged, never "refused".
    assert (now.attacks["print"].accepted, now.attacks["print"].challenged) == (1, 1)
    assert now.apcer_without_challenge() == pytest.approx(0.25)
    assert now.attacks_challenged() == pytest.approx(0.25)
    assert report.highest_attack_score == pytest.approx(0.8)
    proposed = report.proposed
    assert proposed is not None
    # BPCER <= 10% of 10 real: one may be refused, so the threshold is the 2nd lowest (0.55);
    # no attack opens without a challenge: confident just above 0.8.
    assert proposed.rule == TieredRule(0.55, 0.801)
    assert proposed.bpcer == pytest.approx(0.1) and proposed.apcer_without_challenge() == 0.0
    assert proposed.challenge_rate == pytest.approx(0.2)  # the 0.55 and 0.75 faces
    document = report.to_json()
    assert document["apcer_without_challenge_max"] == 0.25 and document["challenge_rate"] == 0.1
    assert document["attacks"]["print"] == {  # type: ignore[index]
        "presentations": 4,
        "opened_without_challenge": 1,
        "challenged": 1,
        "refused": 2,
        "apcer_without_challenge": 0.25,
        "challenged_rate": 0.25,
    }
    assert document["proposed"]["confident"] == 0.801  # type: ignore[index]


def test_confident_never_falls_below_the_proposed_threshold() -> None:
    real = SourceScores("real", True, [0.9, 0.95, 0.97, 0.99])
    weak = SourceScores("print", False, [0.05, 0.1])
    rule = propose_rule([real, weak], target_apcer=0.0, target_bpcer=0.0)
    assert rule == TieredRule(0.9, 0.9)  # no challenge tier: every attack is below 0.9
    assert propose_rule([real], 0.0, 0.05) is None  # no attacks, no confident
