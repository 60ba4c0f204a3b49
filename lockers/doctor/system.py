"""Checks of the machine itself: Python and packages, the kiosk user's groups, a Hangul font,
disk space for the database, and the clock (rental expiry depends on it)."""

from __future__ import annotations

import contextlib
import grp
import importlib.metadata as metadata
import os
import pwd
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from lockers.config import Settings
from lockers.doctor.result import CheckResult, fail, ok, warn

MIN_PYTHON = (3, 11)
# The systemd unit runs the kiosk as this user (scripts/systemd/lockers-kiosk.service).
KIOSK_USER = "lockers"
KIOSK_GROUPS = ("dialout", "video")  # serial port of the lock board, the camera
DISK_FAIL_BYTES = 200 * 2**20
DISK_WARN_BYTES = 1 * 2**30
# No build of this code ran before this date: a clock behind it was never set.
EARLIEST_PLAUSIBLE = datetime(2026, 1, 1, tzinfo=UTC)
# Packages that break the kiosk when installed next to ours.
CONFLICTING = {
    "opencv-python": "it ships its own Qt plugins, which clash with PySide6's",
    "PySide6": "the full PySide6 next to PySide6-Essentials: two copies of Qt",
}


def check_python() -> CheckResult:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return fail(
            "python",
            f"Python {version} at {sys.executable}",
            "install Python 3.11 or newer and recreate the venv (scripts/setup-venv.sh)",
        )
    return ok("python", f"Python {version} at {sys.executable}")


def check_packages() -> CheckResult:
    """Every requirement of the installed ``lockers`` distribution is met."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return warn(
            "packages", "cannot compare versions (packaging missing)", "pip install packaging"
        )
    try:
        requirements = metadata.requires("lockers") or []
    except metadata.PackageNotFoundError:
        return warn(
            "packages",
            "lockers is not installed as a package (running from a source tree)",
            "pip install -e . in the venv (scripts/setup-venv.sh does)",
        )
    problems: list[str] = []
    seen: list[str] = []
    for line in requirements:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # optional extras (postgres, test)
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} missing (needs {req.specifier or 'any'})")
            continue
        if req.specifier and not req.specifier.contains(installed, prereleases=True):
            problems.append(f"{req.name} {installed} (needs {req.specifier})")
        seen.append(f"{req.name} {installed}")
    for name, why in CONFLICTING.items():
        with contextlib.suppress(metadata.PackageNotFoundError):
            problems.append(f"{name} {metadata.version(name)} is installed: {why}")
    if problems:
        return fail(
            "packages",
            "; ".join(problems),
            "reinstall into the venv: `.venv/bin/pip install -e .` (uninstall conflicting "
            "packages with `.venv/bin/pip uninstall NAME`)",
        )
    key = [s for s in seen if s.split()[0] in ("torch", "facenet-pytorch", "PySide6-Essentials")]
    return ok("packages", f"{len(seen)} requirements met ({', '.join(key)})")


def check_hangul_font(settings: Settings) -> CheckResult:
    """The screens switch to Korean with one tap, so a Hangul font is always needed; without
    one Korean text shows as boxes. Missing is a fail when Korean is the start language."""
    families = _hangul_fonts()
    if families is None:
        return warn(
            "font.hangul",
            "fc-list is not installed: cannot tell which fonts Qt finds",
            "sudo apt-get install fontconfig fonts-nanum",
        )
    if families:
        return ok("font.hangul", f"Hangul font: {sorted(families)[0]}")
    detail = f"no font with Hangul (ui.language is {settings.ui.language})"
    fix = "sudo apt-get install fonts-nanum (or fonts-noto-cjk), then restart the kiosk"
    if settings.ui.language == "ko":
        return fail("font.hangul", detail, fix)
    return warn("font.hangul", detail + "; the Korean screens will show boxes", fix)


def _hangul_fonts() -> set[str] | None:
    if shutil.which("fc-list") is None:
        return None
    try:
        listing = subprocess.run(
            ["fc-list", ":lang=ko", "family"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {line.split(",")[0].strip() for line in listing.splitlines() if line.strip()}


def check_kiosk_user() -> CheckResult:
    """The kiosk user (``lockers`` when it exists, else whoever runs this) can reach the lock
    board's serial port (``dialout``) and the camera (``video``)."""
    try:
        user = pwd.getpwnam(KIOSK_USER)
    except KeyError:
        user = pwd.getpwuid(os.getuid())
    if user.pw_uid == 0:
        return warn(
            "user.groups",
            "running as root: devices are reachable, but the kiosk should not run as root",
            "install scripts/systemd (creates the `lockers` user in dialout, video); run "
            "`lockers doctor` as that user: `sudo -u lockers lockers doctor`",
        )
    groups = {g.gr_name for g in grp.getgrall() if user.pw_name in g.gr_mem}
    with contextlib.suppress(KeyError):
        groups.add(grp.getgrgid(user.pw_gid).gr_name)
    missing = [g for g in KIOSK_GROUPS if g not in groups]
    if missing:
        return fail(
            "user.groups",
            f"user {user.pw_name} is not in {', '.join(missing)}",
            f"sudo usermod -aG {','.join(missing)} {user.pw_name} (then log in again or "
            "restart the service)",
        )
    return ok("user.groups", f"user {user.pw_name} in {', '.join(KIOSK_GROUPS)}")


