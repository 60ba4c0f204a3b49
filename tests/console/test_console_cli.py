"""``lockers console`` commands: set-password, token create (printed once, alone on the last
line), and the warning for a non-loopback host without TLS."""

from __future__ import annotations

from pathlib import Path

from console_kit import add_member
from lockers_storekit import write_config
from typer.testing import CliRunner

from lockers.cli import app
from lockers.console.passwords import secret_hash
from lockers.console.serve import exposure_warning
from lockers.store import console_repo
from lockers.store.db import Database
from lockers.store.models import utcnow
from lockers.store.schema import upgrade


def test_set_password_and_token_create(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lockers.db'}"
    config = write_config(tmp_path, url)
    database = Database(url)
    upgrade(database)
    add_member(database, "mark", "manager", None, utcnow())
    runner = CliRunner()
    short = runner.invoke(
        app, ["--config", str(config), "console", "set-password", "mark"], input="short\nshort\n"
    )
    assert short.exit_code != 0
    done = runner.invoke(
        app,
        ["--config", str(config), "console", "set-password", "mark"],
        input="mark-password-22\nmark-password-22\n",
    )
    assert done.exit_code == 0, done.output
    created = runner.invoke(
        app,
        [
            "--config",
            str(config),
            "console",
            "token",
            "create",
            "--staff",
            "mark",
            "--expires-days",
            "30",
        ],
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    with database.transaction() as session:
        found = console_repo.find_token(session, secret_hash(token))
    assert found is not None and found[0].role == "manager" and found[1].name == "mark"
    unknown = runner.invoke(
        app,
        [
            "--config",
            str(config),
            "console",
            "token",
            "create",
            "--staff",
            "nobody",
            "--expires-days",
            "1",
        ],
    )
    assert unknown.exit_code != 0
    database.dispose()


def test_exposure_warning() -> None:
    assert exposure_warning("127.0.0.1", tls=False) is None
    assert exposure_warning("::1", tls=False) is None
    assert exposure_warning("localhost", tls=False) is None
    assert exposure_warning("0.0.0.0", tls=True) is None
    warning = exposure_warning("0.0.0.0", tls=False)
    assert warning is not None and "without TLS" in warning
