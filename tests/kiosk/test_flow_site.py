"""The flow when the face rents a locker in another kiosk's bank (issue "One site, several
kiosks"): nothing opens here, the screen names that locker and kiosk, no wait is counted."""

from __future__ import annotations

from flow_kit import Clock, capture, good, settings

from lockers.kiosk.dto import RegisterOutcome, RegisterResult, RetrieveOutcome, RetrieveResult
from lockers.kiosk.flow import (
    KioskFlow,
    Phase,
    Problem,
    RetrieveRequest,
)


def test_a_retrieve_at_the_wrong_kiosk_names_the_right_one_and_costs_no_wait() -> None:
    flow, clock = KioskFlow(settings()), Clock()
    flow.start_retrieve(clock())
    assert isinstance(capture(flow, clock, good(), 3), RetrieveRequest)
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
    capture(flow, clock, good(), 3)
    result = RegisterResult(
        RegisterOutcome.ACTIVE_ELSEWHERE, "B3", 4, kiosk_id="kiosk-b", kiosk_name="Kiosk B"
    )
    view = flow.register_done(result, clock())
    assert view.phase is Phase.FAILED and view.problem is Problem.AT_OTHER_KIOSK
    assert (view.locker_label, view.detail) == ("B3", "Kiosk B")
