"""The composed kiosk takes part in its site: registered with a heartbeat while it runs, the
commands staff elsewhere send for its bank executed on its own board, offline once closed."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from lockers.app import build_kiosk
from lockers.kiosk.startup import open_database
from lockers.store import site, site_commands
from lockers.store.site_listen import wait_for_result

sys.path.insert(0, str(Path(__file__).parent))
from kiosk_harness import kiosk_settings


def test_a_composed_kiosk_runs_the_site_commands_for_its_bank_and_signs_off(
    tmp_path: Path,
) -> None:
    settings = kiosk_settings(tmp_path)
    parts = build_kiosk(settings, demo=True, liveness=False)
    database = parts.backend.store.database
    emulator = parts.emulator
    try:
        with database.transaction() as session:
            (kiosk,) = site.site_status(session, datetime.now(UTC))
            assert kiosk.kiosk_id == settings.database.kiosk_id and kiosk.online
            command = site_commands.send_command(
                session,
                kiosk_id=settings.database.kiosk_id,
                action="open",
                label="1",
                staff="alice",
                reason="customer lost the key card",
                source="console",
                now=datetime.now(UTC),
                ttl_s=30.0,
            )
        done = wait_for_result(database, command.id, timeout_s=20.0)
        assert done.finished_at is not None and done.result == "opened", done.detail
        assert emulator is not None and emulator.door_opens(0, 1) == 1
    finally:
        parts.close()
    database = open_database(settings)
    try:
        with database.transaction() as session:
            (kiosk,) = site.site_status(session, datetime.now(UTC))
            assert not kiosk.online  # signed off at once, not after three missed beats
    finally:
        database.dispose()
