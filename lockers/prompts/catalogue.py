"""Which prompts the kiosk's texts are spoken from, and what each prompt says.

A text without ``{fields}`` is one prompt named by its string id. A text with fields is split
at them: its fixed parts are prompts ``<id>#0``, ``<id>#1``… (numbered by their place in the
text; a part with nothing to say, like ``": "``, has no prompt) and each field is spoken from
small shared prompts: numbers (``num.12``, ``num.300``, ``num.point``) and letters
(``letter.a``), so ``Locker {label} is open`` with ``A-12`` plays ``ret.open.title#0``,
``letter.a``, ``num.12``, ``ret.open.title#1``.

Which fields are spoken (:data:`FIELD_KINDS`): numbers and locker labels always; a field whose
value is itself one of the texts (a staff action's name) as that text's prompt; free text
from the config or a person (a place, a staff name, a reason) is not spoken: no prompt can
say it, so those sentences are spoken without it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from enum import StrEnum

from lockers.i18n import LANGUAGES, STRINGS


class FieldKind(StrEnum):
    NUMBER = "number"  # counts, seconds, hours
    LABEL = "label"  # a locker label: letters and digits (A-12, 7, B2-03)
    TEXT = "text"  # the value is another text of STRINGS (a staff action's name)
    UNSPOKEN = "unspoken"  # free text (config, a person): no prompt can say it


FIELD_KINDS: dict[str, FieldKind] = {
    "free": FieldKind.NUMBER,
    "total": FieldKind.NUMBER,
    "n": FieldKind.NUMBER,
    "s": FieldKind.NUMBER,
    "hours": FieldKind.NUMBER,
    "label": FieldKind.LABEL,
    "action": FieldKind.TEXT,
    # a line the screen shows that is not one of its known texts' patterns (the accessibility
    # mode's "{text}" fallback): spoken when it is one of the texts, else not
    "text": FieldKind.TEXT,
    "place": FieldKind.UNSPOKEN,
    "name": FieldKind.UNSPOKEN,
    "reason": FieldKind.UNSPOKEN,
}

KO_DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
KO_LETTERS = [
    "에이",
    "비",
    "씨",
    "디",
    "이",
    "에프",
    "지",
    "에이치",
    "아이",
    "제이",
    "케이",
    "엘",
    "엠",
    "엔",
    "오",
    "피",
    "큐",
    "알",
    "에스",
    "티",
    "유",
    "브이",
    "더블유",
    "엑스",
    "와이",
    "제트",
]
# Letter names written out: espeak-ng reads a lone "A" as the article.
EN_LETTERS = [
    "ay",
    "bee",
    "see",
    "dee",
    "ee",
    "ef",
    "jee",
    "aitch",
    "eye",
    "jay",
    "kay",
    "el",
    "em",
    "en",
    "oh",
    "pee",
    "cue",
    "ar",
    "ess",
    "tee",
    "you",
    "vee",
    "double you",
    "ex",
    "why",
    "zed",
]
# What a part's symbols mean when spoken (a written "s" after seconds, "2/5").
_SPOKEN_SYMBOLS = {
    "en": ((re.compile(r"^\s*s\b"), " seconds"), (re.compile(r"^\s*/\s*$"), " of ")),
    "ko": ((re.compile(r"^\s*/\s*$"), ", 전체 "),),
}
_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_SAYABLE = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class Prompt:
    """One prompt file to build: ``<language>/<name>.wav`` saying ``text`` in ``voice``."""

    language: str
    name: str
    text: str
    voice: str  # espeak-ng voice: the script of the text decides (a "한국어" button in English)


@dataclass(frozen=True)
class Segment:
    """One piece of a text in speaking order: a fixed part's prompt or a field."""

    prompt: str | None = None
    field: str | None = None


def text_of(key: str, language: str) -> str:
    return STRINGS[language].get(key) or STRINGS["en"].get(key, "")


def segments(key: str, language: str) -> list[Segment]:
    """The text of ``key`` as fixed-part prompts and fields, in speaking order."""
    text = text_of(key, language)
    pieces = list(string.Formatter().parse(text))
    if all(field is None for _, field, _, _ in pieces):
        return [Segment(prompt=key)] if spoken_text(text, language) else []
    result: list[Segment] = []
    for index, (literal, field, _, _) in enumerate(pieces):
        if spoken_text(literal, language):
            result.append(Segment(prompt=f"{key}#{index}"))
        if field:
            result.append(Segment(field=field))
    return result


def spoken_text(part: str, language: str) -> str:
    """What a fixed part says aloud ("" when it says nothing: punctuation only)."""
    text = part.replace("`", "")
    for pattern, words in _SPOKEN_SYMBOLS.get(language, ()):
        text = pattern.sub(words, text, count=1)
    return text.strip() if _SAYABLE.search(text) else ""


def voice_for(text: str, language: str) -> str:
    """Hangul is read by the Korean voice, a text without it by the English one."""
    if _HANGUL.search(text):
        return "ko"
    return "en" if text.isascii() else language


def text_prompts(language: str) -> list[Prompt]:
    """The prompts of every text of :data:`STRINGS` in ``language``."""
    prompts: list[Prompt] = []
    for key in STRINGS["en"]:
        text = text_of(key, language)
        pieces = list(string.Formatter().parse(text))
        for segment in segments(key, language):
            if segment.prompt is None:
                continue
            part = text if segment.prompt == key else pieces[_part_index(segment.prompt)][0]
            said = spoken_text(part, language)
            prompts.append(Prompt(language, segment.prompt, said, voice_for(said, language)))
    return prompts


def _part_index(name: str) -> int:
    return int(name.rsplit("#", 1)[1])


NUMBER_NAMES = (
    [str(n) for n in range(100)]
    + [str(h * 100) for h in range(1, 10)]
    + [str(t * 1000) for t in range(1, 10)]
)


def number_words(value: int, language: str) -> str:
    """How one number prompt is written for espeak-ng (Korean: Sino-Korean words, spelled out
    so the reading does not depend on the voice's number rules)."""
    if language != "ko":
        return str(value)
    if value < 10:
        return KO_DIGITS[value]
    for unit, word in ((1000, "천"), (100, "백"), (10, "십")):
        if value >= unit:
            head, rest = divmod(value, unit)
            return (
                ("" if head == 1 else KO_DIGITS[head])
                + word
                + (number_words(rest, language) if rest else "")
            )
    return str(value)  # unreachable for 0..9999


def small_prompts(language: str) -> list[Prompt]:
    """Numbers, the decimal point and letters, for fields."""
    prompts = [
        Prompt(language, f"num.{name}", number_words(int(name), language), language)
        for name in NUMBER_NAMES
    ]
    prompts.append(Prompt(language, "num.point", "점" if language == "ko" else "point", language))
    names = KO_LETTERS if language == "ko" else EN_LETTERS
    prompts += [
        Prompt(language, f"letter.{chr(ord('a') + i)}", said, language)
        for i, said in enumerate(names)
    ]
    return prompts


def catalogue(language: str) -> list[Prompt]:
    """Every prompt of ``language``: the texts' and the small ones for fields."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use {', '.join(LANGUAGES)}")
    return text_prompts(language) + small_prompts(language)
