"""Run the benchmark: data sets, then train and evaluate every cell, resumably.

Folder layout (``--out DIR``)::

    DIR/settings.json              the settings the results depend on, with provenance
    DIR/data/*.zarr                the standard stores (or --data-dir)
    DIR/models/<method>-<encoder>-s<seed>/    weights folder written by lensscan train
    DIR/results/<method>-<encoder>-s<seed>.json   the cell's test metrics
    DIR/table.json, DIR/table.md   the comparison (rewritten after every new cell)

A cell whose result file exists is reused, not rerun; a cell whose weights exist is only
evaluated; an interrupted training run continues from its last epoch. Rerunning with
other result-deciding settings (sizes, epochs ...) in the same folder is refused, while
the grid (methods, encoders, seeds) may grow.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lensscan.adapt import method_class
from lensscan.adaptation_benchmark.datasets import describe_datasets, ensure_datasets
from lensscan.adaptation_benchmark.hardware import describe_hardware, hardware_label
from lensscan.adaptation_benchmark.plan import BenchmarkPlan, Cell, make_plan
from lensscan.adaptation_benchmark.settings import BenchmarkConfig
from lensscan.adaptation_benchmark.table import build_table, mean_auroc, render_markdown, rich_table
from lensscan.atomic import write_text_atomic
from lensscan.config import config_to_dict
from lensscan.errors import UserError
from lensscan.evaluate.data import EvaluationSet, load_evaluation_set
from lensscan.evaluate.metrics import RANKING_METRICS, compute_metrics
from lensscan.evaluate.report import dumps
from lensscan.models import load_model, select_device
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.training import train
from lensscan.training.settings import TrainConfig

RESULT_FORMAT = "lensscan-benchmark-cell/1"
SETTINGS_FORMAT = "lensscan-benchmark-settings/1"
SETTINGS_FILE = "settings.json"
TABLE_JSON = "table.json"
TABLE_MD = "table.md"

#: Called after each cell as ``on_cell(cell, result, reused)``.
CellCallback = Callable[[Cell, Mapping[str, Any], bool], None]


@dataclass(frozen=True)
class BenchmarkOutcome:
    """What a benchmark run wrote.

    Attributes:
        out: The benchmark folder.
        table: The table.json record.
        ran: Names of the cells trained or evaluated by this run.
        reused: Names of the cells whose results were already there.
    """

    out: Path
    table: dict[str, Any]
    ran: tuple[str, ...]
    reused: tuple[str, ...]

    @property
    def rich_table(self) -> Any:
        """The comparison grid for the terminal."""
        return rich_table(self.table)


@dataclass(frozen=True)
class _Context:
    """What every cell of one run shares."""

    plan: BenchmarkPlan
    stores: Mapping[str, Path]
    test: EvaluationSet
    hardware: Mapping[str, Any]


def _check_folder(plan: BenchmarkPlan) -> None:
    """Refuse a folder whose results were computed with other settings.

    Raises:
        UserError: Naming the settings that differ.
    """
    path = plan.out / SETTINGS_FILE
    if not path.is_file():
        return
    try:
        recorded = json.loads(path.read_text())["results_depend_on"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(
            f"`out` {plan.out}: unreadable {SETTINGS_FILE}; choose another `out`"
        ) from None
    wanted = plan.result_settings()
    differ = [name for name in wanted if recorded.get(name) != wanted[name]]
    if differ:
        detail = ", ".join(f"{n}: {recorded.get(n)!r} there, {wanted[n]!r} now" for n in differ)
        raise UserError(
            f"`out` {plan.out}: holds a benchmark with other settings ({detail}); "
            "choose another `out` or remove it"
        )


def _make_folder(out: Path) -> None:
    try:
        (out / "results").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"`out` {out}: cannot create the folder ({exc.strerror})") from None


def _write_settings(plan: BenchmarkPlan) -> dict[str, Any]:
    record = provenance(
        command="benchmark", settings=config_to_dict(plan.config), seed=plan.config.data_seed
    )
    write_text_atomic(
        plan.out / SETTINGS_FILE,
        dumps(
            {
                "format": SETTINGS_FORMAT,
                "results_depend_on": plan.result_settings(),
                "settings": config_to_dict(plan.config),
                "provenance": record,
            }
        ),
    )
    return record


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Limit torch's CPU threads for the run (the machine may be shared), then restore."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train_config(cell: Cell, context: _Context, weights: Path) -> TrainConfig:
    config = context.plan.config
    needs_target = method_class(cell.method).needs_target
    survey = config.scenario == "survey"
    # The survey scenario has no target labels: nothing selects on them.
    source_free = survey and config.init_model is not None and cell.method == "adabn"
    return TrainConfig(
        source=None if source_free else str(context.stores["source"]),
        out=str(weights),
        target=str(context.stores["pool"]) if needs_target else None,
        val=None if survey else str(context.stores["eval"]),
        source_split="train",
        val_split=None if survey else "val",
        encoder=None if config.init_model else cell.encoder,
        method=cell.method,
        init_model=config.init_model,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        seed=cell.seed,
        device=config.device,
        max_eval=config.max_eval,
        selection="last" if survey else "auto",
        resume=True,
    )


def _cell_weights(cell: Cell, plan: BenchmarkPlan) -> Path:
    """Where a cell's model is: the starting model itself for no adaptation from a model."""
    config = plan.config
    if config.init_model is not None and cell.method == "supervised":
        from lensscan.training.parent import parent_folder

        return parent_folder(config.init_model)
    return plan.out / "models" / cell.name


