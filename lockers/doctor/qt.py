"""Does Qt's platform plugin load here, and which system libraries does it lack?

Qt is never imported in this process (the doctor runs before, and beside, the kiosk): the
plugin's shared-library dependencies are read with ``ldd``, and the plugin is loaded in a
short-lived child Python, whose failure cannot take the doctor down.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from lockers.config import Settings
from lockers.doctor.result import CheckResult, fail, ok, warn

# Libraries Qt opens at run time (dlopen), which ldd cannot see.
RUNTIME_LIBS = {"xcb": ("libxcb-cursor.so.0",)}
# Debian/Ubuntu package of each library a Qt platform plugin needs (names that the rule in
# debian_package() gets wrong, and the common ones, so the hint is exact).
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libgbm.so.1": "libgbm1",
    "libdrm.so.2": "libdrm2",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libinput.so.10": "libinput10",
    "libmtdev.so.1": "libmtdev1",
    "libudev.so.1": "libudev1",
    "libglib-2.0.so.0": "libglib2.0-0",
}
LOAD_TIMEOUT_S = 20.0
_PROBE = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(['lockers-doctor'])\n"
    "print('platform', app.platformName())\n"
)


def debian_package(soname: str) -> str:
    """The Debian package that ships ``soname`` (``libxcb-icccm.so.4`` → ``libxcb-icccm4``)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    match = re.fullmatch(r"(lib[\w.+-]+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if match is None:
        return soname
    stem, major = match.group(1).lower(), match.group(2)
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def missing_libraries(ldd_output: str) -> list[str]:
    """Sonames ``ldd`` reports as ``not found``, each once, in order."""
    found: list[str] = []
    for line in ldd_output.splitlines():
        if "=> not found" in line:
            name = line.split("=>")[0].strip()
            if name not in found:
                found.append(name)
    return found


def apt_line(sonames: list[str]) -> str:
    packages = sorted({debian_package(name) for name in sonames})
    return "sudo apt-get install " + " ".join(packages)


def qt_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def configured_platforms(settings: Settings) -> list[str]:
    """``ui.qt_platform``, else ``QT_QPA_PLATFORM``, else what this session's display suggests
    (X11, Wayland), else ``eglfs`` (the systemd unit's full-screen choice)."""
    chosen = settings.ui.qt_platform or os.environ.get("QT_QPA_PLATFORM", "")
    if chosen:
        return [chosen.split(":")[0]]
    platforms = []
    if os.environ.get("DISPLAY"):
        platforms.append("xcb")
    if os.environ.get("WAYLAND_DISPLAY"):
        platforms.append("wayland")
    return platforms or ["eglfs"]


def check_qt_platform(settings: Settings) -> CheckResult:
    """The configured platform plugin(s): libraries complete and the plugin loads."""
    results = [_check_one(name) for name in configured_platforms(settings)]
    good = [r for r in results if r.status.value == "ok"]
    return good[0] if good else results[0]


# Platforms that draw nowhere a customer sees and need no system libraries to check.
HEADLESS = frozenset({"offscreen", "minimal"})


def platform_to_start(settings: Settings) -> str:
    """The platform Qt will use for the kiosk window: ``QT_QPA_PLATFORM`` once
    :func:`apply_configured_platform` ran, else Qt's own default on Linux (xcb)."""
    return (os.environ.get("QT_QPA_PLATFORM") or settings.ui.qt_platform or "xcb").split(":")[0]


def apply_configured_platform(settings: Settings) -> None:
    """``ui.qt_platform`` (when set) becomes ``QT_QPA_PLATFORM`` for the window about to open."""
    if settings.ui.qt_platform:
        os.environ["QT_QPA_PLATFORM"] = settings.ui.qt_platform


def require_platform_libraries(settings: Settings) -> None:
    """Before the window opens: a missing system library ends with our message and the
    ``apt-get install`` line, not with Qt's abort (milliseconds: ldd only, no Qt).

    Raises:
        DisplayError: the plugin is missing, or lacks system libraries.
    """
    from lockers.errors import DisplayError

    platform = platform_to_start(settings)
    if platform in HEADLESS:
        return
    base = qt_dir()
    plugin = None if base is None else base / "plugins" / "platforms" / f"libq{platform}.so"
    if plugin is None or not plugin.is_file():
        raise DisplayError(
            f"Qt has no platform plugin {platform!r} here",
            hint="set ui.qt_platform (or QT_QPA_PLATFORM) to xcb, wayland or eglfs; "
            "`lockers doctor` lists what loads",
        )
    missing = _missing_for(plugin, platform)
    if missing:
        raise DisplayError(
            f"Qt's {platform} platform plugin cannot start: missing system libraries "
            + ", ".join(missing),
            hint=f"{apt_line(missing)}; then `lockers doctor` checks the rest of the set-up",
        )


def _check_one(platform: str) -> CheckResult:
    name = f"qt.{platform}"
    base = qt_dir()
    if base is None:
        return fail(name, "PySide6 is not installed", "`.venv/bin/pip install -e .`")
    plugin = base / "plugins" / "platforms" / f"libq{platform}.so"
    if not plugin.is_file():
        known = sorted(p.stem[4:] for p in (base / "plugins" / "platforms").glob("libq*.so"))
        return fail(
            name,
            f"no Qt platform plugin {platform!r} in {plugin.parent}",
            f"set ui.qt_platform (or QT_QPA_PLATFORM) to one of: {', '.join(known)}",
        )
    missing = _missing_for(plugin, platform)
    if missing:
        return fail(
            name,
            f"the {platform} plugin lacks system libraries: {', '.join(missing)}",
            apt_line(missing),
        )
    return _load(name, platform)


def _missing_for(plugin: Path, platform: str) -> list[str]:
    missing: list[str] = []
    if shutil.which("ldd") is not None:
        try:
            listing = subprocess.run(
                ["ldd", str(plugin)], capture_output=True, text=True, timeout=20, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            listing = ""
        missing = missing_libraries(listing)
    for soname in RUNTIME_LIBS.get(platform, ()):
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def _load(name: str, platform: str) -> CheckResult:
    env = {**os.environ, "QT_QPA_PLATFORM": platform}
    try:
        child = subprocess.run(
            [sys.executable, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return fail(
            name,
            f"the {platform} plugin did not start within {LOAD_TIMEOUT_S:.0f} s",
            "check the display/GPU driver; try another ui.qt_platform (xcb, wayland, eglfs)",
        )
    if child.returncode == 0 and f"platform {platform}" in child.stdout:
        return ok(name, f"the {platform} platform plugin loads")
    said = list(dict.fromkeys(line.strip() for line in child.stderr.splitlines() if line.strip()))
    # Qt's closing advice ("This application failed to start because...") says nothing new.
    said = [line for line in said if not line.startswith(("This application", "Available"))]
    reason = " / ".join(said[:3])[:400] if said else f"exit code {child.returncode}"
    text = child.stderr.lower()
    if "could not connect to display" in text or "failed to create wl_display" in text:
        return warn(
            name,
            f"libraries complete, but no display to open here ({reason})",
            "run `lockers doctor` in the kiosk's display session (DISPLAY/WAYLAND_DISPLAY set), "
            "or use eglfs for a bare full-screen kiosk (ui.qt_platform: eglfs)",
        )
    return fail(
        name,
        f"the {platform} plugin fails to load: {reason}",
        "read the full message with `QT_DEBUG_PLUGINS=1 lockers demo`; try another "
        "ui.qt_platform (xcb, wayland, eglfs)",
    )
