"""The manifest of published models: what ``lensscan download`` may fetch, and from where.

The manifest is a JSON file (``lensscan/models/manifest.json`` ships inside the package)::

    {
      "format": "lensscan-manifest/1",
      "base_url": "https://example.org/lensscan/models/",
      "models": [
        {
          "name": "hsc-gri-v2",
          "encoder": "small_cnn", "method": "supervised", "bands": ["g", "r", "i"],
          "input_size": 64, "pixel_scale": 0.168,
          "metrics": {"split": "out-of-family test hsc-heldout", "auroc": 0.96, "tpr0": 0.02},
          "description": "...",
          "files": [
            {"name": "model.safetensors", "url": "hsc-gri-v2/model.safetensors",
             "sha256": "<64 hex digits>", "size": 246748},
            {"name": "model.json", "url": "hsc-gri-v2/model.json", "sha256": "...", "size": 732}
          ]
        }
      ]
    }

A model is a folder of two files, downloaded one by one (no archive to unpack):
``name`` is the file's name inside the model folder; ``url`` is absolute
(``https://``, ``http://``, ``file://``) or relative to the base URL. The base URL is, by
priority, ``--base-url``, the ``LENSSCAN_MIRROR`` environment variable, or the manifest's
``base_url``; a relative ``base_url`` in the manifest is resolved against the manifest file's
own location. A mirror therefore only needs the same ``NAME/FILE`` layout as a weights folder,
and :func:`build_manifest` writes the manifest of such a folder.

The packaged manifest lists the models shipped with lensscan and has no ``base_url``: its
files come from the shipped weights folder of this install
(:data:`~lensscan.models.weights.PACKAGE_WEIGHTS`: ``weights/`` in a checkout,
``lensscan/_weights`` in a wheel), so ``lensscan download NAME --dir D`` works offline from
any install.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from lensscan.errors import UserError
from lensscan.models import weights
from lensscan.models.weights import CARD_FILE, WEIGHTS_FILE, read_card
from lensscan.provenance import sha256_file

MANIFEST_FORMAT = "lensscan-manifest/1"

#: The manifest shipped inside the package.
PACKAGED_MANIFEST = Path(__file__).resolve().with_name("manifest.json")

#: Environment variable naming a mirror base URL (or folder) for clusters without internet.
MIRROR_ENV = "LENSSCAN_MIRROR"

#: URL schemes a model may be fetched from.
URL_SCHEMES = ("http", "https", "file")

#: The metrics shown for every model, in display order (see :func:`headline_metrics`).
HEADLINE_METRICS = ("auroc", "tpr0", "tpr10")

#: Keys that say which data the headline metrics were measured on.
METRICS_LABEL_KEYS = ("split", "data")

#: The files a model folder consists of.
MODEL_FILES = (WEIGHTS_FILE, CARD_FILE)

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
_TOP_LEVEL_KEYS = {"format", "base_url", "description", "models"}


@dataclass(frozen=True)
class ManifestFile:
    """One file of a published model.

    Attributes:
        name: File name inside the model folder (``model.safetensors`` or ``model.json``).
        url: Absolute URL, or URL relative to the base URL.
        sha256: Expected hex SHA-256 of the file.
        size: Expected size in bytes.
    """

    name: str
    url: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the file entry."""
        return {"name": self.name, "url": self.url, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class ManifestEntry:
    """A published model.

    Attributes:
        name: Model name (its weights folder name).
        encoder: Encoder registry name.
        method: Training method.
        bands: Band names in channel order.
        input_size: Cutout side in pixels.
        pixel_scale: Pixel scale in arcsec (None if unknown).
        metrics: Headline metrics (see :func:`headline_metrics`).
        description: One or two sentences for people choosing a model.
        files: The model's files.
    """

    name: str
    encoder: str
    method: str
    bands: tuple[str, ...]
    input_size: int | None
    pixel_scale: float | None
    metrics: dict[str, Any]
    description: str
    files: tuple[ManifestFile, ...]

    @property
    def size(self) -> int:
        """Total size of the model's files in bytes."""
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the entry."""
        return {
            "name": self.name,
            "encoder": self.encoder,
            "method": self.method,
            "bands": list(self.bands),
            "input_size": self.input_size,
            "pixel_scale": self.pixel_scale,
            "metrics": dict(self.metrics),
            "description": self.description,
            "files": [f.to_dict() for f in self.files],
        }


@dataclass(frozen=True)
class Manifest:
    """The published models and where to fetch them.

    Attributes:
        models: Entries by model name, in manifest order.
        base_url: The manifest's base URL (absolute, or relative to ``location``), or None.
        location: Where the manifest was read from (a path), for messages and relative URLs.
        description: Free text about the manifest.
    """

    models: dict[str, ManifestEntry] = field(default_factory=dict)
    base_url: str | None = None
    location: Path | None = None
    description: str = ""

    def entry(self, name: str) -> ManifestEntry:
        """The entry of a model.

        Raises:
            UserError: If the manifest does not list it, naming the models it does list.
        """
        if name in self.models:
            return self.models[name]
        known = ", ".join(self.models) if self.models else "none yet"
        raise UserError(f"model {name!r}: not in the manifest {self.source} (known: {known})")

    @property
    def source(self) -> str:
        """The manifest's path as text (or ``<in memory>``)."""
        return str(self.location) if self.location is not None else "<in memory>"

    def resolve_base_url(self, override: str | None = None) -> str:
        """The absolute base URL that relative file URLs are joined to.

        Args:
            override: ``base_url`` (a URL or a local folder); None falls back to
                ``$LENSSCAN_MIRROR``, then the manifest's ``base_url``.

        Raises:
            UserError: If no base URL is known or it has an unsupported scheme.
        """
        if override:
            return absolute_base_url(override, Path.cwd(), "`base_url`")
        if os.environ.get(MIRROR_ENV):
            return absolute_base_url(os.environ[MIRROR_ENV], Path.cwd(), MIRROR_ENV)
        if self.base_url:
            here = self.location.parent if self.location is not None else Path.cwd()
            return absolute_base_url(self.base_url, here, f"manifest {self.source}: base_url")
        raise UserError(
            f"manifest {self.source}: no base_url; pass `base_url` or set {MIRROR_ENV} "
            "to a URL or folder holding NAME/model.safetensors and NAME/model.json"
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the manifest."""
        data: dict[str, Any] = {"format": MANIFEST_FORMAT, "base_url": self.base_url}
        if self.description:
            data["description"] = self.description
        data["models"] = [entry.to_dict() for entry in self.models.values()]
        return data

    def to_json(self) -> str:
        """The manifest as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"


def absolute_base_url(text: str, relative_to: Path, origin: str) -> str:
    """Turn a base URL or folder into an absolute URL ending in ``/``.

    Args:
        text: ``http(s)://...``, ``file://...``, an absolute folder, or a path relative to
            ``relative_to``.
        relative_to: Folder that relative paths start from.
        origin: Where the text came from, as messages name it: a setting in backticks
            (```base_url```), an environment variable or a manifest's field.

    Raises:
        UserError: If the URL has a scheme lensscan cannot fetch from.
    """
    scheme = urlsplit(text).scheme
    # One-letter "schemes" are Windows drive letters: a local path.
    if len(scheme) > 1:
        if scheme not in URL_SCHEMES:
            raise UserError(
                f"{origin} {text}: unsupported URL scheme {scheme!r} "
                f"(use {', '.join(s + '://' for s in URL_SCHEMES)} or a folder)"
            )
        url = text
    else:
        url = (relative_to / text).resolve().as_uri()
    # Without a trailing slash urljoin would replace the last path segment.
    return url if url.endswith("/") else url + "/"


def file_url(base_url: str, entry_file: ManifestFile) -> str:
    """The absolute URL of a file: its own URL if absolute, else joined to ``base_url``."""
    if len(urlsplit(entry_file.url).scheme) > 1:
        return entry_file.url
    return urljoin(base_url, entry_file.url)


def headline_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The headline metrics (AUROC, TPR0, TPR10 and the data they were measured on).

    Model cards keep their metrics in a free-form dict. The headline is taken, in order,
    from ``metrics["headline"]``, from the top level, or from the first nested dict (breadth
    first) that holds one of :data:`HEADLINE_METRICS`.

    Args:
        metrics: A card's ``metrics`` or a manifest entry's ``metrics``.

    Returns:
        The metrics found (possibly empty), keys in :data:`METRICS_LABEL_KEYS` +
        :data:`HEADLINE_METRICS` order.
    """
    wanted = (*METRICS_LABEL_KEYS, *HEADLINE_METRICS)
    candidates: list[Mapping[str, Any]] = []
    if isinstance(metrics.get("headline"), Mapping):
        candidates.append(metrics["headline"])
    queue: list[Mapping[str, Any]] = [metrics]
    while queue:
        current = queue.pop(0)
        candidates.append(current)
        queue.extend(value for value in current.values() if isinstance(value, Mapping))
    for candidate in candidates:
        if any(key in candidate for key in HEADLINE_METRICS):
            return {key: candidate[key] for key in wanted if key in candidate}
    return {}


def load_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Read and validate a manifest.

    The packaged manifest (read by default, or named by its path) gets the shipped weights
    folder as its base URL.

    Args:
        path: A manifest JSON file; None reads the one shipped in the package.

    Raises:
        UserError: If the file is missing, not JSON, or not a valid manifest.
    """
    location = Path(path) if path is not None else PACKAGED_MANIFEST
    named = f"`manifest` {location}" if path is not None else f"manifest {location}"
    try:
        text = location.read_text()
    except OSError as exc:
        raise UserError(f"{named}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{named}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    manifest = manifest_from_dict(data, location.resolve())
    if manifest.base_url is None and manifest.location == PACKAGED_MANIFEST:
        # Read at call time: where the shipped models are depends on the install (and tests).
        shipped = weights.PACKAGE_WEIGHTS.resolve().as_uri() + "/"
        manifest = dataclasses.replace(manifest, base_url=shipped)
    return manifest


def manifest_from_dict(data: Any, location: Path | None = None) -> Manifest:
    """Build a :class:`Manifest` from its JSON form, checking every field.

    Raises:
        UserError: Naming the manifest and the entry or field that is wrong.
    """
    source = f"manifest {location}" if location is not None else "manifest"
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a JSON object")
    if data.get("format") != MANIFEST_FORMAT:
        raise UserError(
            f"{source}: unsupported format {data.get('format')!r} "
            f"(this lensscan reads {MANIFEST_FORMAT})"
        )
    unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
    if unknown:
        raise UserError(f"{source}: unknown field(s) {', '.join(unknown)}")
    base_url = data.get("base_url")
    if base_url is not None and not isinstance(base_url, str):
        raise UserError(f"{source}: base_url must be a string or null")
    if not isinstance(data.get("models"), list):
        raise UserError(f"{source}: models must be a list")
    models: dict[str, ManifestEntry] = {}
    for index, item in enumerate(data["models"]):
        entry = _entry_from_dict(item, f"{source}: models[{index}]")
        if entry.name in models:
            raise UserError(f"{source}: model {entry.name!r} is listed twice")
        models[entry.name] = entry
    return Manifest(models, base_url, location, str(data.get("description", "")))


def _entry_from_dict(item: Any, source: str) -> ManifestEntry:
    if not isinstance(item, dict):
        raise UserError(f"{source}: expected an object")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise UserError(f"{source}: name {name!r} must be letters, digits, '.', '_' or '-'")
    source = f"{source} ({name})"
    missing = [key for key in ("encoder", "method", "bands", "files") if key not in item]
    if missing:
        raise UserError(f"{source}: missing field(s) {', '.join(missing)}")
    if not isinstance(item["files"], list):
        raise UserError(f"{source}: files must be a list")
    files = tuple(_file_from_dict(f, f"{source}: files[{i}]") for i, f in enumerate(item["files"]))
    names = [f.name for f in files]
    if sorted(names) != sorted(MODEL_FILES):
        raise UserError(
            f"{source}: files must be exactly {' and '.join(MODEL_FILES)}, got {', '.join(names)}"
        )
    metrics = item.get("metrics", {})
    if not isinstance(metrics, dict):
        raise UserError(f"{source}: metrics must be an object")
    try:
        bands = tuple(str(b) for b in item["bands"])
        input_size = int(item["input_size"]) if item.get("input_size") is not None else None
        pixel_scale = float(item["pixel_scale"]) if item.get("pixel_scale") is not None else None
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: malformed field ({exc})") from None
    return ManifestEntry(
        name=name,
        encoder=str(item["encoder"]),
        method=str(item["method"]),
        bands=bands,
        input_size=input_size,
        pixel_scale=pixel_scale,
        metrics=metrics,
        description=str(item.get("description", "")),
        files=files,
    )


def _file_from_dict(item: Any, source: str) -> ManifestFile:
    if not isinstance(item, dict):
        raise UserError(f"{source}: expected an object")
    missing = [key for key in ("name", "url", "sha256", "size") if key not in item]
    if missing:
        raise UserError(f"{source}: missing field(s) {', '.join(missing)}")
    name, url, sha256, size = item["name"], item["url"], item["sha256"], item["size"]
    if name not in MODEL_FILES:
        raise UserError(f"{source}: name {name!r} must be one of {', '.join(MODEL_FILES)}")
    if not isinstance(url, str) or not url:
        raise UserError(f"{source}: url must be a non-empty string")
    if not isinstance(sha256, str) or not _SHA256_PATTERN.match(sha256):
        raise UserError(f"{source}: sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise UserError(f"{source}: size must be a non-negative integer")
    return ManifestFile(name, url, sha256, size)


def build_manifest(
    weights_dir: str | os.PathLike[str],
    base_url: str | None = None,
    previous: Manifest | None = None,
) -> Manifest:
    """The manifest of every model folder in a weights folder.

    Each ``weights_dir/NAME/`` holding a model.json becomes an entry whose files are
    ``NAME/model.safetensors`` and ``NAME/model.json`` relative to ``base_url``; encoder,
    method, bands and headline metrics come from the model card.

    Args:
        weights_dir: The folder to describe (the layout a mirror must serve).
        base_url: The base URL to record (absolute, or relative to where the manifest
            will be saved); None records none.
        previous: An earlier manifest whose descriptions are kept for models still present.

    Raises:
        UserError: If the folder does not exist or a model folder is incomplete or invalid.
    """
    root = Path(weights_dir)
    if not root.is_dir():
        raise UserError(f"weights folder {root}: no such folder")
    models: dict[str, ManifestEntry] = {}
    for folder in model_folders(root):
        card = read_card(folder)
        files = []
        for file_name in MODEL_FILES:
            path = folder / file_name
            if not path.is_file():
                raise UserError(f"model {folder}: no {file_name}")
            url = f"{folder.name}/{file_name}"
            files.append(ManifestFile(file_name, url, sha256_file(path), path.stat().st_size))
        old = previous.models.get(folder.name) if previous is not None else None
        models[folder.name] = ManifestEntry(
            name=folder.name,
            encoder=card.encoder,
            method=card.method,
            bands=card.bands,
            input_size=card.input_size,
            pixel_scale=card.pixel_scale,
            metrics=headline_metrics(card.metrics),
            description=old.description if old is not None else "",
            files=tuple(files),
        )
    description = previous.description if previous is not None else ""
    return Manifest(models, base_url, None, description)


def model_folders(root: Path) -> list[Path]:
    """The model folders (holding a model.json) directly inside ``root``, sorted by name.

    Hidden folders are skipped: they are downloads or saves still in progress.
    """
    if not root.is_dir():
        return []
    return sorted(
        child
        for child in root.iterdir()
        if not child.name.startswith(".") and (child / CARD_FILE).is_file()
    )
