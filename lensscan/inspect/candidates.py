"""The candidates to grade: a ranked catalog from ``lensscan scan`` and where their pixels are.

A catalog is read whole (ECSV, FITS or CSV, with its metadata: the ECSV header, the FITS
``PROVJSON`` keyword or the CSV's ``.meta.json``) and identified by its SHA-256.
Candidates are shown in rank order: by decreasing score, ties in file order. Their
stamps come from the FITS field files the catalog was scanned from (cut around each
candidate's ``x``, ``y`` as the scanner cut its windows) or from a cutout store whose item
k is catalog row k.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lensscan.catalog.readers import catalog_metadata, read_table
from lensscan.errors import UserError
from lensscan.provenance import sha256_file

REQUIRED_COLUMNS = ("id", "ra", "dec", "x", "y", "score")
DEFAULT_STAMP_SIZE = 64


@dataclass(frozen=True)
class CandidateCatalog:
    """A candidate catalog ready to grade.

    Attributes:
        path: The catalog file.
        sha256: Its SHA-256.
        table: The astropy Table, rows as in the file.
        meta: Its metadata (empty when the file has none).
        order: Row indices in rank order (``order[0]`` is rank 1).
    """

    path: Path
    sha256: str
    table: Any
    meta: dict[str, Any]
    order: np.ndarray

    def __len__(self) -> int:
        return len(self.table)

    @property
    def bands(self) -> tuple[str, ...]:
        """Bands of the scan, in the model's order."""
        if self.meta.get("bands"):
            return tuple(str(b) for b in self.meta["bands"])
        if "bands" in self.table.colnames and len(self.table):
            return tuple(str(self.table["bands"][0]))
        return ()

    @property
    def stamp_size(self) -> int:
        """Side of a stamp in pixels: the scan's window."""
        # A combined catalog records the run's settings, where the scan put the window.
        window = (
            self.meta.get("window")
            or (self.meta.get("model") or {}).get("input_size")
            or (self.meta.get("settings") or {}).get("window")
        )
        return int(window) if window else DEFAULT_STAMP_SIZE

    @property
    def pixel_scale(self) -> float | None:
        """Pixel scale in arcsec, if the catalog records it."""
        scale = self.meta.get("pixel_scale_arcsec")
        return None if scale is None else float(scale)

    @property
    def field_sources(self) -> dict[str, dict[str, Any]]:
        """Field name -> how the scan opened it (``file`` and ``bands``, or ``band_files``)."""
        sources = self.meta.get("field_sources") if isinstance(self.meta, dict) else None
        return dict(sources) if isinstance(sources, dict) else {}

    @property
    def fields(self) -> list[str]:
        """Names of the fields the candidates lie in."""
        if "field" not in self.table.colnames:
            return []
        return sorted({str(f) for f in self.table["field"]})

    def rank_of_row(self) -> np.ndarray:
        """1-based rank of each row."""
        ranks = np.empty(len(self.order), dtype=np.int64)
        ranks[self.order] = np.arange(1, len(self.order) + 1)
        return ranks


def read_candidate_catalog(path: str | os.PathLike[str], option: str | None = None):
    """Read a ranked candidate catalog.

    Args:
        path: ECSV, FITS or CSV catalog written by ``lensscan scan``.
        option: The setting that named it, by its Python name (``catalog``), for messages;
            None for a catalog no setting named, which messages call "CATALOG".

    Returns:
        The :class:`CandidateCatalog`.

    Raises:
        UserError: If the file is missing, unreadable, lacks a required column or is empty.
    """
    source = Path(path)
    label = f"`{option}`" if option is not None else "CATALOG"
    table = read_table(source, label)
    missing = [name for name in REQUIRED_COLUMNS if name not in table.colnames]
    if missing:
        raise UserError(
            f"{label} {source}: not a lensscan candidate catalog: missing column(s) "
            f"{', '.join(missing)} (has {', '.join(table.colnames)})"
        )
    if len(table) == 0:
        raise UserError(f"{label} {source}: the catalog has no candidates")
    scores = np.nan_to_num(np.asarray(table["score"], dtype=np.float64), nan=-np.inf)
    order = np.lexsort((np.arange(len(table)), -scores))
    return CandidateCatalog(
        path=source,
        sha256=sha256_file(source),
        table=table,
        meta=catalog_metadata(source, table),
        order=order,
    )


