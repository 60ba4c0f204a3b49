"""The comparison table of ``evaluate --compare``, as rows (for the terminal) and Markdown."""

from __future__ import annotations

from typing import Any


def table(report: dict[str, Any], compact: bool = False) -> tuple[list[str], list[list[str]]]:
    """Column headers and one row of cells per model, baseline first.

    Every model is scored on the same pairs, so the impostor-pair count behind each TAR figure
    (and behind the threshold) is the same for all rows: it is given in the column header.
    ``compact`` shortens the headers and the paired-test cell for a terminal.
    """
    first = report["models"][0]
    n_imp = report["n_impostor"]
    target = report["target_far"]
    imp = "imp." if compact else "impostor pairs"
    headers = ["model", "accuracy" if compact else "accuracy (10-fold)", "AUC", "EER"]
    headers += [f"TAR@FAR={t['target_far']:g} ({n_imp} {imp})" for t in first["tar_at_far"]]
    headers += [
        f"threshold for FAR={target:g}",
        "ms/face" if compact else "ms/face (ONNX, 1 face/call)",
        "vs baseline (McNemar)",
    ]
    rows = []
    for m in report["models"]:
        t = m["threshold_at_target_far"]
        paired = m["vs_baseline"]
        verdict = "baseline" if paired is None else paired["at_accuracy_threshold"]["verdict"]
        if compact:
            verdict = verdict.replace("no significant difference", "no significant diff.")
        rows.append(
            [
                m["label"],
                f"{m['accuracy']['mean']:.4f} ± {m['accuracy']['std']:.4f}",
                f"{m['auc']:.4f}",
                f"{m['eer']['eer']:.4f}",
                *(f"{x['tar']:.3f}{'' if x['supported'] else '*'}" for x in m["tar_at_far"]),
                f"{t['threshold']:.3f}{'' if t['supported'] else '*'} (FAR {t['far']:.1e})",
                f"{m['ms_per_face_single']:.1f}",
                verdict,
            ]
        )
    return headers, rows


def notes(report: dict[str, Any]) -> list[str]:
    """The lines under the table: what the star, the test and the timing mean."""
    lines = []
    first = report["models"][0]
    for t in first["tar_at_far"]:
        if not t["supported"]:
            lines.append(f"* FAR={t['target_far']:g}: {t['note']}; the figure says nothing there.")
    t = first["threshold_at_target_far"]
    if not t["supported"]:
        lines.append(f"* threshold for FAR={t['target_far']:g}: {t['note']}.")
    lines.append(
        "vs baseline: McNemar's exact test on the per-pair decisions of each model at its own "
        "accuracy threshold (same pairs, same crops); 'no significant difference' means the "
        "gap is within noise at p < 0.05. At the target-FAR thresholds: see compare.json."
    )
    lines.append(
        "ms/face: median of single-face calls on the kiosk's ONNX Runtime embedder on this "
        "machine (a shared CPU makes it noisy)."
    )
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The whole comparison as a Markdown document."""
    headers, rows = table(report)
    out = ["# Model comparison", ""]
    if report["untrained_models"]:
        out += [f"> **WARNING: {report['warning']}**", ""]
    out += [
        f"Pairs: `{report['pairs_file']}` ({report['pairs_used']} of {report['pairs_total']} "
        f"used: {report['n_genuine']} genuine, {report['n_impostor']} impostor), images under "
        f"`{report['images_root']}`, {report['input_mode']} crops from the kiosk's detector "
        f"and aligner (quality gate {'on' if report['quality_gate'] else 'off'}), "
        f"{len(report['images_rejected'])} images rejected. Baseline: {report['baseline']}.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    out.append("")
    out += [f"- {line}" for line in notes(report)]
    out += ["", "| model | weights | model version |", "|---|---|---|"]
    out += [f"| {m['label']} | `{m['weights']}` | {m['model_version']} |" for m in report["models"]]
    out += ["", "![ROC](roc.png) ![DET](det.png)", ""]
    timing = report.get("timing_s")
    if timing:
        out += [f"Wall time {timing['total']:.1f} s ({timing['note']}).", ""]
    return "\n".join(out)
