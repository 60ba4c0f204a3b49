"""``lockers bench --site``: figures of a several-kiosk site (issue 18's targets), no pass/fail.

1. **Command → lock**: staff at kiosk 1 send ``open`` commands for lockers of the other banks
   (``send_command``, the path of the kiosks' remote staff and the console). Timed from the
   command's commit to the owning kiosk's emulated board firing the lock (the emulator's own
   timestamp of the relay going on), and to the result being recorded (what staff wait for).
   The owning kiosks are real kiosk processes (:mod:`~lockers.app.bench_site_kiosk`). Commands
   are spaced by a random pause of up to a poll interval, as staff do not send in step with the
   kiosks' polling.
2. **Retrieve** at kiosk 1 with ``rentals`` active rentals spread over every bank
   (:mod:`~lockers.app.bench_site_retrieve`).

SQLite always runs (the kiosks poll every second); PostgreSQL (LISTEN/NOTIFY) when a server URL
is given or ``LOCKERS_TEST_POSTGRES_URL`` is set.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockers.app.bench_site_kiosk import BankLock, BenchSite, kiosk_id, throwaway_postgres
from lockers.app.bench_site_retrieve import bench_site_retrieves, figures, seed_site
from lockers.config import Settings
from lockers.errors import LockersError
from lockers.kiosk.bench_flow import Kiosk

MODEL_VERSION = "bench-synthetic@1"
STAFF = "bench-staff"
POLL_S = 1.0  # the kiosks' polling interval (lockers.store.site_listen.DEFAULT_POLL_S)
TARGET_COMMAND_P50_MS = {"sqlite": 1500, "postgresql": 300}
TARGET_RETRIEVE_MS = 500
POSTGRES_ENV = "LOCKERS_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class SiteBenchOptions:
    kiosks: int = 3
    rentals: int = 10_000
    commands: int = 50
    retrieves: int = 10
    lockers_per_bank: int = 8
    postgres_url: str | None = None  # a server: the bench makes (and drops) its own database
    seed: int = 18

    def check(self) -> None:
        """Raises LockersError on a site the bench cannot build."""
        if self.kiosks < 2:
            raise LockersError(
                f"--kiosks {self.kiosks}: a site bench needs at least 2 kiosks",
                hint="commands and wrong-kiosk retrieves go from kiosk 1 to another kiosk",
            )
        if self.commands < 1 or self.retrieves < 1 or self.rentals < 0:
            raise LockersError(
                "--commands and --retrieves must be at least 1, --rentals at least 0",
                hint="e.g. lockers bench --site --commands 50 --rentals 10000",
            )


def bench_commands(site: BenchSite, count: int, ttl_s: float, seed: int) -> dict[str, Any]:
    """``count`` open commands from kiosk 1's staff to the lockers of the other banks, in turn."""
    from lockers.store.models import CommandAction, utcnow
    from lockers.store.site_commands import send_command
    from lockers.store.site_listen import wait_for_result

    if site.home is None:
        raise LockersError("the bench site is not open", hint="call BenchSite.open first")
    database = site.home.store.database
    # The other banks in turn, each door again only after every other door was sent once.
    banks = site.banks[1:]
    targets: list[BankLock] = [bank[n] for n in range(len(banks[0])) for bank in banks]
    rng = random.Random(seed)
    to_lock: list[float] = []
    to_result: list[float] = []
    results: Counter[str] = Counter()
    for i in range(count):
        lock = targets[i % len(targets)]
        emulator = site.emulators[lock.kiosk_index]
        time.sleep(rng.uniform(0.0, POLL_S))  # staff act at any moment of the kiosk's poll
        emulator.take_pulses()  # only this command's pulse counts
        with database.transaction() as session:
            command_id = send_command(
                session,
                kiosk_id=kiosk_id(lock.kiosk_index),
                action=CommandAction.OPEN,
                label=lock.label,
                staff=STAFF,
                reason="bench: command to lock",
                source=kiosk_id(0),
                now=utcnow(),
                ttl_s=ttl_s,
            ).id
        committed = time.monotonic()
        done = wait_for_result(database, command_id, ttl_s + 15.0)
        answered = time.monotonic()
        results[str(done.result) if done.finished_at is not None else "no result"] += 1
        if done.finished_at is not None:
            to_result.append((answered - committed) * 1e3)
        fired = [p.at for p in emulator.take_pulses() if p.channel == lock.channel]
        if fired:
            to_lock.append((fired[0] - committed) * 1e3)
    return {
        "command_to_lock_ms": figures(to_lock),
        "command_to_result_ms": figures(to_result),
        "command_results": dict(results),
        "commands_without_pulse": count - len(to_lock),
    }


