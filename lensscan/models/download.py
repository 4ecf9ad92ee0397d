"""Fetch published models and report which models are installed where.

``download_model`` streams each file of a manifest entry (see :mod:`lensscan.models.manifest`)
in 1 MiB blocks over ``http(s)://`` or ``file://`` with the standard library, hashing as it
writes. The files go into a hidden temporary folder beside the destination, which is renamed
to ``WEIGHTS/NAME`` only when every file has its manifest size and SHA-256 and model.json is a
valid card for those weights: a failed or interrupted download leaves nothing that looks
installed.

``model_statuses`` lists the published models together with the models found in the weights
folders that :func:`~lensscan.models.weights.load_model` searches.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from lensscan import __version__
from lensscan.atomic import atomic_output, check_output_path, new_folders_removed_on_failure
from lensscan.errors import UserError
from lensscan.models.manifest import (
    MODEL_FILES,
    Manifest,
    ManifestEntry,
    ManifestFile,
    file_url,
    headline_metrics,
    load_manifest,
    model_folders,
)
from lensscan.models.weights import (
    CARD_FILE,
    WEIGHTS_ENV,
    WEIGHTS_FILE,
    read_card,
    weights_search_path,
)
from lensscan.progress import logger, track
from lensscan.provenance import sha256_file

#: Bytes read from the network and written per step.
BLOCK_SIZE = 1 << 20

#: Seconds without any data (connecting or reading) before a download gives up.
DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DownloadResult:
    """What :func:`download_model` did.

    Attributes:
        name: The model's name.
        folder: Where the model is installed.
        downloaded: False if a verified copy was already installed.
        size: Total size of the model's files in bytes.
        base_url: The base URL the files came from (None if nothing was downloaded).
    """

    name: str
    folder: Path
    downloaded: bool
    size: int
    base_url: str | None


def destination_root(directory: str | os.PathLike[str] | None = None) -> Path:
    """The weights folder to install into: ``directory``, ``$LENSSCAN_WEIGHTS``, or ./weights."""
    if directory is not None:
        return Path(directory)
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV])
    return Path.cwd() / "weights"


def search_roots(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Weights folders to look for installed models in, without repeats.

    ``directory`` comes first, then the folders :func:`~lensscan.models.weights.load_model`
    searches.
    """
    roots = ([Path(directory)] if directory is not None else []) + weights_search_path()
    unique: dict[Path, Path] = {}
    for root in roots:
        unique.setdefault(root.resolve(), root)
    return list(unique.values())


def find_installed(name: str, roots: list[Path]) -> Path | None:
    """The first ``root/name`` folder holding a model.json, or None."""
    for root in roots:
        if (root / name / CARD_FILE).is_file():
            return root / name
    return None


def compare_with_entry(folder: Path, entry: ManifestEntry, *, hashes: bool = True) -> str | None:
    """How an installed model folder differs from its manifest entry.

    Args:
        folder: The installed model folder.
        entry: The manifest entry.
        hashes: Compare SHA-256 (slow for big models) besides sizes.

    Returns:
        None if every file matches, else a few words naming the first difference.
    """
    for expected in entry.files:
        path = folder / expected.name
        if not path.is_file():
            return f"{expected.name} is missing"
        size = path.stat().st_size
        if size != expected.size:
            return f"{expected.name} has {size} bytes, the manifest says {expected.size}"
        if hashes and (actual := sha256_file(path)) != expected.sha256:
            return f"{expected.name} has sha256 {actual}, the manifest says {expected.sha256}"
    return None


