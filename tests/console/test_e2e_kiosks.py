"""End to end: two real kiosk processes, each with its own config, kiosk id, bank and board
emulator on a pty, and the console (a real uvicorn) on one database, driven by Chromium.

The kiosks are ``lockers site agent`` processes (see kiosk_procs.py for why not the full
``lockers kiosk``): the kiosk's registration, heartbeat and command executor over the real
board driver. Staff log in, see both kiosks online, open a locker of kiosk 2 and see "opened"
as its emulator fires that lock; kiosk 2 is SIGKILLed and shows offline with an alert within
the heartbeat window; a command sent to it expires after the TTL; once it is back (and proven
to run commands again) the expired command's lock has never fired.

Runs on SQLite and, where ``LOCKERS_TEST_POSTGRES_URL`` is set (CI), on PostgreSQL (marker
``e2e``: ``pytest -m e2e`` runs only these).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_kit import chromium_page, log_in, playwright_api, submit_open
from console_kit import serve
from kiosk_procs import KioskProcess, start_site_kiosks, stop_site_kiosks

from lockers.config import Settings, load_settings
from lockers.console import accounts
from lockers.console.app import create_app
from lockers.kiosk.pins import hash_pin
from lockers.store import site_commands, staff_repo
from lockers.store.crypto import PIN_SECRET, load_or_create_secret
from lockers.store.db import Database
from lockers.store.models import CommandResult, utcnow
from lockers.store.site import MISSED_BEATS_OFFLINE

pytestmark = pytest.mark.e2e

BEAT_S = 1.0  # the shortest site.heartbeat_s: offline after 3 s of silence
TTL_S = 4.0
GRID_REFRESH_S = 5.0  # overview.html: hx-trigger="every 5s"
# Offline on the page: the heartbeat window, one refresh of the page, slack for a busy machine.
OFFLINE_SEEN_WITHIN_S = MISSED_BEATS_OFFLINE * BEAT_S + GRID_REFRESH_S + 6.0
PASSWORD = "ada-password-333"
KIOSKS = [("kiosk-1", "A-", "Lobby kiosk"), ("kiosk-2", "B-", "Gym kiosk")]


@pytest.fixture
def site_of_two(
    database: Database, settings: Settings, db_url: str, tmp_path: Path
) -> Iterator[tuple[str, list[KioskProcess]]]:
    kiosks = start_site_kiosks(
        tmp_path, db_url, database, KIOSKS, heartbeat_s=BEAT_S, command_ttl_s=TTL_S
    )
    try:
        add_staff(database, kiosks[0].config, "ada", "admin", PASSWORD)
        site_config = settings.site.model_copy(update={"command_ttl_s": TTL_S})
        app = create_app(settings.model_copy(update={"site": site_config}), database)
        for url in serve(app):
            yield url, kiosks
    finally:
        stop_site_kiosks(kiosks)


def add_staff(database: Database, config: Path, name: str, role: str, password: str) -> None:
    """A staff member whose kiosk PIN is keyed with the site's own PIN secret (a restarted
    kiosk checks the stored hashes against its secret)."""
    secret = load_or_create_secret(
        load_settings(config).privacy.pin_secret_path, PIN_SECRET, create=False
    )
    with database.transaction() as session:
        staff_repo.add_staff(session, name, role, hash_pin("246810", secret))
    accounts.set_password(database, name, password, "test", utcnow())


def pulses(kiosk: KioskProcess) -> dict[int, int]:
    return {channel: kiosk.emulator.pulse_count(0, channel) for channel in range(1, 5)}


def open_and_time_the_lock(page: Any, url: str, kiosk: KioskProcess, label: str) -> float:
    """Submit "open" for ``label`` (channel = its number) and wait for the emulator's lock:
    seconds from the click to the pulse."""
    channel = int(label.rsplit("-", 1)[1])
    before = kiosk.emulator.pulse_count(0, channel)
    clicked: list[float] = []
    submit_open(page, url, label, "customer left keys", clicked)
    if not kiosk.emulator.wait_until(
        lambda: kiosk.emulator.pulse_count(0, channel) > before, timeout_s=20.0
    ):
        raise AssertionError(f"{label}'s lock did not fire: {kiosk.log_tail()}")
    return time.monotonic() - clicked[0]


def test_two_kiosk_processes_console_in_chromium(
    site_of_two: tuple[str, list[KioskProcess]], database: Database, backend: str
) -> None:
    url, (kiosk_1, kiosk_2) = site_of_two
    expect = playwright_api.expect
    with chromium_page() as page:
        log_in(page, url, "ada", PASSWORD)
        sections = page.locator("section.kiosk")
        expect(sections).to_have_count(2)
        expect(sections.nth(0)).to_contain_text("Lobby kiosk")
        expect(sections.nth(1)).to_contain_text("Gym kiosk")
        for section in (sections.nth(0), sections.nth(1)):
            expect(section.locator(".badge")).to_have_text("online")

        click_to_lock_s = open_and_time_the_lock(page, url, kiosk_2, "B-2")
        status = page.locator("#command-status")
        expect(status).to_contain_text("Result: opened")
        assert pulses(kiosk_2) == {1: 0, 2: 1, 3: 0, 4: 0}
        assert pulses(kiosk_1) == {1: 0, 2: 0, 3: 0, 4: 0}  # kiosk 1's bank is not touched
        print(f"\n[{backend}] click -> lock fired: {click_to_lock_s * 1000:.0f} ms")

        # SIGKILL kiosk 2: offline on the overview and an alert, within the heartbeat window.
        kiosk_2.kill()
        killed = time.monotonic()
        page.goto(f"{url}/")
        expect(sections.nth(1).locator(".badge")).to_have_text("offline")
        offline_seen_s = time.monotonic() - killed
        assert offline_seen_s <= OFFLINE_SEEN_WITHIN_S, offline_seen_s
        expect(sections.nth(0).locator(".badge")).to_have_text("online")
        page.goto(f"{url}/alerts")
        offline_alert = page.locator("tr[data-kind=kiosk_offline]")
        expect(offline_alert).to_contain_text("Gym kiosk is offline")
        expect(offline_alert).to_have_count(1)  # kiosk 1 still beats
        print(f"[{backend}] offline seen {offline_seen_s:.1f} s after SIGKILL")

        # A command to the dead kiosk: pending, then expired after its TTL.
        submit_open(page, url, "B-3", "after hours")
        expect(status).to_contain_text("Result: expired")
        expired_id = int(page.url.rsplit("/", 1)[1])

        # Kiosk 2 comes back after the TTL; proven to run commands again (B-1 opens) before
        # the check that B-3's lock never fired.
        kiosk_2.start()
        kiosk_2.wait_online(database)
        open_and_time_the_lock(page, url, kiosk_2, "B-1")
        expect(status).to_contain_text("Result: opened")
        assert pulses(kiosk_2) == {1: 1, 2: 1, 3: 0, 4: 0}
        with database.transaction() as session:
            expired = site_commands.get_command(session, expired_id)
            assert expired is not None
            assert expired.result == CommandResult.EXPIRED and expired.claimed_at is None
        page.goto(f"{url}/")
        expect(sections.nth(1).locator(".badge")).to_have_text("online")
    assert kiosk_1.proc is not None and kiosk_1.proc.poll() is None
