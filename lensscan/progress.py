"""Progress reporting: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from lensscan.errors import as_options

T = TypeVar("T")

logger = logging.getLogger("lensscan")

_LOG_EVERY_S = 10.0


class _CurrentStderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is at the time of each record.

    Test runners and notebooks swap ``sys.stderr``; a handler bound to the stream of its
    creation would write to a closed one later.
    """

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


class _OptionsFormatter(logging.Formatter):
    """Log lines that name settings by their command-line options (see ``errors.as_options``).

    Only the message is rewritten; a traceback logged with it is shown as it is.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return as_options(super().formatMessage(record))


def configure_logging(verbose: bool = False) -> None:
    """Send lensscan's log records to stderr, once, naming settings as options.

    The command line calls this; library callers configure logging their own way.
    """
    if not logger.handlers:
        handler = _CurrentStderrHandler()
        handler.setFormatter(_OptionsFormatter("%(asctime)s lensscan %(levelname)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def is_terminal() -> bool:
    """Whether stderr is an interactive terminal."""
    return sys.stderr.isatty()


def track(items: Iterable[T], *, total: int | None, description: str) -> Iterator[T]:
    """Iterate over ``items`` while showing progress.

    On a terminal this draws a rich progress bar; elsewhere (batch jobs, CI, pipes) it logs
    one line at the start, one every ten seconds and one at the end.

    Args:
        items: What to iterate over.
        total: The number of items, if known.
        description: A few words saying what is being done.

    Yields:
        The items, unchanged.
    """
    if is_terminal():
        from rich.progress import Progress

        with Progress(transient=False) as bar:
            task = bar.add_task(description, total=total)
            for item in items:
                yield item
                bar.advance(task)
        return
    start = last = time.monotonic()
    done = 0
    logger.info("%s: started (%s items)", description, total if total is not None else "?")
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= _LOG_EVERY_S:
            last = now
            rate = done / (now - start)
            logger.info("%s: %d/%s done (%.1f/s)", description, done, total or "?", rate)
    elapsed = time.monotonic() - start
    logger.info("%s: finished %d items in %.1f s", description, done, elapsed)
