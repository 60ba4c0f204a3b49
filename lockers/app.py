"""Composition root: builds the kiosk's parts from settings (real or demo).

Collaborators are created here and passed in; nothing below this module constructs its own
dependencies or reads the config file. :func:`build_kiosk` wires the store, the services, the
lock board (a real port or the emulator on a pty), the camera (a device or a replayed video)
and a deferred face pipeline (loaded by the camera worker, off the UI thread);
:func:`run_kiosk` puts them on screen.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.config import Settings
from lockers.errors import LockersError, WeightsError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lockers.hardware.board import LockBoard
    from lockers.hardware.emulator import BoardEmulator
    from lockers.kiosk.dto import (
        LockerView,
        RegisterResult,
        RetrieveResult,
        StaffActionResult,
        StaffSession,
    )
    from lockers.kiosk.flow import FlowSettings
    from lockers.kiosk.rental_service import RentalService
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import Store
    from lockers.ui.ports import AuditRow, ServiceHealth
    from lockers.vision.camera import FrameSource
    from lockers.vision.embedder import Embedder
    from lockers.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

SAMPLE_VIDEO = Path(__file__).resolve().parent / "demo" / "sample_faces.mp4"
DEMO_LOCKERS = [
    {"label": str(i), "size": "S" if i <= 4 else "M" if i <= 10 else "L", "board": 0, "channel": i}
    for i in range(1, 13)
]


def build_pipeline(
    settings: Settings,
    *,
    embed: bool = True,
    allow_untrained: bool = False,
    embedder: Embedder | None = None,
) -> FacePipeline:
    """The face pipeline of ``settings``, with the configured embedder when ``embed`` is set.

    ``allow_untrained`` is the development flag: random weights, loudly labelled. ``embedder``
    replaces the configured one (tests pass a double at the model boundary).

    Raises:
        WeightsError: ``embed`` is set and the weights are missing or invalid.
    """
    from lockers.vision.embedder import load_embedder
    from lockers.vision.pipeline import FacePipeline

    if embed and embedder is None:
        recognition = settings.recognition
        if allow_untrained:
            recognition = recognition.model_copy(update={"allow_untrained": True})
        embedder = load_embedder(recognition)
    return FacePipeline.from_settings(settings, embedder if embed else None)


def weights_ready(settings: Settings) -> bool:
    """Whether verified weights are recorded for ``recognition.weights`` (cheap: no hashing)."""
    from lockers.vision.weights import read_manifest

    path = settings.recognition.weights
    return path.is_file() and path.name in read_manifest(path.parent)


def require_trained_weights(settings: Settings) -> None:
    """The real kiosk's start-up rule: verified weights, never the development flag.

    Raises:
        WeightsError: ``recognition.allow_untrained`` is set, or no verified weights exist.
    """
    if settings.recognition.allow_untrained:
        raise WeightsError(
            "recognition.allow_untrained is set: the kiosk never runs on untrained weights",
            hint="remove allow_untrained from config.yaml (and LOCKERS_RECOGNITION__"
            "ALLOW_UNTRAINED from the environment); to try the kiosk without weights run "
            "`lockers demo`",
        )
    if not weights_ready(settings):
        raise WeightsError(
            f"no verified embedding weights at {settings.recognition.weights}",
            hint="run `lockers models download` (or `lockers models import FILE` offline), "
            "then start the kiosk again",
        )


def demo_settings(
    settings: Settings, data_dir: Path | None = None, *, sample_video: bool = False
) -> Settings:
    """``settings`` adjusted for the demo: emulated board, a default set of 12 lockers when none
    are configured, the shipped sample video when the configured camera is not present (or
    always, with ``sample_video``: the scripted demo needs a predictable camera), and the
    database and key inside ``data_dir`` (default ``settings.data_dir``)."""
    data = data_dir.resolve() if data_dir is not None else settings.data_dir
    update: dict[str, Any] = {
        "data_dir": data,
        "board": settings.board.model_copy(update={"port": "emulator"}),
        "privacy": settings.privacy.model_copy(update={"template_key_file": data / "template.key"}),
    }
    if not settings.lockers:
        from lockers.config import LockerConfig

        update["lockers"] = [LockerConfig(**locker) for locker in DEMO_LOCKERS]  # type: ignore[arg-type]
    if sample_video or not camera_present(settings.camera.source):
        update["camera"] = settings.camera.model_copy(
            update={"source": str(SAMPLE_VIDEO), "fps": 10.0, "loop": True}
        )
    if settings.database.url:
        update["database"] = settings.database.model_copy(update={"url": ""})
    return settings.model_copy(update=update)


def camera_present(source: str) -> bool:
    """Whether ``camera.source`` names something that exists here: a device node, a file or
    folder, or a network URL (which cannot be checked without connecting)."""
    source = source.strip()
    if "://" in source:
        return True
    if source.isdigit():
        return Path(f"/dev/video{source}").exists()
    return Path(source).expanduser().exists()


def is_replay(source: str) -> bool:
    """A video file or folder of images rather than a live camera."""
    source = source.strip()
    return not ("://" in source or source.isdigit() or source.startswith("/dev/"))


class ServicesBackend:
    """:class:`lockers.ui.ports.KioskBackend` over the kiosk services, the store and the board.

    Called from one thread (the controller's service thread).
    """

    def __init__(
        self,
        store: Store,
        board: LockBoard,
        rental: RentalService,
        staff: StaffService,
        *,
        closers: list[Callable[[], None]] | None = None,
    ) -> None:
        self.store = store
        self.board = board
        self.rental = rental
        self.staff = staff
        self._closers = closers or []
        self._closed = False

    def register(
        self,
        templates: npt.NDArray[np.float32],
        qualities: npt.NDArray[np.float32],
        model_version: str,
    ) -> RegisterResult:
        return self.rental.register(
            templates, consent=True, model_version=model_version, quality=qualities
        )

    def retrieve(
        self, probes: npt.NDArray[np.float32], model_version: str, final: bool = True
    ) -> RetrieveResult:
        return self.rental.retrieve(probes, model_version=model_version, final=final)

    def prepare(self, model_version: str) -> int:
        return self.rental.prepare(model_version)

    def health(self) -> ServiceHealth:
        from lockers.hardware.board import DoorState, LockAddress
        from lockers.kiosk.staff_service import list_lockers
        from lockers.store.models import utcnow
        from lockers.ui.ports import ServiceHealth

        views = list_lockers(self.store.database, utcnow())
        try:
            states = self.board.door_states()
            events = self.board.poll_events()
            board_ok = self.board.healthy()
            detail = "" if board_ok else "the lock board does not answer"
        except LockersError as exc:
            states, events, board_ok, detail = {}, [], False, exc.message
        doors = {
            v.label: states.get(LockAddress(v.board, v.channel), DoorState.UNKNOWN).value
            for v in views
        }
        alerts = [f"{e.kind.value} board {e.address.board} ch {e.address.channel}" for e in events]
        alerts += [f"locker {v.label}: {v.attention}" for v in views if v.attention]
        return ServiceHealth(
            board_ok=board_ok,
            free_lockers=sum(v.status == "available" for v in views),
            total_lockers=len(views),
            doors=doors,
            alerts=tuple(alerts),
            detail=detail,
        )

    def staff_login(self, name: str, pin: str) -> StaffSession:
        return self.staff.login(name, pin)

    def staff_logout(self, who: StaffSession, reason: str) -> None:
        self.staff.logout(who, reason)

    def staff_lockers(self, who: StaffSession) -> list[LockerView]:
        return self.staff.lockers(who)

    def staff_action(
        self, who: StaffSession, action: str, label: str, reason: str
    ) -> StaffActionResult:
        if action == "open":
            return self.staff.force_open(who, label, reason)
        if action == "reset":
            return self.staff.reset(who, label, reason)
        if action == "out_of_service":
            return self.staff.set_out_of_service(who, label, reason)
        if action == "back_in_service":
            return self.staff.back_in_service(who, label)
        raise ValueError(f"unknown staff action {action!r}")

    def staff_audit(
        self, who: StaffSession, action: str | None, locker: str | None, limit: int
    ) -> list[AuditRow]:
        return self.staff.audit_log(
            who, action=action or None, locker_label=locker or None, limit=limit
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing must go on for the other parts
                log.exception("error while closing")


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

    def close(self) -> None:
        self.backend.close()


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
) -> KioskParts:
    """Open the store, the board and the services; prepare the camera and the pipeline.

    Args:
        settings: validated settings (for the demo, pass them through :func:`demo_settings`).
        demo: migrate a fresh database, label the run as a demo.
        untrained: run recognition on random weights (demo only; loudly labelled).
        embedder: replaces the configured embedder (tests: a double at the model boundary).
        camera_factory: replaces the configured camera (tests: a scripted replay).
        liveness: force the active liveness check on or off; default: on, except for a replayed
            video in the demo (a recording cannot turn its head).
        flow_overrides: :class:`~lockers.kiosk.flow.FlowSettings` fields to change (tests).
        clock: UTC clock of the services (tests).

    Raises:
        StoreError, BoardError, ConfigError: the store or the board cannot be opened.
    """
    from dataclasses import replace

    from lockers.hardware.boards import open_board
    from lockers.kiosk.flow import FlowSettings
    from lockers.kiosk.rental_service import RentalService
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import connect, open_database, start_store
    from lockers.store.schema import upgrade

    if untrained and not demo:
        raise WeightsError(
            "untrained weights are for the demo only",
            hint="run `lockers models download`, or use `lockers demo`",
        )
    if demo:
        database = connect(settings)
        try:
            upgrade(database)
        finally:
            database.dispose()
    else:
        open_database(settings).dispose()  # a clear error before anything else starts
    store, report = start_store(settings)
    closers: list[Callable[[], None]] = [store.close]
    try:
        for finding in report.findings:
            log.warning("start-up check: %s %s", finding.kind, finding.detail)
        board = open_board(settings.board, settings.lockers)
        closers.append(board.close)
        services_kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        rental = RentalService.from_settings(
            settings, store.database, board, store.cipher, **services_kwargs
        )
        staff = StaffService(
            store.database, board, kiosk_id=settings.database.kiosk_id, **services_kwargs
        )
        backend = ServicesBackend(store, board, rental, staff, closers=closers)
        if demo:
            ensure_demo_staff(staff)
    except BaseException:
        for closer in reversed(closers):
            closer()
        raise

    notices: list[str] = []
    replay = is_replay(settings.camera.source)
    use_liveness = liveness if liveness is not None else not (demo and replay)
    if untrained:
        notices.append(
            "UNTRAINED MODEL: no verified face weights; recognition means nothing (demo only)"
        )
    if demo and replay:
        notices.append(f"replayed video {Path(settings.camera.source).name} instead of a camera")
    if not use_liveness:
        notices.append("liveness check skipped: a replayed video cannot turn its head")
    flow_settings = FlowSettings.from_settings(settings, liveness=use_liveness)
    if flow_overrides:
        flow_settings = replace(flow_settings, **flow_overrides)

    def pipeline_factory() -> FacePipeline:
        return build_pipeline(settings, allow_untrained=untrained, embedder=embedder)

    def default_camera() -> FrameSource:
        from lockers.vision.camera import open_source

        return open_source(settings.camera, realtime=True)

    return KioskParts(
        settings=settings,
        backend=backend,
        pipeline_factory=pipeline_factory,
        camera_factory=camera_factory or default_camera,
        flow_settings=flow_settings,
        untrained=untrained,
        demo=demo,
        notices=notices,
        emulator=getattr(board, "emulator", None),
    )


DEMO_STAFF = ("staff", "1234")
"""Name and PIN of the staff account every demo database gets (printed by ``lockers demo``)."""


def ensure_demo_staff(staff: StaffService) -> None:
    """Create the demo staff account unless it exists."""
    from lockers.store.staff_repo import StaffExistsError

    with contextlib.suppress(StaffExistsError):
        staff.add_staff(*DEMO_STAFF, role="admin", actor="demo")
