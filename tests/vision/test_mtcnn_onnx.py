"""Our ONNX Runtime cascade agrees with facenet-pytorch's own MTCNN on real photos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lockers.config import DetectionConfig
from lockers.vision.detector import FaceDetector
from lockers.vision.image_io import load_image
from lockers.vision.mtcnn_onnx import _nms, onnx_paths
from lockers.vision.types import DetectedFace

IMAGES = ["person01_1.jpg", "person01_2.jpg", "person02_1.jpg", "person03_1.jpg", "couple.jpg",
          "multiface.jpg"]


def _iou(a: DetectedFace, b: DetectedFace) -> float:
    ax1, ay1, ax2, ay2 = a.box
    bx1, by1, bx2, by2 = b.box
    w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    return inter / (a.width * a.height + b.width * b.height - inter)


@pytest.mark.parametrize("image_name", IMAGES)
def test_onnx_cascade_finds_the_same_faces_as_facenet_pytorch(
    image_name: str, faces_dir: Path
) -> None:
    config = DetectionConfig(min_face_px=30, detect_max_side_px=0)
    ours = FaceDetector(config.model_copy(update={"backend": "onnx"})).detect(
        load_image(faces_dir / image_name)
    )
    reference = FaceDetector(config.model_copy(update={"backend": "torch"})).detect(
        load_image(faces_dir / image_name)
    )
    assert len(ours.faces) == len(reference.faces)
    assert ours.multiple_faces == reference.multiple_faces
    for face in reference.faces:
        twin = max(ours.faces, key=lambda f: _iou(f, face))
        assert _iou(twin, face) > 0.8
        assert abs(twin.prob - face.prob) < 0.05
        # The crops are resampled by OpenCV instead of torch: landmarks move by a few percent.
        assert np.abs(twin.landmarks - face.landmarks).max() < 0.08 * face.width


def test_exported_networks_are_cached_and_reused_without_torch(tmp_path: Path) -> None:
    FaceDetector(DetectionConfig(), cache_dir=tmp_path)
    paths = onnx_paths(tmp_path)
    assert all(p.is_file() for p in paths.values())
    code = (
        "import sys; from pathlib import Path\n"
        "import numpy as np\n"
        "from lockers.config import DetectionConfig\n"
        "from lockers.vision.detector import FaceDetector\n"
        f"d = FaceDetector(DetectionConfig(), cache_dir=Path({str(tmp_path)!r}))\n"
        "d.detect(np.zeros((480, 640, 3), np.uint8))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.8, 0.9, 0.7], np.float32)
    assert list(_nms(boxes, scores, 0.5)) == [1, 2]
    assert list(_nms(boxes, scores, 0.99)) == [1, 0, 2]
    assert len(_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5)) == 0