def _test_metrics(test: EvaluationSet, scores: np.ndarray) -> tuple[dict[str, float], bool]:
    """Every metric of the evaluate library; all NaN if the scores are not finite."""
    if not np.all(np.isfinite(scores)):
        return {name: math.nan for name in RANKING_METRICS}, True
    return dict(compute_metrics(test.labels, scores).values), False


def _run_cell(cell: Cell, context: _Context) -> dict[str, Any]:
    """Train (unless its weights exist) and evaluate one cell on the target-test split."""
    plan = context.plan
    weights = _cell_weights(cell, plan)
    started = time.monotonic()
    trained_now = not (weights / "model.json").is_file()
    if trained_now:
        logger.info("cell %s: training", cell.name)
        train(_train_config(cell, context, weights))
    finder = load_model(weights, device=plan.config.device)
    scores = finder.score(context.test.select_bands(finder.bands).images)
    metrics, diverged = _test_metrics(context.test, scores)
    card = finder.card
    history = card.metrics.get("epochs", [])
    selected = card.metrics.get("selected", {})
    metrics["source_val_auroc"] = selected.get("source_val_auroc", math.nan)
    metrics["val_auroc"] = selected.get("val_auroc", math.nan)
    return {
        "format": RESULT_FORMAT,
        "cell": {"method": cell.method, "encoder": cell.encoder, "seed": cell.seed},
        "metrics": metrics,
        "diverged": diverged,
        "test": {
            "items": int(context.test.labels.size),
            "lenses": context.test.n_lenses,
            "non_lenses": context.test.n_nonlenses,
        },
        "train_seconds": float(sum(record.get("seconds", 0.0) for record in history)),
        "cell_seconds": time.monotonic() - started,
        "trained_by_this_run": trained_now,
        "training": {
            "epochs": plan.config.epochs,
            "batch_size": plan.config.batch_size,
            "lr": plan.config.lr,
            "selected_epoch": card.selection.get("epoch"),
            "selection": card.selection.get("rule"),
            "device": card.training.get("device"),
            "precision": card.training.get("precision"),
        },
        "weights": {"path": str(weights.resolve()), "sha256": finder.sha256},
        "hardware": dict(context.hardware),
        "hardware_label": hardware_label(dict(context.hardware)),
        "provenance": provenance(
            command="benchmark",
            settings=config_to_dict(_train_config(cell, context, weights)),
            seed=cell.seed,
        ),
    }


