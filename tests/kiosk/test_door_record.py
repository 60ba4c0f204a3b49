"""The kiosk writes down what its doors do, for the site console: states as they change (the
"door left open" alert ends when the door closes) and forced or jammed doors as audit entries."""

from __future__ import annotations

from datetime import UTC, datetime

from lockers.config import Settings
from lockers.kiosk.door_record import record_doors
from lockers.kiosk.startup import Store
from lockers.store import audit, lockers_repo

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _doors(store: Store, kiosk_id: str) -> dict[str, str]:
    with store.database.transaction() as session:
        return {
            lk.label: lk.door_state.value for lk in lockers_repo.list_lockers(session, kiosk_id)
        }


def test_door_states_are_written_when_they_change_and_unknown_changes_nothing(
    settings: Settings, store: Store
) -> None:
    kiosk = settings.database.kiosk_id
    assert record_doors(store.database, kiosk, {"1": "open", "2": "closed"}, [], NOW) == 2
    assert record_doors(store.database, kiosk, {"1": "open", "2": "closed"}, [], NOW) == 0
    assert record_doors(store.database, kiosk, {"1": "closed", "2": "unknown"}, [], NOW) == 1
    doors = _doors(store, kiosk)
    assert (doors["1"], doors["2"]) == ("closed", "closed")
    assert record_doors(store.database, "another-kiosk", {"1": "open"}, [], NOW) == 0
    assert _doors(store, kiosk)["1"] == "closed"  # only a bank's own kiosk writes its doors


def test_forced_and_jammed_doors_become_door_alerts_in_the_audit_log(
    settings: Settings, store: Store
) -> None:
    kiosk = settings.database.kiosk_id
    events = [("1", "forced_open", "opened without a command"), (None, "jammed", "")]
    record_doors(store.database, kiosk, {}, events, NOW)
    with store.database.transaction() as session:
        found = [(e.action, e.outcome, e.locker_label) for e in audit.entries(session)]
    assert ("door_alert", "forced_open", "1") in found
    assert ("door_alert", "jammed", None) in found
    assert all(e[0] != "door_alert" or e[2] in ("1", None) for e in found)
