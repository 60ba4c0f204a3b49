"""The start-up check finds every kind of inconsistency and repairs what is safe to repair."""

from __future__ import annotations

from lockers_storekit import MODEL, ScriptedBoard, face

from lockers.config import Settings
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.startup import Store, start_store
from lockers.store import consistency, lockers_repo, rentals
from lockers.store.models import LockerStatus, RentalState


def test_findings_and_repairs(settings: Settings, store: Store) -> None:
    kiosk = RentalService.from_settings(settings, store.database, ScriptedBoard(), store.cipher)
    first = kiosk.register(face(1), consent=True, model_version=MODEL)
    second = kiosk.register(face(2), consent=True, model_version=MODEL)
    # Damage the database the way a buggy tool or a crash of a foreign writer could.
    with store.database.transaction() as session:
        lockers_repo.get_locker(session, "1").status = LockerStatus.AVAILABLE
        rental = rentals.get_rental(session, second.rental_id or 0)
        assert rental is not None
        rental.state = RentalState.ENDED  # ended, but templates and locker left behind
        lockers_repo.get_locker(session, "3").status = LockerStatus.OCCUPIED
    with store.database.transaction() as session:
        assert len(consistency.invariant_violations(session)) == 4  # 1 locker + 3 templates

    check_only, report = start_store(settings, repair=False)
    check_only.close()
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == [
        "available_with_active_rental",
        "occupied_without_rental",
        "occupied_without_rental",
        "templates_of_closed_rental",
    ]
    assert not any(f.repaired for f in report.findings)

    repaired, report = start_store(settings)
    repaired.close()
    assert all(f.repaired for f in report.findings)
    with store.database.transaction() as session:
        assert consistency.invariant_violations(session) == []
        assert lockers_repo.get_locker(session, "1").status == LockerStatus.OCCUPIED
        assert "occupied without an active rental" in (
            lockers_repo.get_locker(session, "2").attention or ""
        )
        assert rentals.count_templates(session) == 3  # only the active rental's
    again, report = start_store(settings)
    again.close()
    assert report.clean
    assert first.rental_id is not None
