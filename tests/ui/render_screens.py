"""Render every kiosk screen, in both languages, to PNG files for review.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/ui/render_screens.py /tmp/shots

Builds the real kiosk (SQLite file, board emulator, detector) with the test camera and embedder
double, drives it to each screen and grabs the window. Korean needs a font with Hangul (Debian:
``fonts-nanum`` or ``fonts-noto-cjk``); without one the Korean shots show boxes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kiosk_harness import IdentityEmbedder, ScriptedCamera, kiosk_settings
from PySide6.QtWidgets import QApplication

from lockers.app import build_kiosk
from lockers.kiosk.flow import FlowView, Phase, Problem
from lockers.ui.launch import create_window
from lockers.vision.liveness import LivenessState, LivenessStatus, Turn

MESSAGES = [
    ("register_open", FlowView(phase=Phase.REGISTER_OPEN, locker_label="12")),
    ("retrieve_open", FlowView(phase=Phase.RETRIEVE_OPEN, locker_label="12", retrieving=True)),
    ("done", FlowView(phase=Phase.DONE, locker_label="12", retrieving=True)),
    (
        "not_recognised",
        FlowView(phase=Phase.NOT_RECOGNISED, can_retry=True, retry_in_s=9.5, retrieving=True),
    ),
    (
        "door_jammed",
        FlowView(phase=Phase.FAILED, problem=Problem.DOOR_NOT_CONFIRMED, locker_label="3"),
    ),
    (
        "liveness_failed",
        FlowView(phase=Phase.FAILED, problem=Problem.LIVENESS_FAILED, can_retry=True),
    ),
    ("no_free_locker", FlowView(phase=Phase.FAILED, problem=Problem.NO_FREE_LOCKER)),
]


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    camera = ScriptedCamera()
    parts = build_kiosk(
        kiosk_settings(Path(tempfile.mkdtemp(prefix="lockers-shots-"))),
        demo=True,
        embedder=IdentityEmbedder(camera),  # type: ignore[arg-type]
        camera_factory=lambda: camera,
        liveness=True,
        flow_overrides={"capture_frames": 500},
    )
    parts.notices.insert(0, "demo notices appear here")
    window, controller = create_window(parts, health_interval_s=0.3)
    window.resize(1280, 800)
    window.show()

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)

    def shot(name: str) -> None:
        pump(0.3)
        window.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    last_packet: list[object] = []
    controller.frame_ready.connect(
        lambda packet: last_packet.append(packet) if packet.boxes else None
    )
    try:
        camera.show("person01_1")
        while not (controller.status.ready and controller.status.health):
            pump(0.1)
        for lang in ("ko", "en"):
            controller.set_language(lang)
            shot(f"01_home_{lang}")
            controller.register()
            shot(f"02_consent_{lang}")
            controller.consent(True)
            pump(1.0)
            shot(f"03_capture_{lang}")
            packet = last_packet[-1]
            controller.cancel()  # home: the flow stops updating the camera screen
            controller.frame_ready.disconnect(window.show_frame)
            window.camera.show_view(
                FlowView(
                    phase=Phase.LIVENESS,
                    liveness=LivenessState(LivenessStatus.TURNING, Turn.LEFT, 1, 2),
                )
            )
            window.camera.preview.show_packet(packet)
            window.stack.setCurrentWidget(window.camera)
            shot(f"04_liveness_{lang}")
            controller.frame_ready.connect(window.show_frame)
            for i, (name, view) in enumerate(MESSAGES, start=5):
                window.message.show_view(view)
                window.stack.setCurrentWidget(window.message)
                shot(f"{i:02d}_{name}_{lang}")
            window.stack.setCurrentWidget(window.home)
        controller.set_language("ko")
        window.enter_staff()
        shot("20_staff_pin")
        controller.staff_login("staff", "1234")
        while window.current_screen is not window.staff_panel:
            pump(0.1)
        pump(0.8)
        window.staff_panel.select("2")
        shot("21_staff_lockers")
        window.staff_panel.tabs.setCurrentIndex(2)
        shot("22_staff_audit")
        window.leave_staff()
        camera.offline(True)
        pump(1.0)
        shot("23_out_of_order")
    finally:
        window.close()
        parts.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/lockers-screens"))
