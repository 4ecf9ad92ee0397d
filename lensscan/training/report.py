"""What a run writes besides the weights: JSONL log, curves, resolved settings, progress."""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensscan.config import config_to_dict
from lensscan.progress import is_terminal, logger
from lensscan.provenance import provenance, sha256_file
from lensscan.training.settings import TrainConfig

if TYPE_CHECKING:
    from lensscan.training.parent import ParentModel

LOG_FILE = "train.jsonl"
CURVES_FILE = "curves.png"
CONFIG_JSON = "config.json"
CONFIG_TOML = "config.toml"


def run_settings(config: TrainConfig) -> dict[str, Any]:
    """The settings a run records (how it was asked to resume or overwrite is left out)."""
    return {k: v for k, v in config_to_dict(config).items() if k not in ("resume", "overwrite")}


def run_provenance(
    config: TrainConfig,
    settings: Mapping[str, Any],
    stores: Mapping[str, Mapping[str, Any]],
    parent: ParentModel | None = None,
) -> dict[str, Any]:
    """The provenance record of a training run: its stores, checkpoint and parent model.

    Args:
        config: The run's settings.
        settings: The settings the run records (:func:`run_settings`).
        stores: Role -> store description with ``path``, ``sha256`` and ``hash_scope``.
        parent: The ``init_model`` the run started from, if any.
    """
    record = provenance(command="train", settings=dict(settings), seed=config.seed)
    record["inputs"] = [
        {"path": s["path"], "sha256": s["sha256"], "hash_scope": s["hash_scope"]}
        for s in stores.values()
    ]
    if config.init_checkpoint:
        record["inputs"].append(
            {
                "path": str(Path(config.init_checkpoint).resolve()),
                "sha256": sha256_file(config.init_checkpoint),
            }
        )
    if parent is not None:
        record["inputs"].append(
            {"path": str(parent.folder.resolve()), "sha256": parent.card.weights_sha256}
        )
    return record


def write_settings(folder: Path, settings: Mapping[str, Any]) -> None:
    """The run's resolved settings as config.json and config.toml (reusable with --config)."""
    (folder / CONFIG_JSON).write_text(json.dumps(settings, indent=2) + "\n")
    (folder / CONFIG_TOML).write_text(settings_toml(settings))


def write_jsonl(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Write one JSON object per line (rewritten whole, so a resumed run stays consistent)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(dict(r)) + "\n" for r in records))
    tmp.replace(path)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def settings_toml(settings: Mapping[str, Any]) -> str:
    """Flat settings (plus one level of tables) as TOML; None values are left out."""
    lines = ["# Resolved settings of this run; usable as `lensscan train --config`.\n"]
    tables = []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}\n")
    for key, table in tables:
        lines.append(f"\n[{key}]\n")
        lines.extend(f"{k} = {_toml_value(v)}\n" for k, v in table.items() if v is not None)
    return "".join(lines)


def plot_curves(
    path: Path, history: Sequence[Mapping[str, Any]], loss_names: Sequence[str], title: str
) -> None:
    """Losses and per-epoch metrics against epoch, as a PNG (matplotlib's Agg renderer)."""
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    metric_names = [
        name
        for name in (
            "val_auroc",
            "source_val_auroc",
            "target_entropy",
            "target_confident",
            "target_lens_fraction",
        )
        if any(name in r for r in history)
    ]
    figure = Figure(figsize=(10, 4), layout="constrained")
    losses_axis, metrics_axis = figure.subplots(1, 2)
    for name in loss_names:
        values = [r.get(f"loss/{name}", math.nan) for r in history]
        losses_axis.plot(epochs, values, marker="o", label=name)
    losses_axis.set(xlabel="epoch", ylabel="mean loss", title="losses")
    for name in metric_names:
        metrics_axis.plot(epochs, [r.get(name, math.nan) for r in history], marker="o", label=name)
    metrics_axis.set(xlabel="epoch", title="validation and target criteria")
    for axis in (losses_axis, metrics_axis):
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="small")
    figure.suptitle(title)
    figure.savefig(path, dpi=100)


def _format(values: Mapping[str, Any]) -> str:
    """``name=value`` pairs; tensors are detached from the graph before they are read."""
    return " ".join(
        f"{k}={float(v.detach() if hasattr(v, 'detach') else v):.4g}" for k, v in values.items()
    )


LOG_INTERVAL_SECONDS = 60.0
"""Seconds between progress lines of a training run off a terminal."""


@contextlib.contextmanager
def step_progress(total: int, description: str) -> Iterator[Callable[[Mapping[str, Any]], None]]:
    """A per-step progress bar with the running losses on a terminal; log lines otherwise.

    Off a terminal (batch jobs, logs to a file) one line with the step, the rate and the
    losses is logged every :data:`LOG_INTERVAL_SECONDS`, so a long epoch is never silent.

    Yields:
        ``advance(losses)``, to call once per step (losses may be tensors; off a terminal
        they are read once a log interval, so batch jobs do not synchronise with the GPU
        every step).
    """
    if not is_terminal():
        start = last = time.monotonic()
        done = 0

        def advance(losses: Mapping[str, Any]) -> None:
            nonlocal last, done
            done += 1
            now = time.monotonic()
            if now - last >= LOG_INTERVAL_SECONDS and done < total:
                last = now
                rate = done / max(now - start, 1e-9)
                logger.info(
                    "%s: step %d/%d (%.1f steps/s) %s",
                    description,
                    done,
                    total,
                    rate,
                    _format(losses),
                )

        yield advance
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total, losses="")
        yield lambda losses: bar.update(task, advance=1, losses=_format(losses))


def log_epoch(record: Mapping[str, Any], epochs: int) -> None:
    """One log line per epoch with its losses and metrics."""
    values = {k: v for k, v in record.items() if isinstance(v, float) and k != "seconds"}
    logger.info(
        "epoch %d/%d (%.1f s): %s", record["epoch"], epochs, record["seconds"], _format(values)
    )
