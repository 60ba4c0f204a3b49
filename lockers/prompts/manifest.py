"""``<data_dir>/prompts/manifest.json``: what each built prompt says, so a changed text (or
voice, or speaking rate) is rebuilt and an unchanged one is kept."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lockers.prompts.catalogue import Prompt

MANIFEST_NAME = "manifest.json"
FORMAT = 1
# espeak-ng's speaking rate (words per minute; its default is 175): a little slower for
# listeners who cannot read along.
ESPEAK_RATE_WPM = 160


def prompt_hash(prompt: Prompt) -> str:
    """What the file says and how: text, voice and rate (a change of any one rebuilds it)."""
    said = f"{FORMAT}\n{prompt.voice}\n{ESPEAK_RATE_WPM}\n{prompt.text}"
    return hashlib.sha256(said.encode("utf-8")).hexdigest()


@dataclass
class Manifest:
    """Per language and prompt name: the hash it was built from, and its length."""

    engine: str = ""
    prompts: dict[str, dict[str, dict[str, object]]] = field(default_factory=dict)

    @classmethod
    def load(cls, built_dir: Path) -> Manifest:
        """The manifest in ``built_dir``; empty when absent or unreadable (all rebuilt)."""
        try:
            data = json.loads((built_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return cls()
        return cls(str(data.get("engine", "")), _well_formed(data.get("prompts")))

    def entry(self, language: str, name: str) -> dict[str, object]:
        return self.prompts.get(language, {}).get(name, {})

    def is_current(self, prompt: Prompt) -> bool:
        return self.entry(prompt.language, prompt.name).get("sha256") == prompt_hash(prompt)

    def record(self, prompt: Prompt, seconds: float) -> None:
        self.prompts.setdefault(prompt.language, {})[prompt.name] = {
            "sha256": prompt_hash(prompt),
            "voice": prompt.voice,
            "seconds": round(seconds, 3),
        }

    def forget(self, language: str, name: str) -> None:
        self.prompts.get(language, {}).pop(name, None)

    def save(self, built_dir: Path) -> None:
        """Written whole, then renamed over the old one (a crash leaves the old one)."""
        built_dir.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "engine": self.engine, "prompts": self.prompts}
        fd, tmp = tempfile.mkstemp(dir=built_dir, prefix=".manifest-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(tmp, built_dir / MANIFEST_NAME)


def _well_formed(prompts: object) -> dict[str, dict[str, dict[str, object]]]:
    """The entries shaped as :meth:`Manifest.record` writes them; anything else (a file edited
    by hand, half of another format) is dropped, so those prompts are rebuilt, never a crash."""
    if not isinstance(prompts, dict):
        return {}
    return {
        str(language): {
            str(name): entry for name, entry in names.items() if isinstance(entry, dict)
        }
        for language, names in prompts.items()
        if isinstance(names, dict)
    }
