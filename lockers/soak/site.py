"""The soak's site: a work folder, one database (SQLite on a small disk, or PostgreSQL), a config
and an emulated lock board per kiosk, staff, and the kiosks themselves."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from lockers.config import Settings, load_settings
from lockers.config.hardware import LockerConfig
from lockers.errors import LockersError
from lockers.hardware.emulator.handlers import FIRST_ADDRESS
from lockers.kiosk.staff_service import StaffService
from lockers.kiosk.startup import connect, start_store
from lockers.soak.faults import OwnPostgres, SmallDisk
from lockers.soak.kiosks import InProcessKiosk, Kiosk, LoggedEmulator, ProcessKiosk
from lockers.soak.options import SoakOptions
from lockers.soak.worker import STAFF_NAME, STAFF_PIN
from lockers.store import inspection
from lockers.store.db import Database
from lockers.store.schema import upgrade

REPO = Path(__file__).resolve().parents[2]
START_POSTGRES = REPO / "scripts" / "ci" / "start-postgres.sh"
REPLY_TIMEOUT_S = 0.15


class SoakSite:
    """Everything a run needs, built by :meth:`build`; :meth:`close` undoes it all."""

    def __init__(self, options: SoakOptions, skipped: list[str]) -> None:
        self.o = options
        self._skipped = skipped  # the result's "skipped" lines
        self._cleanups: list[Callable[[], None]] = []
        self.postgres: OwnPostgres | None = None
        self.disk: SmallDisk | None = None
        self.work = Path()
        self.configs: list[Path] = []
        self.bank_of: dict[str, int] = {}  # locker label -> index of the kiosk that owns it
        self.site_lockers: list[LockerConfig] = []
        self.emulators: list[LoggedEmulator] = []
        self.kiosks: list[Kiosk] = []

    def build(self) -> Settings:
        """Work folder, database (schema, staff), emulators, kiosks (not started yet); returns
        the first kiosk's settings."""
        o = self.o
        if o.work_dir is None:
            self.work = Path(tempfile.mkdtemp(prefix="lockers-soak-"))
            if not o.keep_work_dir:
                self._cleanups.append(lambda: shutil.rmtree(self.work, ignore_errors=True))
        else:
            self.work = o.work_dir
            self.work.mkdir(parents=True, exist_ok=True)
        url = self._database_url()
        first = FIRST_ADDRESS[o.protocol]
        # One bank per kiosk, as on a real site: kiosk i owns its own board's channels
        # i*per+1 .. (i+1)*per, labelled by channel, so a lock's (kiosk, board, channel) and its
        # label name each other and labels stay unique site-wide.
        per = o.lockers // o.kiosks
        banks = [range(i * per + 1, (i + 1) * per + 1) for i in range(o.kiosks)]
        self.bank_of = {str(n): i for i, bank in enumerate(banks) for n in bank}
        self.site_lockers = [
            LockerConfig(label=str(n), size="M", board=first, channel=n)
            for bank in banks
            for n in bank
        ]
        self.configs = [
            self._write_config(
                i,
                url,
                [{"label": str(n), "size": "M", "board": first, "channel": n} for n in bank],
            )
            for i, bank in enumerate(banks)
        ]
        settings = load_settings(self.configs[0], env={})
        database = connect(settings)
        upgrade(database)
        database.dispose()
        store, _ = start_store(settings)
        StaffService(store.database, None).add_staff(STAFF_NAME, STAFF_PIN, "admin", "soak")
        store.close()
        for i in range(o.kiosks):
            emulator = LoggedEmulator(i, o.protocol, o.lockers, self.work / f"tty-kiosk-{i}")
            emulator.start()
            self._cleanups.append(emulator.stop)
            self.emulators.append(emulator)
        for i, config in enumerate(self.configs):
            kiosk: Kiosk
            if o.in_process:
                kiosk = InProcessKiosk(i, f"soak-{i}", config, o.seed, o.service_factory)
            else:
                kiosk = ProcessKiosk(i, f"soak-{i}", config, o.seed)
            self._cleanups.append(kiosk.stop)
            self.kiosks.append(kiosk)
        return settings

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def close(self) -> None:
        for cleanup in reversed(self._cleanups):
            with contextlib.suppress(Exception):
                cleanup()

    def _database_url(self) -> str:
        o = self.o
        if o.backend == "postgresql":
            if o.database_url:
                self._skipped.append(
                    "postgres_restart: skipped, the database is not the harness's own server"
                )
                return o.database_url
            self.postgres = OwnPostgres(START_POSTGRES)
            self._cleanups.append(self.postgres.stop)
            return self.postgres.url
        self._skipped.append("postgres_restart: skipped on SQLite")
        why = SmallDisk.why_not() if o.db_fault_rate > 0 else "db_fault_rate is 0"
        folder = self.work
        if why is None:
            try:
                disk = SmallDisk(self.work / "disk", o.disk_mb)
            except OSError as exc:
                why = f"cannot mount a tmpfs ({exc}): the full-disk fault is skipped"
            else:
                self.disk = disk
                self._cleanups.append(disk.unmount)
                if o.work_dir is not None:  # the promise of --work-dir: the database is kept
                    self._cleanups.append(lambda: disk.copy_database_to(self.work))
                folder = disk.path
        if why is not None:
            self._skipped.append(f"disk_full: {why}")
        return f"sqlite:///{folder / 'lockers.db'}"

    def _write_config(self, index: int, url: str, lockers: list[dict[str, object]]) -> Path:
        o = self.o
        data = {
            "data_dir": str(self.work / f"kiosk-{index}"),
            "database": {"url": url, "busy_timeout_s": 30, "kiosk_id": f"soak-{index}"},
            "board": {
                "protocol": o.protocol,
                "port": str(self.work / f"tty-kiosk-{index}"),
                "pulse_ms": 50,
                "reply_timeout_s": REPLY_TIMEOUT_S,
                "quiet_s": 0.01,
                "inter_frame_gap_s": 0.002,
                "poll_interval_s": 0.03,
                "detection_window_s": 0.3,
                "unlock_expiry_s": 0.5,
                "reconnect_initial_s": 0.05,
                "reconnect_max_s": 0.2,
            },
            "lockers": lockers,
            # One key for every kiosk: they share the database and so each other's templates.
            "privacy": {
                "template_key_file": str(self.work / "template.key"),
                "rental_max_hours": o.rental_max_hours,
                "retention_hours": o.retention_hours,
            },
            "recognition": {"frames_to_agree": 2, "frames_window": 3},
            # Short, so commands expire often (kiosks killed or kept offline past it) and a
            # killed kiosk's id is free again soon (three missed beats).
            "site": {
                "display_name": f"Soak kiosk {index}",
                "heartbeat_s": o.heartbeat_s,
                "command_ttl_s": o.command_ttl_s,
            },
        }
        path = self.work / f"kiosk-{index}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def start_db_fault(self, delay_s: float, db: Database) -> Callable[[], None] | None:
        """Start a database fault in the background after ``delay_s``; returns what ends it
        (``None``: no fault possible here)."""
        if self.postgres is not None:
            postgres = self.postgres
            thread = threading.Thread(target=lambda: (time.sleep(delay_s), postgres.restart()))
            thread.start()
            return thread.join
        if self.disk is None:
            return None
        disk = self.disk

        def fill() -> None:
            time.sleep(delay_s)
            # Without this the next commits reuse the log's old pages and never notice.
            with contextlib.suppress(LockersError, OSError, Exception):
                inspection.truncate_sqlite_wal(db)
            disk.fill()

        thread = threading.Thread(target=fill)
        thread.start()

        def free() -> None:
            thread.join()
            disk.free()

        return free
