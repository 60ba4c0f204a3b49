"""The kiosk's spoken prompts: one audio file per text of :mod:`lockers.i18n` and language.

Built by ``lockers prompts build`` (espeak-ng) into ``<data_dir>/prompts``, replaceable by a
site's own recordings (``accessibility.prompts_dir``). No Qt here: the doctor checks the files,
the UI's voice plays them. docs/voice.md describes the whole.
"""

from lockers.prompts.build import BuildReport, build_language, find_espeak
from lockers.prompts.catalogue import FIELD_KINDS, FieldKind, Prompt, catalogue
from lockers.prompts.library import Completeness, PromptLibrary, built_dir_of
from lockers.prompts.wav import Clip, PromptError, read_clip

__all__ = [
    "FIELD_KINDS",
    "BuildReport",
    "Clip",
    "Completeness",
    "FieldKind",
    "Prompt",
    "PromptError",
    "PromptLibrary",
    "build_language",
    "built_dir_of",
    "catalogue",
    "find_espeak",
    "read_clip",
]
