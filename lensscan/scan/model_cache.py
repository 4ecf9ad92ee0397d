"""One model per worker process: a cache keyed by the weights folder, SHA-256 and device.

Dask tasks carry a small :class:`ModelRef` instead of the network; the first task on a
worker process loads the model and later tasks reuse it. The client registers the model it
has already loaded, so an in-process scan (``--workers 0``, or a threads-only cluster)
never loads it twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from lensscan.errors import UserError


class Scorer(Protocol):
    """What the scanner needs from a model (``lensscan.models.LensFinder`` provides it)."""

    name: str
    sha256: str | None
    bands: tuple[str, ...]
    input_size: int
    pixel_scale: float | None
    device: Any

    def score_tensor(self, images: Any) -> Any:
        """(N, C, H, W) raw-flux tensor on :attr:`device` -> (N,) probabilities."""


@dataclass(frozen=True)
class ModelRef:
    """How a worker finds the scan's model.

    Attributes:
        source: The resolved weights folder, or ``None`` for a model that exists only in
            the client process (registered with :func:`register_model`).
        identity: The weights' SHA-256 (or ``unsaved:<name>`` for an unsaved model).
        device: The device requested (None: CUDA, MPS, then CPU on each worker).
    """

    source: str | None
    identity: str
    device: str | None


_CACHE: dict[ModelRef, Scorer] = {}
_LOCK = threading.Lock()
_PROCESS_DEVICE: list[str] = []
"""The GPU this worker process was given (see :mod:`lensscan.scan.gpu_slot`), if any."""

AUTO_DEVICES = (None, "auto", "cuda")
"""Requested devices that a worker's own GPU replaces (an explicit ``cuda:N`` is kept)."""


def set_process_device(device: str) -> None:
    """Run models requested on any GPU (``None``, ``auto``, ``cuda``) on ``device`` here."""
    with _LOCK:
        _PROCESS_DEVICE[:] = [device]


def process_device(requested: str | None) -> str | None:
    """The device a model requested as ``requested`` runs on in this process."""
    if _PROCESS_DEVICE and requested in AUTO_DEVICES:
        return _PROCESS_DEVICE[0]
    return requested


def model_identity(scorer: Scorer) -> str:
    """The weights' SHA-256, or a name-based stand-in for an unsaved model."""
    return scorer.sha256 or f"unsaved:{scorer.name}"


def register_model(ref: ModelRef, scorer: Scorer) -> None:
    """Make an already-loaded model available to tasks running in this process."""
    with _LOCK:
        _CACHE[ref] = scorer


def model_for(ref: ModelRef) -> Scorer:
    """The model of ``ref``, loaded at most once per process.

    Raises:
        UserError: If the weights cannot be loaded here or changed since the scan began.
    """
    with _LOCK:
        cached = _CACHE.get(ref)
        if cached is not None:
            return cached
        if ref.source is None:
            raise UserError(
                f"model {ref.identity} exists only in the client process; save it with "
                "save_model and scan with its folder to use worker processes"
            )
        from lensscan.models import load_model

        scorer = load_model(ref.source, device=process_device(ref.device))
        if model_identity(scorer) != ref.identity:
            raise UserError(f"model {ref.source}: weights changed while the scan was running")
        _CACHE[ref] = scorer
        return scorer
