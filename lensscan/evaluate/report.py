"""Render evaluation results: report.json for machines, report.md for people, a rich table.

The JSON keeps NaN out (strict JSON has none): an undefined metric is ``null`` and its
model's ``notes`` say why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lensscan.evaluate.metrics import RANKING_METRICS, THRESHOLD_METRICS

REPORT_FORMAT = "lensscan-evaluation/1"
FIELD_REPORT_FORMAT = "lensscan-field-evaluation/1"

# Column headings of the comparison tables, in table order.
METRIC_HEADINGS: dict[str, str] = {
    "auroc": "AUROC",
    "ap": "AP",
    "tpr0": "TPR0",
    "tpr10": "TPR10",
    "tpr_at_fpr_1e-2": "TPR@FPR1e-2",
    "tpr_at_fpr_1e-3": "TPR@FPR1e-3",
    "fpr_at_tpr_0.75": "FPR@TPR0.75",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
}

DEFINITIONS = (
    "TPR0 / TPR10: fraction of lenses scored strictly above the highest / 10th-highest "
    "non-lens; ties count against the model; undefined with fewer than 1 / 10 non-lenses.",
    "TPR@FPR f: largest TPR with FPR <= f (undefined when the set has fewer than 1/f "
    "non-lenses). FPR@TPR t: smallest FPR with TPR >= t.",
    "AUROC and AP (average precision) from scikit-learn. At the threshold, an item with "
    "score >= threshold is a predicted lens.",
    "Intervals: 95% percentile intervals of a stratified bootstrap (lenses and non-lenses "
    "resampled separately), the same resamples for every model.",
)


def json_ready(value: Any) -> Any:
    """Convert NumPy values to Python ones and NaN/inf to None, recursively."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(report: Mapping[str, Any]) -> str:
    """Serialise a report as strict, indented JSON."""
    return json.dumps(json_ready(report), indent=2, allow_nan=False) + "\n"


