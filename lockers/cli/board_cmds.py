"""``lockers board ...``: lock-board ports, open, status, test, emulate."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state
from lockers.errors import ConfigError

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.hardware import UnlockOutcome
    from lockers.hardware.boards import SerialBoard
    from lockers.hardware.emulator import BoardEmulator

PROTOCOLS = ("lcus", "modbus", "kerong", "xor")
_PORT_HELP = "serial port or pyserial URL (default: board.port in config.yaml; 'emulator')"
_PROTOCOL_HELP = "lcus | modbus | kerong | xor (default: board.protocol in config.yaml)"


def _check_protocol(protocol: str | None) -> str | None:
    if protocol is not None and protocol not in PROTOCOLS:
        raise typer.BadParameter(f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
    return protocol


def _open(ctx: typer.Context, port: str | None, protocol: str | None) -> SerialBoard:
    from lockers.hardware.boards import open_board

    settings = state(ctx).settings()
    if not settings.lockers:
        raise ConfigError(
            "no lockers are configured",
            hint="add a 'lockers:' list (label, board, channel) to config.yaml",
        )
    if protocol is not None and protocol != settings.board.protocol:
        _check_addresses_for(protocol, settings)
    return open_board(settings.board, settings.lockers, port=port, protocol=protocol)


# What a board of each protocol answers to (also written near ``board:`` in config.yaml).
ADDRESS_NOTES = {
    "lcus": "board 0 only (an LCUS module has no bus address: one module per port)",
    "modbus": "boards 1-247 (the Modbus slave address; Waveshare default 1, 0 is broadcast)",
    "kerong": "boards 0-15 (the DIP switches; KR-CU16 default 0)",
    "xor": "boards 1-31 (the DIP switches)",
}


def _check_addresses_for(protocol: str, settings: Settings) -> None:
    """``--protocol`` other than the configured one: the lockers' ``board`` numbers were set for
    the configured protocol. Say which key to change instead of the driver's generic refusal."""
    from lockers.hardware.boards import DRIVERS

    low, high = DRIVERS[protocol].board_range
    wrong = [locker for locker in settings.lockers if not low <= locker.board <= high]
    if not wrong:
        return
    boards = ", ".join(sorted({str(locker.board) for locker in wrong}))
    example = wrong[0]
    raise ConfigError(
        f"--protocol {protocol}: the lockers in the config are wired for "
        f"{settings.board.protocol} (board {boards}); {protocol} expects "
        f"{ADDRESS_NOTES[protocol]}",
        hint=f"set `board: <address>` on each entry of `lockers:` in the config (e.g. "
        f'{{label: "{example.label}", board: {low}, '
        f"channel: {example.channel}}}) and `board.protocol: {protocol}`; then run "
        "`lockers db sync-lockers`",
    )


def _outcome_style(outcome: str) -> str:
    return {"opened": "green", "closed": "green", "open": "yellow"}.get(outcome, "red")


def _counts_as_open(board: SerialBoard, outcome: UnlockOutcome) -> bool:
    """Opened, or "pulse sent" on a board that cannot see its doors (LCUS)."""
    from lockers.hardware import UnlockOutcome

    if outcome is UnlockOutcome.OPENED:
        return True
    return outcome is UnlockOutcome.UNCONFIRMED and not board.has_door_feedback


