"""The one catalog reader: tables from CSV, ECSV, FITS or Parquet, and sky positions in them.

Every command that reads a catalog reads it with :func:`read_table` (``--positions``,
``--known``, ``evaluate --catalog`` and ``--truth``, ``inspect``, combined catalogs), so
the same file is read the same way everywhere. Sky columns are found by name:
case-insensitively after dropping units in brackets and punctuation, so ``ra``, ``RA``,
``RA [deg]``, ``RAJ2000``, ``ra_deg`` all name RA.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.errors import UserError

RA_NAMES = ("ra", "radeg", "raj2000", "raicrs", "alpha", "alphaj2000")
DEC_NAMES = ("dec", "decdeg", "decj2000", "decicrs", "de", "dej2000", "delta", "deltaj2000")
NAME_NAMES = ("name", "id", "objid", "objectid", "object", "source", "sourceid")


@dataclass(frozen=True)
class SkyPositions:
    """Positions read from a catalog.

    Attributes:
        ra: Right ascension, degrees.
        dec: Declination, degrees.
        names: A name per row (row numbers when the catalog has no name column).
        source: The file they came from.
    """

    ra: np.ndarray
    dec: np.ndarray
    names: np.ndarray
    source: Path

    def __len__(self) -> int:
        return len(self.ra)


def _simplify(name: str) -> str:
    without_unit = re.sub(r"[\[(].*?[\])]", "", name)
    return re.sub(r"[^a-z0-9]", "", without_unit.lower())


def find_column(names: Sequence[str], wanted: Sequence[str]) -> str | None:
    """The first column whose simplified name is one of ``wanted`` (in ``wanted``'s order)."""
    simplified = {_simplify(n): n for n in reversed(names)}
    for candidate in wanted:
        if candidate in simplified:
            return simplified[candidate]
    return None


#: File suffix -> astropy's reader (other suffixes: astropy's guess).
TABLE_FORMATS = {
    ".ecsv": "ascii.ecsv",
    ".csv": "ascii.csv",
    ".parquet": "parquet",
    ".fits": "fits",
    ".fit": "fits",
}


def read_table(
    path: str | os.PathLike[str],
    label: str,
    required: Sequence[str] = (),
    sky_columns: bool = False,
) -> Any:
    """Read a catalog as an astropy Table and check its columns.

    Args:
        path: CSV, ECSV, FITS or Parquet file (by suffix; anything else astropy reads).
        label: How messages name the file: a setting in backticks (```positions```) or
            words (``CATALOG``).
        required: Columns it must have.
        sky_columns: Name the RA and Dec columns (found as :func:`find_column` finds
            them, e.g. ``RA [deg]``) ``ra`` and ``dec``.

    Raises:
        UserError: ``<label> <path>: ...`` if the file is missing, unreadable or lacks a
            required column.
    """
    from astropy.table import Table

    source = Path(path)
    if not source.is_file():
        raise UserError(f"{label} {source}: no such file")
    suffix = ".fits" if source.name.lower().endswith((".fits.gz", ".fit.gz")) else source.suffix
    fmt = TABLE_FORMATS.get(suffix.lower())
    try:
        table = Table.read(source, format=fmt) if fmt else Table.read(source)
    except Exception as exc:  # astropy raises many types for a malformed file
        raise UserError(f"{label} {source}: not a readable catalog ({exc})") from None
    if sky_columns:
        for standard, wanted in (("ra", RA_NAMES), ("dec", DEC_NAMES)):
            found = find_column(table.colnames, wanted)
            if found is not None and standard not in table.colnames:
                table.rename_column(found, standard)
    missing = [name for name in required if name not in table.colnames]
    if missing:
        raise UserError(
            f"{label} {source}: missing column(s) {', '.join(missing)} "
            f"(has {', '.join(table.colnames)})"
        )
    return table


def read_sky_positions(path: str | os.PathLike[str], option: str) -> SkyPositions:
    """Read RA/Dec (degrees) and optional names from a CSV, ECSV or FITS table.

    Args:
        path: The catalog file.
        option: The setting that named it, by its Python name (``positions``), for
            messages.

    Raises:
        UserError: If the file is missing or unreadable, lacks RA/Dec columns, or holds
            values that are not degrees in range.
    """
    source = Path(path)
    label = f"`{option}`"
    table = read_table(source, label)
    if len(table) == 0:
        raise UserError(f"{label} {source}: the catalog has no rows")
    columns = {name: np.asarray(table[name]) for name in table.colnames}
    names = list(columns)
    ra_name, dec_name = find_column(names, RA_NAMES), find_column(names, DEC_NAMES)
    if ra_name is None or dec_name is None:
        raise UserError(
            f"{label} {source}: no RA/Dec columns found (columns: {', '.join(names)}; "
            "expected names like ra/dec or 'RA [deg]')"
        )
    try:
        ra = np.asarray(columns[ra_name], dtype=np.float64)
        dec = np.asarray(columns[dec_name], dtype=np.float64)
    except ValueError:
        raise UserError(
            f"{label} {source}: columns {ra_name!r}/{dec_name!r} must hold decimal degrees"
        ) from None
    bad = ~np.isfinite(ra) | ~np.isfinite(dec) | (np.abs(dec) > 90)
    if bad.any():
        raise UserError(
            f"{label} {source}: row {int(np.flatnonzero(bad)[0])} has no valid RA/Dec in degrees"
        )
    name_column = find_column(names, NAME_NAMES)
    labels = (
        np.asarray(columns[name_column]).astype(str)
        if name_column is not None
        else np.arange(len(ra)).astype(str)
    )
    return SkyPositions(ra=ra % 360.0, dec=dec, names=labels, source=source)


ASTROPY_FORMATS = {"ecsv": "ascii.ecsv", "csv": "ascii.csv", "fits": "fits", "parquet": "parquet"}
"""lensscan catalog format -> astropy's reader name."""


def catalog_metadata(path: str | os.PathLike[str], table: Any) -> dict[str, Any]:
    """The metadata lensscan wrote with a catalog, wherever its format keeps it.

    ECSV and Parquet keep it in the table's ``meta``, FITS as JSON in ``PROVJSON``, CSV in
    the ``<catalog>.meta.json`` file beside it.

    Raises:
        UserError: If a CSV's metadata file is not valid JSON.
    """
    import json

    from lensscan.catalog.writers import meta_sidecar

    meta = dict(table.meta)
    if "PROVJSON" in meta:
        try:
            return json.loads(meta["PROVJSON"])
        except (TypeError, ValueError):
            return meta
    sidecar = meta_sidecar(Path(path))
    if not meta and sidecar.is_file():
        try:
            return json.loads(sidecar.read_text())
        except ValueError:
            raise UserError(f"{sidecar}: not valid JSON catalog metadata") from None
    return meta


def read_candidates(path: str | os.PathLike[str], fmt: str) -> Any:
    """Read back a candidate catalog lensscan wrote in format ``fmt`` (its rows only).

    Raises:
        UserError: If the file is missing or unreadable.
    """
    from astropy.table import Table

    source = Path(path)
    try:
        return Table.read(source, format=ASTROPY_FORMATS[fmt])
    except FileNotFoundError:
        raise UserError(f"{source}: no such file") from None
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise UserError(f"{source}: cannot read the catalog ({exc})") from None
