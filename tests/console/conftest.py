"""Fixtures of the console tests (kept in console_kit, so test modules import its helpers
without clashing with the other folders' conftest modules)."""

from console_kit import backend, console, database, db_url, settings  # noqa: F401
