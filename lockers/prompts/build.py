"""``lockers prompts build``: every prompt of a language as a WAV file, spoken by espeak-ng.

Only prompts whose text (voice, rate) changed since the manifest was written are built again;
files of prompts that no longer exist are removed. Each file is written beside its final name
and renamed over it, so a kiosk playing prompts meanwhile never reads half a file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lockers.prompts.catalogue import Prompt, catalogue
from lockers.prompts.manifest import ESPEAK_RATE_WPM, Manifest
from lockers.prompts.wav import PromptError, read_clip, trim_silence, write_clip

ESPEAK = "espeak-ng"
INSTALL_HINT = (
    "install it: `sudo apt-get install espeak-ng` (Debian/Ubuntu; it brings the Korean and "
    "English voices)"
)
SYNTH_TIMEOUT_S = 30.0


@dataclass
class BuildReport:
    language: str
    built: list[str] = field(default_factory=list)
    kept: int = 0
    removed: list[str] = field(default_factory=list)


def find_espeak() -> str:
    """The espeak-ng program.

    Raises:
        PromptError: it is not installed.
    """
    program = shutil.which(ESPEAK)
    if program is None:
        raise PromptError("espeak-ng is not installed: it speaks the built prompts", INSTALL_HINT)
    return program


def espeak_version(program: str) -> str:
    try:
        said = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ESPEAK
    return " ".join(said.split()[:5]).rstrip(":") or ESPEAK


def synthesise(program: str, prompt: Prompt, path: Path) -> float:
    """Speak ``prompt`` into ``path`` (silence trimmed); its length in seconds.

    Raises:
        PromptError: espeak-ng failed (the voice is missing, the text was refused).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".build-", suffix=".wav")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        command = [program, "-v", prompt.voice, "-s", str(ESPEAK_RATE_WPM), "-w", str(tmp)]
        try:
            done = subprocess.run(
                [*command, "--stdin"],
                input=prompt.text.encode("utf-8"),
                capture_output=True,
                timeout=SYNTH_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PromptError(
                f"espeak-ng could not speak {prompt.name}: {exc}", INSTALL_HINT
            ) from exc
        said = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0:
            raise PromptError(
                f"espeak-ng failed on {prompt.language}/{prompt.name} (voice {prompt.voice}): "
                f"{said or f'exit code {done.returncode}'}",
                f"check that `espeak-ng --voices={prompt.voice}` lists the voice; "
                "reinstall espeak-ng-data",
            )
        clip = trim_silence(read_clip(tmp))
        write_clip(tmp, clip)
        os.replace(tmp, path)
        return clip.seconds
    finally:
        tmp.unlink(missing_ok=True)


def build_language(
    built_dir: Path,
    language: str,
    *,
    force: bool = False,
    jobs: int = 2,
    on_built: Callable[[Prompt], None] | None = None,
) -> BuildReport:
    """Build what is missing or changed for ``language`` into ``built_dir/<language>``.

    Raises:
        PromptError: espeak-ng is missing or failed (files built so far are kept, and
            recorded, so the next run resumes).
    """
    program = find_espeak()
    manifest = Manifest.load(built_dir)
    manifest.engine = espeak_version(program)
    report = BuildReport(language)
    prompts = catalogue(language)
    todo = [
        p
        for p in prompts
        if force
        or not manifest.is_current(p)
        or not (built_dir / language / f"{p.name}.wav").is_file()
    ]
    report.kept = len(prompts) - len(todo)
    try:
        _synthesise_all(program, built_dir, todo, jobs, manifest, report, on_built)
    finally:
        report.removed = _remove_stale(built_dir, language, {p.name for p in prompts}, manifest)
        manifest.save(built_dir)
    return report


def _synthesise_all(
    program: str,
    built_dir: Path,
    todo: list[Prompt],
    jobs: int,
    manifest: Manifest,
    report: BuildReport,
    on_built: Callable[[Prompt], None] | None,
) -> None:
    def one(prompt: Prompt) -> tuple[Prompt, float]:
        return prompt, synthesise(
            program, prompt, built_dir / prompt.language / f"{prompt.name}.wav"
        )

    # espeak-ng is one short process per prompt: a few in parallel keep the cores busy.
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for prompt, seconds in pool.map(one, todo):
            manifest.record(prompt, seconds)
            report.built.append(prompt.name)
            if on_built is not None:
                on_built(prompt)


def _remove_stale(
    built_dir: Path, language: str, current: Iterable[str], manifest: Manifest
) -> list[str]:
    """Built files of prompts that no longer exist (a text removed or re-split)."""
    keep = set(current)
    removed: list[str] = []
    folder = built_dir / language
    for path in sorted(folder.glob("*.wav")) if folder.is_dir() else []:
        if path.stem not in keep:
            path.unlink(missing_ok=True)
            manifest.forget(language, path.stem)
            removed.append(path.stem)
    return removed
