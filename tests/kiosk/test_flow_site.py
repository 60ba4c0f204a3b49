"""The flow when the face rents a locker in another kiosk's bank (issue "One site, several
kiosks"): nothing opens here, the screen names that locker and kiosk, no wait is counted."""

from __future__ import annotations

import numpy as np

from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow import (
    FlowSettings,
    FrameObservation,
    KioskFlow,
    Phase,
    Problem,
    RetrieveRequest,
)

FACE = np.random.default_rng(1).standard_normal(512).astype(np.float32)
FACE /= np.linalg.norm(FACE)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self, dt: float = 0.2) -> float:
        self.t += dt
        return self.t


def settings() -> FlowSettings:
    return FlowSettings(
        capture_frames=3,
        retrieve_frames=3,
        liveness=None,
        idle_timeout_s=30.0,
        capture_window_s=0.0,
    )


def good() -> FrameObservation:
    return FrameObservation(
        has_face=True,
        crowded=False,
        embedding=FACE,
        quality_score=0.8,
        yaw_deg=0.0,
        center=(320.0, 240.0),
        width=160.0,
    )


def capture(flow: KioskFlow, clock: Clock, count: int) -> object:
    command = None
    for _ in range(count):
        command = flow.frame(good(), clock()) or command
    return command


def test_a_retrieve_at_the_wrong_kiosk_names_the_right_one_and_costs_no_wait() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_retrieve(clock())
    assert isinstance(capture(flow, clock, 3), RetrieveRequest)
    result = RetrieveResult(
        RetrieveOutcome.AT_OTHER_KIOSK,
        "A-12",
        7,
        0.9,
        kiosk_id="kiosk-a",
        kiosk_name="Kiosk A",
        kiosk_location="men's changing room, 1F",
    )
    view = flow.retrieve_done(result, clock())
    assert view.phase is Phase.FAILED and view.problem is Problem.AT_OTHER_KIOSK
    assert view.locker_label == "A-12"
    assert view.detail == "Kiosk A (men's changing room, 1F)"
    assert view.retry_in_s == 0 and not view.can_retry
    assert flow.tick(clock(60)).phase is Phase.HOME


def test_a_registration_of_a_face_renting_elsewhere_opens_nothing_here() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_register(clock())
    flow.consent(True, clock())
    capture(flow, clock, 3)
    result = RegisterResult(
        RegisterOutcome.ACTIVE_ELSEWHERE, "B3", 4, kiosk_id="kiosk-b", kiosk_name="Kiosk B"
    )
    view = flow.register_done(result, clock())
    assert view.phase is Phase.FAILED and view.problem is Problem.AT_OTHER_KIOSK
    assert (view.locker_label, view.detail) == ("B3", "Kiosk B")
