"""Accessibility mode's time: every timeout x time_factor, never expiring without a warning at
least warn_before_s before, and "more time" starting the timeout again."""

from __future__ import annotations

import pytest

from lockers.kiosk.flow import FlowSettings, KioskFlow, Phase, Problem

BASE = FlowSettings(liveness=None, capture_timeout_s=20.0, idle_timeout_s=60.0)


def capturing(factor: float = 3.0, warn: float | None = 10.0) -> KioskFlow:
    flow = KioskFlow(BASE)
    flow.set_pace(factor, warn)
    flow.start_register(0.0)
    flow.consent(True, 0.0)
    assert flow.phase is Phase.CAPTURE
    return flow


def test_the_capture_timeout_is_three_times_longer_and_warned_before() -> None:
    flow = capturing()
    assert flow.time_left_s(0.0) == pytest.approx(60.0)
    assert not flow.tick(49.0).time_warning
    assert flow.tick(50.5).time_warning  # 9.5 s left: warned
    assert flow.tick(59.0).phase is Phase.CAPTURE
    view = flow.tick(60.6)
    assert (view.phase, view.problem) == (Phase.FAILED, Problem.CAPTURE_TIMEOUT)


def test_more_time_starts_the_timeout_again_and_clears_the_warning() -> None:
    flow = capturing()
    assert flow.tick(55.0).time_warning
    assert not flow.more_time(55.0).time_warning
    assert flow.tick(100.0).phase is Phase.CAPTURE  # 45 s into the new 60 s
    assert flow.tick(106.0).time_warning  # 9 s left: moved to a full 10 s after the warning
    assert flow.tick(115.5).phase is Phase.CAPTURE
    assert flow.tick(116.5).phase is Phase.FAILED


def test_a_timeout_nearer_than_the_warning_waits_for_it() -> None:
    """A tick that first sees the timeout already due warns instead, and the timeout then comes
    warn_before_s later: nothing expires unannounced (a slow UI loop, a long screen)."""
    flow = capturing()
    view = flow.tick(200.0)  # long past 60 s, never warned
    assert (view.phase, view.time_warning) == (Phase.CAPTURE, True)
    assert flow.tick(209.0).phase is Phase.CAPTURE
    assert flow.tick(210.5).phase is Phase.FAILED


def test_result_screens_and_idle_are_scaled_too() -> None:
    flow = capturing()
    flow.tick(50.0)
    assert flow.tick(61.0).phase is Phase.FAILED
    # The failure screen shows 3 x result_display_s, x time_factor in the mode.
    assert flow.time_left_s(61.0) == pytest.approx(BASE.result_display_s * 3 * 3)
    paced = BASE.scaled(3.0)
    assert paced.idle_timeout_s == 180.0 and paced.open_display_s == BASE.open_display_s * 3
    assert paced.capture_frames == BASE.capture_frames  # counts stay


def test_without_the_mode_nothing_changes() -> None:
    flow = capturing(factor=1.0, warn=None)
    assert not flow.tick(19.0).time_warning
    assert flow.tick(20.5).phase is Phase.FAILED


def test_a_registration_move_gets_the_longer_timeouts_at_its_next_start() -> None:
    from lockers.vision.liveness import LivenessConfig

    base = FlowSettings(liveness=LivenessConfig(turns=1, timeout_s=15.0, turn_timeout_s=5.0))
    paced = base.scaled(3.0)
    assert paced.liveness is not None
    assert (paced.liveness.timeout_s, paced.liveness.turn_timeout_s) == (45.0, 15.0)
    assert paced.liveness.hold_s == base.liveness.hold_s  # type: ignore[union-attr]
