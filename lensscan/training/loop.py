"""The one training loop shared by every encoder and adaptation method.

:func:`train` reads the stores, builds the network and the method, and for each epoch
draws seeded batches, asks the method for its named losses, computes each optimizer's
gradients (mixed precision on CUDA), steps, evaluates, selects, logs and checkpoints. At
the end it writes ``weights/NAME`` atomically: model.safetensors, model.json (the card),
train.jsonl, curves.png, config.json and config.toml. Until then everything lives in the
sibling ``.NAME.partial`` folder, which a run with ``resume`` set continues from.

On the CPU a run is deterministic for a given seed (deterministic algorithms, seeded
generators for sampling and augmentation), and a resumed run gives the same weights as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import torch

from lensscan.adapt import Batch, Method, MethodContext, build_method, check_options, method_class
from lensscan.atomic import check_output_path
from lensscan.errors import UserError
from lensscan.models.card import MIXED_ENCODER
from lensscan.models.finder import select_device
from lensscan.models.network import build_network
from lensscan.models.registry import encoder_spec
from lensscan.models.weights import init_from_checkpoint, save_model
from lensscan.naming import canonical_name
from lensscan.training import report
from lensscan.training.checkpoint import (
    RunState,
    checkpoint_payload,
    load_checkpoint,
    partial_dir,
    restore_checkpoint,
    save_checkpoint,
)
from lensscan.training.data import TrainingData, load_training_data, own_normalisation
from lensscan.training.finish import build_card, write_weights_folder
from lensscan.training.parent import (
    ParentModel,
    check_parent_inputs,
    load_parent,
    parent_card,
)
from lensscan.training.selection import epoch_metrics, resolve_rule
from lensscan.training.settings import TrainConfig
from lensscan.training.step import Precision, apply_gradients

#: The encoder of a run that names none and starts from no model.
DEFAULT_ENCODER = "small_cnn"

EpochCallback = Callable[[int, Mapping[str, Any]], None]


def validate(config: TrainConfig) -> TrainConfig:
    """Check the registry names in the settings before anything is read.

    The settings have checked their own values; what needs the registries of encoders
    and methods, or the ``init_model``'s card, is checked here.

    Returns:
        The settings with method options as floats.

    Raises:
        UserError: On an unknown encoder, method or option, or a method without its data.
    """
    config = _resolve_names(config)
    if config.encoder != MIXED_ENCODER:
        # A mixed parent's members are trained one by one, each with its own encoder.
        encoder_spec(config.encoder)
    method = method_class(config.method)
    options = check_options(config.method, config.method_options)
    if method.needs_target and config.target is None:
        raise UserError(f"`method` {config.method} needs an unlabelled target store (`target`)")
    return replace(config, method_options=options)


def _resolve_names(config: TrainConfig) -> TrainConfig:
    """Registry spellings of method and encoder; the encoder of ``init_model``.

    Raises:
        UserError: If ``init_model`` is not found, or ``encoder`` contradicts it.
    """
    method = canonical_name(config.method)
    encoder = canonical_name(config.encoder) if config.encoder else None
    if config.init_model is not None:
        parent = parent_card(config.init_model)
        if encoder is not None and encoder != parent.encoder:
            raise UserError(
                f"`encoder` {config.encoder}: `init_model` {config.init_model} is a "
                f"{parent.encoder} model; leave `encoder` out to use it"
            )
        encoder = parent.encoder
    return replace(config, method=method, encoder=encoder or DEFAULT_ENCODER)


@contextlib.contextmanager
def _run_context(device: torch.device, seed: int) -> Iterator[None]:
    """Seed everything for the run and restore the caller's random and determinism state."""
    previous = torch.are_deterministic_algorithms_enabled()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(previous)


