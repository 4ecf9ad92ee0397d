"""The comparison table: per-seed results aggregated, as JSON, Markdown and a rich table.

Rows are adaptation methods, columns encoders; each cell is the target-test AUROC (mean
and sample standard deviation over seeds) with TPR0 and TPR10 beside it. DeepLense's
published AUROCs sit in a column beside each encoder it reported, and in a table of their
own. A seed whose scores were not finite (a diverged run) is counted, not averaged.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from lensscan.adaptation_benchmark.plan import BenchmarkPlan
from lensscan.adaptation_benchmark.reference import (
    DEEPLENSE_AUROC,
    REFERENCE_DESCRIPTION,
    REFERENCE_NAME,
    reference_auroc,
    reference_encoders,
)
from lensscan.config import config_to_dict
from lensscan.evaluate.report import METRIC_HEADINGS, format_value, json_ready

TABLE_FORMAT = "lensscan-benchmark/1"
#: Metrics aggregated per cell (the first is the table's headline).
TABLE_METRICS: tuple[str, ...] = ("auroc", "tpr0", "tpr10", "tpr_at_fpr_1e-2")
#: Aggregated beside them: AUROC on held-out source sims, which shows the domain gap.
EXTRA_METRICS: tuple[str, ...] = ("source_val_auroc",)
METHOD_LABELS: Mapping[str, str] = {
    "supervised": "no adaptation (supervised)",
    "adabn": "AdaBN",
    "adda": "ADDA",
    "adamatch": "AdaMatch",
    "self_ensembling": "Self-Ensembling",
    "dann": "DANN",
}


def method_label(method: str) -> str:
    """The method's name in tables (the registry name for methods without a label)."""
    return METHOD_LABELS.get(method, method)


def aggregate(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample standard deviation and count of the finite values.

    Args:
        values: One value per seed; None or NaN where undefined.

    Returns:
        ``{"mean", "std", "n", "values"}``: ``std`` (ddof = 1) is None with fewer than two
        finite values, ``mean`` None with none; ``values`` as given, NaN as None.
    """
    kept = [None if v is None or not math.isfinite(v) else float(v) for v in values]
    finite = [v for v in kept if v is not None]
    return {
        "mean": statistics.fmean(finite) if finite else None,
        "std": statistics.stdev(finite) if len(finite) >= 2 else None,
        "n": len(finite),
        "values": kept,
    }


def data_sizes(data: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Items and lenses of the splits a cell trains, selects and is tested on."""
    picks = {
        "source_train": ("source", "train"),
        "target_pool": ("pool", "pool"),
        "target_val": ("eval", "val"),
        "target_test": ("eval", "test"),
    }
    return {
        name: {
            "items": data[role]["splits"][split]["items"],
            "lenses": data[role]["splits"][split]["lenses"],
        }
        for name, (role, split) in picks.items()
        if split in data.get(role, {}).get("splits", {})
    }


def summarise_cell(
    method: str, encoder: str, results: Sequence[Mapping[str, Any]], data: Mapping[str, Any]
) -> dict[str, Any]:
    """Aggregate one (method, encoder) cell over its seeds.

    Args:
        method: Row.
        encoder: Column.
        results: The cell's per-seed result records (any order).
        data: The data-set description (for the sizes).
    """
    ordered = sorted(results, key=lambda r: r["cell"]["seed"])
    metrics = {
        name: aggregate([r["metrics"].get(name) for r in ordered])
        for name in (*TABLE_METRICS, *EXTRA_METRICS)
    }
    seconds = [float(r["train_seconds"]) for r in ordered]
    wall = [float(r.get("cell_seconds", math.nan)) for r in ordered]
    return {
        "method": method,
        "encoder": encoder,
        "n_seeds": len(ordered),
        "seeds": [r["cell"]["seed"] for r in ordered],
        "diverged": sum(bool(r.get("diverged")) for r in ordered),
        "metrics": metrics,
        "train_seconds": {
            "mean": statistics.fmean(seconds) if seconds else None,
            "total": sum(seconds),
            "values": seconds,
        },
        "wall_seconds": aggregate(wall),
        "epochs": sorted({r["training"]["epochs"] for r in ordered}),
        "batch_size": sorted({r["training"]["batch_size"] for r in ordered}),
        "hardware": sorted({r["hardware_label"] for r in ordered}),
        "data": data_sizes(data),
        "reference_auroc": reference_auroc(method, encoder),
    }


def mean_auroc(cells: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], float | None]:
    """Mean target-test AUROC of each (method, encoder) cell summary."""
    return {(c["method"], c["encoder"]): c["metrics"]["auroc"]["mean"] for c in cells}


