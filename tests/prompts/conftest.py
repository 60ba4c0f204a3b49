"""Prompts built once per test session with the real espeak-ng (a few seconds for both
languages), into the session's temporary directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lockers.i18n import LANGUAGES
from lockers.prompts import PromptLibrary, build_language

NO_ESPEAK = "espeak-ng is not installed (.ci/run installs it: apt-get install espeak-ng)"


@pytest.fixture(scope="session")
def built_prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<data_dir>/prompts`` with every prompt of both languages; treat as read-only."""
    if shutil.which("espeak-ng") is None:
        pytest.skip(NO_ESPEAK)
    built = tmp_path_factory.mktemp("data") / "prompts"
    for language in LANGUAGES:
        build_language(built, language)
    return built


@pytest.fixture
def library(built_prompts: Path) -> PromptLibrary:
    return PromptLibrary(built_prompts)