def _batches(data: TrainingData, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
    """One epoch of batches: a seeded permutation of the source, the target cycled alongside."""
    images, labels = data.labelled
    n_source = len(labels)
    size = min(batch_size, n_source)
    source_order = torch.randperm(n_source, generator=generator)
    target_order = (
        torch.randperm(len(data.target), generator=generator) if data.target is not None else None
    )
    device = images.device
    for step in range(n_source // size):
        picked = source_order[step * size : (step + 1) * size].to(device)
        target = None
        if data.target is not None and target_order is not None:
            positions = torch.arange(step * size, (step + 1) * size) % len(data.target)
            target = data.target.images[target_order[positions].to(device)]
        yield Batch(images[picked], labels[picked], target)


def _prepare_folders(config: TrainConfig, out: Path) -> Path:
    check_output_path(out, overwrite=config.overwrite, option="out")
    folder = partial_dir(out)
    if folder.exists() and not config.resume:
        if not config.overwrite:
            raise UserError(
                f"`out` {out}: an interrupted run exists in {folder}; "
                "pass `resume` to continue it or `overwrite` to start over"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def train(config: TrainConfig, *, on_epoch_end: EpochCallback | None = None) -> Path:
    """Train a lens finder and write its weights folder.

    Args:
        config: The run's settings.
        on_epoch_end: Called as ``on_epoch_end(epoch, record)`` (1-based epoch) after each
            epoch's checkpoint is written.

    Returns:
        The weights folder (``config.out``).

    Raises:
        UserError: On bad settings or stores; nothing is left in the output folder.
    """
    config = validate(config)
    if config.source is None:
        from lensscan.training.batchnorm_only import adapt_batchnorm_only

        return adapt_batchnorm_only(config)
    out = Path(config.out)
    device = select_device(config.device)
    settings = report.run_settings(config)
    parent = load_parent(config.init_model) if config.init_model else None
    if parent is not None and parent.card.members > 1:
        return _adapt_each_member(config, parent, on_epoch_end)
    norm = parent.finder.normalisation if parent else own_normalisation(config)
    check_output_path(out, overwrite=config.overwrite, option="out")
    with _run_context(device, config.seed):
        data = load_training_data(config, norm, device)
        if parent is not None:
            check_parent_inputs(parent, data.bands, data.input_size)
        folder = _prepare_folders(config, out)
        if parent is not None:
            network = parent.network_copy(need_single=True, method=config.method).to(device)
        else:
            network = build_network(config.encoder, len(data.bands)).to(device)
        if config.init_checkpoint:
            init_from_checkpoint(network.encoder, config.init_checkpoint)
        generators = {
            "data": torch.Generator().manual_seed(config.seed),
            "augment": torch.Generator(device=device).manual_seed(config.seed + 1),
        }
        n_labelled = len(data.labelled[1])
        steps_per_epoch = n_labelled // min(config.batch_size, n_labelled)
        context = MethodContext(
            network=network,
            pos_weight=data.pos_weight,
            lr=config.lr,
            weight_decay=config.weight_decay,
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            generator=generators["augment"],
            target_pool=data.target.images if data.target is not None else None,
            options=config.method_options,
            source_lens_fraction=1.0 / (1.0 + data.pos_weight),
            initialised=parent is not None,
            source_reference=(
                (data.source_val.images, data.source_val.labels)
                if data.source_val is not None and data.source_val.labels is not None
                else None
            ),
        )
        method = build_method(config.method, context)
        precision = Precision(device, config.amp)
        rule = resolve_rule(config.selection, data.val is not None)
        state = RunState()
        if config.resume and (folder / "checkpoint.pt").exists():
            state = restore_checkpoint(
                load_checkpoint(folder), method, precision, generators, settings, folder
            )
        loss_names = sorted(
            {n for e in range(config.epochs) for g in method.loss_groups(e).values() for n in g}
        )
        run_epoch = partial(
            _run_epoch, method, data, config, precision, generators["data"], steps_per_epoch
        )
        for epoch in range(state.epoch, config.epochs):
            record = run_epoch(epoch)
            network_now = method.eval_network()
            record.update(epoch_metrics(network_now, data, precision.autocast, config.max_eval))
            state.history.append(record)
            value = record.get(rule.metric) if rule.metric else None
            if rule.better(value, state.best_value):
                state.best_epoch, state.best_value = epoch + 1, value
                state.best_state = {
                    k: v.detach().cpu().clone() for k, v in network_now.state_dict().items()
                }
            state.epoch = epoch + 1
            save_checkpoint(
                folder, checkpoint_payload(method, precision, generators, state, settings)
            )
            report.write_jsonl(folder / report.LOG_FILE, state.history)
            report.log_epoch(record, config.epochs)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record)
        best = copy.deepcopy(method.eval_network()).cpu()
        assert state.best_state is not None
        best.load_state_dict(state.best_state)
        card = build_card(
            config, out, data, method, rule, state, precision, settings, steps_per_epoch, parent
        )
        write_weights_folder(out, folder, best, card, state, loss_names, settings)
    return out


def _adapt_each_member(
    config: TrainConfig, parent: ParentModel, on_epoch_end: EpochCallback | None
) -> Path:
    """Adapt every member of an ensemble ``init_model`` in turn, then ensemble them.

    Each member is a run of its own (seed ``seed + k``) under the output's ``.partial``
    folder, so a resumed run continues the member that was interrupted. The new ensemble's
    card records the parent ensemble; each member's card records the member it started from.
    """
    from lensscan.models.ensemble import make_ensemble

    out = Path(config.out)
    work = _prepare_folders(config, out)
    adapted = []
    for index, start in enumerate(parent.member_folders(work / "parent-members")):
        member_out = work / f"member-{index}"
        if not (member_out / "model.json").is_file():
            member_config = replace(
                config,
                out=str(member_out),
                init_model=str(start),
                encoder=None,  # each member's own (a mixed parent's differ)
                seed=config.seed + index,
                overwrite=False,
            )
            train(member_config, on_epoch_end=on_epoch_end)
        adapted.append(str(member_out))
    ensemble = make_ensemble(adapted, out)
    training = {**ensemble.card.training, "parent": parent.describe()}
    save_model(ensemble, out, training=training, method=config.method)
    shutil.rmtree(work, ignore_errors=True)
    return out


def _run_epoch(
    method: Method,
    data: TrainingData,
    config: TrainConfig,
    precision: Precision,
    generator: torch.Generator,
    steps_per_epoch: int,
    epoch: int,
) -> dict[str, Any]:
    """Train one epoch; returns the epoch's record with mean losses."""
    start = time.monotonic()
    priors = method.estimate_target_prior(epoch)
    method.on_epoch_start(epoch)
    method.train()
    groups = method.loss_groups(epoch)
    optimizers = method.optimizers()
    sums: dict[str, torch.Tensor] = {}
    description = f"epoch {epoch + 1}/{config.epochs}"
    with report.step_progress(steps_per_epoch, description) as advance:
        for index, batch in enumerate(_batches(data, config.batch_size, generator)):
            step = epoch * steps_per_epoch + index
            with precision.autocast():
                losses = method.losses(batch, step)
            apply_gradients(losses, groups, optimizers, precision.scaler)
            method.after_step(step)
            for name, value in losses.items():
                sums[name] = sums.get(name, 0) + value.detach().float()
            advance(losses)
    record: dict[str, Any] = {"epoch": epoch + 1}
    record.update(priors)
    record.update(
        {f"loss/{name}": float(total) / steps_per_epoch for name, total in sorted(sums.items())}
    )
    record["seconds"] = round(time.monotonic() - start, 3)
    return record