class StampSource(Protocol):
    """Where the pixels of each candidate come from."""

    bands: tuple[str, ...]

    def stamp(self, row: int) -> np.ndarray:
        """The (C, H, W) float32 stamp of a catalog row (NaN outside the data)."""


@dataclass(frozen=True)
class FieldStamps:
    """Stamps cut from the FITS fields a catalog was scanned from.

    Attributes:
        catalog: The catalog.
        fields: Field name -> opened field inputs (:class:`lensscan.scan.fits_io.FieldInputs`).
        bands: Band names of the stamp planes.
        size: Stamp side in pixels.
    """

    catalog: CandidateCatalog
    fields: dict[str, Any]
    bands: tuple[str, ...]
    size: int

    def stamp(self, row: int) -> np.ndarray:
        """The stamp of a catalog row, centred on its ``x``, ``y``."""
        record = self.catalog.table[row]
        name = str(record["field"]) if "field" in record.colnames else next(iter(self.fields))
        return self.fields[name].read_stamp(float(record["y"]), float(record["x"]), self.size)


@dataclass(frozen=True)
class StoreStamps:
    """Stamps read from a cutout store whose item k is catalog row k.

    Attributes:
        store: The open :class:`lensscan.data.store.CutoutStore`.
        bands: Band names of the stamp planes.
    """

    store: Any
    bands: tuple[str, ...]

    @property
    def size(self) -> int:
        """Side of a stamp in pixels."""
        return int(self.store.images.shape[-1])

    @property
    def pixel_scale(self) -> float | None:
        """The store's pixel scale in arcsec, if it records one."""
        return self.store.pixel_scale

    def stamp(self, row: int) -> np.ndarray:
        """The stamp of a catalog row."""
        return np.asarray(self.store.images[row], dtype=np.float32)


def recorded_field_files(catalog: CandidateCatalog) -> list[Path]:
    """The catalog's recorded input files that are FITS files and still exist."""
    files = []
    for entry in (catalog.meta.get("inputs") or []) if isinstance(catalog.meta, dict) else []:
        path = Path(str(entry.get("path", ""))) if isinstance(entry, dict) else None
        if path is not None and ".fit" in path.name.lower() and path.is_file():
            files.append(path)
    return files


def open_stamps(
    catalog: CandidateCatalog,
    field_files: Sequence[str | os.PathLike[str]] = (),
    cutouts: str | os.PathLike[str] | None = None,
    cutouts_option: str = "cutouts",
) -> StampSource:
    """Open the pixels of a catalog's candidates.

    Args:
        catalog: The catalog.
        field_files: FITS field files (one per field; HSC calexp siblings are found). When
            empty and no ``cutouts`` are given, the inputs recorded in the catalog are used.
        cutouts: A cutout store whose item k is catalog row k, instead of FITS files.
        cutouts_option: The setting that named ``cutouts``, by its Python name, for messages.

    Raises:
        UserError: If both or neither source is usable, a file is not one of the catalog's
            fields, a field has no file, or a store does not match the catalog.
    """
    if cutouts is not None:
        if field_files:
            raise UserError(
                f"`{cutouts_option}`: give either FIELD files or a cutout store, not both"
            )
        return _store_stamps(catalog, cutouts, cutouts_option)
    given = [Path(p) for p in field_files]
    if not given and catalog.field_sources:
        return _recorded_stamps(catalog)
    files = given or recorded_field_files(catalog)
    if not files:
        raise UserError(
            f"CATALOG {catalog.path}: its field files are not recorded or no longer exist; "
            f"pass the FIELD.fits files or `{cutouts_option}` STORE"
        )
    return _field_stamps(catalog, files, explicit=bool(given))


