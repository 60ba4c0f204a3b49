"""Staff: PIN login with lockout and auto-logout, locker actions, all audited (never the PIN)."""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lockers_storekit import MODEL, ScriptedBoard, face

from lockers.config import Settings
from lockers.kiosk import pins
from lockers.kiosk.errors import StaffActionRefused, StaffAuthError, StaffSessionExpired
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.staff_service import LoginPolicy, StaffService
from lockers.kiosk.startup import Store, open_pin_secret
from lockers.store import audit, consistency, rentals, staff_repo
from lockers.store.crypto import PinSecretError
from lockers.store.lockers_repo import UnknownLockerError

PIN = "482916"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def staff(store: Store, board: ScriptedBoard, clock: Clock) -> StaffService:
    service = StaffService(store.database, board, clock=clock)
    service.add_staff("alice", PIN, "admin")
    return service


def audit_rows(store: Store) -> list[tuple[str, str, str]]:
    with store.database.transaction() as session:
        return [(e.actor, e.action, e.outcome) for e in audit.entries(session)]


def test_lockout_after_five_failures_with_back_off(staff: StaffService, clock: Clock) -> None:
    for _ in range(4):
        with pytest.raises(StaffAuthError, match="wrong staff name or PIN"):
            staff.login("alice", "000000")
    with pytest.raises(StaffAuthError, match="locked for 30 s") as err:
        staff.login("alice", "000000")
    assert err.value.retry_after_s == 30
    with pytest.raises(StaffAuthError, match="locked"):
        staff.login("alice", PIN)  # even the right PIN, while locked
    clock.now += timedelta(seconds=31)
    with pytest.raises(StaffAuthError, match="locked for 60 s"):
        staff.login("alice", "111111")  # the 6th failure doubles the lockout
    clock.now += timedelta(seconds=61)
    who = staff.login("alice", PIN)
    assert who.staff_name == "alice"
    staff.logout(who)
    # A success resets the counter.
    with pytest.raises(StaffAuthError, match="wrong"):
        staff.login("alice", "000000")


def test_unknown_name_is_indistinguishable(staff: StaffService) -> None:
    with pytest.raises(StaffAuthError, match="wrong staff name or PIN"):
        staff.login("mallory", PIN)


def test_auto_logout_after_inactivity(staff: StaffService, clock: Clock) -> None:
    who = staff.login("alice", PIN)
    clock.now += timedelta(seconds=100)
    staff.lockers(who)  # activity keeps the session alive
    clock.now += timedelta(seconds=100)
    assert staff.is_logged_in(who)
    clock.now += timedelta(seconds=121)
    with pytest.raises(StaffSessionExpired, match="inactivity"):
        staff.reset(who, "1", "late")
    # Ended is ended: the next call says so by type as well (never decided by message text).
    with pytest.raises(StaffSessionExpired):
        staff.lockers(who)


def test_a_wrong_pin_is_not_a_session_expiry(staff: StaffService) -> None:
    with pytest.raises(StaffAuthError) as err:
        staff.login("alice", "000000")
    assert not isinstance(err.value, StaffSessionExpired)


def test_lockout_follows_the_shared_backoff_rule() -> None:
    policy = LoginPolicy(max_failures=3, lockout_s=10.0, max_lockout_s=25.0)
    assert [policy.lockout_for(n) for n in range(1, 7)] == [0, 0, 10, 20, 25, 25]


def _stored_pin_hash(store: Store, name: str) -> str:
    with store.database.transaction() as session:
        found = staff_repo.find_staff(session, name)
        assert found is not None
        return found.pin_hash


def test_pin_hashes_are_keyed_with_the_site_secret(
    settings: Settings, store: Store, staff: StaffService
) -> None:
    secret_file = settings.privacy.pin_secret_path
    assert secret_file == settings.privacy.template_key_file.with_name("pin.secret")
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert store.pin_secret == secret_file.read_bytes()
    stored = _stored_pin_hash(store, "alice")
    assert stored.startswith("scrypt-k2$")
    # A copied database alone: the right PIN does not verify without the site's secret.
    assert not pins.verify_pin(PIN, stored, bytes(32))
    assert pins.verify_pin(PIN, stored, secret_file.read_bytes())


