"""The on-screen keyboard's Hangul composition (2-set layout) and its keys."""

from __future__ import annotations

from typing import Any

import pytest

from lockers.ui.widgets.hangul import HangulComposer


def typed(jamo: str, start: str = "") -> str:
    composer = HangulComposer(start)
    for j in jamo:
        composer.press(j)
    return composer.text


@pytest.mark.parametrize(
    "keys, text",
    [
        ("ㅎㅏㄴㄱㅜㄱㅇㅓ", "한국어"),
        ("ㄷㅏㄹㄱ", "닭"),
        ("ㄷㅏㄹㄱㅇㅣ", "닭이"),
        ("ㅇㅣㄹㄱㅡㄹ", "일글"),  # the second half of a compound final moves on
        ("ㅎㅏㄴㅏ", "하나"),  # a final before a vowel starts the next syllable
        ("ㄱㅗㅏㄴ", "관"),  # compound vowel
        ("ㅏㅏ", "ㅏㅏ"),  # vowels alone stay jamo
        ("ㄱㄱ", "ㄱㄱ"),
        ("ㅁㅜㄴ 1", "문 1"),
    ],
)
def test_composition(keys: str, text: str) -> None:
    assert typed(keys) == text


def test_backspace_takes_back_one_jamo_at_a_time() -> None:
    composer = HangulComposer("메모 ")
    for j in "ㄱㅗㅏㄴ":
        composer.press(j)
    seen = []
    for _ in range(5):
        composer.backspace()
        seen.append(composer.text)
    assert seen == ["메모 과", "메모 고", "메모 ㄱ", "메모 ", "메모"]


def test_keyboard_widget_types_into_a_read_only_field(qtbot: Any) -> None:
    from PySide6.QtCore import Qt

    from lockers.ui.widgets.keyboard import MAX_NOTE, OnScreenKeyboard

    keyboard = OnScreenKeyboard()
    qtbot.addWidget(keyboard)
    keyboard.show()
    assert keyboard.field.isReadOnly()

    def tap(widget: Any) -> None:
        qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)

    for jamo in "ㄱㅏ":
        tap(keyboard.key_for(jamo))
    tap(keyboard.shift_key)
    tap(keyboard.key_for("ㄲ"))  # shifted consonant, then shift is off again
    assert keyboard.key_for("ㄱ")
    assert keyboard.field.text() == "갂"
    tap(keyboard.layout_key)
    tap(keyboard.key_for("a"))
    tap(keyboard.key_for("1"))
    assert keyboard.field.text() == "갂a1"
    keyboard.type_text("x" * (MAX_NOTE + 10))
    assert keyboard.field.text() == "갂a1"  # too long: refused whole
    with pytest.raises(KeyError):
        keyboard.key_for("ㅎ")  # not on the English layout
    keyboard.close()
