"""A Dask worker plugin that keeps the notes of cancelled tasks out of the user's terminal.

When a scan is interrupted (Ctrl-C, SIGTERM) it closes its cluster while tasks still run;
each worker then logs, per task, a warning that its "async instruction ... ended with
CancelledError". The cancellation is what the user asked for and the scan says so in one
line, so these records are dropped; every other record of the worker still shows.
"""

from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

#: The logger of the dask.distributed worker's task state machine.
STATE_MACHINE_LOGGER = "distributed.worker.state_machine"


class _DropCancelled(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "ended with CancelledError" not in record.getMessage()


class QuietCancel(WorkerPlugin):
    """Drop the worker's log records about tasks cancelled while running."""

    name = "lensscan-quiet-cancel"

    def setup(self, worker: Any) -> None:
        """Add the filter to this worker process's state-machine logger (once)."""
        logger = logging.getLogger(STATE_MACHINE_LOGGER)
        if not any(isinstance(f, _DropCancelled) for f in logger.filters):
            logger.addFilter(_DropCancelled())
