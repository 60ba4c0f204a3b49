"""The report of a K-Face import: the whole import, all runs together, per axis and per person,
with every rejected image and box-file problem, plus the speed of the last run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockers.training.kface_layout import AXES, AxisFilter, KFaceScan, natural_key
from lockers.training.kface_worker import ImageOutcome, ImportOptions


def import_report(
    scan: KFaceScan,
    done: dict[str, ImageOutcome],
    keep: AxisFilter,
    options: ImportOptions,
    src: Path,
    dst: Path,
    skipped: int,
    speed: dict[str, Any],
) -> dict[str, Any]:
    """The report written beside the import (``speed``: of this run)."""
    tally = _tally(scan, done)
    written_per_person, box_use, bad_boxes = (
        tally.written_per_person,
        tally.box_use,
        tally.bad_boxes,
    )
    without = [p for p in scan.people if not written_per_person[p]]
    return {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": str(src),
        "output": str(dst),
        "input_mode": options.mode,
        "quality_gate": options.gate,
        "box_format": options.box_format,
        "filters": keep.describe(),
        "images_found": len(scan.selected) + scan.filtered_total,
        "images_filtered_out": scan.filtered_total,
        "images_selected": len(scan.selected),
        "written": sum(written_per_person.values()),
        "rejected_count": len(tally.rejected),
        "skipped_already_done": skipped,
        "people": len(scan.people),
        "people_with_faces": len(scan.people) - len(without),
        "people_without_faces": without,
        "faces_per_person": dict(sorted(written_per_person.items())),
        "reasons": dict(tally.reasons.most_common()),
        "per_axis": tally.sorted_per_axis(scan),
        "box_files": {
            "located_by_box_file": box_use["file"],
            "no_box_file": box_use["detector"],
            "unusable": len(bad_boxes),
            "problems": bad_boxes,
            "note": "a box file picks the subject among the kiosk detector's faces; box, "
            "landmarks and crop are always the detector's, as at the kiosk",
        },
        "rejected": tally.rejected,
        "ignored_entries": scan.ignored,
        "speed": speed,
    }


def _reason_code(reason: str) -> str:
    """``"unreadable: image … is truncated"`` → ``"unreadable"``, for the counts."""
    return reason.split(":", 1)[0]


@dataclass
class _Tally:
    """The outcomes of the selected images, counted."""

    per_axis: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=lambda: {axis: {} for axis in AXES}
    )
    written_per_person: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    box_use: Counter[str] = field(default_factory=Counter)
    bad_boxes: dict[str, str] = field(default_factory=dict)

    def axis_row(self, axis: str, value: str) -> dict[str, int]:
        return self.per_axis[axis].setdefault(
            value, {"written": 0, "rejected": 0, "filtered_out": 0}
        )

    def sorted_per_axis(self, scan: KFaceScan) -> dict[str, dict[str, dict[str, int]]]:
        """Per axis value: written, rejected and filtered out, in natural order."""
        for axis in AXES:
            for value, count in scan.filtered[axis].items():
                self.axis_row(axis, value)["filtered_out"] += count
        return {
            axis: dict(sorted(rows.items(), key=lambda kv: natural_key(kv[0])))
            for axis, rows in self.per_axis.items()
        }


def _tally(scan: KFaceScan, done: dict[str, ImageOutcome]) -> _Tally:
    tally = _Tally()
    for image in scan.selected:
        outcome = done.get(image.rel)
        if outcome is None:
            continue
        tally.box_use[outcome.box] += 1
        if outcome.box_problem:
            tally.bad_boxes[image.box_rel] = outcome.box_problem
        kind = "written" if outcome.written else "rejected"
        if outcome.written:
            tally.written_per_person[image.person] += 1
        else:
            tally.rejected[image.rel] = outcome.reasons
            tally.reasons.update(_reason_code(r) for r in outcome.reasons)
        for axis in AXES:
            tally.axis_row(axis, image.value(axis))[kind] += 1
    return tally
