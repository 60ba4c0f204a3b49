"""Persistence: lockers, rentals, encrypted templates, staff and the audit log (SQLAlchemy)."""
