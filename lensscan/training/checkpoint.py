"""Checkpoints of an interrupted run: state dicts only, loaded with ``weights_only=True``.

The checkpoint lives in a sibling folder ``.NAME.partial`` of the output folder ``NAME``
(with the run's settings and its log so far); a run with ``resume`` set finds it there,
and a finished run deletes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lensscan.adapt import Method
from lensscan.errors import UserError
from lensscan.training.step import Precision

CHECKPOINT_FILE = "checkpoint.pt"

#: Settings that control how a run is executed, not what it computes (free to change on resume).
RUN_CONTROLS = ("resume", "overwrite", "device")


@dataclass
class RunState:
    """What a checkpoint restores besides the modules and optimizers."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    best_state: dict[str, torch.Tensor] | None = None


def partial_dir(out: Path) -> Path:
    """The folder holding an unfinished run's checkpoint."""
    return out.with_name(f".{out.name}.partial")


def save_checkpoint(folder: Path, payload: dict[str, Any]) -> None:
    """Write the checkpoint atomically (a crash mid-write keeps the previous one)."""
    tmp = folder / f"{CHECKPOINT_FILE}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, folder / CHECKPOINT_FILE)


def load_checkpoint(folder: Path) -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects.

    Raises:
        UserError: If the checkpoint is missing or unreadable.
    """
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        raise UserError(f"`resume`: {folder} holds no checkpoint; start again with `overwrite`")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise UserError(f"`resume`: cannot read checkpoint {path} ({exc})") from None


def checkpoint_payload(
    method: Method,
    precision: Precision,
    generators: Mapping[str, torch.Generator],
    state: RunState,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Everything a resumed run needs, as tensors, state dicts and JSON text.

    Returns:
        The payload for :func:`save_checkpoint`.
    """
    return {
        "epoch": state.epoch,
        "modules": {name: module.state_dict() for name, module in method.modules().items()},
        "optimizers": {name: opt.state_dict() for name, opt in method.optimizers().items()},
        "scaler": precision.scaler.state_dict(),
        "generators": {name: g.get_state() for name, g in generators.items()},
        "torch_rng": torch.get_rng_state(),
        "history_json": json.dumps(state.history),
        "best_epoch": -1 if state.best_epoch is None else state.best_epoch,
        "best_value_json": json.dumps(state.best_value),
        "best_state": state.best_state or {},
        "settings_json": json.dumps(settings, sort_keys=True),
    }


def restore_checkpoint(
    payload: Mapping[str, Any],
    method: Method,
    precision: Precision,
    generators: Mapping[str, torch.Generator],
    settings: dict[str, Any],
    folder: Path,
) -> RunState:
    """Load a :func:`checkpoint_payload` into the method, the scaler and the generators.

    Returns:
        The run's state at the checkpoint.

    Raises:
        UserError: If the interrupted run used other settings (besides :data:`RUN_CONTROLS`).
    """
    saved = json.loads(payload["settings_json"])
    current = json.loads(json.dumps(settings, sort_keys=True))
    differ = sorted(
        k
        for k in set(saved) | set(current)
        if k not in RUN_CONTROLS and saved.get(k) != current.get(k)
    )
    if differ:
        detail = ", ".join(f"{k}: {saved.get(k)!r} then, {current.get(k)!r} now" for k in differ)
        raise UserError(f"`resume`: the interrupted run in {folder} used other settings ({detail})")
    for name, module in method.modules().items():
        module.load_state_dict(payload["modules"][name])
    for name, optimizer in method.optimizers().items():
        optimizer.load_state_dict(payload["optimizers"][name])
    precision.scaler.load_state_dict(payload["scaler"])
    for name, generator in generators.items():
        generator.set_state(payload["generators"][name])
    torch.set_rng_state(payload["torch_rng"])
    best_epoch = int(payload["best_epoch"])
    return RunState(
        epoch=int(payload["epoch"]),
        history=json.loads(payload["history_json"]),
        best_epoch=None if best_epoch < 0 else best_epoch,
        best_value=json.loads(payload["best_value_json"]),
        best_state=dict(payload["best_state"]) or None,
    )
