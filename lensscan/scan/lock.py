"""One scan per output and per work store at a time: exclusive locks held while they are made.

Two scans writing the same catalog would share its work store and race in its cleanup.
Two scans of the same field into the same folder (different catalogs, the same or other
settings) would share ``<work-dir>/<field>.zarr``: one would discard or resume the other's
half-written store and both catalogs would be wrong. So a scan holds a lock on each catalog
it writes and on each work store it uses, from planning until the field's catalog is written.

A lock is an ``flock`` on a hidden file beside the catalog or store, so it is released by the
kernel whenever its holder ends, even killed, and a stale lock can never block a scan. The
second scan refuses at once, in one line, rather than waiting for an unknown time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from lensscan.errors import UserError


def lock_path(target: Path) -> Path:
    """The lock file of a catalog or work store: ``.<name>.lock`` in its folder."""
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def _exclusive(target: Path, refusal: str) -> Iterator[None]:
    """Hold ``target``'s lock for the duration of the block, or raise ``refusal``.

    ``refusal`` may hold ``{pid}``, replaced by the holder's process id.
    """
    path = lock_path(target)
    # Folders made for the lock are removed again if the run leaves them empty (a scan that
    # fails before writing anything leaves no empty catalogs/ or .work/ behind).
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # another run removed the empty folder just now
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(handle)
            raise UserError(refusal.replace("{pid}", holder)) from None
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
        for folder in created:  # deepest first; a folder with anything in it stays
            try:
                folder.rmdir()
            except OSError:
                break


def output_lock(catalog: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the catalog's lock for the duration of the block.

    Args:
        catalog: The catalog a scan is about to write (its folder is created if needed).

    Raises:
        UserError: If another process holds the lock.
    """
    return _exclusive(
        catalog,
        f"{catalog}: another lensscan scan (pid {{pid}}) is writing this catalog; "
        "wait for it to finish or scan into another `out`",
    )


def work_store_lock(store: Path, field: str) -> contextlib.AbstractContextManager[None]:
    """Hold a field's work-store lock for the duration of the block.

    Args:
        store: The field's ``.zarr`` work store (its folder is created if needed).
        field: The field's label, for the message.

    Raises:
        UserError: If another process holds the lock (another scan of the same field
            using the same work folder, whatever its catalog or settings).
    """
    return _exclusive(
        store,
        f"{field}: another lensscan scan (pid {{pid}}) is scanning this field with the work "
        f"store {store}; wait for it to finish, or give this scan another `work_dir`",
    )
