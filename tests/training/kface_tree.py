"""A small K-Face tree in the real layout, built from the portraits in ``../shared/faces``.

``<person>/S00x/Lx/E0x/Cx.jpg`` with box files (``Cx.txt``, ``x y w h``) beside some images, one
malformed box file, one corrupt image, a person whose only image has no face, and a stray file
at the top level. The box of an image is the kiosk detector's box grown by 15 % (annotators draw
looser boxes than MTCNN), written before the test runs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# person id → (shared identity, photos used), each photo placed at (S, L, E, C) below.
PEOPLE = {
    "19062421": ("person01", [1, 2, 3, 4, 5, 6]),
    "19062431": ("person02", [1, 2, 3]),
    "19070111": ("person03", [1, 2]),
}
PLACES = [
    ("S001", "L1", "E01", "C7"),
    ("S001", "L1", "E02", "C8"),
    ("S001", "L2", "E01", "C7"),
    ("S002", "L1", "E01", "C6"),
    ("S001", "L1", "E01", "C19"),  # a far angle: left out by --angles C4-C10
    ("S001", "L25", "E01", "C7"),  # near darkness: left out by --lux L1-L10
]
NO_FACE_PERSON = "19080101"


@dataclass
class KFaceTree:
    root: Path
    with_box: list[str] = field(default_factory=list)
    malformed_box: str = ""
    corrupt: str = ""
    images: list[str] = field(default_factory=list)


def build_kface_tree(shared_faces: Path, root: Path, detect_box: object) -> KFaceTree:
    """Write the tree under ``root``; ``detect_box(path) -> (x1, y1, x2, y2) | None``."""
    tree = KFaceTree(root)
    for person, (identity, photos) in PEOPLE.items():
        for k, photo in enumerate(photos):
            s, lux, e, cam = PLACES[k]
            folder = root / person / s / lux / e
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"{cam}.jpg"
            shutil.copyfile(shared_faces / "identities" / identity / f"{photo}.jpg", target)
            rel = target.relative_to(root).as_posix()
            tree.images.append(rel)
            if k % 2 == 0:
                box = detect_box(target)  # type: ignore[operator]
                if box is not None:
                    x1, y1, x2, y2 = box
                    gx, gy = (x2 - x1) * 0.15, (y2 - y1) * 0.15
                    x, y, w, h = x1 - gx, y1 - gy, x2 - x1 + 2 * gx, y2 - y1 + 2 * gy
                    target.with_suffix(".txt").write_text(f"{x:.0f} {y:.0f} {w:.0f} {h:.0f}\n")
                    tree.with_box.append(rel)
    # One malformed box file (beside an image that has a face: it still gets imported).
    malformed = root / "19062431" / "S001" / "L1" / "E02" / "C8.txt"
    malformed.write_text("bbox: left top width\n")
    tree.malformed_box = malformed.relative_to(root).as_posix()
    # One corrupt image: a JPEG cut in half.
    corrupt = root / "19062421" / "S001" / "L1" / "E03" / "C7.jpg"
    corrupt.parent.mkdir(parents=True)
    data = (shared_faces / "identities" / "person01" / "7.jpg").read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    tree.corrupt = corrupt.relative_to(root).as_posix()
    tree.images.append(tree.corrupt)
    # A person whose only image shows no face.
    blank = root / NO_FACE_PERSON / "S001" / "L1" / "E01" / "C7.jpg"
    blank.parent.mkdir(parents=True)
    Image.fromarray(np.full((480, 640, 3), 128, np.uint8)).save(blank)
    tree.images.append(blank.relative_to(root).as_posix())
    (root / "README.txt").write_text("not part of the layout\n")
    return tree
