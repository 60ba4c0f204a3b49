"""What accessibility mode's toggles are, and the style sheet they ask for."""

from __future__ import annotations

from dataclasses import dataclass

from lockers.ui.access.keymap import KeyAction

try:  # the a11y-look palettes; until they land, the one style sheet there is
    from lockers.ui.style import stylesheet
except ImportError:  # pragma: no cover - replaced at merge
    from lockers.ui.style import STYLE

    def stylesheet(*, high_contrast: bool = False, text_scale: float = 1.0) -> str:
        del high_contrast, text_scale
        return STYLE


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
