"""Screen texts in Korean and English: ``tr(key, lang, **values)``.

Plain dictionaries rather than Qt's .ts/.qm files: the kiosk has a few dozen strings, switches
language on a button press without reloading widgets, and tests can check every key exists in
both languages.
"""

from __future__ import annotations

from lockers.i18n.strings import STRINGS

LANGUAGES = ("ko", "en")


def tr(key: str, lang: str, **values: object) -> str:
    """The text of ``key`` in ``lang`` with ``{name}`` fields filled from ``values``.

    An unknown key falls back to English, then to the key itself (never raises on screen).
    """
    table = STRINGS.get(lang) or STRINGS["en"]
    text = table.get(key) or STRINGS["en"].get(key) or key
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        return text


__all__ = ["LANGUAGES", "STRINGS", "tr"]