def format_value(value: float | None, digits: int = 3) -> str:
    """A metric for people: fixed digits, or an em dash when undefined."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def format_with_interval(value: float | None, interval: Sequence[float | None] | None) -> str:
    """``0.879 [0.851, 0.905]``, or the bare value without an interval."""
    text = format_value(value)
    if interval is None or text == "—" or any(v is None for v in interval):
        return text
    low, high = interval
    return f"{text} [{format_value(low)}, {format_value(high)}]"


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _metric_rows(models: Mapping[str, Any], names: Sequence[str]) -> list[list[str]]:
    return [
        [name]
        + [format_with_interval(entry.get(metric), entry["ci95"].get(metric)) for metric in names]
        for name, entry in models.items()
    ]


def report_notes(report: Mapping[str, Any]) -> list[str]:
    """Every note of a report, each once.

    A model note shared by every model (one that depends only on the set, such as an FPR
    the set cannot resolve) is listed once without a model name.
    """
    notes = [*report.get("notes", []), *report.get("data", {}).get("notes", [])]
    models = report.get("models", {})
    for name, entry in models.items():
        for note in entry["notes"]:
            shared = all(note in other["notes"] for other in models.values())
            text = note if shared and len(models) > 1 else f"{name}: {note}"
            if text not in notes:
                notes.append(text)
    return notes


def render_markdown(report: Mapping[str, Any]) -> str:
    """The human-readable report of a cutout evaluation."""
    report = json_ready(report)
    data, settings, models = report["data"], report["settings"], report["models"]
    lines = [
        "# lensscan evaluation",
        "",
        f"- data: `{data['path']}` (split `{data['split']}`, bands {','.join(data['bands'])})",
        f"- {data['n_lenses']} lenses, {data['n_nonlenses']} non-lenses",
        f"- threshold {settings['threshold']:g}; bootstrap {settings['bootstrap']} replicates, "
        f"seed {settings['seed']}",
        f"- lensscan {report['provenance']['lensscan_version']}, "
        f"{report['provenance']['created_utc']}",
    ]
    lines += ["", "## Ranking metrics (95% bootstrap intervals)", ""]
    lines += _markdown_table(
        ["model", *(METRIC_HEADINGS[m] for m in RANKING_METRICS)],
        _metric_rows(models, RANKING_METRICS),
    )
    lines += ["", f"## At threshold {settings['threshold']:g}", ""]
    header = ["model", *(METRIC_HEADINGS[m] for m in THRESHOLD_METRICS), "TN", "FP", "FN", "TP"]
    rows = [
        row + [str(models[name]["confusion_matrix"][k]) for k in ("tn", "fp", "fn", "tp")]
        for name, row in zip(models, _metric_rows(models, THRESHOLD_METRICS), strict=True)
    ]
    lines += _markdown_table(header, rows)
    notes = report_notes(report)
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in notes]
    lines += ["", "## Models", ""]
    for name, entry in models.items():
        model = entry["model"]
        lines.append(
            f"- **{name}**: {model['encoder']} / {model['method']}, bands "
            f"{','.join(model['bands'])}, `{model['path']}`, sha256 `{model['sha256']}`"
        )
    lines += ["", "## Definitions", ""]
    lines += [f"- {definition}" for definition in DEFINITIONS]
    lines += ["", "## Figures", ""]
    lines += [f"![{title}]({file})" for title, file in report["figures"].items()]
    return "\n".join(lines) + "\n"


def comparison_table(report: Mapping[str, Any]) -> Any:
    """A rich table comparing models (value over its interval in each cell)."""
    from rich.markup import escape
    from rich.table import Table

    report = json_ready(report)
    data = report["data"]
    table = Table(
        title=escape(
            f"{data['path']}, split {data['split']}: {data['n_lenses']} lenses, "
            f"{data['n_nonlenses']} non-lenses (95% bootstrap intervals)"
        )
    )
    shown = (*RANKING_METRICS, "f1")
    table.add_column("model", overflow="fold")
    for metric in shown:
        table.add_column(METRIC_HEADINGS[metric], justify="right", overflow="fold")
    for name, entry in report["models"].items():
        cells = []
        for metric in shown:
            interval = entry["ci95"].get(metric)
            text = format_value(entry.get(metric))
            if interval and text != "—" and None not in interval:
                text += f"\n{format_value(interval[0])}–{format_value(interval[1])}"
            cells.append(text)
        table.add_row(escape(name), *cells)
    return table


def render_field_markdown(report: Mapping[str, Any]) -> str:
    """The human-readable report of a field evaluation."""
    report = json_ready(report)
    summary, settings = report["summary"], report["settings"]
    astrometry = summary["astrometry_arcsec"]
    lines = [
        "# lensscan field evaluation",
        "",
        f"- candidates: `{settings['catalog']}`",
        f"- truth: `{settings['truth']}`",
        f"- match radius {settings['match_radius']:g} arcsec, one-to-one, best score first",
        f"- area {summary['area_deg2']:.4g} deg2 ({summary['area_source']})",
        f"- lensscan {report['provenance']['lensscan_version']}, "
        f"{report['provenance']['created_utc']}",
        "",
        "## Summary",
        "",
    ]
    rows = [
        ["candidates", str(summary["n_candidates"])],
        ["true lenses", str(summary["n_truth"])],
        ["matched", str(summary["n_matched"])],
        ["completeness", format_value(summary["completeness"])],
        ["purity", format_value(summary["purity"])],
        ["false positives per deg2", format_value(summary["false_positives_per_deg2"], 1)],
        ["median separation (arcsec)", format_value(astrometry["median_separation"])],
        ["RMS separation (arcsec)", format_value(astrometry["rms_separation"])],
        ["mean offset RA cos(Dec) (arcsec)", format_value(astrometry["mean_offset_ra_cosdec"])],
        ["mean offset Dec (arcsec)", format_value(astrometry["mean_offset_dec"])],
    ]
    rows += [
        [f"completeness in top {rank}", format_value(value)]
        for rank, value in summary["completeness_at_rank"].items()
    ]
    lines += _markdown_table(["quantity", "value"], rows)
    lines += ["", "## Against score threshold", ""]
    lines += _markdown_table(
        ["score >=", "candidates", "completeness", "purity", "FP per deg2"],
        [
            [
                f"{row['threshold']:g}",
                str(row["n_candidates"]),
                format_value(row["completeness"]),
                format_value(row["purity"]),
                format_value(row["false_positives_per_deg2"], 1),
            ]
            for row in summary["at_threshold"]
        ],
    )
    lines += ["", "## Figures", ""]
    lines += [f"![{title}]({file})" for title, file in report["figures"].items()]
    return "\n".join(lines) + "\n"


def field_table(report: Mapping[str, Any]) -> Any:
    """A rich table of the field evaluation's headline numbers."""
    from rich.table import Table

    summary = json_ready(report)["summary"]
    table = Table(title="field evaluation")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = {
        "candidates / true lenses": f"{summary['n_candidates']} / {summary['n_truth']}",
        "matched": str(summary["n_matched"]),
        "completeness": format_value(summary["completeness"]),
        "purity": format_value(summary["purity"]),
        "false positives per deg2": format_value(summary["false_positives_per_deg2"], 1),
        "median / RMS separation (arcsec)": (
            f"{format_value(summary['astrometry_arcsec']['median_separation'])} / "
            f"{format_value(summary['astrometry_arcsec']['rms_separation'])}"
        ),
        **{
            f"completeness in top {rank}": format_value(value)
            for rank, value in summary["completeness_at_rank"].items()
        },
    }
    for name, value in rows.items():
        table.add_row(name, value)
    return table
