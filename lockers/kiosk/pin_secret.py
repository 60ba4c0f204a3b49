"""The site's PIN secret: loaded (or created) when the store opens, then found by the staff
services of this process through their database, so that every way a process builds a
:class:`~lockers.kiosk.staff_service.StaffService` hashes PINs with the same key."""

from __future__ import annotations

import threading

from lockers.config import Settings
from lockers.kiosk.pins import KEYED_FAMILY, KEYED_SCHEME, secret_id, secret_id_of
from lockers.store import staff_repo
from lockers.store.crypto import PIN_SECRET, PinSecretError, load_or_create_secret
from lockers.store.db import Database

KEYED_PREFIX = KEYED_FAMILY  # every keyed scheme (k1, k2)

_lock = threading.Lock()
_by_database: dict[str, bytes] = {}


def _key(database: Database) -> str:
    return database.url.render_as_string(hide_password=False)


def open_pin_secret(settings: Settings, database: Database) -> bytes:
    """Read ``privacy.pin_secret_path`` and register it for ``database``. The file is created
    (0600) only while no stored PIN hash was keyed with a secret: a new secret would lock every
    such staff member out.

    The site's staff share one secret: a stored hash made with another secret (it names its
    secret's id) means this kiosk holds the wrong file, and it is refused.

    Raises:
        PinSecretError: missing while keyed hashes exist, unreadable, wrong size or mode, or
            not the secret the site's staff PINs were hashed with.
    """
    with database.transaction() as session:
        keyed = staff_repo.any_pin_hash_with_prefix(session, KEYED_PREFIX)
        named = staff_repo.one_pin_hash_with_prefix(session, KEYED_SCHEME + "$")
    path = settings.privacy.pin_secret_path
    secret = load_or_create_secret(path, PIN_SECRET, create=not keyed)
    if named is not None and secret_id_of(named) != secret_id(secret):
        raise PinSecretError(
            f"this kiosk's PIN secret {path} is not the one the site's staff PINs were hashed "
            "with: no staff member could log in here",
            hint="every kiosk of a site must hold the same keys: on a kiosk of the site run "
            "`lockers site key export FILE`, bring FILE here and run "
            "`lockers site key import FILE --replace`",
        )
    register_pin_secret(database, secret)
    return secret


def register_pin_secret(database: Database, secret: bytes) -> None:
    with _lock:
        _by_database[_key(database)] = secret


def pin_secret_of(database: Database) -> bytes:
    """The secret registered for ``database`` by :func:`open_pin_secret`.

    Raises:
        PinSecretError: the store was opened without loading it.
    """
    with _lock:
        secret = _by_database.get(_key(database))
    if secret is None:
        raise PinSecretError(
            "the staff PIN secret was not loaded for this database",
            hint="open the store with lockers.kiosk.startup.start_store (or open_pin_secret) "
            "before checking staff PINs",
        )
    return secret
