"""Can the kiosk speak? An audio output for the voice guidance, and its prompts complete.

Qt is never imported here (as in :mod:`lockers.doctor.qt`): the audio outputs are listed by
Qt Multimedia in a short-lived child Python. Both checks warn rather than fail: without a
voice the kiosk still serves everyone who can see the screen, so it stays in service, but
a site under the barrier-free kiosk rules must fix them.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import os
import subprocess
import sys

from lockers.config import Settings
from lockers.doctor.result import CheckResult, ok, warn
from lockers.i18n import LANGUAGES
from lockers.prompts import PromptLibrary

PROBE_TIMEOUT_S = 20.0
_PROBE = (
    "from PySide6.QtCore import QCoreApplication\n"
    "from PySide6.QtMultimedia import QMediaDevices\n"
    "app = QCoreApplication(['lockers-doctor'])\n"
    "device = QMediaDevices.defaultAudioOutput()\n"
    "print('outputs', len(QMediaDevices.audioOutputs()))\n"
    "print('default', '' if device.isNull() else device.description())\n"
)
SILENT = "the kiosk will be silent in accessibility mode (no voice guidance)"
AUDIO_FIX = (
    "connect the loudspeaker or the earphone jack's amplifier; run the doctor as the kiosk "
    "user in its session (the sound server is per user): `pactl info` and "
    "`pactl list sinks short` must show an output; the user needs the `audio` group"
)


def addons_problem() -> str | None:
    """Why Qt Multimedia cannot load, or None: PySide6-Addons missing or of another version
    than PySide6-Essentials (their Qt libraries must match)."""
    if importlib.util.find_spec("PySide6") is None:
        return "PySide6 is not installed"
    try:
        addons = metadata.version("PySide6-Addons")
    except metadata.PackageNotFoundError:
        return "Qt Multimedia (PySide6-Addons) is not installed"
    try:
        essentials = metadata.version("PySide6-Essentials")
    except metadata.PackageNotFoundError:
        return None  # the full PySide6 wheel: the system check reports that one
    if addons != essentials:
        return f"PySide6-Addons {addons} does not match PySide6-Essentials {essentials}"
    return None


def check_audio_output(settings: Settings) -> CheckResult:
    """An audio output that Qt Multimedia sees (the one the kiosk's voice will play on)."""
    if not settings.accessibility.voice:
        return ok("audio", "voice guidance is off (accessibility.voice: false)")
    problem = addons_problem()
    if problem is not None:
        version = _essentials_version()
        return warn(
            "audio",
            f"{problem}: {SILENT}",
            f"`.venv/bin/pip install PySide6-Addons=={version}` (scripts/setup-venv.sh does)",
        )
    try:
        child = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        return warn("audio", f"listing audio outputs took over {PROBE_TIMEOUT_S:.0f} s", AUDIO_FIX)
    lines = dict(line.split(" ", 1) for line in child.stdout.splitlines() if " " in line)
    default = lines.get("default", "").strip()
    if child.returncode != 0 or "outputs" not in lines:
        said = " / ".join(_qt_lines(child.stderr)[:3]) or f"exit code {child.returncode}"
        return warn("audio", f"Qt Multimedia failed to start ({said}): {SILENT}", AUDIO_FIX)
    if not default:
        said = "; ".join(_qt_lines(child.stderr)[:2])
        seen = f" ({said})" if said else ""
        return warn("audio", f"no audio output device{seen}: {SILENT}", AUDIO_FIX)
    count = lines["outputs"].strip()
    return ok("audio", f"voice guidance plays on {default!r} ({count} output(s) found)")


def _qt_lines(stderr: str) -> list[str]:
    """Qt's own words, without its plugin chatter (pipewire not found, FFmpeg version)."""
    noise = ("qt.multimedia.symbolsresolver", "qt.multimedia.ffmpeg")
    lines = (line.strip() for line in stderr.splitlines())
    return list(dict.fromkeys(line for line in lines if line and not line.startswith(noise)))


def _essentials_version() -> str:
    try:
        return metadata.version("PySide6-Essentials")
    except metadata.PackageNotFoundError:
        return "<the PySide6-Essentials version>"


def check_prompts(settings: Settings) -> CheckResult:
    """Every prompt of ``ui.language`` present and built from the current texts (the other
    language too, as the customer may switch: that one only noted)."""
    language = settings.ui.language
    library = PromptLibrary.from_settings(settings)
    found = library.completeness(language)
    site = f", {found.site} from the site's recordings" if found.site else ""
    others = [lang for lang in LANGUAGES if lang != language]
    other_gaps = [lang for lang in others if not library.completeness(lang).complete]
    also = (
        f"; the {', '.join(other_gaps)} prompts are incomplete too (the language button): "
        f"`lockers prompts build`"
        if other_gaps
        else ""
    )
    if found.complete:
        detail = f"all {found.total} {language} prompts present{site}"
        if other_gaps:
            return warn("prompts", detail + also, "lockers prompts build")
        return ok("prompts", detail)
    what = []
    if found.missing:
        what.append(f"{len(found.missing)} missing (e.g. {', '.join(found.missing[:3])})")
    if found.stale:
        what.append(f"{len(found.stale)} outdated: their text changed")
    return warn(
        "prompts",
        f"{language} prompts of {found.total}: " + "; ".join(what) + site,
        f"lockers prompts build --language {language}"
        + ("" if not other_gaps else " (or `lockers prompts build` for both languages)"),
    )
