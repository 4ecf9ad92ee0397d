"""Checkpoints of an interrupted run: state dicts only, loaded with ``weights_only=True``.

The checkpoint lives in a sibling folder ``.NAME.partial`` of the output folder ``NAME``
(with the run's settings and its log so far); a run with ``resume`` set finds it there,
and a finished run deletes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from lensscan.errors import UserError

CHECKPOINT_FILE = "checkpoint.pt"


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
