"""One tree of errors that the CLI and the UI turn into a message and a fix, never a traceback."""

from __future__ import annotations


class LockersError(Exception):
    """Base of every error a user or installer can act on.

    ``message`` says what went wrong and where; ``hint`` says how to fix it.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(LockersError):
    """The configuration file or an environment override is invalid."""

    def __init__(self, message: str, hint: str = "", problems: list[str] | None = None) -> None:
        super().__init__(message, hint)
        self.problems = problems or []


class WeightsError(LockersError):
    """Model weights are missing, truncated, corrupt or do not fit the architecture."""


class CameraError(LockersError):
    """A camera or replay source cannot be opened or stopped delivering frames."""


class ImageError(LockersError):
    """An image file cannot be read or decoded."""


class BoardError(LockersError):
    """The lock board cannot be reached or answered wrongly."""


class BoardTimeout(BoardError, TimeoutError):
    """The lock board did not answer within its reply timeout."""


class StoreError(LockersError):
    """The database is unreachable, at the wrong schema version, or inconsistent."""


class DisplayError(LockersError):
    """The screen cannot be used: Qt's platform plugin lacks system libraries (or a display)."""
