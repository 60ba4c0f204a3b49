"""The fault-injection commands typed at ``lockers board emulate`` (one line each)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lockers.hardware.emulator.emulator import BoardEmulator

COMMANDS_HELP = (
    "jam B C | unjam B C | force B C | offline [B] | online [B] | mute [B] | unmute [B] | "
    "delay SECONDS | corrupt [N] | garbage [N] | unplug | replug | state"
)


def run_command(emulator: BoardEmulator, line: str) -> str:
    """Apply one command to ``emulator``; returns ``"ok"``, the state, the help, or why not.

    B = board address, C = channel, N = reply count (-1 = every reply).
    """
    words = line.split()
    if not words:
        return ""
    name, args = words[0].lower(), words[1:]
    try:
        numbers = [float(a) if name == "delay" else int(a, 0) for a in args]
        if name in ("jam", "unjam", "force") and len(numbers) == 2:
            board, channel = int(numbers[0]), int(numbers[1])
            if name == "force":
                emulator.force_open(board, channel)
            else:
                emulator.jam(board, channel, name == "jam")
        elif name in ("offline", "online", "mute", "unmute") and len(numbers) <= 1:
            board_or_all = int(numbers[0]) if numbers else None
            if name in ("offline", "online"):
                emulator.set_offline(name == "offline", board_or_all)
            else:
                emulator.set_mute(name == "mute", board_or_all)
        elif name == "delay" and len(numbers) == 1:
            emulator.set_reply_delay(numbers[0])
        elif name in ("corrupt", "garbage") and len(numbers) <= 1:
            count = int(numbers[0]) if numbers else 1
            (emulator.corrupt_replies if name == "corrupt" else emulator.garbage_replies)(count)
        elif name in ("unplug", "replug") and not numbers:
            (emulator.unplug if name == "unplug" else emulator.replug)()
        elif name == "state" and not numbers:
            return emulator.describe()
        else:
            return f"commands: {COMMANDS_HELP}"
    except (ValueError, KeyError, IndexError) as exc:
        return f"cannot do {line.strip()!r}: {exc}"
    return "ok"
