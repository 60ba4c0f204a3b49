"""Opening the store at kiosk start-up: schema version, locker sync, key, consistency check."""

from __future__ import annotations

from dataclasses import dataclass

from lockers.config import Settings
from lockers.kiosk import site_keys
from lockers.kiosk.dto import Finding, StartupReport
from lockers.kiosk.housekeeping import expire_rentals
from lockers.kiosk.pin_secret import open_pin_secret
from lockers.kiosk.presence import KioskPresence
from lockers.store import audit, consistency, lockers_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.crypto import TemplateCipher, TemplateKeyError, load_or_create_key
from lockers.store.db import Database, private_directory
from lockers.store.models import utcnow
from lockers.store.schema import require_current_schema
from lockers.store.site import KioskIdentity


@dataclass
class Store:
    """What the services need from storage, opened once per process."""

    database: Database
    cipher: TemplateCipher
    pin_secret: bytes | None = None
    # Set when start_store registered this kiosk in the site's registry (``identity``).
    presence: KioskPresence | None = None

    def close(self) -> None:
        self.database.dispose()


def connect(settings: Settings) -> Database:
    """The configured database, whatever its schema (for migrating it); creates the data
    directory for the default SQLite file."""
    if settings.database.url == "":
        private_directory(settings.data_dir)  # PIN hashes and the audit log live there
    return Database(settings.database_url, settings.database.busy_timeout_s)


def open_database(settings: Settings) -> Database:
    """The configured database, checked readable and at the code's schema version.

    Raises:
        StoreError: unreachable, not a database, or the wrong schema (hint: the fixing command).
    """
    database = connect(settings)
    try:
        database.ping()
        require_current_schema(database)
    except BaseException:
        database.dispose()
        raise
    return database


def open_cipher(settings: Settings, database: Database) -> TemplateCipher:
    """The template cipher. The key is created only while no template exists (a new key for an
    existing database would make every stored face unreadable); a wrong key fails here, on one
    template of this kiosk and one another kiosk of the site stored (every kiosk of a site must
    hold the same key: any kiosk recognises every customer).

    Raises:
        TemplateKeyError: missing (with templates stored), unreadable, or wrong key.
    """
    kiosk_id = settings.database.kiosk_id
    with database.transaction() as session:
        samples = site_keys.template_samples(session, kiosk_id)
    key_file = settings.privacy.template_key_file
    try:
        key = load_or_create_key(key_file, create=not samples)
    except TemplateKeyError as exc:
        others = [owner for owner in samples if owner != kiosk_id]
        if not others:
            raise
        raise TemplateKeyError(exc.message, hint=site_keys.import_hint(others[0])) from None
    cipher = TemplateCipher(key, key_file=key_file)
    for owner, blob in samples.items():
        site_keys.check_sample(cipher, key_file, kiosk_id, owner, blob)
    return cipher


def start_store(
    settings: Settings, *, repair: bool = True, identity: KioskIdentity | None = None
) -> tuple[Store, StartupReport]:
    """Everything the kiosk does before its first customer.

    Opens the database (schema must match), registers this kiosk in the site's registry when
    ``identity`` is given (the kiosk app does; ``lockers db check`` does not), syncs this
    kiosk's bank from the config, runs the consistency check (repairing what is safe when
    ``repair``), expires rentals past their retention, and loads the template key and the PIN
    secret (checked against what the other kiosks of the site stored). Findings are audited.

    Raises:
        KioskIdInUseError: another running kiosk holds this ``database.kiosk_id`` (nothing of
            this kiosk's bank was touched).
        StoreError, TemplateKeyError: with the command or step that fixes it.
    """
    database = open_database(settings)
    presence = None if identity is None else KioskPresence(database, identity)
    try:
        now = utcnow()
        actor = f"kiosk:{settings.database.kiosk_id}"
        if presence is not None:
            # First, in a transaction of its own: a second kiosk with the same id is refused
            # before it repairs or syncs anything of the first one's bank.
            with database.transaction() as session:
                presence.register(session)
        # The site's secrets before this kiosk changes anything: a kiosk that cannot read the
        # site's templates (or PINs) must not sync its bank or repair anything either.
        cipher = open_cipher(settings, database)
        pin_secret = open_pin_secret(settings, database)
        with database.transaction() as session:
            sync = lockers_repo.sync_bank(session, settings)
            found = consistency.check(
                session, now=now, repair=repair, kiosk_id=settings.database.kiosk_id
            )
            trail = audit.Writer(session, now, actor)
            for item in found:
                outcome = AuditOutcome.REPAIRED if item.repaired else AuditOutcome.FOUND
                why = f"{item.kind}: {item.detail}"
                trail.add(
                    AuditAction.STARTUP_CHECK, outcome, item.locker_label, item.rental_id, why
                )
        expired = expire_rentals(database, now, actor)
    except BaseException:
        if presence is not None:
            presence.abandon()  # refused to start: not shown online (a no-op if never registered)
        database.dispose()
        raise
    report = StartupReport(
        lockers_added=tuple(sync.added),
        lockers_retired=tuple(sync.retired),
        findings=tuple(
            Finding(f.kind, f.detail, f.locker_label, f.rental_id, f.repaired) for f in found
        ),
        expired_rentals=tuple(expired),
    )
    return Store(database, cipher, pin_secret, presence), report


__all__ = [
    "Store",
    "TemplateKeyError",
    "open_cipher",
    "open_database",
    "open_pin_secret",
    "start_store",
]
