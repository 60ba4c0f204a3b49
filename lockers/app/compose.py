"""Composition: :func:`build_kiosk` opens the store, the board and the services and prepares the
camera and the deferred face pipeline; :func:`run_startup_checks` runs the doctor's checks the
kiosk does not watch live."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.app.backend import ServicesBackend
from lockers.app.demo import ensure_demo_staff
from lockers.app.pipeline import anti_spoof_problems, build_pipeline
from lockers.app.site import SiteThread
from lockers.config import Settings
from lockers.config.vision import classify_source
from lockers.errors import WeightsError

if TYPE_CHECKING:
    from lockers.hardware.board import LockBoard
    from lockers.hardware.emulator import BoardEmulator
    from lockers.kiosk.flow import FlowSettings
    from lockers.kiosk.rental_service import RentalService
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import Store
    from lockers.vision.antispoof import PresentationAttackDetector
    from lockers.vision.camera import FrameSource
    from lockers.vision.embedder import Embedder
    from lockers.vision.pipeline import FacePipeline

# A staff action on another bank's locker waits this long on the service thread for the owning
# kiosk's result (an online kiosk answers within a second); later, the audit log tells.
REMOTE_ACTION_WAIT_S = 5.0

log = logging.getLogger(__name__)

_UNTRAINED_HINT = "run `lockers models download`, or use `lockers demo`"


@dataclass
class KioskParts:
    """Everything the kiosk window needs, built by :func:`build_kiosk`.

    ``pipeline_factory`` and ``camera_factory`` are called by the camera worker in its own
    thread (loading the model takes seconds). ``notices`` are shown on screen and printed:
    untrained model, replayed video, skipped liveness.
    """

    settings: Settings
    backend: ServicesBackend
    pipeline_factory: Callable[[], FacePipeline]
    camera_factory: Callable[[], FrameSource]
    flow_settings: FlowSettings
    untrained: bool = False
    demo: bool = False
    notices: list[str] = field(default_factory=list)
    emulator: BoardEmulator | None = None
    # `lockers doctor`'s start-up checks that failed: out of order, shown to staff on screen.
    failed_checks: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.backend.close()


@dataclass(frozen=True)
class _Checks:
    """Which liveness checks run, and what the screen says about them."""

    liveness: bool
    passive: bool
    notices: list[str]


def build_kiosk(
    settings: Settings,
    *,
    demo: bool = False,
    untrained: bool = False,
    embedder: Embedder | None = None,
    camera_factory: Callable[[], FrameSource] | None = None,
    liveness: bool | None = None,
    flow_overrides: dict[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    passive: bool | None = None,
    pad: PresentationAttackDetector | None = None,
) -> KioskParts:
    """Open the store, the board and the services; prepare the camera and the pipeline.

    Args:
        settings: validated settings (for the demo, pass them through ``demo_settings``).
        demo: migrate a fresh database, label the run as a demo.
        untrained: run recognition on random weights (demo only; loudly labelled).
        embedder: replaces the configured embedder (tests: a double at the model boundary).
        camera_factory: replaces the configured camera (tests: a scripted replay).
        liveness: force the active liveness check on or off; default: on, except for a replayed
            video in the demo (a recording cannot turn its head).
        flow_overrides: :class:`~lockers.kiosk.flow.FlowSettings` fields to change (tests).
        clock: UTC clock of the services (tests).
        passive: force the passive anti-spoofing check on or off; default: as
            ``liveness.passive`` says, except in the demo without verified anti-spoofing weights
            (then off, labelled on screen).
        pad: replaces the anti-spoofing models (tests: a double at the model boundary).

    Raises:
        StoreError, BoardError, ConfigError: the store or the board cannot be opened. Whatever
            fails, nothing opened here stays open.
    """
    if untrained and not demo:
        raise WeightsError("untrained weights are for the demo only", hint=_UNTRAINED_HINT)
    # Any failure closes what was opened (reverse order); on success the backend takes it over.
    with contextlib.ExitStack() as opened:
        store, board, rental, staff = _open_services(settings, opened, demo=demo, clock=clock)
        checks = _choose_checks(
            settings, demo=demo, untrained=untrained, liveness=liveness, passive=passive, pad=pad
        )
        if not checks.passive:
            rental.record_passive_check_off()
        flow_settings = _flow_settings(settings, checks, flow_overrides)
        site = SiteThread.start(store, board)  # heartbeat + commands for this bank
        if site is not None:
            opened.callback(site.stop)
        owned = opened.pop_all()
    return KioskParts(
        settings=settings,
        backend=ServicesBackend(store, board, rental, staff, closers=[owned.close], site=site),
        pipeline_factory=_pipeline_factory(settings, checks, untrained, embedder, pad),
        camera_factory=camera_factory or functools.partial(_open_camera, settings),
        flow_settings=flow_settings,
        untrained=untrained,
        demo=demo,
        notices=checks.notices,
        emulator=getattr(board, "emulator", None),
    )


def _flow_settings(
    settings: Settings, checks: _Checks, overrides: dict[str, Any] | None
) -> FlowSettings:
    from lockers.kiosk.flow import FlowSettings

    flow_settings = FlowSettings.from_settings(
        settings, liveness=checks.liveness, passive=checks.passive
    )
    return replace(flow_settings, **overrides) if overrides else flow_settings


def _pipeline_factory(
    settings: Settings,
    checks: _Checks,
    untrained: bool,
    embedder: Embedder | None,
    pad: PresentationAttackDetector | None,
) -> Callable[[], FacePipeline]:
    """What the camera worker calls, in its own thread, to load the face pipeline."""
    return functools.partial(
        build_pipeline,
        settings,
        allow_untrained=untrained,
        embedder=embedder,
        passive=checks.passive,
        pad=pad,
    )


def _open_camera(settings: Settings) -> FrameSource:
    from lockers.vision.camera import open_source

    return open_source(settings.camera, realtime=True)


def _open_services(
    settings: Settings,
    opened: contextlib.ExitStack,
    *,
    demo: bool,
    clock: Callable[[], datetime] | None,
) -> tuple[Store, LockBoard, RentalService, StaffService]:
    """The store (migrated first in the demo), the board and the two services; each opened part
    is pushed on ``opened``."""
    from lockers import __version__
    from lockers.hardware.boards import open_board
    from lockers.kiosk.presence import identity_of
    from lockers.kiosk.rental_service import RentalService
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import connect, open_database, start_store
    from lockers.store.db import private_directory
    from lockers.store.schema import upgrade

    if not settings.database.url:
        # PIN hashes and the audit log live here: no other local account may read them.
        private_directory(settings.data_dir)
    if demo:
        database = connect(settings)
        try:
            upgrade(database)
        finally:
            database.dispose()
    else:
        open_database(settings).dispose()  # a clear error before anything else starts
    # Registered in the site's registry first: a second process with this kiosk id is refused
    # before it touches the bank.
    store, report = start_store(settings, identity=identity_of(settings, version=__version__))
    opened.callback(store.close)
    for finding in report.findings:
        log.warning("start-up check: %s %s", finding.kind, finding.detail)
    board = open_board(settings.board, settings.lockers)
    opened.callback(board.close)
    services_kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
    rental = RentalService.from_settings(
        settings, store.database, board, store.cipher, **services_kwargs
    )
    staff = StaffService(
        store.database,
        board,
        kiosk_id=settings.database.kiosk_id,
        pin_secret=store.pin_secret,  # opened with the store: not read again per login
        command_ttl_s=settings.site.command_ttl_s,  # another bank's locker: a command
        remote_wait_s=REMOTE_ACTION_WAIT_S,
        **services_kwargs,
    )
    if demo:
        ensure_demo_staff(staff)
    return store, board, rental, staff


def _choose_checks(
    settings: Settings,
    *,
    demo: bool,
    untrained: bool,
    liveness: bool | None,
    passive: bool | None,
    pad: PresentationAttackDetector | None,
) -> _Checks:
    """The active and passive liveness checks to run (forced, or the defaults ``build_kiosk``
    documents) and the notices that explain them on screen."""
    notices: list[str] = []
    if untrained:
        notices.append(
            "UNTRAINED MODEL: no verified face weights; recognition means nothing (demo only)"
        )
    replay = not classify_source(settings.camera.source).is_live
    use_liveness = liveness if liveness is not None else not (demo and replay)
    if demo and replay:
        notices.append(f"replayed video {Path(settings.camera.source).name} instead of a camera")
    if not use_liveness:
        notices.append("liveness check skipped: a replayed video cannot turn its head")
    use_passive = passive
    if use_passive is None:
        use_passive = settings.liveness.passive == "on"
        if use_passive and demo and pad is None and anti_spoof_problems(settings):
            use_passive = False
            notices.append(
                "passive anti-spoofing OFF: no verified anti-spoof weights "
                "(`lockers models download --anti-spoof`)"
            )
    if use_passive and demo:
        notices.append("passive anti-spoofing on (MiniFASNet): photos and screens are refused")
    if not use_passive and settings.liveness.passive == "off":
        notices.append("PASSIVE ANTI-SPOOFING OFF (liveness.passive: off)")
    return _Checks(liveness=use_liveness, passive=use_passive, notices=notices)


def run_startup_checks(settings: Settings) -> list[str]:
    """The doctor's checks the kiosk does not watch live itself (camera, board and the model
    are shown live), run once the store is open. Problems are logged; the failed ones come
    back as "name: what → fix" lines for the out-of-order screen.
    """
    from lockers.doctor import Status, run_checks

    failed: list[str] = []
    for result in run_checks(settings, startup=True):
        if result.status is Status.OK:
            continue
        line = f"{result.name}: {result.detail}" + (f" → {result.fix}" if result.fix else "")
        if result.status is Status.FAIL:
            log.error("start-up check failed: %s", line)
            failed.append(line)
        else:
            log.warning("start-up check: %s", line)
    return failed
