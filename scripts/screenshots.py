"""Screenshots of every kiosk screen in Korean and English, from the real window under Xvfb.

    python scripts/screenshots.py [OUT_DIR]        # default docs/screenshots

Starts a virtual X display (Xvfb, ``apt-get install xvfb``) unless ``--display`` says to use
the current one, runs the real kiosk window on Qt's xcb plugin (its system libraries: `lockers
doctor` lists any that are missing) with a real SQLite file, the board emulator and the
detector on the test photos; the only double is the tests' embedder. Korean needs a Hangul
font (``apt-get install fonts-nanum``). Files are palette PNGs, about 30-60 kB each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZE = (1280, 800)  # the kiosk's 10" touch screen
SCALE = 0.75  # README-sized, still readable


def start_xvfb() -> subprocess.Popen[bytes]:
    if shutil.which("Xvfb") is None:
        sys.exit("screenshots: Xvfb is not installed: sudo apt-get install xvfb")
    for number in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            break
    display = f":{number}"
    server = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{number}").exists():
            break
        time.sleep(0.05)
    else:
        server.kill()
        sys.exit("screenshots: Xvfb did not start")
    os.environ["DISPLAY"] = display
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--display", action="store_true", help="use $DISPLAY, no Xvfb")
    parser.add_argument(
        "--offscreen",
        action="store_true",
        help="Qt's offscreen platform, no X server at all (same fonts through fontconfig)",
    )
    parser.add_argument(
        "--only", default="", help="shoot only the screens whose name starts with this"
    )
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    server = None if args.display or args.offscreen else start_xvfb()
    os.environ["QT_QPA_PLATFORM"] = "offscreen" if args.offscreen else "xcb"
    try:
        return Shooter(args.out, args.only).run()
    finally:
        if server is not None:
            server.terminate()
            server.wait(5)


def save_small_png(image: object, path: Path) -> None:
    """256 colours picked from the picture itself (the UI is flat colours plus anti-aliased
    text), no dithering: a few tens of kB per screen with the colours as drawn."""
    from PIL import Image  # Pillow comes with torchvision and matplotlib
    from PySide6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[attr-defined]
    from io import BytesIO

    picture = Image.open(BytesIO(bytes(buffer.data()))).convert("RGB")
    small = picture.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


class Shooter:
    def __init__(self, out: Path, only: str = "") -> None:
        sys.path.insert(0, str(REPO / "tests" / "ui"))  # the scripted camera and embedder
        self.out = out
        self.only = only
        out.mkdir(parents=True, exist_ok=True)

    def run(self) -> int:
        from kiosk_harness import MODEL_CACHE, IdentityEmbedder, ScriptedCamera
        from PySide6.QtWidgets import QApplication

        from lockers.app import build_kiosk, demo_settings
        from lockers.config import Settings
        from lockers.ui.launch import create_window

        self.app = QApplication.instance() or QApplication([])
        assert self.app.platformName() in ("xcb", "offscreen"), self.app.platformName()
        data = Path(tempfile.mkdtemp(prefix="lockers-shots-"))
        settings = demo_settings(
            Settings.model_validate(
                {
                    "data_dir": str(data),
                    "camera": {"source": str(data / "no-camera.mp4")},
                    "board": {
                        "port": "emulator",
                        "pulse_ms": 50,
                        "poll_interval_s": 0.05,
                        "detection_window_s": 0.6,
                        "emulator_door_close_after_s": 0.6,
                    },
                    "recognition": {"weights": str(MODEL_CACHE / "no-weights.pt")},
                    "ui": {"language": "ko", "fullscreen": False},
                }
            )
        )
        camera = ScriptedCamera()
        parts = build_kiosk(
            settings,
            demo=True,
            embedder=IdentityEmbedder(camera),  # type: ignore[arg-type]
            camera_factory=lambda: camera,
            liveness=True,
            flow_overrides={"capture_frames": 500},
        )
        parts.backend.staff.add_staff("김민수", "24680", actor="screenshots")
        parts.backend.staff.add_staff("Alex", "13579", actor="screenshots")
        parts.notices.clear()  # "replayed video instead of a camera": not what a site sees
        self.window, self.controller = create_window(parts, health_interval_s=0.3)
        self.window.resize(*SIZE)
        self.window.show()
        self.camera = camera
        self.parts = parts
        try:
            self.shoot_all()
        finally:
            self.window.close()
            parts.close()
            shutil.rmtree(data, ignore_errors=True)
        return 0

    # -- helpers -------------------------------------------------------------------------

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.02)

    def wait(self, condition: object, timeout_s: float = 15.0) -> None:
        end = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            if time.monotonic() > end:
                raise TimeoutError("screenshots: the kiosk did not get there in time")
            self.pump(0.05)

    def shot(self, name: str) -> None:
        from PySide6.QtCore import Qt

        if not name.startswith(self.only):
            return
        self.window.resize(*SIZE)  # a screen that needed more room may have grown it
        self.pump(0.3)
        if self.window.height() > SIZE[1]:
            print(f"warning: {name} needs {self.window.height()} px, more than the screen")
        image = self.window.grab().toImage()
        image = image.scaled(
            int(SIZE[0] * SCALE),
            int(SIZE[1] * SCALE),
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
        path = self.out / f"{name}.png"
        save_small_png(image, path)
        print(f"{path}  {path.stat().st_size // 1024} kB")

    # -- the screens ---------------------------------------------------------------------

    def shoot_all(self) -> None:
        from lockers.kiosk.flow import FlowView, Phase, Problem
        from lockers.vision.liveness import LivenessState, LivenessStatus, Turn

        window, controller, camera = self.window, self.controller, self.camera
        messages = [
            ("register_open", FlowView(phase=Phase.REGISTER_OPEN, locker_label="12")),
            (
                "retrieve_open",
                FlowView(phase=Phase.RETRIEVE_OPEN, locker_label="12", retrieving=True),
            ),
            ("done", FlowView(phase=Phase.DONE, locker_label="12", retrieving=True)),
            (
                "not_recognised",
                FlowView(
                    phase=Phase.NOT_RECOGNISED, can_retry=True, retry_in_s=9.5, retrieving=True
                ),
            ),
            (
                "door_jammed",
                FlowView(phase=Phase.FAILED, problem=Problem.DOOR_NOT_CONFIRMED, locker_label="3"),
            ),
            ("no_free_locker", FlowView(phase=Phase.FAILED, problem=Problem.NO_FREE_LOCKER)),
        ]
        packets: list[object] = []
        controller.frame_ready.connect(lambda p: packets.append(p) if p.boxes else None)
        camera.show("person01_1")
        self.wait(lambda: controller.status.ready and controller.status.health)
        # A rental and a locker out of service, so the staff grid shows several states.
        staff = self.parts.backend.staff
        who = staff.login("staff", "1234")
        staff.set_out_of_service(who, "5", "lock faulty")
        staff.logout(who)
        for lang in ("ko", "en"):
            controller.set_language(lang)
            self.shot(f"01_home_{lang}")
            controller.register()
            self.shot(f"02_consent_{lang}")
            controller.consent(True)
            self.wait(lambda: bool(packets))
            self.pump(0.5)
            self.shot(f"03_capture_{lang}")
            controller.cancel()
            controller.frame_ready.disconnect(window.show_frame)
            window.camera.show_view(
                FlowView(
                    phase=Phase.LIVENESS,
                    liveness=LivenessState(LivenessStatus.TURNING, Turn.LEFT, 1, 2),
                )
            )
            window.camera.preview.show_packet(packets[-1])
            window.stack.setCurrentWidget(window.camera)
            self.shot(f"04_liveness_{lang}")
            controller.frame_ready.connect(window.show_frame)
            for i, (name, view) in enumerate(messages, start=5):
                window.message.show_view(view)
                window.stack.setCurrentWidget(window.message)
                self.shot(f"{i:02d}_{name}_{lang}")
            window.stack.setCurrentWidget(window.home)
            self.shoot_staff(lang)
            self.shoot_out_of_order(lang)
            self.shoot_accessible(lang)

    def shoot_accessible(self, lang: str) -> None:
        """Accessibility mode (high contrast, large text), then low reach: every control in
        the bottom band, the words above; the capture screen for a seated person; the staff
        PIN pad; "help is on its way" after call staff."""
        window, controller, access = self.window, self.controller, self.window.access
        access.set_mode(True)
        self.shot(f"40_a11y_home_{lang}")
        access.toggle_low_reach()
        self.shot(f"41_low_reach_home_{lang}")
        controller.register()
        self.shot(f"42_low_reach_consent_{lang}")
        controller.consent(True)
        self.pump(1.0)
        self.shot(f"43_low_reach_capture_{lang}")
        controller.cancel()
        self.wait(lambda: controller.flow.phase.value == "home")
        access.set_mode(True)
        access.toggle_low_reach()
        access.call_staff()
        self.wait(lambda: window.access_bar.notice.isVisible())
        self.shot(f"44_low_reach_call_staff_{lang}")
        window.enter_staff()
        window.staff_login.choose("staff")
        window.staff_login.pad.press("1")
        self.shot(f"45_low_reach_staff_pin_{lang}")
        window.leave_staff()
        access.set_mode(False)
        if access.state.low_reach:
            access.toggle_low_reach()
        self.pump(0.3)

    def shoot_staff(self, lang: str) -> None:
        window, controller = self.window, self.controller
        login, panel = window.staff_login, window.staff_panel
        window.enter_staff()
        self.wait(lambda: len(login.tiles) == 3)
        self.shot(f"20_staff_login_{lang}")
        login.choose("staff")
        login.pad.press("1")
        login.pad.press("2")
        self.shot(f"21_staff_pin_{lang}")
        login.pad.press("3")
        login.pad.press("4")
        login.pad.submit()
        self.wait(lambda: window.current_screen is panel and len(panel.tiles) == 12)
        self.pump(1.0)
        panel.select("2")
        self.shot(f"22_staff_lockers_{lang}")
        panel.open_button.click()
        panel.reason_picker.choose(2)
        self.shot(f"23_staff_reason_{lang}")
        panel.reason_picker.toggle_keyboard()
        for jamo in "ㅁㅜㄴ" if lang == "ko" else "door":
            panel.reason_picker.keyboard.key_for(jamo).click()
        self.shot(f"24_staff_keyboard_{lang}")
        panel.reason_picker.cancel_button.click()
        panel.tabs.setCurrentIndex(2)
        self.shot(f"25_staff_audit_{lang}")
        panel.tabs.setCurrentIndex(0)
        controller.staff_logout("logout")
        window.leave_staff()
        self.pump(0.3)

    def shoot_out_of_order(self, lang: str) -> None:
        from dataclasses import replace

        controller = self.controller
        self.camera.offline(True)
        self.wait(lambda: self.window.home.out_of_order_shown)
        self.shot(f"30_out_of_order_{lang}")
        self.camera.offline(False)
        self.wait(lambda: not self.window.home.out_of_order_shown)
        # What `lockers kiosk` shows when a start-up check fails (here: a Hangul font).
        broken = replace(
            controller.status,
            failed_checks=(
                "font.hangul: no font with Hangul (ui.language is ko) → sudo apt-get install "
                "fonts-nanum (or fonts-noto-cjk), then restart the kiosk",
            ),
        )
        self.window.show_status(broken)
        self.shot(f"31_out_of_order_checks_{lang}")
        self.window.show_status(controller.status)


if __name__ == "__main__":
    raise SystemExit(main())