def build_table(
    plan: BenchmarkPlan,
    results: Sequence[Mapping[str, Any]],
    *,
    data: Mapping[str, Any],
    hardware: Mapping[str, Any],
    complete: bool,
    timing: Mapping[str, Any],
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """The table.json record: every cell aggregated, with settings, data, hardware, time."""
    by_pair: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for result in results:
        cell = result["cell"]
        by_pair.setdefault((cell["method"], cell["encoder"]), []).append(result)
    cells = [
        summarise_cell(method, encoder, by_pair[(method, encoder)], data)
        for method in plan.methods
        for encoder in plan.encoders
        if (method, encoder) in by_pair
    ]
    test = data["eval"]["splits"]["test"]
    return {
        "format": TABLE_FORMAT,
        "complete": complete,
        "headline": "target-test AUROC",
        "methods": list(plan.methods),
        "encoders": list(plan.encoders),
        "test": {
            "items": test["items"],
            "lenses": test["lenses"],
            "non_lenses": test["non_lenses"],
        },
        "cells": cells,
        "reference": {
            "name": REFERENCE_NAME,
            "description": REFERENCE_DESCRIPTION,
            "auroc": {method: dict(row) for method, row in DEEPLENSE_AUROC.items()},
        },
        "settings": config_to_dict(plan.config),
        "data": dict(data),
        "hardware": dict(hardware),
        "timing": dict(timing),
        "provenance": dict(provenance),
    }


def _with_spread(summary: Mapping[str, Any] | None) -> str:
    if summary is None or summary["mean"] is None:
        return "—"
    text = format_value(summary["mean"])
    if summary["std"] is not None:
        text += f" ± {format_value(summary['std'])}"
    return text


def _cell_lookup(table: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(c["method"], c["encoder"]): c for c in table["cells"]}


def _diverged_note(cell: Mapping[str, Any]) -> str:
    return f" ({cell['diverged']} of {cell['n_seeds']} diverged)" if cell["diverged"] else ""


def _compact(cell: Mapping[str, Any] | None) -> str:
    """``AUROC ± std · TPR0 / TPR10`` for the Markdown grid."""
    if cell is None:
        return "—"
    metrics = cell["metrics"]
    return (
        f"{_with_spread(metrics['auroc'])} · {format_value(metrics['tpr0']['mean'])} / "
        f"{format_value(metrics['tpr10']['mean'])}{_diverged_note(cell)}"
    )


def _grid_columns(encoders: Sequence[str]) -> list[tuple[str, str, bool]]:
    """(heading, encoder, is_reference) for each column after the method."""
    published = set(reference_encoders())
    columns = []
    for encoder in encoders:
        columns.append((encoder, encoder, False))
        if encoder in published:
            columns.append((f"{encoder} ({REFERENCE_NAME})", encoder, True))
    return columns


def _markdown_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def render_markdown(table: Mapping[str, Any]) -> str:
    """The human-readable table.md."""
    table = json_ready(table)
    lookup = _cell_lookup(table)
    test, settings, timing = table["test"], table["settings"], table["timing"]
    columns = _grid_columns(table["encoders"])
    n_seeds = sorted({c["n_seeds"] for c in table["cells"]})
    survey = settings.get("scenario") == "survey"
    title = (
        "# Domain-adaptation comparison: labelled hsc-train source, unlabelled hsc-heldout "
        "pool (no target labels)"
        if survey
        else "# Domain-adaptation comparison (DeepLense, reproduced with lensscan)"
    )
    start = (
        f"; every cell starts from `{settings['init_model']}`, whose own figures are the "
        "no-adaptation row"
        if settings.get("init_model")
        else ""
    )
    lines = [
        title,
        "",
        f"Target-test AUROC on the simulated target test split ({test['lenses']} lenses, "
        f"{test['non_lenses']} non-lenses), mean ± sample std over seeds "
        f"({', '.join(map(str, n_seeds)) or '0'} per cell; per-seed values below), "
        f"then mean TPR0 / TPR10{start}. "
        f"Columns marked {REFERENCE_NAME}: {REFERENCE_DESCRIPTION}.",
        "",
    ]
    if not table["complete"]:
        lines += ["**Partial table: the run has not finished every cell yet.**", ""]
    header = ["method", *(heading for heading, _, _ in columns)]
    rows = []
    for method in table["methods"]:
        row = [method_label(method)]
        for _, encoder, is_reference in columns:
            if is_reference:
                row.append(format_value(reference_auroc(method, encoder)))
            else:
                row.append(_compact(lookup.get((method, encoder))))
        rows.append(row)
    lines += _markdown_rows(header, rows)

    lines += ["", "## Every cell", ""]
    metric_headings = [METRIC_HEADINGS[name] for name in TABLE_METRICS]
    header = [
        "method",
        "encoder",
        "seeds",
        *metric_headings,
        "AUROC per seed",
        "source-val AUROC",
        "train / wall time per seed",
        "hardware",
    ]
    rows = []
    for cell in table["cells"]:
        metrics = cell["metrics"]
        per_seed = ", ".join(
            f"s{seed}: {format_value(value)}"
            for seed, value in zip(cell["seeds"], metrics["auroc"]["values"], strict=True)
        )
        rows.append(
            [
                method_label(cell["method"]),
                cell["encoder"],
                f"{cell['n_seeds']}{_diverged_note(cell)}",
                *(_with_spread(metrics[name]) for name in TABLE_METRICS),
                per_seed,
                _with_spread(metrics["source_val_auroc"]),
                f"{_seconds(cell['train_seconds']['mean'])} / "
                f"{_seconds(cell['wall_seconds']['mean'])}",
                "; ".join(cell["hardware"]),
            ]
        )
    lines += _markdown_rows(header, rows)

    reference = table["reference"]
    ref_encoders = list(reference_encoders())
    lines += ["", f"## {reference['name']} (published)", "", reference["description"] + ".", ""]
    lines += _markdown_rows(
        ["method", *ref_encoders],
        [
            [method_label(method), *(format_value(row.get(e)) for e in ref_encoders)]
            for method, row in reference["auroc"].items()
        ],
    )

    lines += ["", "## Settings", ""]
    for role, store in table["data"].items():
        splits = ", ".join(
            f"{name} {s['items']} ({s['lenses']} lenses)" for name, s in store["splits"].items()
        )
        lines.append(
            f"- {role} store: `{store['path']}` ({store['domain']}, seed {store['seed']}, "
            f"{store['items']} items; {splits})"
        )
    lines += [
        f"- training: {_plural(settings['epochs'], 'epoch')}, batch size {settings['batch_size']}, "
        f"lr {settings['lr']:g}; "
        + (
            "the last epoch is kept (no target labels select anything)"
            if survey
            else "the saved epoch is the one with the best AUROC on the target-validation "
            f"split (at most {settings['max_eval']} items)"
        ),
        f"- seeds per cell: {settings['seeds']}"
        + (
            f"; the {settings['leaders']} leading cells run {settings['leader_seeds']} seeds"
            if settings["leader_seeds"] > settings["seeds"]
            else ""
        ),
        f"- preset: {'quick' if settings['quick'] else 'full'}; bands {settings['bands']}",
        f"- hardware: {table['hardware'].get('label', '')}",
        f"- time: {_seconds(timing.get('cells_wall_seconds'))} summed over the cells' wall "
        f"times; this invocation {_seconds(timing.get('seconds'))} "
        f"({timing.get('cells_run', 0)} cells run, {timing.get('cells_reused', 0)} reused)",
        f"- lensscan {table['provenance'].get('lensscan_version')}, "
        f"{table['provenance'].get('created_utc')}",
        "",
        "Train time: the optimisation steps of all epochs; wall time: the whole cell "
        "(reading the stores, per-epoch validation, training and scoring the test split), "
        "in the run that made its result. "
        "TPR0 / TPR10: fraction of lenses scored above the highest / 10th-highest non-lens "
        "(ties count against the model). TPR@FPR1e-2: largest TPR at a false-positive rate "
        "of at most 1%. The test split is simulated, so these numbers compare methods "
        f"under one domain shift; {REFERENCE_NAME}'s real-HSC set is smaller and single-band.",
        "",
    ]
    return "\n".join(lines)


def rich_table(table: Mapping[str, Any]) -> Any:
    """The grid for the terminal: AUROC ± std, then TPR0 and TPR10, per cell."""
    from rich.markup import escape
    from rich.table import Table

    table = json_ready(table)
    lookup = _cell_lookup(table)
    test = table["test"]
    grid = Table(
        title=escape(
            f"target-test AUROC (mean ± std over seeds), TPR0 / TPR10 — "
            f"{test['lenses']} lenses, {test['non_lenses']} non-lenses"
        )
    )
    columns = _grid_columns(table["encoders"])
    grid.add_column("method")
    for heading, _, is_reference in columns:
        grid.add_column(escape(heading), justify="right", style="dim" if is_reference else None)
    for method in table["methods"]:
        cells = []
        for _, encoder, is_reference in columns:
            if is_reference:
                cells.append(format_value(reference_auroc(method, encoder)))
                continue
            cell = lookup.get((method, encoder))
            if cell is None:
                cells.append("—")
                continue
            metrics = cell["metrics"]
            cells.append(
                f"{_with_spread(metrics['auroc'])}\n"
                f"{format_value(metrics['tpr0']['mean'])} / "
                f"{format_value(metrics['tpr10']['mean'])}\n"
                f"n={cell['n_seeds']}{_diverged_note(cell)}"
            )
        grid.add_row(escape(method_label(method)), *cells)
    return grid
