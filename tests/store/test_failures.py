"""A garbage file, a read-only directory and a full disk give clear errors and lose nothing."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lockers.errors import StoreError
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database
from lockers.store.models import utcnow
from lockers.store.schema import current_revision, upgrade

REPO = Path(__file__).resolve().parents[2]
FORK = mp.get_context("fork")


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lockers.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    db = Database(f"sqlite:///{path}")
    try:
        with pytest.raises(StoreError, match="not a valid database file") as err:
            db.ping()
        assert "restore it from a backup" in err.value.hint
    finally:
        db.dispose()
    assert path.read_bytes().startswith(b"this is not a database")  # left untouched


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("sqlite://", "not an in-memory database"),
        ("sqlite:///no/such/dir/lockers.db", "does not exist"),
        ("oracle://x@y/z", "not supported"),
        ("::::", "not a valid SQLAlchemy URL"),
    ],
)
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        Database(url)


def _committed(db: Database) -> list[str]:
    with db.transaction() as session:
        return [e.reason or "" for e in audit.entries(session)]


def _run_child(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )


def _write_as_unprivileged(url: str, results: Any) -> None:
    # Root ignores file modes: drop to "nobody" in the forked child (everything is imported).
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    try:
        db = Database(url)
        with db.transaction() as session:
            audit.append(
                session, at=utcnow(), actor="t", action=AuditAction.RESET, outcome=AuditOutcome.OK
            )
        results.put("no error")
    except StoreError as exc:
        results.put(f"{exc.message} | {exc.hint}")
    except Exception as exc:  # report, so the test fails with the reason instead of a timeout
        results.put(repr(exc))


def _write_kept_entry(db: Database) -> None:
    with db.transaction() as session:
        audit.Writer(session, utcnow(), "t").add(AuditAction.RESET, AuditOutcome.OK, reason="kept")


def test_read_only_directory() -> None:
    # Outside pytest's tmp tree, whose 0700 parents "nobody" could not even traverse.
    folder = Path(tempfile.mkdtemp(prefix="lockers-ro-"))
    folder.chmod(0o755)
    url = f"sqlite:///{folder / 'lockers.db'}"
    db = Database(url)
    upgrade(db)
    _write_kept_entry(db)
    db.dispose()
    (folder / "lockers.db").chmod(0o444)
    folder.chmod(0o555)
    results = FORK.Queue()
    try:
        child = FORK.Process(target=_write_as_unprivileged, args=(url, results))
        child.start()
        message = results.get(timeout=20)
        child.join(timeout=20)
    finally:
        folder.chmod(0o755)
        (folder / "lockers.db").chmod(0o644)
    assert "cannot write the database" in message
    assert "kiosk user may write" in message
    db = Database(url)
    try:
        assert _committed(db) == ["kept"]
    finally:
        db.dispose()
        shutil.rmtree(folder)


def test_full_disk_keeps_what_was_committed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lockers.db'}"
    db = Database(url)
    upgrade(db)
    _write_kept_entry(db)
    db.dispose()
    size = (tmp_path / "lockers.db").stat().st_size
    # The child may not grow any file beyond the database's current size: a full disk.
    child = _run_child(
        f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({size}, {size}))
        from lockers.errors import StoreError
        from lockers.store import audit
        from lockers.store.audit_values import AuditAction, AuditOutcome
        from lockers.store.db import Database
        from lockers.store.models import utcnow
        db = Database("{url}")
        try:
            for _ in range(200):
                with db.transaction() as s:
                    audit.append(s, at=utcnow(), actor="t", action=AuditAction.RESET,
                                 outcome=AuditOutcome.OK, reason="x" * 5000)
            print("NO-ERROR")
        except StoreError as exc:
            print("STORE-ERROR", exc.message, "|", exc.hint)
        """,
        tmp_path,
    )
    assert "STORE-ERROR" in child.stdout, child.stdout + child.stderr
    assert "disk" in child.stdout or "write" in child.stdout
    db = Database(url)
    try:
        assert current_revision(db) is not None
        reasons = _committed(db)
        assert reasons[0] == "kept"
    finally:
        db.dispose()


def test_sqlite_runs_durable_wal_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'lockers.db'}", busy_timeout_s=7)
    try:
        with db.engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    finally:
        db.dispose()
    # synchronous 2 = FULL: a commit is on disk before it returns.
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 2,
        "busy_timeout": 7000,
    }