def check_disk(settings: Settings) -> CheckResult:
    if settings.database.url and not settings.database.url.startswith("sqlite"):
        return ok("disk", "database on a server: no local database file")
    where = _existing_parent(settings.data_dir)
    usage = shutil.disk_usage(where)
    free = f"{usage.free / 2**30:.1f} GiB free on {where}"
    if usage.free < DISK_FAIL_BYTES:
        return fail(
            "disk",
            free,
            "free space on that disk (a full disk stops every rental being recorded), or move "
            "data_dir to a larger one",
        )
    if usage.free < DISK_WARN_BYTES:
        return warn("disk", free, "free space soon: below 200 MiB the kiosk stops serving")
    return ok("disk", free)


def _existing_parent(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_clock(newest_record: datetime | None, now: datetime | None = None) -> CheckResult:
    """The clock is plausible, not behind the newest database record, and synchronised.

    ``newest_record``: the latest timestamp the database holds (audit log), when reachable.
    """
    now = now or datetime.now(UTC)
    stamp = f"{now:%Y-%m-%d %H:%M:%S} UTC"
    fix_time = (
        "set the time: `sudo timedatectl set-ntp true` (or `sudo date -s ...`); rentals "
        "expire by this clock"
    )
    if now < EARLIEST_PLAUSIBLE:
        return fail("clock", f"the clock says {stamp}: it was never set", fix_time)
    if newest_record is not None and newest_record.timestamp() > now.timestamp() + 300:
        return fail(
            "clock",
            f"the clock says {stamp} but the database has a record from "
            f"{newest_record:%Y-%m-%d %H:%M:%S} UTC: the clock went back",
            fix_time,
        )
    synced = _ntp_synchronised()
    if synced is False:
        return warn("clock", f"{stamp}, not synchronised (NTP)", "sudo timedatectl set-ntp true")
    if synced is None:
        return warn(
            "clock",
            f"{stamp}; cannot tell whether it is synchronised (no systemd-timesyncd)",
            "enable time sync: `sudo timedatectl set-ntp true` (or run chrony/ntpd)",
        )
    return ok("clock", f"{stamp}, synchronised")


def _ntp_synchronised() -> bool | None:
    if Path("/run/systemd/timesync/synchronized").exists():
        return True
    if shutil.which("timedatectl") is None:
        return None
    try:
        result = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = result.stdout.strip()
    return {"yes": True, "no": False}.get(value) if result.returncode == 0 else None
