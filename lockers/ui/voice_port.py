"""What the screens ask of the kiosk's voice: speak these texts now, in this language.

The screens name what they show by the string ids of :mod:`lockers.i18n` (with the values of
their ``{fields}``); the voice turns them into prompt files and plays them without blocking the
UI. A new ``say`` interrupts whatever is still playing: the screen changed, the old words are
stale. Implementations: the audio player of :mod:`lockers.ui.voice` and, below, a silent one
and one that writes a transcript (the demo's ``spoken: <id> (<language>)`` lines, and tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Utterance:
    """One text of :data:`lockers.i18n.STRINGS` and the values of its ``{fields}``."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)


class Voice(Protocol):
    """Speaks for the screens. Called on the UI thread; never blocks it."""

    def say(self, utterances: Sequence[Utterance], language: str) -> None:
        """Stop what is playing and speak ``utterances`` in order."""
        ...

    def repeat(self) -> None:
        """Speak the last ``say`` again from its start (the "repeat" key)."""
        ...

    def change_volume(self, steps: int) -> None:
        """Louder (positive) or quieter (negative) by ``accessibility.volume_step_percent``."""
        ...

    def stop(self) -> None:
        """Silence now (accessibility mode ended, the kiosk is closing)."""
        ...


class SilentVoice:
    """No voice: accessibility mode without audio, or voice turned off in the config."""

    def say(self, utterances: Sequence[Utterance], language: str) -> None:
        del utterances, language

    def repeat(self) -> None:
        return None

    def change_volume(self, steps: int) -> None:
        del steps

    def stop(self) -> None:
        return None


class TranscriptVoice:
    """Writes what would be spoken, one ``spoken: <id> (<language>)`` line per utterance."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._last: tuple[tuple[Utterance, ...], str] = ((), "")
        self.spoken: list[tuple[str, str]] = []  # (key, language), in order

    def say(self, utterances: Sequence[Utterance], language: str) -> None:
        self._last = (tuple(utterances), language)
        for utterance in utterances:
            self.spoken.append((utterance.key, language))
            self._write(f"spoken: {utterance.key} ({language})")

    def repeat(self) -> None:
        utterances, language = self._last
        if utterances:
            self.say(utterances, language)

    def change_volume(self, steps: int) -> None:
        del steps

    def stop(self) -> None:
        return None