def _store_stamps(catalog: CandidateCatalog, path: str | os.PathLike[str], option: str):
    from lensscan.data.store import CutoutStore

    store = CutoutStore.open(path, option)
    if len(store) != len(catalog):
        raise UserError(
            f"`{option}` {store.path}: holds {len(store)} cutouts but CATALOG {catalog.path} "
            f"has {len(catalog)} rows (item k must be row k)"
        )
    return StoreStamps(store=store, bands=store.bands)


def _field_stamps(catalog: CandidateCatalog, files: Sequence[Path], explicit: bool):
    from lensscan.scan.fits_io import open_field
    from lensscan.scan.survey_files import field_name

    bands = catalog.bands
    if not bands:
        raise UserError(f"CATALOG {catalog.path}: does not say which bands were scanned")
    wanted = catalog.fields
    size = catalog.stamp_size
    opened: dict[str, Any] = {}
    for path in files:
        name = field_name(path)
        if wanted and name not in wanted:
            if explicit:
                raise UserError(
                    f"FIELD {path}: not a field of CATALOG {catalog.path} (its fields: "
                    f"{', '.join(wanted)})"
                )
            continue
        if not path.is_file():
            raise UserError(f"FIELD {path}: no such file")
        # Band names the scan was told for this file's planes (its header does not say).
        hint = catalog.field_sources.get(name, {}).get("bands")
        inputs = open_field(path, bands, size, hint).inputs
        _check_shape(catalog, inputs, f"FIELD {path}")
        opened.setdefault(name, inputs)
    missing = [name for name in wanted if name not in opened]
    if missing or not opened:
        raise UserError(
            f"CATALOG {catalog.path}: no FITS file given for field(s) {', '.join(missing)}"
        )
    return FieldStamps(catalog=catalog, fields=opened, bands=bands, size=size)


def _check_shape(catalog: CandidateCatalog, inputs: Any, label: str) -> None:
    """Refuse a field whose size differs from the one the (single-field) catalog recorded."""
    recorded = catalog.meta.get("image_shape")
    if recorded and tuple(recorded) != tuple(inputs.shape):
        raise UserError(
            f"{label}: is {inputs.shape[0]}x{inputs.shape[1]} pixels but CATALOG "
            f"{catalog.path} was scanned from a {recorded[0]}x{recorded[1]} image"
        )


def _recorded_stamps(catalog: CandidateCatalog) -> FieldStamps:
    """Stamps from the field files the catalog records, opened as the scan opened them.

    Raises:
        UserError: If a field's files are not recorded or no longer exist.
    """
    from lensscan.scan.fits_io import open_band_files, open_field

    bands = catalog.bands
    if not bands:
        raise UserError(f"CATALOG {catalog.path}: does not say which bands were scanned")
    sources = catalog.field_sources
    size = catalog.stamp_size
    opened: dict[str, Any] = {}
    for name in catalog.fields or list(sources):
        source = sources.get(name) or {}
        if source.get("band_files"):
            files = [Path(p) for p in source["band_files"].values()]
        elif source.get("file"):
            files = [Path(source["file"])]
        else:
            files = []
        gone = [str(p) for p in files if not p.is_file()]
        if not files or gone:
            raise UserError(
                f"CATALOG {catalog.path}: the files of field {name} "
                + (f"no longer exist ({', '.join(gone)})" if gone else "are not recorded")
                + "; pass the FIELD.fits files"
            )
        if source.get("band_files"):
            # The scan took these files as these bands (perhaps forced): so do we.
            inputs = open_band_files(source["band_files"], bands, size, force_bands=True).inputs
        else:
            inputs = open_field(source["file"], bands, size, source.get("bands")).inputs
        _check_shape(catalog, inputs, f"FIELD {files[0]}")
        opened[name] = inputs
    return FieldStamps(catalog=catalog, fields=opened, bands=bands, size=size)
