"""A Dask worker plugin that binds each worker process to one GPU of its host or job.

A worker's slot is its name's number (a local cluster names its workers 0, 1, ...) or the
``-N`` that dask appends to the names of the processes of one batch job; the worker then
runs the model on ``cuda:<slot mod gpus>``. The device is chosen when the plugin is set
up, before any task loads the model, so no CUDA context is made on the wrong GPU.
"""

from __future__ import annotations

import re
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from lensscan.scan.model_cache import set_process_device


def worker_slot(name: Any) -> int | None:
    """The GPU slot in a worker's name: an integer name, or a trailing ``-N``."""
    if isinstance(name, int):
        return name
    match = re.search(r"-(\d+)$", str(name))
    return int(match[1]) if match else None


class GpuSlot(WorkerPlugin):
    """Run each worker's model on its own GPU.

    Args:
        gpus: GPUs each host (local cluster) or job (batch cluster) has.
    """

    name = "lensscan-gpu-slot"

    def __init__(self, gpus: int) -> None:
        self.gpus = gpus

    def setup(self, worker: Any) -> None:
        """Choose this worker process's CUDA device from the worker's name."""
        slot = worker_slot(worker.name)
        if slot is not None:
            set_process_device(f"cuda:{slot % self.gpus}")
