"""Evaluation results written into the cards of the models evaluated.

``lensscan evaluate --record-as LABEL`` keeps a model's measured metrics with the model:
``card.metrics["evaluations"][LABEL]`` receives the headline metrics, their 95% intervals,
the data and its size, and when and with which lensscan version they were measured.
``--headline`` also makes them the metrics ``lensscan models list`` shows. Only
``model.json`` changes (rewritten atomically); the weights and their SHA-256 do not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lensscan.atomic import write_text_atomic
from lensscan.evaluate.metrics import RANKING_METRICS
from lensscan.evaluate.report import json_ready
from lensscan.models.manifest import HEADLINE_METRICS
from lensscan.models.weights import CARD_FILE, read_card

#: Metrics copied into the card: those that need no threshold (AUROC, TPR0, TPR10, ...).
RECORDED_METRICS = RANKING_METRICS


def evaluation_record(model_entry: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """The card entry of one model's evaluation.

    Args:
        model_entry: The model's entry in the report's ``models``.
        report: The whole cutout-evaluation report (data, settings, provenance).

    Returns:
        A JSON-ready record (undefined metrics become null).
    """
    data = report["data"]
    record: dict[str, Any] = {
        "data": data["path"],
        "split": data["split"],
        "n_lenses": data["n_lenses"],
        "n_nonlenses": data["n_nonlenses"],
    }
    record.update({name: model_entry[name] for name in RECORDED_METRICS if name in model_entry})
    record["ci95"] = {
        name: interval
        for name, interval in model_entry.get("ci95", {}).items()
        if name in RECORDED_METRICS
    }
    provenance = report["provenance"]
    record["evaluated_utc"] = provenance.get("created_utc")
    record["lensscan_version"] = provenance.get("lensscan_version")
    return json_ready(record)


def record_in_cards(
    folders: Sequence[str | Path],
    model_entries: Sequence[Mapping[str, Any]],
    report: Mapping[str, Any],
    label: str,
    *,
    headline: bool,
) -> None:
    """Write each model's evaluation into its card under ``evaluations[label]``.

    Args:
        folders: The model folders, in the order of ``model_entries``.
        model_entries: The models' entries in the report.
        report: The cutout-evaluation report.
        label: Name of the measurement, e.g. ``hsc test`` (an evaluation's ``record_as``,
            whose characters :class:`~lensscan.evaluate.settings.EvaluateConfig` checks).
        headline: Also make it the card's headline metrics.
    """
    for folder, entry in zip(folders, model_entries, strict=True):
        card = read_card(folder)
        record = evaluation_record(entry, report)
        metrics = dict(card.metrics)
        metrics["evaluations"] = {**metrics.get("evaluations", {}), label: record}
        if headline:
            metrics["headline"] = {"split": label} | {
                name: record[name] for name in HEADLINE_METRICS if name in record
            }
        write_text_atomic(Path(folder) / CARD_FILE, card.replace(metrics=metrics).to_json())
