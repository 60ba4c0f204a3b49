"""``lockers demo`` (the README's "run it" command) and ``lockers kiosk`` (the real kiosk).

Qt, the model and the store are imported inside the commands, so ``lockers --help`` stays fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from lockers.cli._common import state

if TYPE_CHECKING:
    from lockers.app import KioskParts
    from lockers.config import Settings

out = Console(highlight=False, soft_wrap=True)
WATCHED_PARTS = ("ui", "camera", "service")  # what beats the systemd watchdog


def _event_printer(start: float) -> Callable[[str], None]:
    def say(line: str) -> None:
        out.print(f"[dim]{time.monotonic() - start:7.2f} s[/] {line}", markup=True)

    return say


def _fetch_weights(settings: Settings, timeout_s: float) -> str | None:
    """Download the weights with a progress bar; returns why it could not (``None`` = done)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from lockers.errors import WeightsError
    from lockers.vision.modelstore import download_weights

    recognition = settings.recognition
    out.print(f"downloading the face weights from {recognition.weights_url}")
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=out,
    ) as progress:
        task = progress.add_task("weights", total=None)

        def report(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        try:
            download_weights(
                recognition.weights_url, recognition.weights, progress=report, timeout_s=timeout_s
            )
        except WeightsError as exc:
            return exc.message
    return None


def _prepare_display(settings: Settings, *, configured: bool = True) -> None:
    """``ui.qt_platform`` applied, and its system libraries present (else our message with the
    ``apt-get install`` line, before anything starts, instead of Qt's abort)."""
    from lockers.doctor.qt import apply_configured_platform, require_platform_libraries

    if configured:
        apply_configured_platform(settings)
    require_platform_libraries(settings)


def _fetch_anti_spoof(settings: Settings, timeout_s: float) -> str | None:
    """Download the anti-spoofing models (small); returns why it could not (``None`` = done)."""
    from lockers.errors import WeightsError
    from lockers.vision.modelstore.antispoof import download_antispoof, model_path

    liveness = settings.liveness
    out.print(f"downloading the anti-spoofing models to {liveness.anti_spoof_dir}")
    try:
        for spec in liveness.anti_spoof_models:
            download_antispoof(spec.url, model_path(liveness, spec), spec, timeout_s=timeout_s)
    except WeightsError as exc:
        return exc.message
    return None


def _demo_models(settings: Settings, *, offline: bool) -> bool:
    """Fetch missing weights unless ``offline``; True when the demo must run untrained."""
    from lockers.app import anti_spoof_problems, weights_ready

    untrained = False
    if not weights_ready(settings):
        why = "--offline was given" if offline else _fetch_weights(settings, timeout_s=15.0)
        if why is not None:
            untrained = True
            out.print(
                f"[bold yellow]UNTRAINED MODEL[/]: cannot get the face weights ({why}); "
                "running the demo on random weights: the flows work, recognition means "
                "nothing. Fix: `lockers models download` (or `lockers models import FILE`).",
                markup=True,
            )
    if settings.liveness.passive == "on" and anti_spoof_problems(settings) and not offline:
        why = _fetch_anti_spoof(settings, timeout_s=15.0)
        if why is not None:
            out.print(
                f"[bold yellow]passive anti-spoofing off[/]: cannot get its models ({why}); "
                "fix: `lockers models download --anti-spoof`",
                markup=True,
            )
    return untrained


def _print_demo_banner(settings: Settings, parts: KioskParts, *, script: bool) -> None:
    """Where the demo's parts are, how staff log in, and the notices."""
    from lockers.app import DEMO_STAFF

    out.print(f"data directory: {settings.data_dir}")
    out.print(f"database:       {settings.database_url}")
    emulator = parts.emulator
    port = emulator.port if emulator is not None else settings.board.port
    out.print(f"lock board:     {settings.board.protocol} emulator on {port}")
    out.print(f"camera:         {settings.camera.source}")
    out.print(
        f"staff login:    name {DEMO_STAFF[0]!r}, PIN {DEMO_STAFF[1]} "
        "(hold the top-left corner for 2 s)"
    )
    for notice in parts.notices:
        out.print(f"[bold yellow]notice:[/] {notice}", markup=True)
    if script and parts.untrained:
        out.print(
            "script: with untrained weights every face matches every other; the "
            "retrieve succeeds because the replayed video shows the same person",
        )


def register(app: typer.Typer) -> None:
    """Add ``demo`` and ``kiosk`` to the root app."""

    @app.command("demo")
    def demo(
        ctx: typer.Context,
        script: bool = typer.Option(
            False, "--script", help="walk register → retrieve automatically, print it (smoke test)"
        ),
        headless: bool = typer.Option(
            False, "--headless", help="no display needed (QT_QPA_PLATFORM=offscreen)"
        ),
        data_dir: Path | None = typer.Option(
            None, "--data-dir", help="where the demo database and key go (default data_dir)"
        ),
        offline: bool = typer.Option(
            False, "--offline", help="do not try to download missing weights"
        ),
        fullscreen: bool = typer.Option(False, "--fullscreen", help="fill the screen"),
        timeout_s: float = typer.Option(
            120.0, "--timeout-s", min=5.0, help="--script: give up after this many seconds"
        ),
        accessible: bool = typer.Option(
            False,
            "--accessible",
            help="accessibility mode: with --script, walk by keys alone with voice (printed as "
            "'spoken: <id> (<language>)'), low reach and high contrast",
        ),
    ) -> None:
        """Run the kiosk with an emulated lock board, a SQLite file and the sample video.

        Uses the configured webcam when it is present, else the video shipped with lockers.
        Without verified weights (and no network) it runs in a clearly labelled untrained mode.
        """
        from lockers.app import build_kiosk, demo_settings

        start = time.monotonic()
        if headless or script:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        settings = demo_settings(state(ctx).settings(), data_dir, sample_video=script)
        _prepare_display(settings, configured=not (headless or script))
        untrained = _demo_models(settings, offline=offline)
        parts = build_kiosk(settings, demo=True, untrained=untrained)
        try:
            _print_demo_banner(settings, parts, script=script)
            from lockers.ui.launch import run_window

            code = run_window(
                parts,
                fullscreen=fullscreen,
                on_event=_event_printer(start),
                script=script,
                script_timeout_s=timeout_s,
                accessible=accessible,
            )
        finally:
            parts.close()
        raise typer.Exit(code)

    @app.command("kiosk")
    def kiosk(ctx: typer.Context) -> None:
        """Run the real kiosk: configured board, camera and database; verified weights only."""
        import logging

        from lockers.app import (
            build_kiosk,
            require_anti_spoof,
            require_trained_weights,
            run_startup_checks,
        )
        from lockers.kiosk.watchdog import start_watchdog_from_env
        from lockers.ui.launch import run_window

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        settings = state(ctx).settings()
        _prepare_display(settings)
        require_trained_weights(settings)
        require_anti_spoof(settings)
        parts = build_kiosk(settings)
        log = logging.getLogger("lockers.kiosk")
        try:
            # After the store is open (the key exists, lockers are synced): what still fails
            # keeps the kiosk out of order, with the fix on screen for staff.
            parts.failed_checks = run_startup_checks(settings)
            if parts.backend.site is not None:  # the site console shows what failed
                parts.backend.site.beat(failed_checks=parts.failed_checks)
            # READY=1 for systemd; under its watchdog, pings only while the UI loop, the camera
            # worker and the service thread all make progress (a hung kiosk is restarted).
            watchdog = start_watchdog_from_env(WATCHED_PARTS)
            try:
                code = run_window(
                    parts,
                    fullscreen=settings.ui.fullscreen,
                    on_event=log.info,
                    watch=watchdog[0] if watchdog else None,
                )
            finally:
                if watchdog is not None:
                    watchdog[1].notifier.stopping()
                    watchdog[1].stop()
        finally:
            parts.close()
        raise typer.Exit(code)
