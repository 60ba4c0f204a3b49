"""Config sections of the face pipeline: camera, detection, quality gate, recognition."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lockers.config._base import ResolvedPath, Section

STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
_DEVICE_INDEX = re.compile(r"^\d+$")


class SourceKind(StrEnum):
    """What ``camera.source`` names; the one place that tells them apart."""

    DEVICE_INDEX = "device_index"  # "0", "1": an OpenCV device index
    DEVICE_PATH = "device_path"  # "/dev/video0"
    STREAM = "stream"  # any "scheme://" (unsupported schemes are refused when opened)
    REPLAY = "replay"  # a video file or a folder of images

    @property
    def is_live(self) -> bool:
        """A camera (asked for size and fps, reopened with back-off) rather than a replay."""
        return self is not SourceKind.REPLAY


def classify_source(source: str) -> SourceKind:
    """Which kind of source ``camera.source`` is (surrounding white space ignored)."""
    source = source.strip()
    if "://" in source:
        return SourceKind.STREAM
    if _DEVICE_INDEX.match(source):
        return SourceKind.DEVICE_INDEX
    if source.startswith("/dev/"):
        return SourceKind.DEVICE_PATH
    return SourceKind.REPLAY


class CameraConfig(Section):
    """Where frames come from.

    ``source`` is an OpenCV device index (``0``), a device path (``/dev/video0``), an RTSP/HTTP
    URL, a video file, or a folder of images replayed in name order.
    """

    source: str = "0"
    width: int = Field(640, ge=64, le=7680)
    height: int = Field(480, ge=48, le=4320)
    fps: float = Field(15.0, gt=0, le=240)
    loop: bool = True  # replay sources (files, folders) start again at the end
    reconnect_initial_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(10.0, gt=0)

    @field_validator("source", mode="before")
    @classmethod
    def _index_as_text(cls, value: object) -> object:
        # `source: 0` in YAML (or LOCKERS_CAMERA__SOURCE=0) is a device index, kept as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _backoff_order(self) -> CameraConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be at least reconnect_initial_s")
        return self


class DetectionConfig(Section):
    """MTCNN settings tuned for a kiosk, where the subject's face is large and near."""

    # onnx: our numpy cascade with the three networks on ONNX Runtime (several times faster on a
    # small CPU, no torch at run time); torch: facenet-pytorch's own MTCNN (the reference).
    backend: Literal["onnx", "torch"] = "onnx"
    min_face_px: int = Field(80, ge=20, le=2000, description="smallest face to find (frame px)")
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = Field(0.709, gt=0.1, lt=1.0)
    # Detection runs on a copy whose longer side is at most this; boxes are mapped back.
    detect_max_side_px: int = Field(320, ge=0, le=4096, description="0 keeps full resolution")
    # A second face counts as "another person in front of the kiosk" only above this size
    # relative to the subject's face width; far-away passers-by are ignored.
    crowd_min_relative_size: float = Field(0.5, gt=0, le=1.0)
    threads: int = Field(0, ge=0, le=64, description="0 = the recognition thread count")
    # Video: once a face is found, later frames run only R-Net/O-Net around the last boxes; the
    # full P-Net pyramid runs again every `redetect_every_frames` frames (so a second person
    # walking in is seen), and whenever the track's confidence drops or the face moves away.
    track: bool = True
    redetect_every_frames: int = Field(8, ge=1, le=1000, description="full detection interval")
    track_min_prob: float = Field(0.9, gt=0, lt=1.0, description="below this, detect again")

    @model_validator(mode="after")
    def _thresholds_in_range(self) -> DetectionConfig:
        if not all(0.0 < t < 1.0 for t in self.thresholds):
            raise ValueError("every threshold must lie strictly between 0 and 1")
        return self


class QualityConfig(Section):
    """The gate a face must pass before it is embedded; each failure becomes UI guidance."""

    min_face_px: int = Field(90, ge=20, description="face box width in frame pixels")
    min_prob: float = Field(0.95, ge=0, le=1)
    min_sharpness: float = Field(25.0, ge=0, description="variance of the Laplacian on the face")
    min_brightness: float = Field(50.0, ge=0, le=255)
    max_brightness: float = Field(215.0, ge=0, le=255)
    min_contrast: float = Field(18.0, ge=0, le=128, description="std of the face's grey levels")
    max_yaw_deg: float = Field(25.0, gt=0, le=90)
    max_pitch_deg: float = Field(25.0, gt=0, le=90)
    max_roll_deg: float = Field(20.0, gt=0, le=90)
    border_px: int = Field(4, ge=0, description="the face box must stay this far inside the frame")

    @model_validator(mode="after")
    def _brightness_order(self) -> QualityConfig:
        if self.min_brightness >= self.max_brightness:
            raise ValueError("min_brightness must be below max_brightness")
        return self


class RecognitionConfig(Section):
    """The embedding model and the matching rule."""

    weights: ResolvedPath = Field(default="models/20180402-114759-vggface2.pt")  # type: ignore[assignment]
    weights_url: str = (
        "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
        "20180402-114759-vggface2.pt"
    )
    backend: Literal["onnx", "torch"] = "onnx"
    input_mode: Literal["aligned", "crop"] = "aligned"
    threads: int = Field(2, ge=1, le=64)
    batch_size: int = Field(8, ge=1, le=256)
    threshold: float = Field(0.55, ge=-1, le=1, description="minimum cosine similarity to accept")
    margin: float = Field(0.08, ge=0, le=2, description="best minus second-best score")
    frames_to_agree: int = Field(3, ge=1, description="k in k-of-n")
    frames_window: int = Field(5, ge=1, description="n in k-of-n")
    # The retrieve back-off (lockers.backoff.Backoff): the kiosk's service decides how long a
    # customer waits after failed attempts in a row; the screen shows that wait.
    retry_free_failures: int = Field(
        2, ge=0, le=100, description="failed retrieve attempts in a row that cost no wait"
    )
    retry_base_s: float = Field(
        2.0, gt=0, le=3600, description="wait after the first failure past the free ones"
    )
    retry_max_s: float = Field(60.0, gt=0, le=86400, description="the longest wait (doubling)")
    # Development only: run with random weights. Recognition then means nothing; the kiosk
    # command refuses it, the demo labels it loudly.
    allow_untrained: bool = False

    @model_validator(mode="after")
    def _k_of_n(self) -> RecognitionConfig:
        if self.frames_to_agree > self.frames_window:
            raise ValueError("frames_to_agree (k) cannot exceed frames_window (n)")
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("retry_max_s cannot be below retry_base_s")
        return self
