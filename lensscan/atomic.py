"""Write outputs under a temporary name and rename them into place when complete.

An interrupted run therefore never leaves a file or directory that looks finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from lensscan.errors import UserError


def check_output_path(
    path: str | os.PathLike[str], *, overwrite: bool, option: str | None = "out"
) -> Path:
    """Check that an output path may be written.

    Args:
        path: The final output path.
        overwrite: Whether an existing output may be replaced.
        option: The setting that named the path, by its Python name (``out``), which
            messages name in backticks (the CLI shows it as its option, ``--out``); None
            for a path no setting named (a default folder), which messages name alone.

    Returns:
        The path as a :class:`~pathlib.Path`.

    Raises:
        UserError: ```<option>` <path>: already exists (pass `overwrite` to replace it)``
            without ``overwrite``, if the path is the current folder or one of its
            parents, or if the path's folder cannot be written.
    """
    out = Path(path)
    named = f"`{option}` {out}" if option is not None else str(out)
    # Replacing such a path would remove the folder the user works in (``--out .``).
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise UserError(f"{named}: is the current folder or one of its parents; name an output")
    if out.exists() and not overwrite:
        raise UserError(f"{named}: already exists (pass `overwrite` to replace it)")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{named}: cannot create folder {parent}: {exc.strerror}") from None
    # Permission bits do not tell the whole story (root, read-only mounts, /proc): try it.
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".lensscan-probe-")
    except OSError as exc:
        raise UserError(f"{named}: folder {parent} is not writable ({exc.strerror})") from None
    os.close(handle)
    os.unlink(probe)
    return out


@contextlib.contextmanager
def new_folders_removed_on_failure(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Remove ``folder`` and the parents the block created for it if the block fails.

    Only folders that did not exist before the block and are empty after it are removed, so a
    failed run leaves no empty output folder behind and never deletes anything it did not make.

    Args:
        folder: The folder the block may create (with its parents).
    """
    missing = []
    current = Path(folder).absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    try:
        yield
    except BaseException:
        for path in missing:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise


def remove_path(path: Path) -> None:
    """Remove a file, link or folder tree if it exists (errors inside a tree are ignored)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink(missing_ok=True)


def _temporary_sibling(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it to ``path``.

    The temporary may be written as a file or as a directory (a Zarr store). On any
    exception it is removed and ``path`` is left untouched; on success an existing
    ``path`` is replaced.

    Args:
        path: The final output path.

    Yields:
        The temporary path to write.
    """
    final = Path(path)
    tmp = _temporary_sibling(final)
    try:
        yield tmp
    except BaseException:
        remove_path(tmp)
        raise
    if final.exists() or final.is_symlink():
        old = _temporary_sibling(final)
        final.rename(old)
        tmp.rename(final)
        remove_path(old)
    else:
        tmp.rename(final)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
