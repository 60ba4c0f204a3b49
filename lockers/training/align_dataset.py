"""``lockers dataset align``: a folder-per-person photo tree → aligned 160x160 faces.

Each photo goes through the kiosk's own detector, quality gate and aligner
(:func:`lockers.training.faces.prepare_faces`), so a model is trained on exactly the crops the
kiosk will give it. Rejected photos are listed with their reasons in ``align-report.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lockers.training.dataset import DatasetError, scan_identity_tree
from lockers.training.faces import FacePreparer, InputMode, Progress

if TYPE_CHECKING:
    from lockers.config import Settings

REPORT_NAME = "align-report.json"


@dataclass
class AlignReport:
    written: int = 0
    skipped_existing: int = 0
    rejected: dict[str, list[str]] = field(default_factory=dict)
    identities_without_faces: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> dict[str, int]:
        """Rejection reason → number of photos."""
        return dict(Counter(r for reasons in self.rejected.values() for r in reasons))


def align_dataset(
    src: Path,
    dst: Path,
    settings: Settings,
    mode: InputMode = "aligned",
    gate: bool = True,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> AlignReport:
    """Write ``dst/<person>/<photo stem>.png`` for every usable face under ``src``.

    Existing outputs are kept (the run can be resumed) unless ``overwrite``.

    Raises:
        DatasetError: ``src`` has no images, or ``dst`` is inside ``src``.
    """
    from PIL import Image

    src, dst = Path(src).resolve(), Path(dst).resolve()
    if dst == src or src in dst.parents:
        raise DatasetError(
            f"the output folder {dst} is inside the source {src}",
            hint="write the aligned faces to a separate folder",
        )
    index = scan_identity_tree(src)
    report = AlignReport()
    preparer = FacePreparer(src, settings, (mode,), "detect", gate)
    faces_per_identity: Counter[str] = Counter()
    total = len(index.paths)
    for done, rel in enumerate(index.paths, start=1):
        person = rel.split("/", 1)[0]
        target = dst / Path(rel).with_suffix(".png")
        if target.is_file() and not overwrite:
            report.skipped_existing += 1
            faces_per_identity[person] += 1
        else:
            prepared = preparer.prepare(rel)
            if prepared.ok:
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(prepared.faces[mode]).save(target)
                report.written += 1
                faces_per_identity[person] += 1
            else:
                report.rejected[rel] = prepared.rejected
        if progress:
            progress(done, total)
    report.identities_without_faces = [p for p in index.identities if not faces_per_identity[p]]
    settings_used = {"source": str(src), "input_mode": mode, "quality_gate": gate, "images": total}
    _write_report(dst, report, settings_used)
    return report


def _write_report(dst: Path, report: AlignReport, run: dict[str, object]) -> None:
    """``dst/<REPORT_NAME>``: how the run was made (``run``) and what became of each photo."""
    dst.mkdir(parents=True, exist_ok=True)
    document = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        **run,
        "written": report.written,
        "skipped_existing": report.skipped_existing,
        "rejected_count": len(report.rejected),
        "reasons": report.reasons,
        "rejected": report.rejected,
        "identities_without_faces": report.identities_without_faces,
    }
    (dst / REPORT_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
