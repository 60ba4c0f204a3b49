"""Which prompts each text is spoken from: fixed parts split at the fields, numbers and labels
from small prompts, and a decision for every field of every text."""

from __future__ import annotations

import string

import pytest

from lockers.i18n import LANGUAGES, STRINGS
from lockers.prompts.catalogue import (
    FIELD_KINDS,
    FieldKind,
    catalogue,
    number_words,
    segments,
    spoken_text,
    voice_for,
)
from lockers.prompts.fields import field_prompts, label_prompts, number_prompts


def fields_of(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_field_of_every_text_is_decided() -> None:
    used = {
        field for table in STRINGS.values() for text in table.values() for field in fields_of(text)
    }
    undecided = used - set(FIELD_KINDS)
    assert not undecided, f"add {sorted(undecided)} to lockers.prompts.catalogue.FIELD_KINDS"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_names_are_unique_and_cover_every_text(language: str) -> None:
    names = [p.name for p in catalogue(language)]
    assert len(names) == len(set(names))
    for key in STRINGS["en"]:
        parts = [s.prompt for s in segments(key, language) if s.prompt]
        if not parts:  # a text that is only fields ("{text}"): said by what they hold
            fields = fields_of(STRINGS[language][key])
            assert fields, f"{key} ({language}) has nothing to say"
            assert all(FIELD_KINDS[f] is not FieldKind.UNSPOKEN for f in fields), key
        assert set(parts) <= set(names)
    for prompt in catalogue(language):
        assert prompt.text.strip(), prompt.name


def test_a_text_with_fields_is_split_at_them() -> None:
    en = [(s.prompt, s.field) for s in segments("home.free", "en")]
    assert en == [(None, "free"), ("home.free#1", None), (None, "total"), ("home.free#2", None)]
    ko = [(s.prompt, s.field) for s in segments("ret.open.title", "ko")]
    assert ko == [(None, "label"), ("ret.open.title#1", None)]
    # ": " between two fields says nothing: no prompt for it
    chosen = [(s.prompt, s.field) for s in segments("staff.why_chosen", "en")]
    assert chosen == [
        (None, "action"),
        ("staff.why_chosen#1", None),
        (None, "label"),
        (None, "reason"),
    ]
    assert [s.prompt for s in segments("common.done", "ko")] == ["common.done"]


def test_written_symbols_are_spoken_as_words() -> None:
    assert spoken_text(" s", "en") == "seconds"
    assert spoken_text(" s before trying again.", "en") == "seconds before trying again."
    assert spoken_text("/", "en") == "of"
    assert spoken_text(" / ", "ko") == ", 전체"
    assert spoken_text(": ", "en") == ""
    assert "`" not in spoken_text(STRINGS["en"]["ooo.staff"], "en")


def test_the_script_chooses_the_voice() -> None:
    assert voice_for(STRINGS["en"]["lang.switch"], "en") == "ko"  # "한국어" on the English screen
    assert voice_for(STRINGS["ko"]["lang.switch"], "ko") == "en"  # "English" on the Korean one
    assert voice_for("PIN", "ko") == "en"
    assert voice_for(STRINGS["ko"]["staff.wrong"], "ko") == "ko"


@pytest.mark.parametrize(
    ("value", "names"),
    [
        (0, ["num.0"]),
        (7, ["num.7"]),
        (12, ["num.12"]),
        (100, ["num.100"]),
        (312, ["num.300", "num.12"]),
        (2024, ["num.2000", "num.24"]),
        (9005, ["num.9000", "num.5"]),
        (12345, ["num.1", "num.2", "num.3", "num.4", "num.5"]),
    ],
)
def test_numbers(value: int, names: list[str]) -> None:
    assert number_prompts(value) == names


def test_korean_numbers_are_spelled_sino_korean() -> None:
    assert [number_words(n, "ko") for n in (0, 1, 10, 12, 20, 312, 1000, 2024)] == [
        "영",
        "일",
        "십",
        "십이",
        "이십",
        "삼백십이",
        "천",
        "이천이십사",
    ]
    assert number_words(312, "en") == "312"  # espeak-ng reads digits in English


def test_locker_labels() -> None:
    assert label_prompts("A-12") == ["letter.a", "num.12"]
    assert label_prompts("b2-03") == ["letter.b", "num.2", "num.0", "num.3"]
    assert label_prompts("12") == ["num.12"]
    assert label_prompts("가-1") is None  # Hangul in a label: no small prompt says it
    assert label_prompts("") is None


def test_field_values() -> None:
    assert field_prompts("s", 30, "en") == ["num.30"]
    assert field_prompts("s", 2.5, "en") == ["num.2", "num.point", "num.5"]
    assert field_prompts("s", 3.0, "en") == ["num.3"]
    assert field_prompts("n", "4", "ko") == ["num.4"]
    assert field_prompts("label", "C-7", "ko") == ["letter.c", "num.7"]
    assert field_prompts("label", 7, "ko") == ["num.7"]
    # a staff action's name is itself a text: a prompt that says exactly it
    said = field_prompts("action", STRINGS["ko"]["staff.action.open"], "ko")
    assert said is not None and len(said) == 1
    assert STRINGS["ko"][said[0]] == STRINGS["ko"]["staff.action.open"]
    assert field_prompts("action", "something else", "ko") is None
    assert field_prompts("text", STRINGS["en"]["common.back"], "en") == ["common.back"]
    for unspoken in ("place", "name", "reason"):
        assert FIELD_KINDS[unspoken] is FieldKind.UNSPOKEN
        assert field_prompts(unspoken, "2층 입구", "ko") is None
    assert field_prompts("n", None, "en") is None
    assert field_prompts("n", float("nan"), "en") is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_spoken_value_has_its_small_prompt(language: str) -> None:
    names = {p.name for p in catalogue(language)}
    for value in [*range(0, 1200), *range(1200, 10001, 7), 123456]:
        assert set(number_prompts(value)) <= names, value
    for letter in string.ascii_letters:
        assert set(label_prompts(f"{letter}-1") or []) <= names
