"""Faults the harness injects: board faults through the emulator, a PostgreSQL restart of the
harness's own throw-away server, and a full disk under the SQLite file (a small tmpfs)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

from lockers.errors import LockersError
from lockers.hardware.emulator import BoardEmulator

BOARD_FAULTS = ("silence", "late", "bad_crc", "garbage", "jammed", "forced", "mute", "unplug")


class BoardFault:
    """One board fault on one kiosk's emulator for the length of one op."""

    def __init__(
        self,
        emulator: BoardEmulator,
        kind: str,
        rng: random.Random,
        *,
        target: tuple[int, int],
        reply_timeout_s: float,
    ) -> None:
        self.emulator, self.kind = emulator, kind
        self._rng = rng
        self._board, self._channel = target
        self._reply_timeout_s = reply_timeout_s
        self._timer: threading.Timer | None = None

    def apply(self) -> None:
        emu, rng = self.emulator, self._rng
        if self.kind == "silence":
            emu.set_offline(True)
        elif self.kind == "late":
            emu.set_reply_delay(self._reply_timeout_s * rng.uniform(0.5, 2.0))
        elif self.kind == "bad_crc":
            emu.corrupt_replies(rng.randint(1, 3))
        elif self.kind == "garbage":
            emu.garbage_replies(rng.randint(1, 3))
        elif self.kind == "jammed":
            emu.jam(self._board, self._channel)
        elif self.kind == "forced":
            self._later(rng.uniform(0.0, 0.1), lambda: emu.force_open(self._board, self._channel))
        elif self.kind == "mute":
            emu.set_mute(True)
        elif self.kind == "unplug":
            emu.unplug()
            self._later(rng.uniform(0.0, 0.3), emu.replug)
        else:
            raise ValueError(f"unknown board fault {self.kind!r}")

    def _later(self, delay_s: float, action: object) -> None:
        self._timer = threading.Timer(delay_s, action)  # type: ignore[arg-type]
        self._timer.start()

    def clear(self) -> None:
        if self._timer is not None:
            self._timer.join()
        emu = self.emulator
        emu.set_offline(False)
        emu.set_mute(False)
        emu.set_reply_delay(0.0)
        emu.corrupt_replies(0)
        emu.garbage_replies(0)
        for board in emu.boards.values():
            for channel, lock in enumerate(board.locks, 1):
                if lock.jammed:
                    emu.jam(board.address, channel, False)
        if self.kind == "unplug":
            emu.replug()


class OwnPostgres:
    """A throw-away PostgreSQL server (``scripts/ci/start-postgres.sh``) that the harness may
    restart; never a server someone else uses."""

    def __init__(self, script: Path) -> None:
        if not script.is_file():
            raise LockersError(
                f"{script} is missing: the harness starts its own PostgreSQL with it",
                hint="run from a source checkout, or give --database-url (no restarts then)",
            )
        done = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            raise LockersError(
                "could not start a throw-away PostgreSQL server: "
                + (done.stderr.strip().splitlines() or ["no output"])[-1],
                hint="install PostgreSQL (apt-get install postgresql) or give --database-url",
            )
        values = dict(word.split("=", 1) for word in done.stdout.split() if "=" in word)
        self.url = values["LOCKERS_TEST_POSTGRES_URL"]
        self.base = Path(values["LOCKERS_TEST_PG_DIR"])
        self._pg_ctl = _find_pg_ctl()

    def _ctl(self, *args: str) -> None:
        command = [self._pg_ctl, "-D", str(self.base / "data"), *args]
        if os.geteuid() == 0:
            command = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(command)]
        # The server must not inherit a pipe of ours, or waiting for its end never returns.
        subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
            check=True,
        )

    def restart(self) -> None:
        """Fast shutdown (every connection dropped) and start again; waits until it accepts."""
        self._ctl("-m", "fast", "-w", "-t", "60", "-l", str(self.base / "server.log"), "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._ctl("-m", "fast", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


def _find_pg_ctl() -> str:
    found = shutil.which("pg_ctl")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), reverse=True):
        return str(candidate)
    raise LockersError("pg_ctl not found", hint="install PostgreSQL")


class SmallDisk:
    """A tmpfs of ``size_mb`` mounted at ``path`` (root only) that can be filled up."""

    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise OSError(done.stderr.strip() or "mount failed")
        self._filler = path / "filler"

    @staticmethod
    def why_not() -> str | None:
        """Why a full disk cannot be simulated here (``None``: it can)."""
        if os.geteuid() != 0:
            return "not root: a tmpfs cannot be mounted, so the full-disk fault is skipped"
        if shutil.which("mount") is None:
            return "no mount command: the full-disk fault is skipped"
        return None

    def fill(self) -> None:
        """Write until ENOSPC (the database keeps whatever it had already allocated)."""
        chunk = b"\0" * (1 << 20)
        with contextlib.suppress(OSError), self._filler.open("ab") as out:
            while True:
                out.write(chunk)
                out.flush()
        with contextlib.suppress(OSError), self._filler.open("ab") as out:
            while True:  # the last few KB, so even a small page write fails
                out.write(b"\0" * 4096)
                out.flush()

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)

    def copy_database_to(self, folder: Path) -> None:
        """Keep the SQLite file (and its log) before the disk goes away."""
        self.free()
        for path in self.path.glob("lockers.db*"):
            shutil.copy2(path, folder / path.name)

    def unmount(self) -> None:
        self.free()
        for _ in range(20):
            done = subprocess.run(["umount", str(self.path)], capture_output=True, check=False)
            if done.returncode == 0:
                return
            time.sleep(0.2)
