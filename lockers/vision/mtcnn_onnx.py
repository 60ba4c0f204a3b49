"""MTCNN on ONNX Runtime: facenet-pytorch's three networks, our own numpy cascade.

facenet-pytorch's ``detect_face`` spends most of a kiosk frame on per-box torch calls (every
candidate is cropped and resampled by its own ``interpolate``) and on framework overhead around
tiny convolutions. Here the cascade is numpy + OpenCV and the networks run on ONNX Runtime; the
steps, thresholds and box arithmetic follow ``facenet_pytorch/models/utils/detect_face.py``
(v2.5.3) so that results agree with it (a test checks that on real photos).

The networks are exported once from the weights inside the facenet-pytorch wheel and cached
under names keyed by those files' SHA-256; later starts load them without importing torch.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockers.errors import WeightsError

NET_NAMES = ("pnet", "rnet", "onet")
_INPUT_SIZES = {"rnet": 24, "onet": 48}


def _facenet_data_dir() -> Path:
    # Found without importing facenet_pytorch (which would import torch).
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "facenet-pytorch is not installed: the MTCNN weights ship inside it",
            hint="pip install facenet-pytorch==2.5.3",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def mtcnn_weights_sha() -> str:
    """SHA-256 over the three MTCNN weight files of the installed facenet-pytorch."""
    digest = hashlib.sha256()
    for name in NET_NAMES:
        digest.update((_facenet_data_dir() / f"{name}.pt").read_bytes())
    return digest.hexdigest()


def onnx_paths(cache_dir: Path) -> dict[str, Path]:
    """Where the exported networks are cached in ``cache_dir``."""
    key = mtcnn_weights_sha()[:16]
    return {name: cache_dir / f"mtcnn-{name}.{key}.onnx" for name in NET_NAMES}


def export_mtcnn(cache_dir: Path) -> dict[str, Path]:
    """Export P-, R- and O-Net to ONNX in ``cache_dir`` (atomically); returns their paths."""
    import torch
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    from lockers.vision.onnx_export import export_checked

    paths = onnx_paths(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    nets: dict[str, tuple[torch.nn.Module, tuple[int, ...], dict[str, Any]]] = {
        "pnet": (PNet(), (1, 3, 48, 64), {"image": {2: "h", 3: "w"}}),
        "rnet": (RNet(), (2, 3, 24, 24), {"image": {0: "n"}}),
        "onet": (ONet(), (2, 3, 48, 48), {"image": {0: "n"}}),
    }
    outputs = {"pnet": ["reg", "prob"], "rnet": ["reg", "prob"], "onet": ["reg", "points", "prob"]}
    for name, (net, shape, axes) in nets.items():
        if paths[name].is_file():
            continue
        dynamic = dict(axes)
        if name != "pnet":
            for out in outputs[name]:
                dynamic[out] = {0: "n"}
        export_checked(
            net,
            torch.zeros(shape),
            paths[name],
            input_name="image",
            output_names=outputs[name],
            dynamic_axes=dynamic,
            check=lambda _path: None,  # facenet-pytorch's own weights; the cascade test checks
        )
    return paths


@dataclass(frozen=True)
class CascadeSettings:
    """MTCNN's knobs: smallest face (in the input's pixels), per-stage thresholds, pyramid step."""

    min_face_px: float
    thresholds: tuple[float, float, float]
    scale_factor: float


class OnnxMtcnn:
    """The MTCNN cascade with its networks on ONNX Runtime.

    Args:
        cache_dir: where the exported networks live (exported on first use if missing).
        threads: ONNX Runtime intra-op threads.
    """

    def __init__(self, cache_dir: Path, threads: int = 2) -> None:
        import onnxruntime as ort

        paths = onnx_paths(cache_dir)
        if not all(p.is_file() for p in paths.values()):
            paths = export_mtcnn(cache_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self._sessions = {
                name: ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                for name, path in paths.items()
            }
        except Exception as exc:  # ORT's own untyped errors for damaged files
            raise WeightsError(
                f"cannot load the MTCNN ONNX models in {cache_dir}: {exc}",
                hint=f"delete {cache_dir}/mtcnn-*.onnx; they are re-exported on the next start",
            ) from None

    def _run(self, name: str, batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        return self._sessions[name].run(None, {"image": batch})  # type: ignore[no-any-return]

    def detect(
        self, image: npt.NDArray[np.uint8], settings: CascadeSettings
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Faces in an RGB uint8 image of shape ``(H, W, 3)``.

        Returns:
            ``boxes`` of shape ``(n, 5)``: x1, y1, x2, y2 (pixels) and probability; and
            ``points`` of shape ``(n, 5, 2)``: the 5 landmarks (x, y).
        """
        import cv2

        height, width = image.shape[:2]
        pixels = image.astype(np.float32)
        empty = (np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32))

        # Stage 1: P-Net over the image pyramid.
        m = 12.0 / settings.min_face_px
        min_side = min(height, width) * m
        scale = m
        candidates = []
        while min_side >= 12:
            size = (int(width * scale + 1), int(height * scale + 1))
            level = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
            batch = ((level - 127.5) * 0.0078125).transpose(2, 0, 1)[None]
            reg, prob = self._run("pnet", np.ascontiguousarray(batch))
            boxes = _generate_boxes(reg[0], prob[0, 1], scale, settings.thresholds[0])
            if len(boxes):
                candidates.append(boxes[_nms(boxes[:, :4], boxes[:, 4], 0.5)])
            scale *= settings.scale_factor
            min_side *= settings.scale_factor
        if not candidates:
            return empty
        boxes = np.concatenate(candidates)
        boxes = boxes[_nms(boxes[:, :4], boxes[:, 4], 0.7)]
        regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        boxes = np.stack(
            [
                boxes[:, 0] + boxes[:, 5] * regw,
                boxes[:, 1] + boxes[:, 6] * regh,
                boxes[:, 2] + boxes[:, 7] * regw,
                boxes[:, 3] + boxes[:, 8] * regh,
                boxes[:, 4],
            ],
            axis=1,
        )
        boxes = _square(boxes)
        return self._refine(pixels, boxes, settings)

    def refine(
        self,
        image: npt.NDArray[np.uint8],
        candidates: npt.NDArray[np.float32],
        settings: CascadeSettings,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Only the later stages (R-Net, then O-Net) on given candidate boxes ``(k, 4)``.

        The tracker's path: candidates come from the last frame's faces instead of the P-Net
        pyramid, which is most of a frame's detection cost. Same outputs as :meth:`detect`.
        """
        if not len(candidates):
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        boxes = np.zeros((len(candidates), 5), np.float32)
        boxes[:, :4] = candidates[:, :4]
        return self._refine(image.astype(np.float32), _square(boxes), settings)

    def _refine(
        self,
        pixels: npt.NDArray[np.float32],
        boxes: npt.NDArray[np.float32],
        settings: CascadeSettings,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        empty = (np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32))
        # Stage 2: R-Net refines and rejects.
        crops, boxes = _crops(pixels, boxes, 24)
        if not len(boxes):
            return empty
        reg, prob = self._run("rnet", crops)
        keep = prob[:, 1] > settings.thresholds[1]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg = reg[keep]
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_apply_regression(boxes[pick], reg[pick]))

        # Stage 3: O-Net gives the final boxes and the landmarks.
        crops, boxes = _crops(pixels, boxes, 48)
        if not len(boxes):
            return empty
        reg, points, prob = self._run("onet", crops)
        keep = prob[:, 1] > settings.thresholds[2]
        boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
        reg, points = reg[keep], points[keep]
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        xs = w[:, None] * points[:, :5] + boxes[:, 0:1] - 1
        ys = h[:, None] * points[:, 5:10] + boxes[:, 1:2] - 1
        landmarks = np.stack([xs, ys], axis=2)
        boxes = _apply_regression(boxes, reg)
        pick = _nms(boxes[:, :4], boxes[:, 4], 0.7, method="min", plus_one=True)
        return boxes[pick].astype(np.float32), landmarks[pick].astype(np.float32)


def _generate_boxes(
    reg: npt.NDArray[np.float32], prob: npt.NDArray[np.float32], scale: float, threshold: float
) -> npt.NDArray[np.float32]:
    """P-Net's output map → candidate boxes ``(k, 9)``: x1 y1 x2 y2 score dx1 dy1 dx2 dy2."""
    stride, cell = 2, 12
    ys, xs = np.nonzero(prob >= threshold)
    if not len(ys):
        return np.zeros((0, 9), np.float32)
    q1x = np.floor((stride * xs + 1) / scale)
    q1y = np.floor((stride * ys + 1) / scale)
    q2x = np.floor((stride * xs + cell) / scale)
    q2y = np.floor((stride * ys + cell) / scale)
    return np.stack(
        [q1x, q1y, q2x, q2y, prob[ys, xs], *(reg[i, ys, xs] for i in range(4))], axis=1
    ).astype(np.float32)


def _nms(
    boxes: npt.NDArray[np.float32],
    scores: npt.NDArray[np.float32],
    threshold: float,
    method: str = "union",
    plus_one: bool = False,
) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression; indices kept, best score first."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    one = 1.0 if plus_one else 0.0
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    area = (x2 - x1 + one) * (y2 - y1 + one)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + one)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + one)
        inter = w * h
        if method == "min":
            overlap = inter / np.minimum(area[i], area[rest])
        else:
            overlap = inter / (area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, np.int64)


def _apply_regression(
    boxes: npt.NDArray[np.float32], reg: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def _square(boxes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    out = boxes.copy()
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _crops(
    pixels: npt.NDArray[np.float32], boxes: npt.NDArray[np.float32], size: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Each box cut out (clipped to the image, as facenet-pytorch does), resized to
    ``size`` x ``size`` and normalised, as NCHW; boxes with nothing inside the image are
    dropped."""
    import cv2

    height, width = pixels.shape[:2]
    ints = np.trunc(boxes[:, :4]).astype(np.int64)
    x = np.maximum(ints[:, 0], 1)
    y = np.maximum(ints[:, 1], 1)
    ex = np.minimum(ints[:, 2], width)
    ey = np.minimum(ints[:, 3], height)
    valid = (ey > y - 1) & (ex > x - 1)
    crops = [
        cv2.resize(pixels[y[k] - 1 : ey[k], x[k] - 1 : ex[k]], (size, size),
                   interpolation=cv2.INTER_AREA)
        for k in np.flatnonzero(valid)
    ]
    if not crops:
        return np.zeros((0, 3, size, size), np.float32), boxes[:0]
    batch = (np.stack(crops) - 127.5) * 0.0078125
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2)), boxes[valid]
