"""Persistent state of the kiosk: lockers, rentals, encrypted face templates, staff, audit log.

The only package (with ``migrations/``) that imports SQLAlchemy. Query functions take a
``Session`` and never commit; the kiosk services own the transaction boundaries.
"""
