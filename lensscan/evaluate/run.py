"""Run an evaluation end to end and write its report folder.

Two kinds, chosen by the settings:

* **cutouts** (``--model ... --data ...``): score a labelled split with one or more models,
  compute every metric with bootstrap intervals, and write report.json, report.md,
  scores.csv and the figures.
* **field** (``--catalog ... --truth ...``): match a candidate catalog to the truth
  catalog of a field and write completeness, purity, false positives per square degree and
  astrometric offsets, with matches.ecsv and completeness plots.

Everything a user can get wrong is checked before any model runs, and the report folder is
written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.config import config_to_dict
from lensscan.errors import UserError
from lensscan.evaluate import plots
from lensscan.evaluate.bootstrap import CONFIDENCE_LEVEL, bootstrap_intervals, interval_notes
from lensscan.evaluate.card_record import record_in_cards
from lensscan.evaluate.data import EvaluationSet, load_evaluation_set
from lensscan.evaluate.field import (
    CANDIDATE_COLUMNS,
    TRUTH_COLUMNS,
    degrees,
    field_metrics,
    match_candidates,
    read_catalog,
    resolve_area,
)
from lensscan.evaluate.metrics import MetricSet, compute_metrics
from lensscan.evaluate.report import (
    FIELD_REPORT_FORMAT,
    REPORT_FORMAT,
    comparison_table,
    dumps,
    field_table,
    render_field_markdown,
    render_markdown,
    report_notes,
)
from lensscan.evaluate.settings import EvaluateConfig
from lensscan.progress import logger
from lensscan.provenance import provenance


@dataclass(frozen=True)
class EvaluationOutcome:
    """What an evaluation wrote.

    Attributes:
        report_dir: The report folder.
        report: The report as written to report.json (before NaN became null).
        table: A rich table summarising it for the terminal.
    """

    report_dir: Path
    report: dict[str, Any]
    table: Any

    @property
    def notes(self) -> list[str]:
        """The report's notes, each once (see :func:`report_notes`)."""
        return report_notes(self.report)


@dataclass(frozen=True)
class ScoredModel:
    """One model's scores on the evaluation set, with its metrics.

    Attributes:
        key: The model's name in the report.
        description: Name, source, path, sha256, encoder, method and bands of the model.
        scores: (N,) lens scores, in the evaluation set's order.
        metrics: The point estimates.
        intervals: 95% bootstrap intervals per metric.
    """

    key: str
    description: dict[str, Any]
    scores: np.ndarray
    metrics: MetricSet
    intervals: dict[str, tuple[float, float]]


