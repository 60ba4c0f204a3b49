"""Checks of the devices: the camera gives frames (size, measured fps), the lock board answers
on every configured board and its door inputs read."""

from __future__ import annotations

import time
from collections import Counter

from lockers.config import Settings
from lockers.config.vision import classify_source
from lockers.doctor.result import CheckResult, fail, ok, warn
from lockers.errors import LockersError

CAMERA_FIX = (
    "check camera.source in the config (`lockers board ports` lists serial ports; "
    "`ls /dev/video*` cameras) and that the kiosk user is in the `video` group"
)


def check_camera(settings: Settings, seconds: float = 2.0) -> CheckResult:
    """Open ``camera.source`` and read frames for ``seconds``: size and measured fps."""
    from lockers.vision.camera import CameraOffline, open_source

    camera = settings.camera
    try:
        source = open_source(camera, realtime=True)
    except LockersError as exc:
        return fail("camera", f"camera {camera.source!r}: {exc.message}", exc.hint or CAMERA_FIX)
    frames = 0
    size = ""
    started = time.monotonic()
    first: float | None = None
    try:
        while time.monotonic() - started < seconds:
            try:
                frame = source.read()
            except CameraOffline as exc:
                return fail("camera", f"camera {camera.source!r} stopped: {exc}", CAMERA_FIX)
            if frame is None:
                break
            if first is None:
                first = time.monotonic()  # opening may take a while: measure from frame 1
            frames += 1
            height, width = frame.image.shape[:2]
            size = f"{width}x{height}"
    except LockersError as exc:
        return fail("camera", f"camera {camera.source!r}: {exc.message}", exc.hint or CAMERA_FIX)
    finally:
        source.close()
    if frames == 0:
        return fail("camera", f"camera {camera.source!r} opened but gave no frame", CAMERA_FIX)
    elapsed = time.monotonic() - (first or started)
    fps = (frames - 1) / elapsed if frames > 1 and elapsed > 0 else 0.0
    detail = f"{source.name}: {size}, {fps:.1f} fps measured over {elapsed:.1f} s"
    if not classify_source(camera.source).is_live:
        return warn(
            "camera", detail + " (a replayed file, not a camera)", "set camera.source to the camera"
        )
    if fps < camera.fps * 0.5:
        return warn(
            "camera",
            detail + f" (configured {camera.fps:g} fps)",
            "lower camera.width/height or camera.fps, or use a USB 3 port / better light",
        )
    return ok("camera", detail)


def check_board(settings: Settings) -> CheckResult:
    """Open the configured bus, poll every board once and read every door input."""
    from lockers.hardware.boards import EMULATOR_PORT, open_board

    config = settings.board
    if not settings.lockers:
        return fail("board", "no lockers configured", "add a `lockers:` list to the config")
    try:
        board = open_board(config, settings.lockers)
    except LockersError as exc:
        return fail("board", f"{config.protocol} on {config.port}: {exc.message}", exc.hint or "")
    try:
        states = board.door_states()
        errors = board.board_errors()
        feedback = board.has_door_feedback
        where = f"{board.protocol} on {config.port}"
    except LockersError as exc:
        return fail("board", f"{config.protocol} on {config.port}: {exc.message}", exc.hint)
    finally:
        board.close()
    silent = {address: why for address, why in errors.items() if why is not None}
    if silent:
        listing = "; ".join(f"board {a}: {why}" for a, why in sorted(silent.items()))
        return fail(
            "board",
            f"{where}: {len(silent)} of {len(errors)} boards do not answer ({listing})",
            "check the board's power, the RS-485/USB wiring and its address (DIP switches) "
            "against `board:` of each locker; `lockers board status` shows each door",
        )
    counts = Counter(state.value for state in states.values())
    doors = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    boards = ", ".join(map(str, sorted(errors)))
    answer = f"boards {boards} answer" if len(errors) > 1 else f"board {boards} answers"
    detail = f"{where}: {answer}; {len(states)} channels, doors: {doors}"
    if config.port == EMULATOR_PORT:
        return warn(
            "board",
            detail + " (the built-in emulator, not a real board)",
            "set board.port to the lock board's serial port (`lockers board ports`)",
        )
    unread = [board.label(a) for a, state in states.items() if state.value == "unknown"]
    if feedback and unread:
        return warn(
            "board",
            detail + f" (lockers {', '.join(unread)}: door input not read)",
            "check those doors' sensor wiring and feedback_invert; `lockers board status` "
            "shows each door",
        )
    if not feedback:
        return warn(
            "board",
            detail + f" ({board.protocol} boards have no door sensors)",
            "unlocks end 'unconfirmed': use a board with door inputs for unattended sites",
        )
    return ok("board", detail)
