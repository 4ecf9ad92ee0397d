"""The end of a run: the selected model's card, and the weights folder written atomically."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lensscan import __version__
from lensscan.adapt import Method
from lensscan.atomic import atomic_output
from lensscan.models.card import ModelCard
from lensscan.models.network import LensNet
from lensscan.models.weights import write_model_files
from lensscan.training import report
from lensscan.training.checkpoint import RunState
from lensscan.training.data import TrainingData, own_normalisation, store_fingerprint
from lensscan.training.parent import ParentModel
from lensscan.training.selection import SelectionRule
from lensscan.training.settings import TrainConfig
from lensscan.training.step import Precision


def build_card(
    config: TrainConfig,
    out: Path,
    data: TrainingData,
    method: Method,
    rule: SelectionRule,
    state: RunState,
    precision: Precision,
    settings: dict[str, Any],
    steps_per_epoch: int,
    parent: ParentModel | None = None,
) -> ModelCard:
    """The card of the model selected at ``state.best_epoch``.

    Returns:
        Its bands, input size and normalisation, the selection and every epoch's metrics,
        the stores with their fingerprints, the settings and the provenance.
    """
    stores = {
        d.setting + ("_val" if d is data.source_val else ""): {
            **d.describe(),
            **store_fingerprint(d.path),
        }
        for d in (data.source, data.target, data.val, data.source_val)
        if d is not None
    }
    if data.graded_record is not None:
        stores["grades"] = data.graded_record
    record = report.run_provenance(config, settings, stores, parent)
    assert state.best_epoch is not None
    selected = state.history[state.best_epoch - 1]
    return ModelCard(
        name=out.name,
        encoder=config.encoder,
        method=config.method,
        bands=data.bands,
        pixel_scale=data.pixel_scale,
        input_size=data.input_size,
        normalisation=(
            parent.card.normalisation if parent else own_normalisation(config).to_dict()
        ),
        encoder_options=dict(parent.card.encoder_options) if parent else {},
        imbalance={
            "strategy": "pos_weight",
            "pos_weight": data.pos_weight,
            "description": "BCE lens terms weighted by n_non-lens / n_lens of the labelled items",
        },
        selection={
            "rule": rule.name,
            "description": rule.description,
            "epoch": state.best_epoch,
            "value": state.best_value if rule.metric else None,
            "unsupervised_criteria": "target_entropy, target_confident, target_lens_fraction",
        },
        metrics={"selected": selected, "epochs": state.history},
        training={
            "stores": stores,
            "seed": config.seed,
            "epochs": config.epochs,
            "steps_per_epoch": steps_per_epoch,
            "batch_size": config.batch_size,
            "method_options": method.options,
            "precision": precision.name,
            "device": str(precision.device),
            "settings": settings,
            **({"parent": parent.describe()} if parent else {}),
        },
        provenance=record,
        lensscan_version=__version__,
    )


def write_weights_folder(
    out: Path,
    folder: Path,
    network: LensNet,
    card: ModelCard,
    state: RunState,
    loss_names: list[str],
    settings: dict[str, Any],
) -> None:
    """Write ``out`` atomically (model files, log, curves, settings); delete the run's ``folder``.

    Args:
        out: The weights folder.
        folder: The run's ``.partial`` folder (checkpoint and log so far).
        network: The selected model.
        card: Its card (:func:`build_card`).
        state: The finished run's state, whose history is the log and the curves.
        loss_names: The losses the curves show.
        settings: The run's settings (config.json and config.toml).
    """
    with atomic_output(out) as tmp:
        tmp.mkdir(parents=True)
        write_model_files(tmp, network, card)
        report.write_jsonl(tmp / report.LOG_FILE, state.history)
        report.plot_curves(
            tmp / report.CURVES_FILE, state.history, loss_names, f"{card.encoder} / {card.method}"
        )
        report.write_settings(tmp, settings)
    shutil.rmtree(folder, ignore_errors=True)
