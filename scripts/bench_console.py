"""Seed a site (kiosks × lockers, audit rows) and time the console's pages and API (server side).

    python scripts/bench_console.py --url sqlite:////tmp/site.db --kiosks 20 --lockers 100 \
        --audit-rows 1000000

Prints p50/p95 per request (ms, measured as the client sees it over loopback: an upper bound of
the server time) for the overview, the audit page (unfiltered and with each filter) and the API.
The database must be empty (it is migrated here).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from sqlalchemy import insert

from lockers.config import Settings
from lockers.config.hardware import LockerConfig
from lockers.console import accounts
from lockers.console.app import create_app
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--lockers", type=int, default=100)
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    database = Database(args.url, busy_timeout_s=60)
    upgrade(database)
    t0 = time.perf_counter()
    seed(database, args.kiosks, args.lockers, args.audit_rows)
    print(f"seeded in {time.perf_counter() - t0:.0f} s")
    token = accounts.create_token(database, "bench", None, 1, "bench", datetime.now(UTC))
    sock = socket.socket()
    # uvicorn sets TCP_NODELAY on sockets it opens itself; without it, loopback requests wait
    # ~40 ms for delayed ACKs
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(), database), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
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
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", headers=headers, timeout=60
        ) as client:
            for path in paths:
                p50, p95 = timed(client, path, args.runs)
                print(f"{path:32s} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
    finally:
        server.should_exit = True
        thread.join()
        database.dispose()


if __name__ == "__main__":
    main()
