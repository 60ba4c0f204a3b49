"""Site commands: sent to the kiosk that owns the locker, claimed at most once, or expired."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from lockers.config import LockerConfig
from lockers.store import audit, lockers_repo, site, site_commands
from lockers.store.db import Database
from lockers.store.models import CommandAction, CommandResult, SiteCommand
from lockers.store.site import KioskIdentity, KioskReplacedError
from lockers.store.site_commands import CommandStateError, NotInBankError, UnknownKioskError
from lockers.store.site_listen import CommandListener, wait_for_result

T0 = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
TTL = 30.0


def two_kiosk_site(database: Database, now: datetime = T0) -> None:
    """kiosk-a (A-1..A-4) and kiosk-b (B-1..B-4), both registered at ``now``."""
    with database.transaction() as session:
        for kiosk_id, prefix in (("kiosk-a", "A-"), ("kiosk-b", "B-")):
            bank = [LockerConfig(label=f"{prefix}{n}", channel=n) for n in (1, 2, 3, 4)]
            lockers_repo.sync_lockers(session, bank, kiosk_id)
            site.register_kiosk(session, KioskIdentity(kiosk_id, f"{kiosk_id}-run", kiosk_id), now)


def send(database: Database, label: str = "B-3", now: datetime = T0, **kw: str) -> SiteCommand:
    fields = {"kiosk_id": "kiosk-b", "action": "open", "staff": "carol", "source": "kiosk-a"}
    fields.update(kw)
    with database.transaction() as session:
        return site_commands.send_command(
            session, label=label, reason="left belongings", now=now, ttl_s=TTL, **fields
        )


def claim(database: Database, now: datetime, instance: str = "kiosk-b-run") -> list[int]:
    with database.transaction() as session:
        return [c.id for c in site_commands.claim_next_commands(session, "kiosk-b", instance, now)]


def test_send_claim_finish_is_audited_with_staff_and_both_kiosks(database: Database) -> None:
    two_kiosk_site(database)
    command = send(database)
    assert claim(database, T0 + timedelta(seconds=1)) == [command.id]
    assert claim(database, T0 + timedelta(seconds=2)) == []  # claimed once, never again
    with database.transaction() as session:
        done = site_commands.finish_command(
            session, command.id, "kiosk-b-run", "opened", T0 + timedelta(seconds=3), "board"
        )
    assert (done.result, done.claimed_by, done.detail) == ("opened", "kiosk-b-run", "board")
    with pytest.raises(CommandStateError), database.transaction() as session:
        site_commands.finish_command(session, command.id, "kiosk-b-run", "opened", T0)
    with database.transaction() as session:
        steps = [e for e in audit.entries(session) if e.action.startswith("command_")]
    assert [(e.action, e.outcome, e.actor) for e in steps] == [
        ("command_sent", "requested", "staff:carol"),
        ("command_claimed", "claimed", "kiosk:kiosk-b"),
        ("command_run", "opened", "kiosk:kiosk-b"),
    ]
    for entry in steps:
        assert entry.locker_label == "B-3"
        assert "by staff carol from kiosk-a to kiosk kiosk-b: left belongings" in (
            entry.reason or ""
        )


def test_bad_targets_are_refused_at_once(database: Database) -> None:
    two_kiosk_site(database)
    with pytest.raises(UnknownKioskError, match="no kiosk 'kiosk-z'") as err:
        send(database, kiosk_id="kiosk-z")
    assert "kiosk-a, kiosk-b" in err.value.hint
    with pytest.raises(NotInBankError, match="in the bank of kiosk 'kiosk-a', not of 'kiosk-b'"):
        send(database, label="A-1")
    with pytest.raises(NotInBankError, match="no locker labelled 'B-9'"):
        send(database, label="B-9")
    with database.transaction() as session:
        assert site_commands.pending_commands(session) == []


def test_an_expired_command_is_never_claimed(database: Database) -> None:
    two_kiosk_site(database)
    command = send(database)
    # kiosk-b was offline past the TTL; when it comes back the command is finished, not run.
    late = T0 + timedelta(seconds=TTL + 0.001)
    with database.transaction() as session:
        site.register_kiosk(session, KioskIdentity("kiosk-b", "kiosk-b-run-2", "b"), late)
    assert claim(database, late, "kiosk-b-run-2") == []
    assert claim(database, late + timedelta(seconds=1), "kiosk-b-run-2") == []
    with database.transaction() as session:
        row = site_commands.get_command(session, command.id)
        expired = [e for e in audit.entries(session) if e.action == "command_expired"]
    assert row is not None and (row.result, row.claimed_at) == ("expired", None)
    assert len(expired) == 1  # expired once, however often claimers look


def test_a_command_at_its_expiry_instant_is_still_claimed(database: Database) -> None:
    two_kiosk_site(database)
    command = send(database)
    assert claim(database, T0 + timedelta(seconds=TTL)) == [command.id]


@pytest.mark.parametrize("rounds", [3])
def test_racing_executors_claim_each_command_exactly_once(
    database: Database, db_url: str, rounds: int
) -> None:
    two_kiosk_site(database)
    sent = [send(database, label=f"B-{1 + n % 4}").id for n in range(12 * rounds)]
    barrier = threading.Barrier(2)
    claimed: dict[str, list[int]] = {"x": [], "y": []}
    errors: list[BaseException] = []

    def executor(name: str) -> None:
        engine = Database(db_url, busy_timeout_s=20)  # its own engine and connections
        try:
            for _ in range(rounds * 6):
                barrier.wait(timeout=30)  # both claim at the same moment, every round
                with engine.transaction() as session:
                    got = site_commands.claim_next_commands(
                        session, "kiosk-b", "kiosk-b-run", T0 + timedelta(seconds=1), limit=3
                    )
                claimed[name].extend(c.id for c in got)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
            barrier.abort()
        finally:
            engine.dispose()

    threads = [threading.Thread(target=executor, args=(n,)) for n in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert claimed["x"] and claimed["y"], "both executors must have won some commands"
    assert sorted(claimed["x"] + claimed["y"]) == sent  # all claimed, none twice
    with database.transaction() as session:
        runs = [e for e in audit.entries(session) if e.action == "command_claimed"]
    assert len(runs) == len(sent)


def test_a_replaced_process_may_not_claim_and_its_claims_end_interrupted(
    database: Database,
) -> None:
    two_kiosk_site(database)
    first, second = send(database), send(database, label="B-4")
    assert claim(database, T0 + timedelta(seconds=1)) == [first.id, second.id]
    # kiosk-b's process died with both claimed; it restarts (silent past 3 beats).
    restart = T0 + timedelta(seconds=40)
    with database.transaction() as session:
        site.register_kiosk(session, KioskIdentity("kiosk-b", "kiosk-b-run-2", "b"), restart)
        abandoned = site_commands.abandon_interrupted(session, "kiosk-b", "kiosk-b-run-2", restart)
    assert [(c.id, c.result) for c in abandoned] == [
        (first.id, "interrupted"),
        (second.id, "interrupted"),
    ]
    with pytest.raises(KioskReplacedError), database.transaction() as session:
        site_commands.claim_next_commands(session, "kiosk-b", "kiosk-b-run", restart)
    with pytest.raises(CommandStateError), database.transaction() as session:
        site_commands.finish_command(session, first.id, "kiosk-b-run", "opened", restart)


def test_wait_for_result_sees_the_result_or_the_expiry(database: Database) -> None:
    now = datetime.now(UTC)
    two_kiosk_site(database, now)
    stale = send(database, now=now - timedelta(seconds=TTL + 1))
    assert wait_for_result(database, stale.id, timeout_s=5).result == CommandResult.EXPIRED
    command = send(database, now=now, action=CommandAction.RESET)
    waiting = threading.Event()

    def owning_kiosk() -> None:
        waiting.wait(timeout=30)
        with database.transaction() as session:
            [got] = site_commands.claim_next_commands(session, "kiosk-b", "kiosk-b-run", now)
            site_commands.finish_command(session, got.id, "kiosk-b-run", "done", now, "reset")

    thread = threading.Thread(target=owning_kiosk)
    thread.start()
    with database.transaction() as session:  # still pending while nobody claimed it
        assert [c.id for c in site_commands.pending_commands(session, "kiosk-b")] == [command.id]
    waiting.set()
    result = wait_for_result(database, command.id, timeout_s=30, poll_s=0.05)
    thread.join(timeout=30)
    assert (result.result, result.detail) == ("done", "reset")


def test_listener_wakes_the_owning_kiosk_only(database: Database) -> None:
    two_kiosk_site(database)
    with CommandListener(database, "kiosk-b", poll_s=0.05) as listener:
        if database.dialect != "postgresql":
            assert not listener.listening and listener.wait() is False  # polls every poll_s
            return
        assert listener.listening
        send(database, label="B-1")
        listener.poll_s = 10.0
        assert listener.wait(10.0) is True  # the NOTIFY, long before the poll interval
        with CommandListener(database, "kiosk-a", poll_s=0.2) as other:
            send(database, label="B-2")
            assert other.wait() is False  # kiosk-b's command does not wake kiosk-a
