"""Face detection with facenet-pytorch's MTCNN (the only module that imports it).

Kiosk settings: faces are near and large, so detection runs on a downscaled copy of the frame
with a large minimum face size; the image pyramid is then a handful of small levels instead of
the default dozen, which is most of the speed-up over ``MTCNN()``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lockers.config import DetectionConfig
from lockers.vision.image_io import check_rgb
from lockers.vision.types import DetectedFace, Detections

if TYPE_CHECKING:
    from facenet_pytorch import MTCNN

    from lockers.vision.mtcnn_onnx import OnnxMtcnn

# P-Net's receptive field: MTCNN cannot look for faces smaller than this in its input.
_PNET_MIN_PX = 12


class FaceDetector:
    """Finds faces and their 5 landmarks in RGB frames, and picks the subject.

    Args:
        config: detection settings (back-end, minimum face size in frame pixels, thresholds,
            downscaling).
        threads: intra-op threads (process-wide in torch; the kiosk sets one value).
        cache_dir: where the ONNX back-end keeps its exported networks (default
            ``~/.cache/lockers``; the kiosk passes its models folder).
    """

    def __init__(
        self, config: DetectionConfig, threads: int = 2, cache_dir: Path | None = None
    ) -> None:
        self.config = config
        self._onnx: OnnxMtcnn | None = None
        self._mtcnn: MTCNN | None = None
        if config.backend == "onnx":
            from lockers.vision.mtcnn_onnx import OnnxMtcnn

            self._onnx = OnnxMtcnn(cache_dir or Path.home() / ".cache" / "lockers", threads)
        else:
            import torch
            from facenet_pytorch import MTCNN

            if threads > 0:
                torch.set_num_threads(threads)
            self._mtcnn = MTCNN(
                min_face_size=config.min_face_px,  # replaced per call by the scaled value
                thresholds=list(config.thresholds),
                factor=config.scale_factor,
                select_largest=True,
                keep_all=True,
                device="cpu",
            ).eval()

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        """Detect faces in an RGB uint8 frame of shape ``(H, W, 3)``.

        Returns:
            :class:`Detections` with the subject (largest, most central face) first and the
            ``multiple_faces`` flag. Boxes and landmarks are in the frame's pixel coordinates.

        Raises:
            ValueError: ``image`` is not an ``(H, W, 3)`` uint8 array.
        """
        check_rgb(image)
        height, width = image.shape[:2]
        small, scale = self._downscaled(image)
        if min(small.shape[:2]) < _PNET_MIN_PX:
            return Detections(frame_size=(width, height))
        boxes, probs, points = self._run(small, max(_PNET_MIN_PX, self.config.min_face_px * scale))
        return self._detections(boxes, probs, points, scale, (width, height))

    @property
    def can_refine(self) -> bool:
        """Whether :meth:`refine` is available (the ONNX cascade; facenet-pytorch has no such
        entry point)."""
        return self._onnx is not None

    def refine(
        self, image: npt.NDArray[np.uint8], candidates: npt.NDArray[np.float32]
    ) -> Detections:
        """R-Net and O-Net only, on candidate boxes ``(k, 4)`` in frame pixels (the tracker's
        path): the faces they confirm, ordered as :meth:`detect` orders them."""
        from lockers.vision.mtcnn_onnx import CascadeSettings

        if self._onnx is None:
            raise RuntimeError("refine needs the onnx detection back-end")
        height, width = image.shape[:2]
        small, scale = self._downscaled(image)
        settings = CascadeSettings(
            max(_PNET_MIN_PX, self.config.min_face_px * scale),
            self.config.thresholds,
            self.config.scale_factor,
        )
        scaled = np.asarray(candidates, np.float32) * scale
        boxes, points = self._onnx.refine(small, scaled, settings)
        return self._detections(boxes[:, :4], boxes[:, 4], points, scale, (width, height))

    def _downscaled(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.uint8], float]:
        import cv2

        height, width = image.shape[:2]
        scale = self._scale_for(width, height)
        if scale >= 1.0:
            return image, 1.0
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), size[0] / width

    def _detections(
        self, boxes: Any, probs: Any, points: Any, scale: float, frame_size: tuple[int, int]
    ) -> Detections:
        if boxes is None or len(boxes) == 0:
            return Detections(frame_size=frame_size)
        faces = [
            DetectedFace(
                box=tuple(float(v) / scale for v in box),  # type: ignore[arg-type]
                prob=float(prob),
                landmarks=(np.asarray(pts, dtype=np.float32) / scale),
            )
            for box, prob, pts in zip(boxes, probs, points, strict=True)
            if box[2] > box[0] and box[3] > box[1]
        ]
        return select_subject(faces, frame_size, self.config.crowd_min_relative_size)

    def _run(
        self, image: npt.NDArray[np.uint8], min_face_px: float
    ) -> tuple[npt.NDArray[np.float32] | None, Any, Any]:
        if self._onnx is not None:
            from lockers.vision.mtcnn_onnx import CascadeSettings

            settings = CascadeSettings(
                min_face_px, self.config.thresholds, self.config.scale_factor
            )
            boxes, points = self._onnx.detect(image, settings)
            return boxes[:, :4], boxes[:, 4], points
        import torch

        mtcnn = self._mtcnn
        if mtcnn is None:  # __init__ sets exactly one of the two back-ends
            raise RuntimeError("FaceDetector has no detection back-end")
        mtcnn.min_face_size = min_face_px
        with torch.inference_mode():
            return mtcnn.detect(image, landmarks=True)  # type: ignore[no-any-return]

    def _scale_for(self, width: int, height: int) -> float:
        limit = self.config.detect_max_side_px
        if limit <= 0 or max(width, height) <= limit:
            return 1.0
        # Never shrink so far that the smallest wanted face falls below what P-Net can see.
        floor = _PNET_MIN_PX / self.config.min_face_px
        return max(limit / max(width, height), min(1.0, floor))


def select_subject(
    faces: list[DetectedFace], frame_size: tuple[int, int], crowd_min_relative_size: float
) -> Detections:
    """Order faces subject-first and decide whether a second person is in front of the kiosk.

    The subject maximises area weighted by centrality (a face at the frame centre counts fully,
    one at a corner half), so a large face wins, and between similar faces the central one.
    Another face counts as a second person when its width is at least
    ``crowd_min_relative_size`` of the subject's.
    """
    if not faces:
        return Detections(frame_size=frame_size)
    cx, cy = frame_size[0] / 2, frame_size[1] / 2
    half_diag = math.hypot(cx, cy) or 1.0

    def score(face: DetectedFace) -> float:
        fx, fy = face.center
        centrality = 1.0 - 0.5 * min(1.0, math.hypot(fx - cx, fy - cy) / half_diag)
        return face.width * face.height * centrality

    ordered = sorted(faces, key=score, reverse=True)
    subject = ordered[0]
    crowd = any(f.width >= crowd_min_relative_size * subject.width for f in ordered[1:])
    return Detections(frame_size=frame_size, faces=tuple(ordered), multiple_faces=crowd)
