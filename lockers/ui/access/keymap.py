"""Keys instead of touch: what each key of a USB numeric keypad, a 4-way + OK pad or a
keyboard does in the kiosk window.

A numeric keypad (NumLock on or off) and the 4-way + OK pads of barrier-free kiosks (arrows and
Enter) both work: arrows, Tab and the keypad's 8/2/4/6 move the focus, Enter/OK and the
keypad's 5 activate, Backspace and Esc go back. The keypad's other keys: ``*`` repeat, ``+``/``-``
volume, ``0`` call staff, ``.`` more time, ``/`` accessibility mode. Function keys do the same
on a keyboard (F1 mode, F2 repeat, F3 call staff, F4 more time, F5 contrast, F6 large text,
F7 low reach, F8 language, F12 the staff PIN screen). On a screen with a PIN pad digits are
digits (``0`` too) and Backspace deletes the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import Qt


class KeyAction(StrEnum):
    NEXT = "next"
    PREVIOUS = "previous"
    ACTIVATE = "activate"
    BACK = "back"
    DIGIT = "digit"
    REPEAT = "repeat"
    VOLUME_UP = "volume_up"
    VOLUME_DOWN = "volume_down"
    CALL_STAFF = "call_staff"
    MORE_TIME = "more_time"
    ACCESSIBILITY = "accessibility"
    CONTRAST = "contrast"
    LARGE_TEXT = "large_text"
    LOW_REACH = "low_reach"
    LANGUAGE = "language"
    STAFF = "staff"


@dataclass(frozen=True)
class KeyCommand:
    action: KeyAction
    digit: str = ""


Key = Qt.Key
_FIXED: dict[Key, KeyAction] = {
    Key.Key_Tab: KeyAction.NEXT,
    Key.Key_Down: KeyAction.NEXT,
    Key.Key_Right: KeyAction.NEXT,
    Key.Key_Backtab: KeyAction.PREVIOUS,
    Key.Key_Up: KeyAction.PREVIOUS,
    Key.Key_Left: KeyAction.PREVIOUS,
    Key.Key_Return: KeyAction.ACTIVATE,
    Key.Key_Enter: KeyAction.ACTIVATE,
    Key.Key_Space: KeyAction.ACTIVATE,
    Key.Key_Select: KeyAction.ACTIVATE,
    Key.Key_Escape: KeyAction.BACK,
    Key.Key_Backspace: KeyAction.BACK,
    Key.Key_Back: KeyAction.BACK,
    Key.Key_Asterisk: KeyAction.REPEAT,
    Key.Key_Plus: KeyAction.VOLUME_UP,
    Key.Key_VolumeUp: KeyAction.VOLUME_UP,
    Key.Key_Minus: KeyAction.VOLUME_DOWN,
    Key.Key_VolumeDown: KeyAction.VOLUME_DOWN,
    Key.Key_Period: KeyAction.MORE_TIME,
    Key.Key_Comma: KeyAction.MORE_TIME,  # the keypad's decimal key in some layouts
    Key.Key_Delete: KeyAction.MORE_TIME,  # the same key with NumLock off
    Key.Key_Slash: KeyAction.ACCESSIBILITY,
    Key.Key_F1: KeyAction.ACCESSIBILITY,
    Key.Key_F2: KeyAction.REPEAT,
    Key.Key_F3: KeyAction.CALL_STAFF,
    Key.Key_F4: KeyAction.MORE_TIME,
    Key.Key_F5: KeyAction.CONTRAST,
    Key.Key_F6: KeyAction.LARGE_TEXT,
    Key.Key_F7: KeyAction.LOW_REACH,
    Key.Key_F8: KeyAction.LANGUAGE,
    Key.Key_F12: KeyAction.STAFF,
}
# Without a PIN pad on screen the keypad's digits are its arrows (as with NumLock off).
_DIGIT_MOVES = {
    "8": KeyAction.PREVIOUS,
    "4": KeyAction.PREVIOUS,
    "2": KeyAction.NEXT,
    "6": KeyAction.NEXT,
    "5": KeyAction.ACTIVATE,
    "0": KeyAction.CALL_STAFF,
}
_DIGITS = {getattr(Key, f"Key_{d}"): d for d in "0123456789"}


def command_for(key: int, *, pin_pad: bool) -> KeyCommand | None:
    """What ``key`` (a ``Qt.Key`` value) does; ``pin_pad``: a PIN pad is on screen.
    ``None``: the key means nothing to the kiosk (it is left to Qt)."""
    try:
        qt_key = Key(key)
    except ValueError:
        return None
    digit = _DIGITS.get(qt_key)
    if digit is not None:
        if pin_pad:
            return KeyCommand(KeyAction.DIGIT, digit)
        return KeyCommand(_DIGIT_MOVES[digit]) if digit in _DIGIT_MOVES else None
    action = _FIXED.get(qt_key)
    return None if action is None else KeyCommand(action)