def _log_cell(cell: Cell, result: Mapping[str, Any], reused: bool) -> None:
    metrics = result["metrics"]
    # A reused result was read from JSON, where an undefined metric is null.
    values = " ".join(
        f"{label} {math.nan if metrics.get(name) is None else metrics[name]:.3f}"
        for label, name in (
            ("AUROC", "auroc"),
            ("TPR0", "tpr0"),
            ("TPR10", "tpr10"),
            ("TPR@FPR1e-2", "tpr_at_fpr_1e-2"),
        )
    )
    how = "reused" if reused else f"train {result['train_seconds']:.1f} s"
    flag = " DIVERGED (non-finite scores)" if result.get("diverged") else ""
    logger.info("cell %s: %s (%s)%s", cell.name, values, how, flag)


def run_benchmark(
    config: BenchmarkConfig, *, on_cell: CellCallback | None = None
) -> BenchmarkOutcome:
    """Make or reuse the data sets, run every cell not yet done, and write the table.

    Args:
        config: The resolved settings.
        on_cell: Called after each cell with ``(cell, result, reused)``.

    Returns:
        The folder, the table record, and which cells ran and which were reused.

    Raises:
        UserError: On bad settings, a folder or data set made with other settings, or a
            store that cannot be written or read.
    """
    started = time.monotonic()
    plan = make_plan(config)
    device = select_device(config.device)
    _check_folder(plan)
    _make_folder(plan.out)
    record = _write_settings(plan)
    threads = config.workers if device.type == "cpu" else None
    results: dict[Cell, Mapping[str, Any]] = {}
    ran: list[str] = []
    reused: list[str] = []
    with _torch_threads(threads):
        stores = ensure_datasets(plan.datasets, plan.data_dir)
        data = describe_datasets(stores)
        test = load_evaluation_set(stores["eval"], "test")
        test.require_both_classes()
        hardware = describe_hardware(device)
        hardware["label"] = hardware_label(hardware)
        context = _Context(plan, stores, test, hardware)

        def table(complete: bool) -> dict[str, Any]:
            return build_table(
                plan,
                list(results.values()),
                data=data,
                hardware=hardware,
                complete=complete,
                timing={
                    "seconds": time.monotonic() - started,
                    "cells_run": len(ran),
                    "cells_reused": len(reused),
                    "cells_wall_seconds": sum(
                        float(r.get("cell_seconds", 0.0)) for r in results.values()
                    ),
                },
                provenance=record,
            )

        def run(cells: list[Cell]) -> None:
            for cell in cells:
                path = plan.out / "results" / f"{cell.name}.json"
                done = path.is_file()
                if done:
                    result = json.loads(path.read_text())
                else:
                    result = _run_cell(cell, context)
                    write_text_atomic(path, dumps(result))
                results[cell] = result
                (reused if done else ran).append(cell.name)
                _log_cell(cell, result, done)
                if on_cell is not None:
                    on_cell(cell, result, done)
                if not done:
                    _write_table(plan.out, table(complete=False))

        logger.info(
            "benchmark: %d methods x %d encoders x %d seeds in %s",
            len(plan.methods),
            len(plan.encoders),
            config.seeds,
            plan.out,
        )
        run(plan.cells)
        leaders = plan.leader_cells(mean_auroc(table(complete=False)["cells"]))
        if leaders:
            logger.info("benchmark: %d more seeds for the leading cells", len(leaders))
            run(leaders)
    final = table(complete=True)
    _write_table(plan.out, final)
    return BenchmarkOutcome(plan.out, final, tuple(ran), tuple(reused))


def _write_table(out: Path, table: Mapping[str, Any]) -> None:
    write_text_atomic(out / TABLE_JSON, dumps(table))
    write_text_atomic(out / TABLE_MD, render_markdown(table))
