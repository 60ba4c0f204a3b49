"""Kiosks as real processes for the console's end-to-end test and ``scripts/bench_console.py
--click-to-lock``: each ``python -m lockers --config ITS.yaml site agent`` (registered as the
kiosk, its bank synced, heartbeat, staff commands executed on its board through the real
driver), each with its own config, kiosk id, bank and board emulator on a pty of its own.

Why not ``lockers kiosk``: it refuses to start without verified face weights
(``models/20180402-114759-vggface2.pt`` + manifest, fetched by ``lockers models download``),
which neither this machine nor CI has (no network, and CI never downloads weights); the site
part of the kiosk (:class:`~lockers.app.site.SiteThread` over the board) is what the console
talks to, and ``site agent`` runs exactly that.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from lockers.hardware.emulator import BoardEmulator
from lockers.store import site
from lockers.store.db import Database
from lockers.store.models import utcnow

REPO = Path(__file__).resolve().parents[2]
BANK = [
    {"label": "1", "size": "M", "board": 0, "channel": 1},
    {"label": "2", "size": "M", "board": 0, "channel": 2},
    {"label": "3", "size": "L", "board": 0, "channel": 3},
    {"label": "4", "size": "S", "board": 0, "channel": 4},
]


def wait_for(what: str, predicate: Callable[[], bool], timeout_s: float) -> float:
    """Poll ``predicate`` until it holds (every 50 ms; a deadline, not a sleep that orders
    anything); returns the seconds it took. Raises AssertionError naming ``what`` on timeout."""
    start = time.monotonic()
    tick = threading.Event()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        tick.wait(0.05)
    return time.monotonic() - start


def child_env() -> dict[str, str]:
    """The environment of a kiosk process: this checkout's code, no LOCKERS_* overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKERS_")}
    env["PYTHONPATH"] = str(REPO)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


@dataclass
class KioskProcess:
    """One kiosk of the site: its config, its board emulator, and its process (restartable)."""

    kiosk_id: str
    display_name: str
    prefix: str
    config: Path
    emulator: BoardEmulator
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    instance: str | None = None  # the instance token of the running process (from the registry)
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the process (the registry's instance for this kiosk changes when it is up)."""
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lockers", "--config", str(self.config), "site", "agent"],
            cwd=REPO,
            env=child_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_online(self, database: Database, timeout_s: float = 60.0) -> float:
        """Wait until a process other than the last one seen registered and beats."""
        previous = self.instance

        def online() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.kiosk_id} exited: {self.log_tail()}")
            with database.transaction() as session:
                row = site.get_kiosk(session, self.kiosk_id)
                if row is None or row.instance == previous or not site.is_online(row, utcnow()):
                    return False
                self.instance = row.instance
                return True

        return wait_for(f"{self.kiosk_id} online", online, timeout_s)

    def kill(self) -> None:
        """SIGKILL: no sign-off, no clean-up; the site sees it only by its silence."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
            self.proc = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]


def kiosk_config(
    folder: Path,
    url: str,
    kiosk_id: str,
    *,
    prefix: str,
    display_name: str,
    port: str,
    heartbeat_s: float,
    command_ttl_s: float,
) -> Path:
    """A kiosk's own config.yaml; the site's key file is shared (one site, one key)."""
    data = {
        "data_dir": str(folder / kiosk_id),
        "database": {"url": url, "busy_timeout_s": 20, "kiosk_id": kiosk_id},
        "board": {"port": port, "protocol": "kerong"},
        "lockers": BANK,
        "privacy": {"template_key_file": str(folder / "keys" / "template.key")},
        "site": {
            "label_prefix": prefix,
            "display_name": display_name,
            "heartbeat_s": heartbeat_s,
            "command_ttl_s": command_ttl_s,
        },
    }
    path = folder / f"{kiosk_id}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def start_site_kiosks(
    folder: Path,
    url: str,
    database: Database,
    kiosks: list[tuple[str, str, str]],
    *,
    heartbeat_s: float,
    command_ttl_s: float,
) -> list[KioskProcess]:
    """Start ``(kiosk_id, prefix, display name)`` kiosks one after the other (the first one
    creates the site's keys the others read), each online before the next starts."""
    started: list[KioskProcess] = []
    try:
        for kiosk_id, prefix, name in kiosks:
            emulator = BoardEmulator(
                "kerong",
                boards=1,
                channels=len(BANK),
                door_close_after_s=0.5,
                pulse_s=0.05,
                link=folder / f"{kiosk_id}.tty",
            ).start()
            config = kiosk_config(
                folder,
                url,
                kiosk_id,
                prefix=prefix,
                display_name=name,
                port=emulator.port,
                heartbeat_s=heartbeat_s,
                command_ttl_s=command_ttl_s,
            )
            kiosk = KioskProcess(
                kiosk_id, name, prefix, config, emulator, folder / f"{kiosk_id}.log"
            )
            started.append(kiosk)
            kiosk.start()
            kiosk.wait_online(database)
    except BaseException:
        stop_site_kiosks(started)
        raise
    return started


def stop_site_kiosks(kiosks: list[KioskProcess]) -> None:
    for kiosk in kiosks:
        kiosk.stop()
        kiosk.emulator.stop()
