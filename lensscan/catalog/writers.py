"""Write candidate catalogs (ECSV, FITS, CSV, Parquet) and DS9 region files atomically.

ECSV is the default: plain text, typed columns with units and descriptions, and the full
metadata (provenance, model, settings, inputs with hashes) as YAML in the header. FITS keeps
a few header keywords plus the whole metadata as JSON in ``PROVJSON``; CSV, which has no
place for metadata, gets it in a ``<catalog>.meta.json`` file beside it; Parquet stores it
in the file's schema metadata (needs pyarrow, imported only when asked for).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, write_text_atomic
from lensscan.errors import UserError
from lensscan.pixels import to_fits_pixel

DEFAULT_FORMAT = "ecsv"


def _write_ecsv(table: Any, path: Path) -> None:
    table.write(path, format="ascii.ecsv")


def _write_fits(table: Any, path: Path) -> None:
    flat = table.copy(copy_data=False)
    # FITS headers hold only scalars under 8-character keys: keep the useful few as
    # keywords and the whole nested record as one long JSON string (CONTINUE cards).
    meta = table.meta
    flat.meta = {
        "LSVERS": str(meta.get("lensscan_version", "")),
        "FIELD": str(meta.get("field", "")),
        "MODEL": str(meta.get("model", {}).get("name", "")),
        "MODELSHA": str(meta.get("model", {}).get("sha256", "")),
        "AREADEG2": float(meta.get("area_deg2") or np.nan),
        "PROVJSON": json.dumps(meta, sort_keys=True),
    }
    flat.write(path, format="fits")


def _write_csv(table: Any, path: Path) -> None:
    table.write(path, format="ascii.csv")


def _write_parquet(table: Any, path: Path) -> None:
    table.write(path, format="parquet")


WRITERS: dict[str, Callable[[Any, Path], None]] = {
    "ecsv": _write_ecsv,
    "fits": _write_fits,
    "csv": _write_csv,
    "parquet": _write_parquet,
}
"""Catalog format name -> writer."""

SUFFIXES = {"ecsv": ".ecsv", "fits": ".fits", "csv": ".csv", "parquet": ".parquet"}
"""Catalog format name -> file suffix."""

_FORMAT_OF_SUFFIX = {suffix: name for name, suffix in SUFFIXES.items()} | {".fit": "fits"}

_NEEDS_MODULE = {"parquet": ("pyarrow", "pip install pyarrow")}


def format_of_path(path: str | os.PathLike[str]) -> str | None:
    """The catalog format a file suffix implies, or ``None`` for an unknown suffix."""
    return _FORMAT_OF_SUFFIX.get(Path(path).suffix.lower())


def check_format(name: str) -> str:
    """Validate a format name and that its optional dependency is installed.

    Raises:
        UserError: ```format` <name>: ...`` for an unknown format, or Parquet without pyarrow.
    """
    key = name.lower()
    if key not in WRITERS:
        raise UserError(f"`format` {name}: unknown format (choose from {', '.join(WRITERS)})")
    if key in _NEEDS_MODULE:
        module, install = _NEEDS_MODULE[key]
        if importlib.util.find_spec(module) is None:
            raise UserError(f"`format` {key}: needs the {module} package ({install})")
    return key


def write_catalog(table: Any, path: str | os.PathLike[str], fmt: str = DEFAULT_FORMAT) -> Path:
    """Write a catalog atomically (temporary name, then rename).

    Args:
        table: The astropy Table (see :func:`lensscan.catalog.schema.make_table`).
        path: Final path.
        fmt: One of :data:`WRITERS`.

    Returns:
        The written path.
    """
    key = check_format(fmt)
    out = Path(path)
    if key == "csv":
        write_text_atomic(
            meta_sidecar(out), json.dumps(table.meta, indent=2, sort_keys=True) + "\n"
        )
    with atomic_output(out) as tmp:
        WRITERS[key](table, tmp)
    return out


def meta_sidecar(path: str | os.PathLike[str]) -> Path:
    """The JSON file holding a CSV catalog's metadata."""
    out = Path(path)
    return out.with_name(out.name + ".meta.json")


def region_lines(table: Any, radius_arcsec: float, pixel_radius: float, sky: bool) -> list[str]:
    """DS9 region lines for candidates: a circle each, labelled with rank and score.

    Args:
        table: Catalog with ``id``, ``score`` and ``ra``/``dec`` or ``x``/``y`` columns.
        radius_arcsec: Circle radius on the sky (used when ``sky``).
        pixel_radius: Circle radius in pixels (used otherwise).
        sky: Write ICRS sky coordinates; otherwise FITS 1-based image coordinates.
    """
    lines = [
        "# Region file format: DS9 version 4.1",
        "# lensscan candidates: circle per candidate, text = rank and score",
        'global color=green width=2 font="helvetica 10 normal"',
        "icrs" if sky else "image",
    ]
    for row in table:
        label = f"{int(row['id'])} {float(row['score']):.3f}"
        if sky:
            shape = f'circle({row["ra"]:.7f},{row["dec"]:.7f},{radius_arcsec:.2f}")'
        else:
            shape = (
                f"circle({to_fits_pixel(float(row['x'])):.2f},{to_fits_pixel(float(row['y'])):.2f},"
                f"{pixel_radius:.2f})"
            )
        lines.append(f"{shape} # text={{{label}}}")
    return lines


def write_regions(
    table: Any, path: str | os.PathLike[str], radius_arcsec: float, pixel_radius: float, sky: bool
) -> Path:
    """Write a DS9 region file atomically (see :func:`region_lines`)."""
    out = Path(path)
    write_text_atomic(out, "\n".join(region_lines(table, radius_arcsec, pixel_radius, sky)) + "\n")
    return out
