"""Provenance records carried by every output: version, inputs with hashes, settings, seed."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lensscan import __version__

_CHUNK = 1 << 20


def content_key(record: Mapping[str, Any]) -> str:
    """A short content key of settings and input hashes (12 hex digits).

    Outputs named by it (a work folder's stores, models) are found again by a rerun with
    the same inputs and settings, and never reused when one of them changed.
    """
    text = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sha256_tree(path: str | os.PathLike[str]) -> str:
    """Return a SHA-256 over every file below a directory (relative names and contents).

    Files are visited in sorted order so the hash does not depend on the file system. A
    plain file is hashed as by :func:`sha256_file`.
    """
    root = Path(path)
    if root.is_file():
        return sha256_file(root)
    digest = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(sha256_file(file).encode())
    return digest.hexdigest()


def describe_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[dict[str, str]]:
    """Describe input files or directories as ``{"path", "sha256"}`` records."""
    return [{"path": str(Path(p).resolve()), "sha256": sha256_tree(p)} for p in paths]


def provenance(
    *,
    command: str,
    settings: Mapping[str, Any],
    seed: int | None = None,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Build the provenance record saved beside an output.

    Args:
        command: The lensscan command that made the output (``"simulate"``, ...).
        settings: The resolved settings, JSON-serialisable.
        seed: The run's seed, if it has one.
        inputs: Files or directories the output was made from; each is hashed.

    Returns:
        A JSON-serialisable dictionary.
    """
    return {
        "lensscan_version": __version__,
        "command": command,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "host": platform.node(),
        "seed": seed,
        "settings": dict(settings),
        "inputs": describe_inputs(inputs),
    }
