"""Checks of the database (reachable, schema current, lockers as configured) and of the
template key file (present, 0600, the key of the stored templates)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lockers.config import LockerConfig, Settings
from lockers.doctor.result import CheckResult, fail, ok, warn
from lockers.errors import LockersError

if TYPE_CHECKING:
    from lockers.store.db import Database

UPGRADE_FIX = "back up the database, then run `lockers db upgrade`"


@dataclass
class StoreFindings:
    results: list[CheckResult] = field(default_factory=list)
    newest_record: datetime | None = None  # for the clock check
    templates_stored: bool | None = None  # None: the database could not be read
    sample_template: tuple[bytes, str, str] | None = None  # (ciphertext, model version, kind)


def locker_drift(
    in_database: Sequence[tuple[str, int, int, str]], configured: Sequence[LockerConfig]
) -> list[str]:
    """How the lockers in service (label, board, channel, size) differ from the config."""
    have = {label: (board, channel, size) for label, board, channel, size in in_database}
    want = {c.label: (c.board, c.channel, c.size) for c in configured}
    drift = [f"{label} not in the database" for label in want if label not in have]
    drift += [f"{label} not in the config" for label in have if label not in want]
    for label in want.keys() & have.keys():
        if want[label] != have[label]:
            (b, c, s), (cb, cc, cs) = have[label], want[label]
            drift.append(
                f"{label} is board {b} ch {c} {s} in the database, {cb}/{cc} {cs} in config"
            )
    return sorted(drift)


def check_store(settings: Settings) -> StoreFindings:
    from lockers.kiosk.startup import connect
    from lockers.store.schema import require_current_schema, schema_status

    found = StoreFindings()
    sqlite_file = _sqlite_file(settings.database_url)
    if sqlite_file is not None and not sqlite_file.exists():
        # Connecting would create an empty file: the doctor only looks.
        found.results.append(
            fail(
                "database",
                f"no database file at {sqlite_file}",
                "run `lockers db upgrade` (creates it with the schema and the configured lockers)",
            )
        )
        return found
    try:
        database = connect(settings)
    except LockersError as exc:
        found.results.append(fail("database", exc.message, exc.hint or UPGRADE_FIX))
        return found
    where = database.url.render_as_string()  # hides the password
    try:
        try:
            database.ping()
        except LockersError as exc:
            found.results.append(fail("database", f"{where}: {exc.message}", exc.hint))
            return found
        found.results.append(ok("database", f"{where} reachable"))
        try:
            require_current_schema(database)
        except LockersError as exc:
            found.results.append(fail("database.schema", exc.message, exc.hint or UPGRADE_FIX))
            return found
        found.results.append(
            ok("database.schema", f"schema {schema_status(database).head} (current)")
        )
        found.results.append(_check_lockers(settings, database))
        found.sample_template, found.newest_record = _records(database)
        found.templates_stored = found.sample_template is not None
    except LockersError as exc:
        found.results.append(fail("database", f"{where}: {exc.message}", exc.hint))
    finally:
        database.dispose()
    return found


def _sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :].split("?")[0])


def _check_lockers(settings: Settings, database: Database) -> CheckResult:
    from lockers.store import lockers_repo

    with database.transaction() as session:
        rows = [
            (x.label, x.board, x.channel, str(x.size)) for x in lockers_repo.list_lockers(session)
        ]
    if not settings.lockers:
        return fail(
            "lockers",
            "no lockers configured",
            "add a `lockers:` list (label, size, board, channel) to the config, then "
            "`lockers db sync-lockers`",
        )
    drift = locker_drift(rows, settings.lockers)
    if drift:
        return fail(
            "lockers",
            f"{len(drift)} differences from the config: " + "; ".join(drift[:5]),
            "run `lockers db sync-lockers` (the kiosk also syncs at start-up)",
        )
    return ok("lockers", f"{len(rows)} lockers, as configured")


def _records(database: Database) -> tuple[tuple[bytes, str, str] | None, datetime | None]:
    """A stored template (to try the key on) and the newest audit time (for the clock)."""
    from lockers.store import audit, rentals

    with database.transaction() as session:
        newest = audit.recent(session, limit=1)
        sample = rentals.any_template(session)
        blob = None if sample is None else (sample.ciphertext, sample.model_version, sample.kind)
    return blob, (newest[0].at if newest else None)


def check_key_file(settings: Settings, store: StoreFindings) -> CheckResult:
    """Present, 0600, readable by this user, 32 bytes, and the key of the stored templates."""
    from lockers.store.crypto import TemplateCipher, load_or_create_key

    templates_stored = store.templates_stored

    path = settings.privacy.template_key_file
    if not path.exists():
        if templates_stored:
            return fail(
                "key_file",
                f"{path} is missing and face templates are stored: they cannot be read",
                f"restore {path} from its backup (mode 0600); without it staff must reset the "
                "occupied lockers",
            )
        return fail(
            "key_file",
            f"{path} does not exist",
            "run `lockers db check` as the kiosk user: it creates the key (mode 0600) while no "
            "template is stored; then back it up",
        )
    try:
        key = load_or_create_key(path, create=False)
        if store.sample_template is not None:
            TemplateCipher(key).decrypt(*store.sample_template)
    except LockersError as exc:
        return fail("key_file", exc.message, exc.hint)
    if templates_stored is None:
        return warn(
            "key_file",
            f"{path} present (0600); not compared with stored templates (database unreadable)",
            "fix the database first",
        )
    checked = ", opens the stored templates" if templates_stored else ""
    return ok("key_file", f"{path} present, mode 0600{checked}")