def default_report_dir() -> Path:
    """``reports/evaluate-<UTC time>`` under the working folder."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / f"evaluate-{stamp}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def _load_models(config: EvaluateConfig, data: EvaluationSet) -> list[tuple[str, Any, str]]:
    """Load each model and check that the data fit it; return (source, finder, path)."""
    from lensscan.models import load_model, resolve_model_path

    sources: tuple[str | None, ...] = tuple(config.models) or (None,)
    loaded = []
    for source in sources:
        finder = load_model(source, device=config.device)
        fitted = data.select_bands(finder.bands)
        finder.check_input(fitted.bands, fitted.images.shape[1:], f"`data` {data.source}")
        loaded.append((source or finder.name, finder, str(resolve_model_path(source))))
    return loaded


def _report_keys(loaded: list[tuple[str, Any, str]]) -> list[str]:
    """Model names for the report, falling back to the ``models`` text when names repeat."""
    names = [finder.name for _, finder, _ in loaded]
    keys = [
        name if names.count(name) == 1 else source
        for (source, _, _), name in zip(loaded, names, strict=True)
    ]
    if len(set(keys)) != len(keys):
        raise UserError(f"`model`: the same model is given twice ({', '.join(keys)})")
    return keys


def _score_models(
    config: EvaluateConfig, data: EvaluationSet, loaded: list[tuple[str, Any, str]]
) -> list[ScoredModel]:
    results = []
    for key, (source, finder, path) in zip(_report_keys(loaded), loaded, strict=True):
        logger.info("scoring %d cutouts with %s", len(data.labels), key)
        scores = finder.score(data.select_bands(finder.bands).images, batch_size=config.batch_size)
        metrics = compute_metrics(data.labels, scores, config.threshold)
        intervals = bootstrap_intervals(
            data.labels,
            scores,
            n_resamples=config.bootstrap,
            seed=config.seed,
            threshold=config.threshold,
        )
        description = {
            "name": finder.name,
            "source": source,
            "path": path,
            "sha256": finder.sha256,
            "encoder": finder.card.encoder,
            "method": finder.card.method,
            "bands": list(finder.bands),
            "input_size": finder.input_size,
        }
        results.append(ScoredModel(key, description, scores, metrics, intervals))
    return results


def _model_entry(result: ScoredModel) -> dict[str, Any]:
    metrics = result.metrics
    confusion = metrics.confusion
    return {
        **metrics.values,
        "n_lenses": metrics.n_lenses,
        "n_nonlenses": metrics.n_nonlenses,
        "threshold": metrics.threshold,
        "confusion_matrix": {
            "tn": confusion.tn,
            "fp": confusion.fp,
            "fn": confusion.fn,
            "tp": confusion.tp,
        },
        "ci95": {name: list(interval) for name, interval in result.intervals.items()},
        "notes": [*metrics.notes, *interval_notes(metrics.values, result.intervals)],
        "model": result.description,
    }


def _write_scores(path: Path, data: EvaluationSet, results: list[ScoredModel]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "label", *(f"score:{r.key}" for r in results)])
        for index, (name, label) in enumerate(zip(data.names, data.labels, strict=True)):
            writer.writerow([name, int(label), *(f"{r.scores[index]:.6f}" for r in results)])


def _worst_ranked(
    data: EvaluationSet, scores: np.ndarray, label: int, count: int, highest: bool
) -> tuple[np.ndarray, list[str]]:
    indices = np.flatnonzero(data.labels == label)
    order = np.argsort(scores[indices], kind="stable")
    chosen = indices[order[::-1] if highest else order][:count]
    captions = [f"{scores[i]:.3f}\n{Path(str(data.names[i])).name}" for i in chosen]
    return data.images[chosen], captions


def _write_figures(
    folder: Path, data: EvaluationSet, results: list[ScoredModel], config: EvaluateConfig
) -> dict[str, str]:
    curves = {r.key: (data.labels, r.scores) for r in results}
    figures = {
        "ROC": plots.plot_roc(curves, folder / "roc.png"),
        "ROC, log false-positive rate": plots.plot_roc(
            curves, folder / "roc_log.png", log_fpr=True
        ),
        "precision-recall": plots.plot_precision_recall(curves, folder / "precision_recall.png"),
    }
    for result in results:
        slug = _slug(result.key)
        figures[f"{result.key}: scores"] = plots.plot_score_histograms(
            data.labels,
            result.scores,
            folder / f"scores_{slug}.png",
            title=f"{result.key}: score distributions",
            threshold=config.threshold,
        )
        figures[f"{result.key}: confusion matrix"] = plots.plot_confusion_matrix(
            result.metrics.confusion,
            folder / f"confusion_{slug}.png",
            title=f"{result.key} at score >= {config.threshold:g}",
        )
        if config.montage_size:
            for label, highest, what, file in (
                (0, True, "highest-scored non-lenses", "top_nonlenses"),
                (1, False, "lowest-scored lenses", "bottom_lenses"),
            ):
                images, captions = _worst_ranked(
                    data, result.scores, label, config.montage_size, highest
                )
                figures[f"{result.key}: {what}"] = plots.plot_montage(
                    images,
                    data.bands,
                    captions,
                    folder / f"{file}_{slug}.png",
                    title=f"{result.key}: {what}",
                )
    return {title: path.name for title, path in figures.items()}


def _resolve_output(config: EvaluateConfig) -> EvaluateConfig:
    """Fill in the default report folder (and plain tuples) and check it may be written."""
    config = dataclasses.replace(
        config,
        report_dir=str(config.report_dir or default_report_dir()),
        models=tuple(config.models),
        bands=tuple(config.bands) if config.bands is not None else None,
    )
    check_output_path(config.report_dir, overwrite=config.overwrite, option="report_dir")
    return config


def _write_folder(config: EvaluateConfig, write: Callable[[Path], None]) -> Path:
    """Write the report folder under a temporary name, renamed into place when complete."""
    report_dir = Path(str(config.report_dir))
    with atomic_output(report_dir) as tmp:
        tmp.mkdir()
        write(tmp)
    return report_dir


def evaluate_cutouts(config: EvaluateConfig) -> EvaluationOutcome:
    """Evaluate models on the labelled split of ``config.data``; write the report folder.

    Raises:
        UserError: On a bad data path, split, band list or model, a split with only one
            class, cutouts that do not fit a model, or an unwritable report folder.
    """
    config = _resolve_output(config)
    data = load_evaluation_set(config.data, config.split, config.bands).rescaled(config.rescale)
    data.require_both_classes()
    for note in data.notes:
        logger.info("%s", note)
    loaded = _load_models(config, data)
    results = _score_models(config, data, loaded)
    record = provenance(
        command="evaluate", settings=config_to_dict(config), seed=config.seed, inputs=[config.data]
    )
    record["models"] = {
        r.key: {"path": r.description["path"], "sha256": r.description["sha256"]} for r in results
    }
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "data": {
            "path": str(data.source),
            "split": data.split,
            "bands": list(data.bands),
            "n_items": len(data.labels),
            "n_lenses": data.n_lenses,
            "n_nonlenses": data.n_nonlenses,
            "notes": list(data.notes),
        },
        "settings": {
            "threshold": config.threshold,
            "bootstrap": config.bootstrap,
            "confidence_level": CONFIDENCE_LEVEL,
            "seed": config.seed,
        },
        "models": {r.key: _model_entry(r) for r in results},
        "provenance": record,
    }

    def write(folder: Path) -> None:
        report["figures"] = _write_figures(folder, data, results, config)
        _write_scores(folder / "scores.csv", data, results)
        (folder / "report.json").write_text(dumps(report))
        (folder / "report.md").write_text(render_markdown(report))

    written = _write_folder(config, write)
    if config.record_as is not None:
        record_in_cards(
            [r.description["path"] for r in results],
            [report["models"][r.key] for r in results],
            report,
            config.record_as,
            headline=config.headline,
        )
    return EvaluationOutcome(written, report, comparison_table(report))


def _write_matches(path: Path, candidates: Any, truth: Any, match: Any) -> None:
    table = candidates.copy(copy_data=True)
    truth_ids = truth["id"] if "id" in truth.colnames else np.arange(len(truth))
    table["rank"] = np.empty(len(table), dtype=np.int64)
    table["rank"][match.order] = np.arange(1, len(table) + 1)
    matched = match.matched
    ids = np.full(len(table), -1, dtype=np.int64)
    if np.issubdtype(np.asarray(truth_ids).dtype, np.integer):
        ids[matched] = np.asarray(truth_ids)[match.truth_index[matched]]
        table["truth_id"] = ids
    else:
        table["truth_id"] = [str(truth_ids[i]) if i >= 0 else "" for i in match.truth_index]
    table["separation_arcsec"] = match.separation_arcsec
    table["offset_ra_cosdec_arcsec"] = match.offset_ra_arcsec
    table["offset_dec_arcsec"] = match.offset_dec_arcsec
    table[match.order].write(path, format="ascii.ecsv")


def evaluate_field(config: EvaluateConfig) -> EvaluationOutcome:
    """Match ``config.catalog`` to the field's ``config.truth``; write the report folder.

    Raises:
        UserError: On a missing or malformed catalog, a bad area or an unwritable folder.
    """
    config = _resolve_output(config)
    candidates = read_catalog(config.catalog, CANDIDATE_COLUMNS, "catalog")
    truth = read_catalog(config.truth, TRUTH_COLUMNS, "truth")
    cand_ra, cand_dec = degrees(candidates["ra"]), degrees(candidates["dec"])
    truth_ra, truth_dec = degrees(truth["ra"]), degrees(truth["dec"])
    scores = np.asarray(candidates["score"], dtype=np.float64)
    area = resolve_area(
        config.area_deg2,
        dict(truth.meta),
        dict(candidates.meta),
        np.concatenate([truth_ra, cand_ra]),
        np.concatenate([truth_dec, cand_dec]),
    )
    match = match_candidates(cand_ra, cand_dec, scores, truth_ra, truth_dec, config.match_radius)
    metrics = field_metrics(match, scores, len(truth), area, config.threshold)
    record = provenance(
        command="evaluate",
        settings=config_to_dict(config),
        seed=None,
        inputs=[config.catalog, config.truth],
    )
    report: dict[str, Any] = {
        "format": FIELD_REPORT_FORMAT,
        "settings": {
            "catalog": str(config.catalog),
            "truth": str(config.truth),
            "match_radius": config.match_radius,
            "threshold": config.threshold,
        },
        "summary": metrics.summary,
        "provenance": record,
    }

    def write(folder: Path) -> None:
        figures = {
            "completeness against rank": plots.plot_completeness_vs_rank(
                metrics.completeness_at_rank,
                folder / "completeness_rank.png",
                n_truth=len(truth),
                title="completeness against rank",
            ),
            "completeness and purity against score": plots.plot_completeness_purity_vs_score(
                metrics.ranked_scores,
                metrics.completeness_at_rank,
                metrics.purity_at_rank,
                folder / "completeness_score.png",
                title="completeness and purity against score",
            ),
        }
        report["figures"] = {title: path.name for title, path in figures.items()}
        _write_matches(folder / "matches.ecsv", candidates, truth, match)
        (folder / "report.json").write_text(dumps(report))
        (folder / "report.md").write_text(render_field_markdown(report))

    written = _write_folder(config, write)
    return EvaluationOutcome(written, report, field_table(report))


def run_evaluation(config: EvaluateConfig) -> EvaluationOutcome:
    """Run a cutout or a field evaluation, as the settings ask (they hold one kind).

    Raises:
        UserError: If the inputs cannot be read or evaluated, or the report folder written.
    """
    field_mode = config.catalog is not None or config.truth is not None
    return evaluate_field(config) if field_mode else evaluate_cutouts(config)
