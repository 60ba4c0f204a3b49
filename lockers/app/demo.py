"""The demo's parts: an emulated board with 12 lockers, the shipped sample video when no camera
is present, a data directory of its own and a staff account with a known PIN."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.config import Settings
from lockers.config.vision import SourceKind, classify_source

if TYPE_CHECKING:
    from lockers.kiosk.staff_service import StaffService

SAMPLE_VIDEO = Path(__file__).resolve().parent.parent / "demo" / "sample_faces.mp4"
# The demo's lockers sit on board 0, the address a kerong board (the default protocol) expects.
# Other protocols expect other addresses (lcus 0 only; modbus 1-247, Waveshare default 1;
# kerong 0-15; xor 1-31): DEMO_BOARD_ADDRESS moves them for modbus and xor.
DEMO_BOARD_ADDRESS = {"lcus": 0, "modbus": 1, "kerong": 0, "xor": 1}
DEMO_LOCKERS = [
    {"label": str(i), "size": "S" if i <= 4 else "M" if i <= 10 else "L", "board": 0, "channel": i}
    for i in range(1, 13)
]

DEMO_STAFF = ("staff", "1234")
"""Name and PIN of the staff account every demo database gets (printed by ``lockers demo``)."""


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

        address = DEMO_BOARD_ADDRESS.get(settings.board.protocol, 0)
        update["lockers"] = [
            LockerConfig(**{**locker, "board": address})  # type: ignore[arg-type]
            for locker in DEMO_LOCKERS
        ]
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
    kind = classify_source(source)
    if kind is SourceKind.STREAM:
        return True
    if kind is SourceKind.DEVICE_INDEX:
        return Path(f"/dev/video{source}").exists()
    return Path(source).expanduser().exists()


def ensure_demo_staff(staff: StaffService) -> None:
    """Create the demo staff account unless it exists."""
    from lockers.store.staff_repo import StaffExistsError

    with contextlib.suppress(StaffExistsError):
        staff.add_staff(*DEMO_STAFF, role="admin", actor="demo")