def test_an_unkeyed_hash_still_logs_in_and_is_rekeyed(
    store: Store, staff: StaffService, clock: Clock
) -> None:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(b"135790", salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = "$".join(
        [
            "scrypt",
            "16384",
            "8",
            "1",
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )
    with store.database.transaction() as session:
        staff_repo.add_staff(session, "bob", "staff", legacy)
    with pytest.raises(StaffAuthError, match="wrong"):
        staff.login("bob", "000000")
    assert _stored_pin_hash(store, "bob") == legacy  # only a successful login re-keys
    assert staff.login("bob", "135790").staff_name == "bob"
    rekeyed = _stored_pin_hash(store, "bob")
    assert rekeyed.startswith("scrypt-k2$") and rekeyed != legacy
    assert staff.login("bob", "135790").staff_name == "bob"


def test_a_lost_pin_secret_is_a_clear_error(
    settings: Settings, store: Store, staff: StaffService
) -> None:
    settings.privacy.pin_secret_path.unlink()
    with pytest.raises(PinSecretError, match="does not exist") as err:
        open_pin_secret(settings, store.database)
    assert "backup" in err.value.hint


def test_staff_actions_are_audited_and_reset_deletes_templates(
    settings: Settings,
    store: Store,
    board: ScriptedBoard,
    staff: StaffService,
    clock: Clock,
    tmp_path: Path,
) -> None:
    kiosk = RentalService.from_settings(settings, store.database, board, store.cipher, clock=clock)
    reg = kiosk.register(face(1), consent=True, model_version=MODEL)
    who = staff.login("alice", PIN)

    opened = staff.force_open(who, "1", "customer lost phone")
    assert opened.outcome == "opened"
    with store.database.transaction() as session:  # force open keeps the rental
        assert rentals.count_templates(session) == 3

    clock.now += timedelta(hours=settings.privacy.rental_max_hours + 1)
    assert not staff.is_logged_in(who)  # auto-logout meanwhile
    who = staff.login("alice", PIN)
    assert [v.label for v in staff.overdue(who)] == ["1"]

    with pytest.raises(StaffActionRefused, match="reason"):
        staff.reset(who, "1", "  ")
    with pytest.raises(UnknownLockerError, match="no locker labelled '9'"):
        staff.reset(who, "9", "typo")
    result = staff.reset(who, "1", "belongings handed over at the desk")
    assert f"rental {reg.rental_id} ended, 3 templates deleted" in result.detail
    with store.database.transaction() as session:
        assert rentals.count_templates(session) == 0
        assert consistency.invariant_violations(session) == []

    staff.set_out_of_service(who, "2", "hinge broken")
    assert kiosk.register(face(2), consent=True, model_version=MODEL).locker_label == "1"
    staff.back_in_service(who, "2")
    assert kiosk.register(face(3), consent=True, model_version=MODEL).locker_label == "2"

    out = tmp_path / "audit.csv"
    count = staff.export_audit(who, out)
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == count
    staff_actions = {(r["action"], r["outcome"]) for r in rows if r["actor"] == "staff:alice"}
    assert {
        ("force_open", "opened"),
        ("reset", "ok"),
        ("out_of_service", "ok"),
        ("back_in_service", "available"),
    } <= staff_actions
    assert ("staff:alice", "audit_export", "ok") in audit_rows(store)


def test_pin_never_reaches_database_or_audit(
    staff: StaffService, store: Store, backend: str, tmp_path: Path
) -> None:
    for attempt in ("913375", PIN):
        with contextlib.suppress(StaffAuthError):
            staff.login("alice", attempt)
    who = staff.login("alice", PIN)
    staff.export_audit(who, tmp_path / "a.csv")
    text = (tmp_path / "a.csv").read_text(encoding="utf-8")
    assert PIN not in text and "913375" not in text
    if backend == "sqlite":
        store.database.dispose()
        db_file = Path(store.database.url.database or "")
        blob = b"".join(p.read_bytes() for p in db_file.parent.glob(db_file.name + "*"))
        assert PIN.encode() not in blob and b"913375" not in blob


def test_audit_log_is_filtered_and_limited_in_the_database(staff: StaffService) -> None:
    who = staff.login("alice", PIN)
    staff.set_out_of_service(who, "1", "broken hinge")
    staff.set_out_of_service(who, "2", "cleaning")
    staff.back_in_service(who, "2")
    newest = staff.audit_log(who, limit=2)
    assert len(newest) == 2 and newest[0].at >= newest[1].at
    assert newest[0].locker_label == "2"
    only_1 = staff.audit_log(who, locker_label="1")
    assert only_1 and all(row.locker_label == "1" for row in only_1)
    logins = staff.audit_log(who, action=only_1[0].action, locker_label="2")
    assert all(row.action == only_1[0].action and row.locker_label == "2" for row in logins)
    staff.logout(who, "done")
    with pytest.raises(StaffAuthError):
        staff.audit_log(who)


def test_a_locker_staff_opened_is_not_handed_out_before_their_reset(
    settings: Settings, store: Store, board: ScriptedBoard, staff: StaffService, clock: Clock
) -> None:
    """Soak regression (issue 14): staff force-opened an available locker to empty it, another
    kiosk gave that open locker to a new customer, and staff's reset then ended the customer's
    rental with their belongings inside (the next registration opened it for someone else)."""
    kiosk = RentalService.from_settings(settings, store.database, board, store.cipher, clock=clock)
    who = staff.login("alice", PIN)
    assert staff.force_open(who, "1", "empty it").outcome == "opened"
    reg = kiosk.register(face(1), consent=True, model_version=MODEL)
    assert reg.locker_label == "2"  # not the locker staff have open
    assert "no active rental" in staff.reset(who, "1", "emptied").detail
    with store.database.transaction() as session:
        rental = rentals.get_rental(session, reg.rental_id)
        assert rental is not None and rental.state == "active"
        assert consistency.invariant_violations(session) == []
    assert kiosk.register(face(2), consent=True, model_version=MODEL).locker_label == "1"


def test_roles_are_the_consoles_and_the_old_staff_role_is_an_attendant(
    staff: StaffService,
) -> None:
    staff.add_staff("ann", "4821", actor="t")
    staff.add_staff("ben", "4822", "staff", actor="t")  # older scripts: today's attendant
    staff.add_staff("cat", "4823", "manager", actor="t")
    logins = [staff.login(n, p) for n, p in (("ann", "4821"), ("ben", "4822"), ("cat", "4823"))]
    assert [s.role for s in logins] == ["attendant", "attendant", "manager"]
