"""Fixtures of the store tests (shared with tests/kiosk through lockers_storekit)."""

from lockers_storekit import backend, database, db_url, settings  # noqa: F401