def download_model(
    name: str,
    *,
    directory: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    force: bool = False,
    manifest: Manifest | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> DownloadResult:
    """Download a published model into a weights folder, verifying every file.

    Without ``directory`` a verified copy anywhere :func:`~lensscan.models.weights.load_model`
    looks counts as installed; with it, only ``directory/NAME`` does.

    Args:
        name: The model's name in the manifest.
        directory: Weights folder to install into (default ``$LENSSCAN_WEIGHTS``, else
            ./weights).
        base_url: Mirror URL or local folder that relative file URLs are joined to (default
            ``$LENSSCAN_MIRROR``, else the manifest's base URL).
        force: Download even if a verified copy is installed, and replace a differing one.
        manifest: The manifest to use (default: the packaged one).
        timeout: Seconds without data before giving up.

    Returns:
        What was done.

    Raises:
        UserError: If the name is unknown, the destination already holds a different model
            (without ``force``), or a file cannot be fetched, is truncated or has the wrong
            SHA-256; nothing is left behind in that case, not even a weights folder created
            for the download.
    """
    if not timeout > 0:
        raise UserError(f"`timeout` {timeout:g}: must be a positive number of seconds")
    manifest = manifest if manifest is not None else load_manifest()
    entry = manifest.entry(name)
    target = destination_root(directory) / name
    roots = weights_search_path() if directory is None else [Path(directory)]
    installed = find_installed(name, roots)
    if installed is not None and not force:
        problem = compare_with_entry(installed, entry)
        if problem is None:
            return DownloadResult(name, installed, False, entry.size, None)
        if installed.resolve() == target.resolve():
            raise UserError(
                f"{target}: already exists but differs from the published {name} ({problem}); "
                "pass `force` to replace it"
            )
        logger.info("%s differs from the published %s (%s); downloading", installed, name, problem)
    source = manifest.resolve_base_url(base_url)
    with new_folders_removed_on_failure(target.parent):
        check_output_path(target, overwrite=True, option="dir" if directory else None)
        with atomic_output(target) as tmp:
            tmp.mkdir()
            for expected in entry.files:
                fetch_file(
                    file_url(source, expected),
                    tmp / expected.name,
                    expected,
                    timeout=timeout,
                    label=f"{name}/{expected.name}",
                )
            _check_card(tmp, entry)
    return DownloadResult(name, target, True, entry.size, source)


def _check_card(folder: Path, entry: ManifestEntry) -> None:
    """Check that the downloaded model.json is a valid card for the downloaded weights."""
    label = f"{entry.name}/{CARD_FILE}"
    try:
        card = read_card(folder)
    except UserError as exc:
        raise UserError(f"{label}: not a valid model card ({exc})") from None
    weights_sha256 = next(f.sha256 for f in entry.files if f.name == WEIGHTS_FILE)
    if card.weights_sha256 != weights_sha256:
        raise UserError(
            f"{label}: the card's weights_sha256 {card.weights_sha256} does not match "
            f"{WEIGHTS_FILE} ({weights_sha256})"
        )


def fetch_file(url: str, out: Path, expected: ManifestFile, *, timeout: float, label: str) -> None:
    """Stream a URL into a file, checking its length and SHA-256.

    The caller deletes ``out`` on failure (it is written inside a temporary folder).

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        out: File to write.
        expected: The manifest's size and SHA-256 of the file.
        timeout: Seconds without data before giving up.
        label: ``NAME/FILE``, for progress and error messages.

    Raises:
        UserError: On an HTTP error, a timeout, a broken or truncated transfer, more bytes
            than expected, or a SHA-256 mismatch.
    """
    request = Request(url, headers={"User-Agent": f"lensscan/{__version__}"})
    digest = hashlib.sha256()
    received = 0
    announced: int | None = None
    description = f"download {label} ({format_size(expected.size)})"
    try:
        with urlopen(request, timeout=timeout) as response, open(out, "wb") as handle:
            announced = _content_length(response)
            total = max(1, math.ceil(expected.size / BLOCK_SIZE))
            for block in track(_blocks(response), total=total, description=description):
                received += len(block)
                if received > expected.size:
                    raise UserError(
                        f"{label}: {url} sends more than the manifest's {expected.size} bytes; "
                        "download refused and deleted"
                    )
                handle.write(block)
                digest.update(block)
    except HTTPError as exc:
        exc.close()
        raise UserError(f"{label}: HTTP error {exc.code} {exc.reason} from {url}") from None
    except URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise UserError(_timeout_message(label, url, timeout)) from None
        raise UserError(f"{label}: cannot fetch {url} ({_describe(exc.reason)})") from None
    except TimeoutError:
        raise UserError(_timeout_message(label, url, timeout)) from None
    except (OSError, HTTPException) as exc:
        raise UserError(
            f"{label}: transfer from {url} broke after {received} bytes ({_describe(exc)})"
        ) from None
    if announced is not None and received < announced:
        raise UserError(
            f"{label}: connection to {url} closed after {received} of {announced} bytes; "
            "nothing was installed, try again"
        )
    actual = digest.hexdigest()
    if actual != expected.sha256:
        raise UserError(
            f"{label}: sha256 mismatch, expected {expected.sha256} ({expected.size} bytes), "
            f"got {actual} ({received} bytes) from {url}; download refused and deleted"
        )


def _blocks(response: Any) -> Iterator[bytes]:
    while block := response.read(BLOCK_SIZE):
        yield block


def _content_length(response: Any) -> int | None:
    """The announced length of a response (HTTP header, or the size of a file:// file)."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _timeout_message(label: str, url: str, timeout: float) -> str:
    return (
        f"{label}: no data from {url} for {timeout:g} s (timed out); retry, raise `timeout` "
        "or use a mirror (`base_url`)"
    )


def _describe(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def format_size(size: int | None) -> str:
    """Bytes as a short human-readable size (``241 kB``, ``1.2 MB``); ``-`` for None."""
    if size is None:
        return "-"
    if size < 1000:
        return f"{size} B"
    if size < 1e6:
        return f"{size / 1e3:.0f} kB"
    if size < 1e9:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.2f} GB"


#: Installation states reported by :func:`model_statuses`, with their meaning.
STATES = {
    "installed": "installed and matching the manifest (or a local model with a valid card)",
    "not installed": "published but not found in any weights folder",
    "differs": "installed, but its files differ from the manifest's (local or older copy)",
    "corrupt": "model.safetensors does not match the SHA-256 in its card (`verify`)",
    "invalid": "model.json is missing fields or not a valid card",
}


@dataclass(frozen=True)
class ModelStatus:
    """One model known from the manifest or found installed.

    Attributes:
        name: The model's name.
        encoder: Encoder registry name (``?`` if the card is unreadable).
        method: Training method.
        bands: Band names.
        metrics: Headline metrics (see :func:`~lensscan.models.manifest.headline_metrics`).
        size: Total size of its files in bytes.
        description: The manifest's description.
        published: Whether the manifest lists it.
        folder: Where it is installed (the copy ``load_model`` would use), or None.
        state: One of :data:`STATES`.
        problem: What is wrong, for the ``differs``, ``corrupt`` and ``invalid`` states.
    """

    name: str
    encoder: str
    method: str
    bands: tuple[str, ...]
    metrics: dict[str, Any]
    size: int | None
    description: str
    published: bool
    folder: Path | None
    state: str
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the status."""
        return {
            "name": self.name,
            "encoder": self.encoder,
            "method": self.method,
            "bands": list(self.bands),
            "metrics": dict(self.metrics),
            "size": self.size,
            "description": self.description,
            "published": self.published,
            "installed": self.folder is not None,
            "path": str(self.folder) if self.folder is not None else None,
            "state": self.state,
            "problem": self.problem,
        }


def model_statuses(
    manifest: Manifest | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
    verify: bool = False,
) -> list[ModelStatus]:
    """Every published or installed model: published ones in manifest order, then local ones.

    Args:
        manifest: The manifest (default: the packaged one).
        directory: An extra weights folder searched before the usual ones.
        verify: Compare SHA-256 hashes, not only file sizes (reads every installed file).

    Returns:
        One status per model name.
    """
    manifest = manifest if manifest is not None else load_manifest()
    installed: dict[str, Path] = {}
    for root in search_roots(directory):
        for folder in model_folders(root):
            installed.setdefault(folder.name, folder)
    statuses = [
        _published_status(entry, installed.get(name), verify)
        for name, entry in manifest.models.items()
    ]
    statuses += [
        _local_status(folder, verify)
        for name, folder in sorted(installed.items())
        if name not in manifest.models
    ]
    return statuses


def _published_status(entry: ManifestEntry, folder: Path | None, verify: bool) -> ModelStatus:
    if folder is None:
        state, problem = "not installed", None
    else:
        problem = compare_with_entry(folder, entry, hashes=verify)
        state = "installed" if problem is None else "differs"
    return ModelStatus(
        name=entry.name,
        encoder=entry.encoder,
        method=entry.method,
        bands=entry.bands,
        metrics=headline_metrics(entry.metrics),
        size=entry.size,
        description=entry.description,
        published=True,
        folder=folder,
        state=state,
        problem=problem,
    )


def _local_status(folder: Path, verify: bool) -> ModelStatus:
    size = sum((folder / f).stat().st_size for f in MODEL_FILES if (folder / f).is_file())
    try:
        card = read_card(folder)
    except UserError as exc:
        return ModelStatus(
            folder.name, "?", "?", (), {}, size, "", False, folder, "invalid", str(exc)
        )
    state, problem = "installed", None
    if verify:
        weights = folder / WEIGHTS_FILE
        actual = sha256_file(weights) if weights.is_file() else None
        if actual != card.weights_sha256:
            state = "corrupt"
            problem = f"{weights}: sha256 {actual} differs from the card's {card.weights_sha256}"
    return ModelStatus(
        name=folder.name,
        encoder=card.encoder,
        method=card.method,
        bands=card.bands,
        metrics=headline_metrics(card.metrics),
        size=size,
        description="",
        published=False,
        folder=folder,
        state=state,
        problem=problem,
    )
