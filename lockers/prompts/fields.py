"""A field's value as small prompts: ``12`` → ``num.12``; ``A-12`` → ``letter.a``, ``num.12``."""

from __future__ import annotations

import re

from lockers.i18n import STRINGS
from lockers.prompts.catalogue import FIELD_KINDS, FieldKind, segments

# Numbers up to here are read as numbers ("three hundred twelve"), longer ones digit by digit.
MAX_SPOKEN_NUMBER = 9999
_LABEL_TOKEN = re.compile(r"[A-Za-z]|\d+|[-_./:\s]+|.", re.UNICODE)
_SEPARATOR = re.compile(r"[-_./:\s]+")


def number_prompts(value: int) -> list[str]:
    """``312`` → ``num.300``, ``num.12``; beyond :data:`MAX_SPOKEN_NUMBER`, one digit each."""
    if value < 0 or value > MAX_SPOKEN_NUMBER:
        return [f"num.{digit}" for digit in str(abs(value))]
    if value < 100:
        return [f"num.{value}"]
    unit = 1000 if value >= 1000 else 100
    head, rest = divmod(value, unit)
    return [f"num.{head * unit}"] + (number_prompts(rest) if rest else [])


def digits_prompts(digits: str) -> list[str]:
    """A run of digits: a number, or digit by digit when it has a leading zero ("007")."""
    if len(digits) > 1 and digits.startswith("0"):
        return [f"num.{d}" for d in digits]
    return number_prompts(int(digits))


def decimal_prompts(value: float) -> list[str] | None:
    if value != value or value in (float("inf"), float("-inf")):  # NaN, infinity
        return None
    whole, _, fraction = f"{abs(value):.2f}".rstrip("0").rstrip(".").partition(".")
    names = digits_prompts(whole)
    if fraction:
        names += ["num.point"] + [f"num.{d}" for d in fraction]
    return names


def label_prompts(label: str) -> list[str] | None:
    """Letters one by one, digit runs as numbers, separators silent; None when the label has
    anything else (Hangul, symbols): no small prompt can say it."""
    names: list[str] = []
    for token in _LABEL_TOKEN.findall(label.strip()):
        if token.isascii() and token.isalpha():
            names.append(f"letter.{token.lower()}")
        elif token.isascii() and token.isdigit():
            names += digits_prompts(token)
        elif not _SEPARATOR.fullmatch(token):
            return None
    return names or None


def text_prompt_names(value: str, language: str) -> list[str] | None:
    """A value that is one of the texts (exactly) is spoken as that text's prompts."""
    table = STRINGS.get(language, {})
    for key, text in table.items():
        if text == value and "{" not in text:
            return [s.prompt for s in segments(key, language) if s.prompt]
    return None


def field_prompts(field: str, value: object, language: str) -> list[str] | None:
    """The prompts that say ``value`` of ``field``; None when it cannot be spoken."""
    kind = FIELD_KINDS.get(field, FieldKind.UNSPOKEN)
    if kind is FieldKind.UNSPOKEN or value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return number_prompts(value)
    if isinstance(value, float):
        return decimal_prompts(value)
    text = str(value).strip()
    if kind is FieldKind.TEXT:
        return text_prompt_names(text, language)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        whole, _, fraction = text.partition(".")
        return digits_prompts(whole) + (
            ["num.point"] + [f"num.{d}" for d in fraction] if fraction else []
        )
    return label_prompts(text)