def _bench_backend(settings: Settings, url: str, work: Path, o: SiteBenchOptions) -> dict[str, Any]:
    """Build the site on ``url``, run both figures, tear it down."""
    from lockers.app.bench_site_kiosk import label_prefix
    from lockers.kiosk.flow import FlowSettings

    site = BenchSite(settings, url, work, o.kiosks, o.lockers_per_bank)
    try:
        t0 = time.perf_counter()
        home = site.open(MODEL_VERSION)
        started_s = time.perf_counter() - t0
        flow_settings = FlowSettings.from_settings(site.home_settings or settings, passive=True)
        ids = [kiosk_id(i) for i in range(o.kiosks)]
        prefixes = [label_prefix(i) for i in range(o.kiosks)]
        seed_s = seed_site(home, ids, prefixes, o.rentals, flow_settings.capture_frames)
        retrieve = bench_site_retrieves(home, flow_settings, (ids[1], prefixes[1]), o.retrieves)
        retrieve["gallery_active_rentals"] = _active_rentals(home)
        commands = bench_commands(site, o.commands, settings.site.command_ttl_s, o.seed)
    finally:
        site.close()
    return {
        **commands,
        "retrieve": retrieve,
        "site_start_s": round(started_s, 1),
        "seed_s": round(seed_s, 1),
    }


def _active_rentals(home: Kiosk) -> int:
    from lockers.store.models import Rental, RentalState

    with home.store.database.transaction() as session:
        return int(session.query(Rental).filter(Rental.state == RentalState.ACTIVE).count())


@contextlib.contextmanager
def _backends(o: SiteBenchOptions, work: Path, skipped: list[str]) -> Iterator[dict[str, str]]:
    """The database URL of each backend to time (PostgreSQL's is a throw-away database)."""
    urls = {"sqlite": f"sqlite:///{work / 'sqlite' / 'site.db'}"}
    server = o.postgres_url or os.environ.get(POSTGRES_ENV, "")
    if not server:
        skipped.append(f"postgresql: no --database-url given and {POSTGRES_ENV} is not set")
        yield urls
        return
    with throwaway_postgres(server) as url:
        yield {**urls, "postgresql": url}


def run_site_bench(settings: Settings, o: SiteBenchOptions) -> dict[str, Any]:
    """Every figure on every backend; see the module docstring."""
    o.check()
    skipped: list[str] = []
    result: dict[str, Any] = {
        "kiosks": o.kiosks,
        "active_rentals": o.rentals,
        "lockers_per_bank": o.lockers_per_bank,
        "commands": o.commands,
        "retrieves_per_case": o.retrieves,
        "cpu_cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "targets": {
            "command_to_lock_p50_ms": TARGET_COMMAND_P50_MS,
            "retrieve_face_to_decision_ms": TARGET_RETRIEVE_MS,
        },
        "backends": {},
    }
    with (
        tempfile.TemporaryDirectory(prefix="lockers-bench-site-") as tmp,
        _backends(o, Path(tmp), skipped) as urls,
    ):
        for backend, url in urls.items():
            work = Path(tmp) / backend
            work.mkdir(parents=True, exist_ok=True)
            result["backends"][backend] = {
                "wake_up": "LISTEN/NOTIFY" if backend == "postgresql" else f"polling {POLL_S:g} s",
                **_bench_backend(settings, url, work, o),
            }
    result["skipped"] = skipped
    return result
