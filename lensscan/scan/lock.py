"""One scan per output at a time: an exclusive lock held beside each catalog while it is made.

Two scans writing the same catalog would share its work store and race in its cleanup.
The lock is an ``flock`` on a hidden file beside the catalog, so it is released by the
kernel whenever its holder ends, even killed, and a stale lock can never block a scan.
The second scan refuses at once, in one line, rather than waiting for an unknown time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from lensscan.errors import UserError


def lock_path(catalog: Path) -> Path:
    """The lock file of a catalog: ``.<name>.lock`` in the catalog's folder."""
    return catalog.with_name(f".{catalog.name}.lock")


@contextlib.contextmanager
def output_lock(catalog: Path) -> Iterator[None]:
    """Hold the catalog's lock for the duration of the block.

    Args:
        catalog: The catalog a scan is about to write (its folder is created if needed).

    Raises:
        UserError: If another process holds the lock.
    """
    path = lock_path(catalog)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(handle)
            raise UserError(
                f"{catalog}: another lensscan scan (pid {holder}) is writing this catalog; "
                "wait for it to finish or scan into another `out`"
            ) from None
        # The holder before us may have removed the file after we opened it: lock the
        # file that is at the path now, not an unlinked one.
        try:
            same = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(handle)
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, str(os.getpid()).encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(handle)
