"""Errors of the kiosk services a user or staff member can act on."""

from __future__ import annotations

from lockers.errors import LockersError


class ConsentRequired(LockersError):
    """Registration needs the user's recorded consent to store face templates."""


class InvalidTemplates(LockersError):
    """Embeddings of the wrong shape, type or values."""


class StaffAuthError(LockersError):
    """Wrong name or PIN, locked out, or the staff session expired."""

    def __init__(self, message: str, hint: str = "", retry_after_s: float = 0.0) -> None:
        super().__init__(message, hint)
        self.retry_after_s = retry_after_s


class StaffActionRefused(LockersError):
    """The staff action does not apply to the locker's current state."""


class StaffSessionExpired(StaffAuthError):
    """The staff session ended (idle timeout, logout elsewhere): log in again.

    Its own type so callers never decide this by matching message text."""
