"""One site, several kiosks (issue 18), kiosk side: two kiosks on one database, each with its
own bank and board; register hands out only its own lockers, retrieve at the wrong kiosk opens
nothing and names the right one, staff act across banks through site commands."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from lockers_storekit import MODEL, ScriptedBoard, face
from site_kit import PIN, SiteKiosk, kiosk_settings, start_kiosk

from lockers.config import LockerConfig
from lockers.hardware.boards import open_board
from lockers.kiosk.dto import RegisterOutcome, RetrieveOutcome
from lockers.kiosk.errors import StaffActionRefused
from lockers.kiosk.presence import identity_of
from lockers.kiosk.site_executor import CommandExecutor
from lockers.kiosk.staff_service import StaffService
from lockers.kiosk.startup import start_store
from lockers.store import audit, lockers_repo, rentals, site, site_commands
from lockers.store.db import Database
from lockers.store.models import CommandResult, RentalState, utcnow
from lockers.store.site import KioskIdInUseError, site_status
from lockers.store.site_commands import pending_commands


@pytest.fixture
def site_pair(tmp_path: Path, db_url: str, database: Database) -> Iterator[tuple[SiteKiosk, ...]]:
    kiosks = [start_kiosk(kiosk_settings(tmp_path, db_url, k)) for k in ("kiosk-a", "kiosk-b")]
    kiosks[0].staff.add_staff("carol", PIN)
    yield tuple(kiosks)
    for kiosk in kiosks:
        kiosk.close()


def statuses(kiosk: SiteKiosk) -> dict[str, str]:
    with kiosk.store.database.transaction() as session:
        return {lk.label: lk.status.value for lk in lockers_repo.list_lockers(session)}


def audit_rows(kiosk: SiteKiosk) -> list[tuple[str, str, str, str | None]]:
    with kiosk.store.database.transaction() as session:
        return [(e.actor, e.action, e.outcome, e.locker_label) for e in audit.entries(session)]


def test_register_hands_out_only_this_kiosks_bank(site_pair: tuple[SiteKiosk, ...]) -> None:
    a, b = site_pair
    labels = [a.rental.register(face(n), consent=True, model_version=MODEL) for n in range(1, 5)]
    assert [r.locker_label for r in labels] == ["A-1", "A-2", "A-3", "A-4"]
    full = a.rental.register(face(9), consent=True, model_version=MODEL)
    assert full.outcome is RegisterOutcome.NO_FREE_LOCKER  # although B's bank is free
    assert {k: v for k, v in statuses(a).items() if k.startswith("B-")} == {
        f"B-{n}": "available" for n in range(1, 5)
    }
    assert b.rental.register(face(9), consent=True, model_version=MODEL).locker_label == "B-1"
    assert isinstance(b.board, ScriptedBoard) and isinstance(a.board, ScriptedBoard)
    assert len(a.board.calls) == 4 and len(b.board.calls) == 1


def test_a_face_renting_in_another_bank_is_told_where(site_pair: tuple[SiteKiosk, ...]) -> None:
    a, b = site_pair
    made = b.rental.register(face(3), consent=True, model_version=MODEL)
    assert made.outcome is RegisterOutcome.OPENED
    again = a.rental.register(face(3), consent=True, model_version=MODEL)
    assert (again.outcome, again.locker_label, again.rental_id) == (
        RegisterOutcome.ACTIVE_ELSEWHERE,
        made.locker_label,
        made.rental_id,
    )
    assert (again.kiosk_id, again.kiosk_name, again.kiosk_location) == (
        "kiosk-b",
        "Women's changing room",
        "1F, west",
    )
    assert isinstance(a.board, ScriptedBoard) and a.board.calls == []  # nothing opened here
    assert ("kiosk:kiosk-a", "register", "active_elsewhere", "B-1") in audit_rows(a)
    # At its own kiosk the same face reopens its locker as before.
    here = b.rental.register(face(3), consent=True, model_version=MODEL)
    assert (here.outcome, here.locker_label) == (RegisterOutcome.REOPENED_EXISTING, "B-1")


def test_retrieve_at_the_wrong_kiosk_opens_no_lock_and_names_the_right_one(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    """With the pty emulator behind each kiosk: no pulse on either board."""
    settings = [kiosk_settings(tmp_path, db_url, k) for k in ("kiosk-a", "kiosk-b")]
    with (
        open_board(settings[0].board, settings[0].lockers) as board_a,
        open_board(settings[1].board, settings[1].lockers) as board_b,
    ):
        a, b = (
            start_kiosk(s, board) for s, board in zip(settings, (board_a, board_b), strict=True)
        )
        try:
            emu_a, emu_b = board_a.emulator, board_b.emulator
            assert emu_a is not None and emu_b is not None
            made = b.rental.register(face(4), consent=True, model_version=MODEL)
            assert (made.outcome, made.locker_label) == (RegisterOutcome.OPENED, "B-1")
            # The emulators count pulses: B's registration fired B's lock 0/1 once.
            assert (emu_b.pulse_count(0, 1), emu_a.pulse_count(0, 1)) == (1, 0)
            for _attempt in range(4):  # more than the free failures: no back-off grows
                got = a.rental.retrieve(face(4), model_version=MODEL)
                assert (got.outcome, got.locker_label, got.rental_id) == (
                    RetrieveOutcome.AT_OTHER_KIOSK,
                    "B-1",
                    made.rental_id,
                )
                assert (got.kiosk_id, got.kiosk_name) == ("kiosk-b", "Women's changing room")
                assert got.retry_after_s == 0.0
            assert sum(emu_a.pulse_count(0, ch) for ch in range(1, 5)) == 0
            assert sum(emu_b.pulse_count(0, ch) for ch in range(1, 5)) == 1
            with a.store.database.transaction() as session:
                assert rentals.require_rental(session, made.rental_id).state == RentalState.ACTIVE
            assert ("kiosk:kiosk-a", "retrieve", "at_other_kiosk", "B-1") in audit_rows(a)
            # At the right kiosk it opens and ends; then neither kiosk matches it any more.
            back = b.rental.retrieve(face(4), model_version=MODEL)
            assert (back.outcome, back.locker_label) == (RetrieveOutcome.OPENED, "B-1")
            assert a.rental.retrieve(face(4), model_version=MODEL).outcome is (
                RetrieveOutcome.NO_MATCH
            )
        finally:
            a.close()
            b.close()


def test_staff_see_every_locker_of_the_site_with_its_kiosk(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    a, _b = site_pair
    who = a.staff.login("carol", PIN)
    views = {v.label: (v.kiosk_id, v.kiosk_name) for v in a.staff.lockers(who)}
    assert views["A-2"] == ("kiosk-a", "Men's changing room")
    assert views["B-3"] == ("kiosk-b", "Women's changing room")
    assert len(views) == 8


def run_agent(kiosk: SiteKiosk) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=kiosk.agent.run, args=(stop, 0.1), daemon=True)
    thread.start()
    return stop, thread


def test_staff_open_on_another_bank_runs_on_the_owning_kiosk(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    a, b = site_pair
    who = a.staff.login("carol", PIN)
    stop, thread = run_agent(b)
    try:
        opened = a.staff.force_open(who, "B-2", "customer left a bag")
        reset = a.staff.reset(who, "B-2", "bag handed over")
    finally:
        stop.set()
        b.agent.close()
        thread.join(10)
    assert (opened.action, opened.outcome) == ("force_open", "opened")
    assert opened.detail.startswith("sent to Women's changing room: opened")
    assert (reset.action, reset.outcome) == ("reset", "done")
    assert isinstance(a.board, ScriptedBoard) and a.board.calls == []
    assert isinstance(b.board, ScriptedBoard) and [(c.board, c.channel) for c in b.board.calls] == [
        (0, 2)
    ]
    rows = audit_rows(a)
    assert ("staff:carol", "command_sent", "requested", "B-2") in rows
    assert ("kiosk:kiosk-b", "command_run", "opened", "B-2") in rows
    assert ("staff:carol", "force_open", "opened", "B-2") in rows  # the one unlock path
    with a.store.database.transaction() as session:
        entry = next(e for e in audit.entries(session) if e.action == "force_open")
        assert "from kiosk-a to kiosk kiosk-b" in (entry.reason or "")
        assert lockers_repo.get_locker(session, "B-2").attention is None  # reset cleared it


def test_a_command_for_a_kiosk_that_never_started_is_refused_at_once(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    a, _b = site_pair
    with a.store.database.transaction() as session:
        lockers_repo.sync_lockers(session, [LockerConfig(label="Z-1", channel=1)], "kiosk-z")
    who = a.staff.login("carol", PIN)
    with pytest.raises(StaffActionRefused, match="no kiosk 'kiosk-z'"):
        a.staff.force_open(who, "Z-1", "check")
    with a.store.database.transaction() as session:
        assert pending_commands(session) == []


def send(kiosk: SiteKiosk, label: str, now_offset_s: float = 0.0, action: str = "open") -> int:
    with kiosk.store.database.transaction() as session:
        return site_commands.send_command(
            session,
            kiosk_id="kiosk-b",
            action=action,
            label=label,
            staff="carol",
            reason="test",
            source="kiosk-a",
            now=utcnow() + timedelta(seconds=now_offset_s),
            ttl_s=30.0,
        ).id


def result_of(kiosk: SiteKiosk, command_id: int) -> tuple[str | None, str | None]:
    with kiosk.store.database.transaction() as session:
        command = site_commands.get_command(session, command_id)
        assert command is not None
        return command.result, command.detail


def test_a_command_runs_exactly_once_under_two_racing_executors(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    _a, b = site_pair
    command_id = send(b, "B-3")
    board = ScriptedBoard()
    presence = b.store.presence
    assert presence is not None
    executors = [
        CommandExecutor(b.store.database, board, kiosk_id="kiosk-b", instance=presence.instance)
        for _ in range(2)
    ]
    start = threading.Barrier(2)
    runs: list[int] = []

    def race(executor: CommandExecutor) -> None:
        start.wait()
        runs.extend(run.command.id for run in executor.run_pending())

    threads = [threading.Thread(target=race, args=(e,)) for e in executors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert runs == [command_id]
    assert [(c.board, c.channel) for c in board.calls] == [(0, 3)]
    assert result_of(b, command_id)[0] == "opened"


def test_an_expired_command_never_runs(site_pair: tuple[SiteKiosk, ...]) -> None:
    _a, b = site_pair
    stale = send(b, "B-1", now_offset_s=-31)  # sent 31 s ago, TTL 30 s: the kiosk was away
    fresh = send(b, "B-2")
    runs = b.agent.poll_commands()  # the kiosk comes back after the TTL
    assert [run.command.id for run in runs] == [fresh]  # it was running: the fresh one ran
    assert result_of(b, stale)[0] == "expired"
    assert isinstance(b.board, ScriptedBoard)
    assert [(c.board, c.channel) for c in b.board.calls] == [(0, 2)]
    assert b.agent.poll_commands() == []  # and never later


def test_a_remote_open_on_a_silent_board_says_so_and_flags_the_locker(
    tmp_path: Path, db_url: str, database: Database
) -> None:
    settings = kiosk_settings(tmp_path, db_url, "kiosk-b")
    with open_board(settings.board, settings.lockers) as board:
        b = start_kiosk(settings, board)
        try:
            assert board.emulator is not None
            board.emulator.set_offline(True)
            command_id = send(b, "B-4")
            [run] = b.agent.poll_commands()
            assert run.command.id == command_id and run.recorded
            assert run.result in (CommandResult.UNCONFIRMED, CommandResult.NO_ANSWER)
            result, detail = result_of(b, command_id)
            assert result == run.result.value and detail
            with b.store.database.transaction() as session:
                assert lockers_repo.get_locker(session, "B-4").attention  # staff must look
        finally:
            b.close()


def test_refused_commands_say_why(site_pair: tuple[SiteKiosk, ...]) -> None:
    _a, b = site_pair
    command_id = send(b, "B-1", action="back_in_service")  # it is not out of service
    [run] = b.agent.poll_commands()
    assert run.result is CommandResult.REFUSED
    assert result_of(b, command_id) == ("refused", "locker B-1 is not out of service")


def test_a_kiosk_dying_after_the_door_finishes_its_command_as_interrupted_once(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    _a, b = site_pair
    presence = b.store.presence
    assert presence is not None

    class Killed(Exception):
        pass

    def die_after_the_door(step: str) -> None:
        if step == "command:executed":
            raise Killed(step)

    board = ScriptedBoard()
    dying = CommandExecutor(
        b.store.database,
        board,
        kiosk_id="kiosk-b",
        instance=presence.instance,
        checkpoint=die_after_the_door,
    )
    command_id = send(b, "B-2")
    with pytest.raises(Killed):
        dying.run_pending()
    assert len(board.calls) == 1 and result_of(b, command_id)[0] is None  # ran, not recorded
    # The kiosk restarts after its old process went silent (3 missed beats).
    later = presence.identity.heartbeat_s * 4
    from lockers.kiosk.presence import KioskPresence

    restarted = KioskPresence(
        b.store.database,
        identity_of(b.settings, version="test"),
        clock=lambda: utcnow() + timedelta(seconds=later),
    )
    with b.store.database.transaction() as session:
        assert restarted.register(session) == [command_id]
    assert result_of(b, command_id)[0] == "interrupted"
    executor = CommandExecutor(
        b.store.database, board, kiosk_id="kiosk-b", instance=restarted.instance
    )
    assert executor.run_pending() == [] and len(board.calls) == 1  # never run again


def test_a_second_kiosk_with_the_same_id_refuses_to_start(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    a, _b = site_pair
    with pytest.raises(KioskIdInUseError, match="last heartbeat was"):
        start_store(a.settings, identity=identity_of(a.settings))


def test_staff_service_without_a_board_still_sends_commands(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    a, b = site_pair
    console = StaffService(a.store.database, None, kiosk_id="kiosk-a", command_ttl_s=30)
    who = console.login("carol", PIN)
    with pytest.raises(StaffActionRefused, match="no lock board"):
        console.force_open(who, "A-1", "check")  # its own bank needs its board
    stop, thread = run_agent(b)
    try:
        done = console.set_out_of_service(who, "B-4", "broken hinge")
    finally:
        stop.set()
        thread.join(10)
    assert (done.outcome, statuses(a)["B-4"]) == ("done", "out_of_service")


def test_a_result_the_database_could_not_take_is_recorded_at_the_next_poll(
    site_pair: tuple[SiteKiosk, ...], backend: str
) -> None:
    """The database goes away between the door and the result (SQLite: another process holds
    it locked): the command ran once, its result is recorded later, it never runs again."""
    if backend != "sqlite":
        pytest.skip("the lock is taken with sqlite3 on the database file")
    import sqlite3

    _a, b = site_pair
    presence = b.store.presence
    assert presence is not None
    path = b.store.database.url.database or ""
    blocker = sqlite3.connect(path, isolation_level=None)

    def lock_the_database(step: str) -> None:
        if step == "command:executed":
            blocker.execute("BEGIN EXCLUSIVE")

    impatient = Database(str(b.store.database.url), busy_timeout_s=0.3)
    board = ScriptedBoard()
    executor = CommandExecutor(
        impatient,
        board,
        kiosk_id="kiosk-b",
        instance=presence.instance,
        checkpoint=lock_the_database,
    )
    command_id = send(b, "B-1")
    try:
        [run] = executor.run_pending()
        assert (run.result, run.recorded) == (CommandResult.OPENED, False)
        assert len(board.calls) == 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert result_of(b, command_id)[0] is None  # claimed, not finished: nobody else runs it
    # The database is back: the missed result is recorded first, nothing new is claimed.
    assert executor.run_pending() == []
    assert result_of(b, command_id)[0] == "opened"
    assert len(board.calls) == 1
    impatient.dispose()


def test_presence_beats_with_free_lockers_and_failed_checks_then_signs_off(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    a, _b = site_pair
    a.rental.register(face(1), consent=True, model_version=MODEL)
    presence = a.store.presence
    assert presence is not None
    presence.beat(failed_checks=["camera"], model_version="m-2")
    assert not presence.beat_if_due()  # not due yet: heartbeat_s has not passed
    with a.store.database.transaction() as session:
        line = next(s for s in site_status(session, utcnow()) if s.kiosk_id == "kiosk-a")
        kiosk = site.get_kiosk(session, "kiosk-a")
        assert kiosk is not None and kiosk.free_lockers == 3
    assert (line.online, line.model_version, line.problems) == (
        True,
        "m-2",
        ["failed check: camera"],
    )
    assert (line.display_name, line.location, line.lockers_occupied) == (
        "Men's changing room",
        "1F, east",
        1,
    )
    a.agent.close()
    with a.store.database.transaction() as session:
        line = next(s for s in site_status(session, utcnow()) if s.kiosk_id == "kiosk-a")
    assert not line.online and line.problems[0] == "stopped"
