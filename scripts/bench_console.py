"""Seed a site (kiosks × lockers, audit rows) and time the console's pages and API (server side);
or, with ``--click-to-lock N``, time "open" in the console → the kiosk's lock fires.

    python scripts/bench_console.py --url sqlite:////tmp/site.db --kiosks 20 --lockers 100 \
        --audit-rows 1000000
    PYTHONPATH=$PWD python scripts/bench_console.py --url postgresql+psycopg://... \
        --click-to-lock 50

Pages: p50/p95 per request (ms, measured as the client sees it over loopback: an upper bound of
the server time) for the overview, the audit page (unfiltered and with each filter) and the API.

Click → lock: a real kiosk process (``lockers site agent``: heartbeat and command executor over
the real board driver) on its own pty board emulator, and the console (uvicorn) over the same
database; each run POSTs "open" for one of its lockers (the route the console's form and API
share), at a random moment of the kiosk's poll, and stops the clock when the emulator sees
that lock's relay fire. Prints p50/p95/max.

The database must be empty (it is migrated here).
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import insert

from lockers.config import Settings
from lockers.config.hardware import LockerConfig
from lockers.console import accounts
from lockers.console.app import create_app
from lockers.hardware.emulator import BoardEmulator
from lockers.kiosk.pins import hash_pin
from lockers.store import lockers_repo, site, staff_repo
from lockers.store.db import Database
from lockers.store.models import AuditEntry
from lockers.store.schema import upgrade


def seed(database: Database, kiosks: int, lockers: int, audit_rows: int) -> None:
    now = datetime.now(UTC)
    for k in range(1, kiosks + 1):
        bank = [
            LockerConfig(label=f"K{k}-{i}", board=i // 64, channel=i % 64 + 1)
            for i in range(lockers)
        ]
        identity = site.KioskIdentity(f"kiosk-{k}", site.new_instance_token(), f"Bank {k}")
        with database.transaction() as session:
            lockers_repo.sync_lockers(session, bank, f"kiosk-{k}")
            site.register_kiosk(session, identity, now)
    with database.transaction() as session:
        staff_repo.add_staff(session, "bench", "admin", hash_pin("123456", b"b" * 32))
    accounts.set_password(database, "bench", "bench-password", "bench", now)
    actions = ["register", "retrieve", "unlock", "force_open", "liveness"]
    batch: list[dict[str, object]] = []
    start = now - timedelta(days=90)
    for i in range(audit_rows):
        batch.append(
            {
                "at": start + timedelta(seconds=i * 7),
                "actor": f"kiosk:kiosk-{i % kiosks + 1}" if i % 10 else f"staff:s{i % 50}",
                "action": actions[i % len(actions)],
                "locker_label": f"K{i % kiosks + 1}-{i % lockers}",
                "outcome": "ok",
                "reason": None,
            }
        )
        if len(batch) == 20000:
            with database.transaction() as session:
                session.execute(insert(AuditEntry), batch)
            batch = []
    if batch:
        with database.transaction() as session:
            session.execute(insert(AuditEntry), batch)


def timed(client: httpx.Client, path: str, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    samples.sort()
    return statistics.median(samples), samples[int(0.95 * (len(samples) - 1))]


@contextmanager
def served(app: object) -> Iterator[str]:
    """``app`` served by uvicorn on a loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    # uvicorn sets TCP_NODELAY on sockets it opens itself; without it, loopback requests wait
    # ~40 ms for delayed ACKs
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def bench_pages(database: Database, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    seed(database, args.kiosks, args.lockers, args.audit_rows)
    print(f"seeded in {time.perf_counter() - t0:.0f} s")
    token = accounts.create_token(database, "bench", None, 1, "bench", datetime.now(UTC))
    headers = {"Authorization": f"Bearer {token}"}
    paths = [
        "/",
        "/grid",
        "/audit",
        "/audit?kiosk=kiosk-3",
        "/audit?staff=s7",
        "/audit?locker=K2-5",
        "/audit?action=force_open",
        "/api/v1/lockers",
        "/api/v1/kiosks",
        "/alerts",
        "/metrics",
    ]
    with (
        served(create_app(Settings(), database)) as url,
        httpx.Client(base_url=url, headers=headers, timeout=60) as client,
    ):
        for path in paths:
            p50, p95 = timed(client, path, args.runs)
            print(f"{path:32s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")


def bench_click_to_lock(database: Database, url: str, runs: int) -> None:
    """One kiosk process on its emulator, the console beside it: POST "open" → relay fires."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "console"))
    from kiosk_procs import BANK, start_site_kiosks, stop_site_kiosks  # BANK: channels 1-4

    with tempfile.TemporaryDirectory(prefix="bench-click-") as folder:
        kiosks = start_site_kiosks(
            Path(folder),
            url,
            database,
            [("kiosk-1", "A-", "Bench kiosk")],
            heartbeat_s=10.0,
            command_ttl_s=30.0,
        )
        try:
            with database.transaction() as session:
                staff_repo.add_staff(session, "bench", "attendant", hash_pin("123456", b"b" * 32))
            token = accounts.create_token(database, "bench", None, 1, "bench", datetime.now(UTC))
            with (
                served(create_app(Settings(), database)) as console,
                httpx.Client(base_url=console, headers={"Authorization": f"Bearer {token}"}) as api,
            ):
                pauses = random.Random(19).random
                samples = []
                for run in range(runs + 1):
                    channel = run % len(BANK) + 1
                    took = _one_click(api, kiosks[0].emulator, f"A-{channel}", channel, pauses())
                    if run:  # the first run pays for connections and caches
                        samples.append(took)
        finally:
            stop_site_kiosks(kiosks)
    samples.sort()
    backend = database.engine.dialect.name
    print(
        f"click -> lock ({backend}, {runs} runs): p50 {statistics.median(samples):.0f} ms  "
        f"p95 {samples[int(0.95 * (len(samples) - 1))]:.0f} ms  max {samples[-1]:.0f} ms"
    )


def _one_click(
    api: httpx.Client, emulator: BoardEmulator, label: str, channel: int, pause_s: float
) -> float:
    # The previous opening of this door has closed again (the emulator's person closed it).
    emulator.wait_until(lambda: not emulator.door_open(0, channel), 10.0)
    # Staff click at any moment of the kiosk's poll (1 s on SQLite, which has no NOTIFY): runs
    # back to back would all land just after a poll and measure the worst case every time.
    time.sleep(pause_s)
    before = emulator.pulse_count(0, channel)
    t0 = time.perf_counter()
    sent = api.post(f"/api/v1/lockers/{label}/actions/open", json={"reason": reason_open()})
    sent.raise_for_status()
    fired = emulator.wait_until(lambda: emulator.pulse_count(0, channel) > before, 20.0)
    elapsed_ms = (time.perf_counter() - t0) * 1000
    if not fired:
        raise SystemExit(f"the lock of {label} did not fire: {sent.json()}")
    return elapsed_ms


def reason_open() -> str:
    return Settings().ui.staff_reasons.open[0].en


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--lockers", type=int, default=100)
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--click-to-lock", type=int, default=0, metavar="N", help="time N opens instead"
    )
    args = parser.parse_args()
    database = Database(args.url, busy_timeout_s=60)
    upgrade(database)
    try:
        if args.click_to_lock:
            bench_click_to_lock(database, args.url, args.click_to_lock)
        else:
            bench_pages(database, args)
    finally:
        database.dispose()


if __name__ == "__main__":
    main()
