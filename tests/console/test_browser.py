"""The console in a real browser: Playwright driving Debian's Chromium headless (the system
binary; Playwright's own browsers are never downloaded), against the console served by a real
uvicorn over a real database with the real site store.

Two kiosks are registered with the store's own functions and played by threads that beat and
execute their commands with the real ``claim_next_commands`` / ``finish_command``, kiosk 2
pulsing its lock on a real board driver over the pty board emulator: the test controls when a
command is carried out (the page shows it pending) and takes the screenshots.
test_e2e_kiosks.py runs the same story with two real kiosk processes. Set
``LOCKERS_CONSOLE_SCREENSHOTS=docs/screenshots/console`` to refresh the README's screenshots.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from browser_kit import WAIT_MS, chromium_page, playwright_api, submit_open
from console_kit import add_member, rent, serve

from lockers.config import Settings
from lockers.console.app import create_app
from lockers.hardware.board import LockAddress, LockBoard
from lockers.hardware.boards import open_board
from lockers.store import lockers_repo, site, site_commands
from lockers.store.db import Database
from lockers.store.models import CommandResult, utcnow
from lockers.store.site import KioskIdentity, new_instance_token

BEAT_S = 0.5  # offline after 3 missed beats: 1.5 s
TTL_S = 4.0
PASSWORD = "ada-password-333"
# Read at import: the suite's autouse fixture hides LOCKERS_* variables from the tests.
SCREENSHOTS = os.environ.get("LOCKERS_CONSOLE_SCREENSHOTS", "")


@dataclass
class KioskPlayer:
    """Kiosk 2: beats while ``beating`` is set, claims its commands and "fires" the lock (the
    ids land in ``fired``), finishing each as opened."""

    database: Database
    kiosk_id: str
    display_name: str
    board: LockBoard | None = None
    addresses: dict[str, LockAddress] = field(default_factory=dict)
    identity: KioskIdentity = field(init=False)
    beating: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    polled: threading.Event = field(default_factory=threading.Event)
    fired: list[int] = field(default_factory=list)
    # Set: commands run as soon as claimed. Cleared: a claimed command waits for it (the page
    # can be seen showing the command pending).
    go_ahead: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.identity = KioskIdentity(
            self.kiosk_id, new_instance_token(), self.display_name, heartbeat_s=BEAT_S
        )
        with self.database.transaction() as session:
            site.register_kiosk(session, self.identity, utcnow())
        self.beating.set()
        self.go_ahead.set()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            if not self.beating.is_set():
                continue
            with self.database.transaction() as session:
                now = utcnow()
                site.heartbeat(session, self.kiosk_id, self.identity.instance, now)
                claimed = site_commands.claim_next_commands(
                    session, self.kiosk_id, self.identity.instance, now
                )
                ids = [(command.id, command.locker_label) for command in claimed]
            for command_id, label in ids:
                if not self.go_ahead.wait(WAIT_MS / 1000):
                    return
                self.fired.append(command_id)
                result, detail = CommandResult.DONE, "no board"
                if self.board is not None:
                    door = self.board.unlock(self.addresses[label])
                    result, detail = CommandResult(door.outcome.value), door.detail
                with self.database.transaction() as session:
                    site_commands.finish_command(
                        session, command_id, self.identity.instance, result, utcnow(), detail
                    )
            self.polled.set()


@pytest.fixture
def site_console(
    database: Database, settings: Settings, tmp_path: Path
) -> Iterator[tuple[str, KioskPlayer]]:
    bank_2 = [
        locker.model_copy(update={"label": f"B-{locker.label}"}) for locker in settings.lockers
    ]
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, settings.lockers, "kiosk-1")
        lockers_repo.sync_lockers(session, bank_2, "kiosk-2")
    rent(database, "2", utcnow(), hours=3)
    add_member(database, "ada", "admin", PASSWORD, utcnow())
    add_member(database, "mark", "manager", "mark-password-22", utcnow())
    site_config = settings.site.model_copy(update={"command_ttl_s": TTL_S})
    app = create_app(settings.model_copy(update={"site": site_config}), database)
    kiosk_1 = KioskPlayer(database, "kiosk-1", "Lobby kiosk")
    board = open_board(settings.board, bank_2)  # port "emulator": the pty board emulator
    addresses = {locker.label: LockAddress(locker.board, locker.channel) for locker in bank_2}
    kiosk_2 = KioskPlayer(database, "kiosk-2", "Gym kiosk", board, addresses)
    threads = [threading.Thread(target=k.run, daemon=True) for k in (kiosk_1, kiosk_2)]
    for thread in threads:
        thread.start()
    try:
        for url in serve(app):
            yield url, kiosk_2
    finally:
        for kiosk in (kiosk_1, kiosk_2):
            kiosk.stop.set()
            kiosk.go_ahead.set()
        for thread in threads:
            thread.join(10)
        board.close()


@pytest.fixture
def browser_page() -> Iterator[object]:
    with chromium_page() as page:
        yield page


class Shots:
    def __init__(self, page: object, folder: Path) -> None:
        self.page, self.folder, self.taken = page, folder, []

    def take(self, name: str) -> None:
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        self.taken.append(path)

    def publish(self) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            for path in self.taken:
                shutil.copy(path, Path(SCREENSHOTS) / path.name)


def test_console_in_chromium(
    site_console: tuple[str, KioskPlayer], browser_page: object, tmp_path: Path
) -> None:
    url, kiosk_2 = site_console
    page = browser_page
    expect = playwright_api.expect
    expect.set_options(timeout=WAIT_MS)
    shots = Shots(page, tmp_path)

    page.goto(f"{url}/")  # type: ignore[attr-defined]
    expect(page.locator("h1")).to_have_text("Log in")  # type: ignore[attr-defined]
    shots.take("login")
    page.fill("input[name=name]", "ada")  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button:has-text('Log in')")  # type: ignore[attr-defined]
    kiosks = page.locator("section.kiosk")  # type: ignore[attr-defined]
    expect(kiosks).to_have_count(2)
    expect(kiosks.nth(0)).to_contain_text("Lobby kiosk")
    expect(kiosks.nth(1)).to_contain_text("Gym kiosk")
    expect(kiosks.nth(1).locator(".badge")).to_have_text("online")
    shots.take("overview")

    page.goto(f"{url}/lockers/B-2")  # type: ignore[attr-defined]
    shots.take("locker")
    kiosk_2.go_ahead.clear()  # kiosk 2 claims the command, then holds it until the page shows it
    submit_open(page, url, "B-2", "customer left keys")
    status = page.locator("#command-status")  # type: ignore[attr-defined]
    expect(status).to_contain_text("Pending: claimed")
    shots.take("command_pending")
    kiosk_2.go_ahead.set()
    expect(status).to_contain_text("Result: opened")
    first_command = int(page.url.rsplit("/", 1)[1])  # type: ignore[attr-defined]
    assert kiosk_2.fired == [first_command]
    emulator = kiosk_2.board.emulator  # type: ignore[union-attr]
    assert emulator is not None and emulator.pulse_count(0, 2) == 1  # B-2's lock fired
    shots.take("command")

    # Kiosk 2 stops beating: offline on the overview and an alert, within the heartbeat window.
    kiosk_2.beating.clear()
    page.goto(f"{url}/")  # type: ignore[attr-defined]
    expect(kiosks.nth(1).locator(".badge")).to_have_text("offline")
    page.goto(f"{url}/alerts")  # type: ignore[attr-defined]
    expect(page.locator("tr[data-kind=kiosk_offline]")).to_contain_text("Gym kiosk is offline")  # type: ignore[attr-defined]
    shots.take("alerts")

    # A command to the offline kiosk expires after its TTL and never fires, even once it is back.
    submit_open(page, url, "B-3", "after hours")
    expect(status).to_contain_text("Result: expired")
    shots.take("command_expired")
    kiosk_2.polled.clear()
    kiosk_2.beating.set()
    assert kiosk_2.polled.wait(WAIT_MS / 1000)  # it beat and claimed again, and got nothing
    assert kiosk_2.fired == [first_command]
    assert emulator.pulse_count(0, 3) == 0  # B-3's lock never fired

    page.goto(f"{url}/audit")  # type: ignore[attr-defined]
    expect(page.locator("body")).to_contain_text("command_expired")  # type: ignore[attr-defined]
    shots.take("audit")
    page.goto(f"{url}/staff")  # type: ignore[attr-defined]
    expect(page.locator("body")).to_contain_text("mark")  # type: ignore[attr-defined]
    shots.take("staff")
    shots.publish()
