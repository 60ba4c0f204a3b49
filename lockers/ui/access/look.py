"""What accessibility mode's toggles are, and the style sheet they ask for (the palettes of
:mod:`lockers.ui.style`)."""

from __future__ import annotations

from dataclasses import dataclass

from lockers.ui.access.keymap import KeyAction
from lockers.ui.style import stylesheet

__all__ = ["EXPLICIT_KEYS", "AccessState", "stylesheet"]


@dataclass(frozen=True)
class AccessState:
    on: bool = False
    contrast: bool = False
    large_text: bool = False
    low_reach: bool = False


# Keys that say what they do: they never switch the mode on by the way.
EXPLICIT_KEYS = frozenset(
    {
        KeyAction.ACCESSIBILITY,
        KeyAction.CONTRAST,
        KeyAction.LARGE_TEXT,
        KeyAction.LOW_REACH,
        KeyAction.LANGUAGE,
        KeyAction.STAFF,
    }
)
