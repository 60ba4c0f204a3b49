"""The one back-off rule."""

from __future__ import annotations

import pytest

from lockers.backoff import Backoff, BackoffTimer


def test_free_failures_cost_nothing_then_doubling_is_capped() -> None:
    rule = Backoff(base_s=2.0, max_s=60.0, free=3)
    assert [rule.wait_s(n) for n in range(0, 10)] == [0, 0, 0, 0, 2, 4, 8, 16, 32, 60]


def test_no_free_failures_waits_from_the_first() -> None:
    rule = Backoff(base_s=0.5, max_s=10.0)
    assert rule.wait_s(0) == 0.0
    assert rule.wait_s(1) == 0.5
    assert rule.wait_s(10_000) == 10.0  # no overflow


def test_timer_counts_and_resets() -> None:
    timer = BackoffTimer(Backoff(base_s=1.0, max_s=3.0))
    assert [timer.next_delay() for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]
    assert timer.failures == 4
    timer.reset()
    assert timer.next_delay() == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_s": 0, "max_s": 1},
        {"base_s": 2, "max_s": 1},
        {"base_s": 1, "max_s": 2, "factor": 0.5},
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
