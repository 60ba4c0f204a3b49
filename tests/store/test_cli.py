"""``lockers db|admin|lockers|audit`` end to end on a real SQLite file and the board emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from lockers_storekit import write_config
from typer.testing import CliRunner

from lockers.cli import app
from lockers.store.crypto import PinSecretError
from lockers.store.schema import head_revision

PIN = "135790"


def run(config: Path, *args: str, pin: str | None = None) -> tuple[int, str]:
    env = {"LOCKERS_STAFF_PIN": pin} if pin else {}
    result = CliRunner().invoke(app, ["--config", str(config), *args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_store_commands(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    code, out = run(config, "db", "current")
    assert code == 1 and "run `lockers db upgrade`" in out
    upgraded = run(config, "db", "upgrade")[1]
    assert upgraded.startswith(f"database upgraded: (empty) -> {head_revision()}")
    # First run: the configured lockers are created with the schema (was: by `db check`).
    assert "created 4 lockers from the config: 1, 2, 3, 4" in upgraded
    assert run(config, "db", "current")[1].rstrip().endswith("up to date")
    code, out = run(config, "db", "check")
    assert code == 0 and "added locker" not in out and "database consistent" in out
    assert "lockers already match" in run(config, "db", "sync-lockers")[1]
    result = CliRunner().invoke(
        app, ["--config", str(config), "admin", "add-staff", "carol"], input=f"{PIN}\n{PIN}\n"
    )
    assert result.exit_code == 0, result.output
    code, out = run(config, "lockers", "open", "2", "--staff", "carol", "--reason", "t", pin=PIN)
    assert (code, out.strip()) == (
        0,
        "locker 2: opened door opened (board reply)",
    ) or "opened" in out
    code, out = run(config, "lockers", "reset", "2", "--staff", "carol", "--reason", "t", pin=PIN)
    assert code == 0 and "no active rental" in out
    assert "2      │ M    │ 0/2  │ available" in run(config, "lockers", "list")[1]
    csv_path = tmp_path / "audit.csv"
    code, out = run(config, "audit", "export", str(csv_path), "--staff", "carol", pin=PIN)
    assert code == 0 and csv_path.read_text(encoding="utf-8").startswith("id,at,actor")
    assert PIN not in csv_path.read_text(encoding="utf-8")


def test_cli_refuses_a_garbage_database(tmp_path: Path) -> None:
    import subprocess
    import sys

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00not sqlite\x00" * 500)
    config = write_config(tmp_path, f"sqlite:///{garbage}")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lockers.cli import main; main()",
            "--config",
            str(config),
            "lockers",
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "is not a valid database file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_db_check_reports_audit_values_outside_the_contract(tmp_path: Path) -> None:
    from sqlalchemy import insert

    from lockers.store.db import Database
    from lockers.store.models import AuditEntry, utcnow

    config = write_config(tmp_path, "")
    run(config, "db", "upgrade")
    assert run(config, "db", "check")[0] == 0
    # A row from before the enums (or another tool): the log is append-only, so it is reported.
    database = Database(f"sqlite:///{tmp_path / 'data' / 'lockers.db'}")
    with database.transaction() as session:
        session.execute(
            insert(AuditEntry).values(at=utcnow(), actor="old", action="unlock", outcome="weird")
        )
    database.dispose()
    code, out = run(config, "db", "check")
    assert code == 1 and "audit_value_outside_contract" in out and "'weird'" in out


def test_staff_pins_are_keyed_with_a_secret_file_beside_the_template_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    run(config, "db", "upgrade")
    result = CliRunner().invoke(
        app, ["--config", str(config), "admin", "add-staff", "dave"], input=f"{PIN}\n{PIN}\n"
    )
    assert result.exit_code == 0, result.output
    secret = tmp_path / "keys" / "pin.secret"
    assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_bytes()) == 32
    code, out = run(config, "lockers", "reset", "1", "--staff", "dave", "--reason", "t", pin=PIN)
    assert code == 0, out
    secret.unlink()  # the database alone no longer checks a PIN, and says why
    with pytest.raises(PinSecretError, match=r"PIN secret file .* does not exist") as err:
        run(config, "lockers", "reset", "1", "--staff", "dave", "--reason", "t", pin=PIN)
    assert "backup" in err.value.hint


def test_add_staff_with_a_console_password(tmp_path: Path) -> None:
    from lockers.config import load_settings
    from lockers.config.console import ConsoleConfig
    from lockers.console.accounts import login
    from lockers.kiosk.startup import open_database
    from lockers.store.models import utcnow

    config = write_config(tmp_path, "")
    run(config, "db", "upgrade")
    result = CliRunner().invoke(
        app,
        [
            *("--config", str(config), "admin", "add-staff", "erin", "--role", "manager"),
            *("--console-password", "a long console password"),
        ],
        input=f"{PIN}\n{PIN}\n",
    )
    assert result.exit_code == 0, result.output
    assert "erin (manager)" in result.output
    database = open_database(load_settings(config, env={}))
    try:
        opened = login(
            database, ConsoleConfig(), "erin", "a long console password", "127.0.0.1", utcnow()
        )
        assert opened is not None
    finally:
        database.dispose()
