"""The console scripts/demo.sh starts beside ``lockers demo``: it waits for the demo's database,
prints a login that works, serves on loopback, and stops on SIGTERM (what the script sends)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from console_kit import csrf_of

from lockers.console.demo import DEMO_LOGIN, free_port
from lockers.kiosk.pins import hash_pin
from lockers.store import staff_repo
from lockers.store.db import Database
from lockers.store.schema import upgrade

REPO = Path(__file__).resolve().parents[2]


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


def test_demo_console_waits_for_the_database_prints_a_login_and_stops(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port(18080)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lockers.console.demo",
            "--data-dir",
            str(data),
            "--script",
            "--console-port",
            str(port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    try:
        # What lockers demo does at start: the database, migrated, with its admin staff member.
        data.mkdir()
        database = Database(f"sqlite:///{data / 'lockers.db'}", 20)
        upgrade(database)
        with database.transaction() as session:
            staff_repo.add_staff(session, DEMO_LOGIN, "admin", hash_pin("1234", b"s" * 32))
        database.dispose()
        line = lines.get(timeout=60)
        assert line.startswith("console:") and f"127.0.0.1:{port}" in line, line
        password = line.rsplit("password ", 1)[1].strip().strip("'")
        # The line is printed as uvicorn starts: connection attempts retry with back-off.
        transport = httpx.HTTPTransport(retries=8)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport) as client:
            form = client.get("/login")
            done = client.post(
                "/login",
                data={
                    "name": DEMO_LOGIN,
                    "password": password,
                    "csrf_token": csrf_of(form.text),
                    "next": "/",
                },
            )
            assert done.status_code == 303, done.text
            assert client.get("/").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)
        if process.stdout is not None:
            process.stdout.close()
    assert code in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
