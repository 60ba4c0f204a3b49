"""Site commands in the soak: the ledger catches an owning kiosk that runs an expired command or
runs one twice (deliberately broken executors, on the real store, agent and board emulator),
and a short soak of three kiosks sending each other commands stays clean."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lockers.hardware.emulator.handlers import FIRST_ADDRESS
from lockers.kiosk.site_executor import ClaimedCommand, CommandRun
from lockers.soak.agent import SoakSiteAgent, WatchedExecutor
from lockers.soak.kiosks import Pulse
from lockers.soak.ledger import Ledger
from lockers.soak.ops import CommandEvent
from lockers.soak.options import SoakOptions
from lockers.soak.people import People
from lockers.soak.runner import run_soak
from lockers.soak.site import SoakSite
from lockers.soak.worker import STAFF_NAME, KioskWorker
from lockers.store import inspection, site_commands
from lockers.store.models import CommandResult, SiteCommand, utcnow


class RunsExpiredCommands(WatchedExecutor):
    """A broken owning kiosk: it executes the commands the site finished as expired."""

    def run_pending(self, now: Any = None) -> list[CommandRun]:
        with self.database.transaction() as session:
            rows = session.scalars(
                select(SiteCommand).where(
                    SiteCommand.kiosk_id == self.kiosk_id,
                    SiteCommand.result == CommandResult.EXPIRED.value,
                )
            )
            expired = [ClaimedCommand.of(row) for row in rows]
        return [self._run(command) for command in expired]


class RunsTwice(WatchedExecutor):
    """A broken owning kiosk: every command it claims runs twice."""

    def _run(self, command: ClaimedCommand) -> CommandRun:
        super()._run(command)
        return super()._run(command)


class Site:
    """Two soak kiosks (banks 1-2 and 3-4) on one SQLite file, each on its emulated board, and
    the ledger watching them."""

    def __init__(self, tmp_path: Path) -> None:
        options = SoakOptions(kiosks=2, lockers=4, in_process=True, db_fault_rate=0.0)
        options.work_dir = tmp_path
        self.site = SoakSite(options, [])
        self.site.build()
        self.kiosks = [KioskWorker(config, 1) for config in self.site.configs]
        self.ledger = Ledger(self.site.site_lockers, People(1), self.site.bank_of)
        self.cycle = 0
        self.events: list[tuple[Any, ...]] = []

    def close(self) -> None:
        for kiosk in self.kiosks:
            kiosk.close()
        self.site.close()

    def send(self, label: str, ttl_s: float = 30.0) -> int:
        """Staff at kiosk 0 send an open of ``label`` (kiosk 1's bank) to kiosk 1."""
        with self.kiosks[0].store.database.transaction() as session:
            command = site_commands.send_command(
                session,
                kiosk_id="soak-1",
                action="open",
                label=label,
                staff=STAFF_NAME,
                reason="test",
                source="soak-0",
                now=utcnow(),
                ttl_s=ttl_s,
            )
            return command.id

    def agent(self, executor_class: type[WatchedExecutor] = WatchedExecutor) -> SoakSiteAgent:
        """Kiosk 1's soak agent with ``executor_class`` (not started: the test drives it)."""
        kiosk = self.kiosks[1]
        if kiosk.store.presence is None:
            raise AssertionError("the soak kiosk registered in the site's registry")
        return SoakSiteAgent(
            kiosk.store.database,
            kiosk.board,
            kiosk.store.presence,
            utcnow,
            self.events.append,
            executor_class,
        )

    def check(self, seen_at: float | None = None) -> None:
        """One ledger cycle: kiosk 1's command events, the emulators' pulses, the database."""
        self.cycle += 1
        events = [message[1] for message in self.events if message[0] == "cmd"]
        self.events.clear()
        self.ledger.commands.take(1, "soak-1", events)
        pulses = [p for emulator in self.site.emulators for p in emulator.take_pulses()]
        database = self.kiosks[0].store.database
        with database.transaction() as session:
            flags = {s.label: s.attention for s in inspection.locker_states(session)}
        self.ledger.apply(self.cycle, [], pulses, flags)
        with database.transaction() as session:
            now = time.monotonic() if seen_at is None else seen_at
            self.ledger.commands.check(self.cycle, session, now)

    def stale(self) -> list[str]:
        return [v.detail for v in self.ledger.violations if v.invariant == "stale_commands_run"]


@pytest.fixture
def two_kiosks(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    yield site
    site.close()


def test_a_broken_executor_running_an_expired_command_is_a_stale_command_run(
    two_kiosks: Site,
) -> None:
    site = two_kiosks
    # The real executor first: it runs a live command once, and the ledger finds nothing.
    live = site.send("4")
    runs = site.agent().agent.executor.run_pending()
    assert [(run.command.id, run.result) for run in runs] == [(live, CommandResult.OPENED)]
    site.check()
    assert site.ledger.commands.rows[live].result == "opened"
    assert not site.ledger.violations
    # A command nobody picked up in time: the site finishes it as expired.
    stale = site.send("3", ttl_s=1.0)
    with site.kiosks[1].store.database.transaction() as session:
        expired = site_commands.expire_commands(session, utcnow() + timedelta(seconds=5))
    assert [command.id for command in expired] == [stale]
    site.check()
    assert not site.ledger.violations
    # The broken kiosk runs it anyway: its lock fires (the emulator saw it).
    runs = site.agent(RunsExpiredCommands).agent.executor.run_pending()
    assert [run.command.id for run in runs] == [stale]
    site.check()
    stale_runs = site.stale()
    assert any(f"command {stale} (open locker 3 for soak-1) expired, yet" in d for d in stale_runs)
    # The pulse was the command's, not an unrequested one.
    assert site.ledger.counts["unrequested_opens"] == 0


def test_a_command_begun_past_its_time_to_live_is_stale_whatever_the_clocks(
    two_kiosks: Site,
) -> None:
    """A kiosk whose clock runs late claims a command the database still deems fresh: the
    ledger's own clock says it began more than its time to live after it was sent."""
    site = two_kiosks
    late = site.send("3", ttl_s=1.0)
    site.check(seen_at=time.monotonic() - 10.0)  # the ledger saw it sent 10 s ago
    with site.kiosks[1].store.database.transaction() as session:
        claimed = site_commands.claim_next_commands(
            session,
            "soak-1",
            site.kiosks[1].store.presence.instance,
            utcnow(),  # type: ignore[union-attr]
        )
    assert [command.id for command in claimed] == [late]
    assert site.stale() == []
    agent = site.agent()
    agent.agent.executor._run(ClaimedCommand.of(claimed[0]))  # the late kiosk runs it now
    site.check()
    assert any(f"command {late} (open locker 3 for soak-1) began" in d for d in site.stale())


def test_a_broken_executor_running_a_command_twice_is_caught(two_kiosks: Site) -> None:
    site = two_kiosks
    twice = site.send("3")
    site.agent(RunsTwice).agent.executor.run_pending()
    site.check()
    details = site.stale()
    assert any(f"command {twice} (open locker 3 for soak-1) ran twice" in d for d in details)
    assert any(
        f"command {twice} (open locker 3 for soak-1) opened its locker twice" in d for d in details
    )


def test_a_command_answered_jammed_while_its_latch_released_is_a_false_jam(
    two_kiosks: Site,
) -> None:
    """The owning kiosk's account of a command (its agent's events) against the emulator's
    log: the latch of locker 3 released during the command, the kiosk said jammed."""
    site = two_kiosks
    jammed = site.send("3")
    site.check()
    at = time.monotonic()
    events = [
        CommandEvent(jammed, "begin", at, "open", "3"),
        CommandEvent(jammed, "force_open:committed", at + 0.01, "open", "3"),
        CommandEvent(jammed, "force_open:pulsed", at + 0.9, "open", "3"),
        CommandEvent(jammed, "end", at + 1.0, "open", "3", "jammed"),
    ]
    site.ledger.commands.take(1, "soak-1", events)
    first = FIRST_ADDRESS["kerong"]
    site.ledger.apply(site.cycle, [], [Pulse(at + 0.02, 1, first, 3, True)])
    site.check()
    assert [v.detail for v in site.ledger.violations if v.invariant == "false_jams"] == [
        f"command {jammed} (open locker 3 for soak-1) answered jammed, yet its latch released "
        "(the unlock took 0.89 s)"
    ]


def test_a_command_never_finished_once_every_kiosk_is_back_is_lost(two_kiosks: Site) -> None:
    site = two_kiosks
    waiting = site.send("3")
    site.check()
    site.ledger.commands.check_end(site.cycle)
    assert [v.detail for v in site.ledger.violations if v.invariant == "lost_commands"] == [
        f"command {waiting} (open locker 3 for soak-1) never picked up"
    ]
    with site.kiosks[1].store.database.transaction() as session:
        site_commands.expire_commands(session, utcnow() + timedelta(minutes=1))
    site.check()
    site.ledger.commands.check_end(site.cycle)
    assert site.ledger.counts["lost_commands"] == 1  # expired since: finished, not lost
    assert site.ledger.commands.counts()["commands_expired"] == 1


def test_three_kiosks_send_each_other_commands_through_kills_and_outages() -> None:
    result = run_soak(
        SoakOptions(
            kiosks=3,
            lockers=12,
            max_cycles=400,
            max_seconds=30,
            sigkill_rate=0.2,
            board_fault_rate=0.2,
            db_fault_rate=0.03,
            command_rate=0.3,
            outage_rate=0.06,
            seed=5,
        )
    )
    assert result.clean, result.examples
    counts = result.to_dict()["counts"]
    assert counts["commands_sent"] > 0 and counts["commands_run"] > 0
    assert counts["cross_kiosk_retrieves"] > 0
    assert counts["commands_unfinished"] == 0
    assert result.faults["outage_stopped"] + result.faults["outage_killed"] > 0
