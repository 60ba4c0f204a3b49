"""Build lockers/demo/sample_faces.mp4: the camera replay for `lockers demo` and `lockers bench`.

Three portrait segments at 640x480, 10 fps, with a slow drift and zoom so consecutive frames
differ like a live camera's: person A, a stranger, then person A again from another photo
(register → someone else → retrieve). Photos come from ../shared/faces (see its README for their
origin: MIT-licensed test data of serengil/deepface and timesler/facenet-pytorch).

    python scripts/make_sample_video.py [--shared DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

SEGMENTS = [("identities/person01/2.jpg", 30), ("identities/person03/1.jpg", 20),
            ("identities/person01/1.jpg", 30)]
WIDTH, HEIGHT, FPS = 640, 480, 10


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=repo.parent / "shared" / "faces")
    parser.add_argument("--out", type=Path, default=repo / "lockers" / "demo" / "sample_faces.mp4")
    args = parser.parse_args()
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {args.out}")
    for name, frames in SEGMENTS:
        image = cv2.imread(str(args.shared / name))
        if image is None:
            raise SystemExit(f"cannot read {args.shared / name}")
        h, w = image.shape[:2]
        for i in range(frames):
            scale = HEIGHT * 1.05 / h * (1 + 0.04 * np.sin(i / 8))
            dx = WIDTH / 2 - scale * w / 2 + 6 * np.sin(i / 6)
            matrix = np.array([[scale, 0, dx], [0, scale, HEIGHT / 2 - scale * h / 2]])
            grey = (200, 200, 200)
            writer.write(cv2.warpAffine(image, matrix, (WIDTH, HEIGHT), borderValue=grey))
    writer.release()
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
