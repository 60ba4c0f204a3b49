"""What the voice says, as string ids of :mod:`lockers.i18n`: a screen's texts, a control, a hint.

Screens draw their texts with ``tr(key, lang, **values)``; here a shown text is matched back to
its key and values (each template becomes a pattern), so what is spoken is exactly what is on
the screen, in its language, with no second list of texts to drift. A text that no template
makes (a staff member's name, a locker label, a digit) is spoken as ``a11y.item`` with it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QTabBar, QWidget

from lockers.i18n import STRINGS
from lockers.ui.voice_port import Utterance

_FIELD = re.compile(r"\{(\w+)\}")
# Labels that carry a screen's words (the rest are decorations or live in tables).
INFO_LABELS = frozenset(
    {"title", "subtitle", "huge", "guidance", "body", "error", "banner", "notice", "staffDetail"}
)


@functools.cache
def _patterns(lang: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(key, full-match pattern) of every text of ``lang``; fixed texts before templates."""
    table = STRINGS.get(lang) or STRINGS["en"]
    fixed, templated = [], []
    for key, text in table.items():
        if key == "a11y.item":
            continue
        parts = _FIELD.split(text)
        pattern = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        (templated if len(parts) > 1 else fixed).append((key, re.compile(pattern, re.DOTALL)))
    return tuple(fixed + templated)


def utterances_for(text: str, lang: str) -> list[Utterance]:
    """The utterances of one shown text (each line its own)."""
    found: list[Utterance] = []
    for line in (part.strip() for part in text.split("\n")):
        if not line:
            continue
        for key, pattern in _patterns(lang):
            match = pattern.fullmatch(line)
            if match is not None:
                found.append(Utterance(key, match.groupdict()))
                break
        else:
            found.append(Utterance("a11y.item", {"text": line}))
    return found


def control_text(widget: QWidget) -> str:
    """What a control says: a button's text (a choice button's title and subtitle), a list's
    current choice, a tab bar's current tab."""
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QTabBar):
        return widget.tabText(widget.currentIndex())
    if isinstance(widget, QAbstractButton):
        if widget.text():
            return widget.text().removeprefix("✓ ")  # an access bar toggle that is on
        inner = [w.text() for w in widget.findChildren(QLabel) if w.text()]
        return "\n".join(inner) or widget.accessibleName()
    return widget.accessibleName()


def control_utterances(widget: QWidget, lang: str) -> list[Utterance]:
    return utterances_for(control_text(widget), lang)


def info_labels(screen: QWidget) -> list[QLabel]:
    """The screen's labels with words, shown now, in reading order (inside buttons excluded)."""
    shown = [
        w
        for w in screen.findChildren(QLabel)
        if w.objectName() in INFO_LABELS and w.text() and w.isVisibleTo(screen)
    ]
    shown = [w for w in shown if not _inside_button(w)]
    return sorted(shown, key=lambda w: _reading_position(w, screen))


def _inside_button(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractButton):
            return True
        parent = parent.parentWidget()
    return False


def _reading_position(widget: QWidget, screen: QWidget) -> tuple[int, int]:
    point = widget.mapTo(screen, widget.rect().topLeft())
    return (point.y() // 24, point.x())  # same line within 24 px: left to right


def screen_utterances(
    screen: QWidget, controls: Sequence[QWidget], lang: str, extra: Iterable[Utterance] = ()
) -> list[Utterance]:
    """A screen's instruction (its labels) and then its controls, in focus order."""
    said: list[Utterance] = []
    for widget in info_labels(screen):
        said += utterances_for(widget.text(), lang)
    said += list(extra)
    for control in controls:
        said += control_utterances(control, lang)
    return said
