"""Helpers of the UI tests: the whole kiosk on screen (offscreen) with a real store (SQLite
file), the board emulator on a real pty, the real detector and quality gate on replayed photos.
The only double is the embedder, at the model boundary: it maps whoever the camera is showing
to that person's fixed vector."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from lockers.app import demo_settings
from lockers.config import Settings
from lockers.errors import CameraError
from lockers.vision.camera import CameraOffline, Frame, FrameSource, to_rgb

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
MODEL_CACHE = Path.home() / ".cache" / "lockers"  # the detector's ONNX files, shared with vision


class ScriptedCamera(FrameSource):
    """Replays one photo at a time, as chosen by the test (``show``), at about 20 fps.

    ``offline(True)`` makes ``read()`` raise :class:`CameraOffline` as a lost live camera does.
    """

    def __init__(self, fps: float = 20.0) -> None:
        self._images: dict[str, npt.NDArray[np.uint8]] = {}
        self._blank = np.full((480, 640, 3), 200, dtype=np.uint8)
        self._showing: str | None = None
        self._period = 1.0 / fps
        self._stop = threading.Event()
        self._offline = False
        self._index = 0
        self.last_identity: str | None = None
        self.reads = 0

    @property
    def name(self) -> str:
        return "scripted camera"

    def show(self, photo: str | None) -> None:
        """``person01_1`` (a file in tests/fixtures/faces without .jpg) or ``None``: nobody."""
        if photo is not None and photo not in self._images:
            raw = cv2.imread(str(FACES / f"{photo}.jpg"))
            assert raw is not None, photo
            self._images[photo] = to_rgb(raw, (640, 480))[0]
        self._showing = photo

    def offline(self, value: bool) -> None:
        self._offline = value

    def read(self) -> Frame | None:
        if self._stop.wait(self._period):
            return None
        if self._offline:
            raise CameraOffline("scripted camera", 0.1, 1, CameraError("unplugged"))
        photo = self._showing
        image = self._blank if photo is None else self._images[photo]
        self.last_identity = None if photo is None else photo.split("_")[0]
        self._index += 1
        self.reads += 1
        return Frame(image.copy(), time.monotonic(), self._index, self.name)

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()


class IdentityEmbedder:
    """The model-boundary double: every face the camera shows gets its person's fixed vector
    (plus a little noise), so recognition behaves as a well-trained model would."""

    backend = "double"
    model_version = "identity-double"

    def __init__(self, camera: ScriptedCamera) -> None:
        self._camera = camera
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}
        self._rng = np.random.default_rng(0)

    def _vector(self, identity: str) -> npt.NDArray[np.float32]:
        if identity not in self._vectors:
            seed = sum(map(ord, identity))
            v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
            self._vectors[identity] = v / np.linalg.norm(v)
        return self._vectors[identity]

    def embed(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        identity = self._camera.last_identity or "nobody"
        base = self._vector(identity)
        out = base + 0.01 * self._rng.standard_normal((len(faces), 512)).astype(np.float32)
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def kiosk_settings(tmp_path: Path, **ui: object) -> Settings:
    data = {
        "data_dir": str(tmp_path / "data"),
        "camera": {"source": str(tmp_path / "no-camera.mp4")},
        "board": {
            "protocol": "kerong",
            "port": "emulator",
            "pulse_ms": 50,
            "reply_timeout_s": 0.2,
            "quiet_s": 0.02,
            "inter_frame_gap_s": 0.001,
            "poll_interval_s": 0.05,
            "detection_window_s": 0.6,
            "unlock_expiry_s": 1.0,
            "emulator_door_close_after_s": 0.6,
        },
        "lockers": [{"label": str(i), "board": 0, "channel": i} for i in range(1, 5)],
        "recognition": {
            "weights": str(MODEL_CACHE / "no-weights.pt"),
            "frames_to_agree": 2,
            "frames_window": 3,
        },
        "ui": {"language": "ko", "idle_timeout_s": 30.0, "fullscreen": False, **ui},
    }
    return demo_settings(Settings.model_validate(data, context={"base_dir": tmp_path}))
