"""Hangul composition for the on-screen keyboard (2-set / 두벌식 layout), without Qt.

Each key gives one jamo; :class:`HangulComposer` joins them into syllables as a Korean
keyboard does (ㅎ ㅏ ㄴ → 한, a consonant after a final moves on when a vowel follows:
한 + ㅏ → 하나). The Unicode syllable is ``0xAC00 + (initial * 21 + medial) * 28 + final``.
"""

from __future__ import annotations

INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
MEDIALS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
FINALS = " ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"  # index 0: none
COMPOUND_MEDIALS = {
    ("ㅗ", "ㅏ"): "ㅘ",
    ("ㅗ", "ㅐ"): "ㅙ",
    ("ㅗ", "ㅣ"): "ㅚ",
    ("ㅜ", "ㅓ"): "ㅝ",
    ("ㅜ", "ㅔ"): "ㅞ",
    ("ㅜ", "ㅣ"): "ㅟ",
    ("ㅡ", "ㅣ"): "ㅢ",
}
COMPOUND_FINALS = {
    ("ㄱ", "ㅅ"): "ㄳ",
    ("ㄴ", "ㅈ"): "ㄵ",
    ("ㄴ", "ㅎ"): "ㄶ",
    ("ㄹ", "ㄱ"): "ㄺ",
    ("ㄹ", "ㅁ"): "ㄻ",
    ("ㄹ", "ㅂ"): "ㄼ",
    ("ㄹ", "ㅅ"): "ㄽ",
    ("ㄹ", "ㅌ"): "ㄾ",
    ("ㄹ", "ㅍ"): "ㄿ",
    ("ㄹ", "ㅎ"): "ㅀ",
    ("ㅂ", "ㅅ"): "ㅄ",
}
_SPLIT_FINALS = {v: k for k, v in COMPOUND_FINALS.items()}
_SPLIT_MEDIALS = {v: k for k, v in COMPOUND_MEDIALS.items()}


def is_consonant(jamo: str) -> bool:
    return jamo in INITIALS


def is_vowel(jamo: str) -> bool:
    return jamo in MEDIALS


def syllable(initial: str, medial: str, final: str = "") -> str:
    return chr(
        0xAC00
        + (INITIALS.index(initial) * 21 + MEDIALS.index(medial)) * 28
        + (FINALS.index(final) if final else 0)
    )


class HangulComposer:
    """The text so far (``committed``) plus the syllable being typed (``initial`` ...).

    ``text`` is what the field shows; feed jamo with :meth:`press`, other characters with
    :meth:`insert` (they end the syllable), and :meth:`backspace` takes back one jamo.
    """

    def __init__(self, text: str = "") -> None:
        self.committed = text
        self.initial = self.medial = self.final = ""

    @property
    def composing(self) -> str:
        if self.initial and self.medial:
            return syllable(self.initial, self.medial, self.final)
        return self.initial or self.medial

    @property
    def text(self) -> str:
        return self.committed + self.composing

    def commit(self) -> None:
        self.committed += self.composing
        self.initial = self.medial = self.final = ""

    def insert(self, text: str) -> None:
        self.commit()
        self.committed += text

    def press(self, jamo: str) -> None:
        if is_consonant(jamo):
            self._consonant(jamo)
        elif is_vowel(jamo):
            self._vowel(jamo)
        else:
            self.insert(jamo)

    def _consonant(self, jamo: str) -> None:
        if self.initial and self.medial:
            if not self.final and jamo in FINALS:
                self.final = jamo
                return
            compound = COMPOUND_FINALS.get((self.final, jamo))
            if self.final and compound is not None:
                self.final = compound
                return
        self.commit()
        self.initial = jamo

    def _vowel(self, jamo: str) -> None:
        if self.final:
            # The final consonant (or the second half of a compound one) starts a new syllable.
            moved = self.final
            first, second = _SPLIT_FINALS.get(moved, ("", moved))
            self.final = first
            self.commit()
            self.initial, self.medial = second, jamo
            return
        if self.medial:
            compound = COMPOUND_MEDIALS.get((self.medial, jamo))
            if compound is not None:
                self.medial = compound
                return
            self.commit()
            self.medial = jamo
            return
        if self.initial:
            self.medial = jamo
            return
        self.commit()
        self.medial = jamo

    def backspace(self) -> None:
        if self.final:
            self.final = _SPLIT_FINALS.get(self.final, ("", ""))[0]
        elif self.medial and self.initial:
            self.medial = _SPLIT_MEDIALS.get(self.medial, ("", ""))[0]
        elif self.medial or self.initial:
            self.initial = self.medial = ""
        else:
            self.committed = self.committed[:-1]
