"""Call staff: one audited entry per press (kiosk, screen, language; nothing about the face),
read back as this kiosk's recent requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lockers.kiosk.assistance import AssistanceRefused, AssistanceService, parse_detail
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_request_is_audited_with_kiosk_screen_and_language_and_no_face_data(
    database: Database,
) -> None:
    service = AssistanceService(database, "gym-2", clock=Clock())
    made = service.request("capture", "ko")
    with database.transaction() as session:
        rows = audit.recent(session, action=AuditAction.ASSISTANCE_REQUESTED.value)
        assert len(rows) == 1
        row = rows[0]
        assert (row.actor, row.outcome) == ("kiosk:gym-2", AuditOutcome.REQUESTED.value)
        assert (row.locker_label, row.rental_id, row.score) == (None, None, None)
        assert parse_detail(row.reason or "") == {
            "kiosk": "gym-2",
            "screen": "capture",
            "language": "ko",
        }
    assert made.detail == row.reason
    assert service.recent() == [made]


def test_the_locker_on_screen_is_written_for_staff(database: Database) -> None:
    service = AssistanceService(database, "gym-1", clock=Clock())
    made = service.request("failed", "en", locker_label="7")
    with database.transaction() as session:
        row = audit.recent(session, action=AuditAction.ASSISTANCE_REQUESTED.value)[0]
        assert (row.locker_label, row.rental_id) == ("7", None)
    assert service.recent()[0].locker_label == made.locker_label == "7"


def test_recent_requests_are_this_kiosks_and_age_out(database: Database) -> None:
    clock = Clock()
    here = AssistanceService(database, "gym-1", clock=clock, alert_for_s=60)
    there = AssistanceService(database, "gym-2", clock=clock, alert_for_s=60)
    first = here.request("home", "en")
    there.request("home", "en")
    clock.now += timedelta(seconds=30)
    second = here.request("staff_login", "ko")
    assert [r.entry_id for r in here.recent()] == [second.entry_id, first.entry_id]
    clock.now += timedelta(seconds=45)
    assert [r.entry_id for r in here.recent()] == [second.entry_id]


@pytest.mark.parametrize(("screen", "language"), [("", "ko"), ("Home; drop", "ko"), ("home", "fr")])
def test_a_request_from_nowhere_is_refused_with_a_clear_error(
    database: Database, screen: str, language: str
) -> None:
    service = AssistanceService(database, "gym-1")
    with pytest.raises(AssistanceRefused) as caught:
        service.request(screen, language)
    assert "call staff" in caught.value.message
    assert service.recent() == []
