"""Where the prompts are: a site's recordings first, then the built ones; what is missing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lockers.config import Settings
from lockers.i18n import STRINGS
from lockers.prompts.catalogue import Prompt, catalogue, segments
from lockers.prompts.fields import field_prompts
from lockers.prompts.manifest import Manifest

log = logging.getLogger(__name__)
PROMPTS_SUBDIR = "prompts"


class Saying(Protocol):
    """What to say: :class:`lockers.ui.voice_port.Utterance` (the UI's type, above this
    layer) has this shape."""

    @property
    def key(self) -> str: ...

    @property
    def values(self) -> Mapping[str, object]: ...


def built_dir_of(settings: Settings) -> Path:
    return settings.data_dir / PROMPTS_SUBDIR


@dataclass(frozen=True)
class Completeness:
    """What ``language`` lacks: prompts with no file at all, and built files whose text has
    changed since (``lockers prompts build`` fixes both)."""

    language: str
    total: int
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    site: int = 0  # how many come from the site's recordings

    @property
    def complete(self) -> bool:
        return not self.missing and not self.stale


@dataclass(frozen=True)
class PromptLibrary:
    """The prompt files: ``site_dir/<language>/<name>.wav`` (a site's own recordings, when
    configured) before ``built_dir/<language>/<name>.wav`` (``lockers prompts build``)."""

    built_dir: Path
    site_dir: Path | None = None
    _warned: set[tuple[str, str]] = field(default_factory=set, compare=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptLibrary:
        return cls(built_dir_of(settings), settings.accessibility.prompts_dir)

    def find(self, language: str, name: str) -> Path | None:
        """The file that speaks prompt ``name``, or None."""
        for base in (self.site_dir, self.built_dir):
            if base is not None:
                path = base / language / f"{name}.wav"
                if path.is_file():
                    return path
        return None

    def names(self, key: str, values: Mapping[str, object], language: str) -> list[str]:
        """The prompt names that say text ``key`` with ``values``, in order. A field that
        cannot be spoken (free text, a missing value) is left out, the rest still said."""
        if key not in STRINGS["en"]:
            log.warning("no text %r to speak", key)
            return []
        names: list[str] = []
        for segment in segments(key, language):
            if segment.prompt is not None:
                names.append(segment.prompt)
            elif segment.field is not None:
                said = field_prompts(segment.field, values.get(segment.field), language)
                if said is None:
                    log.debug("field {%s} of %s is not spoken", segment.field, key)
                names += said or []
        return names

    def resolve(self, utterance: Saying, language: str) -> list[Path]:
        """The files to play for ``utterance``; missing prompts are logged and skipped (the
        doctor reports them), the rest still played."""
        files: list[Path] = []
        for name in self.names(utterance.key, utterance.values, language):
            path = self.find(language, name)
            if path is None:
                if (language, name) not in self._warned:  # once, not on every screen
                    self._warned.add((language, name))
                    log.warning("prompt %s/%s missing: `lockers prompts build`", language, name)
            else:
                files.append(path)
        return files

    def completeness(self, language: str) -> Completeness:
        prompts = catalogue(language)
        manifest = Manifest.load(self.built_dir)
        missing: list[str] = []
        stale: list[str] = []
        site = 0
        for prompt in prompts:
            if self._recorded(prompt):
                site += 1
            elif not self.built_file(prompt).is_file():
                missing.append(prompt.name)
            elif not manifest.is_current(prompt):
                stale.append(prompt.name)
        return Completeness(language, len(prompts), missing, stale, site)

    def _recorded(self, prompt: Prompt) -> bool:
        """The site has its own recording of ``prompt``."""
        if self.site_dir is None:
            return False
        return (self.site_dir / prompt.language / f"{prompt.name}.wav").is_file()

    def built_file(self, prompt: Prompt) -> Path:
        return self.built_dir / prompt.language / f"{prompt.name}.wav"