def register(app: typer.Typer) -> None:
    """Add the ``board`` command group to the root app."""
    board_app = typer.Typer(
        help="Lock boards: list ports, open a locker, read door states, test, emulate.",
        no_args_is_help=True,
    )
    app.add_typer(board_app, name="board")

    @board_app.command("ports")
    def ports() -> None:
        """List serial ports with their USB ids."""
        from lockers.hardware.ports import list_serial_ports

        console = Console(highlight=False, soft_wrap=True)
        found = list_serial_ports()
        if not found:
            console.print("no serial ports found")
            console.print(
                "hint: plug the USB adapter in (`dmesg | tail` shows it), or try the board "
                "emulator: `lockers board emulate`"
            )
            return
        table = Table("port", "USB id", "description", "likely", "stable path")
        for port in found:
            table.add_row(
                port.device, port.usb_id, port.description, port.known_as, port.by_id or ""
            )
        console.print(table)

    @board_app.command("open")
    def open_locker(
        ctx: typer.Context,
        label: str = typer.Argument(..., help="the locker's label (as on the door)"),
        port: str | None = typer.Option(None, "--port", help=_PORT_HELP),
        protocol: str | None = typer.Option(
            None, "--protocol", help=_PROTOCOL_HELP, callback=_check_protocol
        ),
    ) -> None:
        """Open one locker and report whether its door opened."""
        settings = state(ctx).settings()
        locker = next((x for x in settings.lockers if x.label == label), None)
        if locker is None:
            labels = ", ".join(x.label for x in settings.lockers) or "none configured"
            raise ConfigError(f"no locker is labelled {label!r}", hint=f"labels: {labels}")
        from lockers.hardware import LockAddress

        console = Console(highlight=False, soft_wrap=True)
        with _open(ctx, port, protocol) as board:
            result = board.unlock(LockAddress(locker.board, locker.channel))
            style = _outcome_style(result.outcome.value)
            console.print(
                f"locker {label} (board {locker.board} channel {locker.channel}): "
                f"[{style}]{result.outcome.value}[/] - {result.detail}"
            )
            ok = _counts_as_open(board, result.outcome)
        if not ok:
            raise typer.Exit(1)

    @board_app.command("status")
    def status(
        ctx: typer.Context,
        port: str | None = typer.Option(None, "--port", help=_PORT_HELP),
        protocol: str | None = typer.Option(
            None, "--protocol", help=_PROTOCOL_HELP, callback=_check_protocol
        ),
    ) -> None:
        """Read the door feedback of every configured locker."""
        console = Console(highlight=False, soft_wrap=True)
        with _open(ctx, port, protocol) as board:
            states = board.door_states()
            errors = board.board_errors()
            table = Table("locker", "board", "channel", "door")
            for address, door in states.items():
                style = _outcome_style(door.value)
                table.add_row(
                    board.label(address),
                    str(address.board),
                    str(address.channel),
                    f"[{style}]{door.value}[/]",
                )
            console.print(f"{board.protocol} on {board.port}")
            console.print(table)
            for number, error in sorted(errors.items()):
                if error:
                    console.print(f"[red]board {number}:[/] {error}")
            healthy = board.healthy()
        if not healthy:
            raise typer.Exit(1)

    @board_app.command("test")
    def test(
        ctx: typer.Context,
        port: str | None = typer.Option(None, "--port", help=_PORT_HELP),
        protocol: str | None = typer.Option(
            None, "--protocol", help=_PROTOCOL_HELP, callback=_check_protocol
        ),
        yes: bool = typer.Option(False, "--yes", "-y", help="do not ask before opening doors"),
        pause_s: float = typer.Option(0.5, "--pause", help="seconds between two lockers"),
    ) -> None:
        """Open every configured locker in turn and report its feedback (staff only)."""
        console = Console(highlight=False, soft_wrap=True)
        if not yes:
            typer.confirm(
                "This opens EVERY configured locker, one after another. Go on?", abort=True
            )
        failures = 0
        with _open(ctx, port, protocol) as board:
            for address in board.addresses:
                result = board.unlock(address)
                style = _outcome_style(result.outcome.value)
                console.print(
                    f"locker {board.label(address):>4} (board {address.board} channel "
                    f"{address.channel}): [{style}]{result.outcome.value}[/] - {result.detail}"
                )
                if not _counts_as_open(board, result.outcome):
                    failures += 1
                time.sleep(pause_s)
            for event in board.poll_events():
                console.print(f"[yellow]alert:[/] {event.kind.value} {event.detail}")
        console.print(f"{len(board.addresses) - failures}/{len(board.addresses)} lockers ok")
        if failures:
            raise typer.Exit(1)

    @board_app.command("emulate")
    def emulate(
        ctx: typer.Context,
        protocol: str | None = typer.Option(
            None, "--protocol", help=_PROTOCOL_HELP, callback=_check_protocol
        ),
        channels: int | None = typer.Option(None, "--channels", min=1, max=64),
        boards: int = typer.Option(1, "--boards", min=1, max=31),
        door_close_after_s: float = typer.Option(
            3.0, "--door-close-after", min=0.01, help="seconds until an opened door is closed"
        ),
        jam: list[str] = typer.Option(
            [], "--jam", help="BOARD:CHANNEL whose door never opens (repeatable)"
        ),
        link: str | None = typer.Option(None, "--link", help="port path to create (symlink)"),
        duration_s: float = typer.Option(
            0.0, "--duration", min=0, help="stop after this many seconds (0 = until Ctrl-C)"
        ),
    ) -> None:
        """Emulate a lock board on a pseudo-terminal and print the port to use."""
        console = Console(highlight=False, soft_wrap=True)
        name = protocol or state(ctx).settings().board.protocol
        emulator, jams = _build_emulator(name, boards, channels, door_close_after_s, jam, link)
        with emulator:
            for board_number, channel in jams:
                emulator.jam(board_number, channel)
            console.print(
                f"emulating {name} boards {sorted(emulator.boards)} with "
                f"{next(iter(emulator.boards.values())).channels} channels"
            )
            console.print(f"port: {emulator.port}")
            console.print(f"try:  lockers board status --port {emulator.port} --protocol {name}")
            _serve_until_stopped(console, emulator, duration_s)
        console.print("emulator stopped")


def _build_emulator(
    name: str,
    boards: int,
    channels: int | None,
    door_close_after_s: float,
    jam: list[str],
    link: str | None,
) -> tuple[BoardEmulator, list[tuple[int, ...]]]:
    """The emulator ``board emulate`` asked for and its ``--jam`` list, or a usage error."""
    from lockers.hardware.emulator import BoardEmulator

    try:
        emulator = BoardEmulator(
            name, boards=boards, channels=channels, door_close_after_s=door_close_after_s, link=link
        )
        jams = [tuple(int(part, 0) for part in item.split(":")) for item in jam]
        if any(len(j) != 2 for j in jams):
            raise ValueError("--jam takes BOARD:CHANNEL, e.g. --jam 0:3")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return emulator, jams


def _serve_until_stopped(console: Console, emulator: BoardEmulator, duration_s: float) -> None:
    """Take fault commands from a terminal, or just run for ``duration_s`` (0: until Ctrl-C or
    SIGTERM)."""
    import signal
    import sys

    from lockers.hardware.emulator import COMMANDS_HELP

    def terminate(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        if sys.stdin.isatty() and not duration_s:
            console.print(f"fault commands: {COMMANDS_HELP}; Ctrl-D or Ctrl-C stops")
            for line in sys.stdin:
                reply = emulator.command(line)
                if reply:
                    console.print(reply)
        else:
            deadline = time.monotonic() + duration_s if duration_s else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
