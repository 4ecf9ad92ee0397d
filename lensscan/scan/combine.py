"""One catalog for all the fields of a run, less the duplicates that field overlaps make.

HSC patches overlap their neighbours by 100 px on every side, so an object near a patch
edge is detected, scored and listed in two (or four) catalogs. Candidates of *different*
fields closer than the duplicate radius on the sky are taken to be one object and only
the one with the higher score is kept (the earlier row on a tie); candidates of one field
are never merged here, since each field's own catalog already keeps distinct objects
apart. Candidates without sky coordinates (fields without a celestial WCS) are all kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.catalog.crossmatch import MatchRule, match_sky
from lensscan.catalog.readers import catalog_metadata, read_candidates
from lensscan.catalog.schema import COMBINED_COLUMNS, typed_column
from lensscan.catalog.writers import write_catalog
from lensscan.errors import UserError
from lensscan.provenance import provenance, sha256_file


@dataclass(frozen=True)
class CombinedCatalog:
    """The combined catalog written for a run.

    Attributes:
        path: Where it was written.
        n_fields: Field catalogs it combines.
        n_rows: Candidates it lists.
        n_duplicates: Candidates dropped as another field's view of the same object.
    """

    path: Path
    n_fields: int
    n_rows: int
    n_duplicates: int


def overlap_duplicates(
    ra: np.ndarray, dec: np.ndarray, score: np.ndarray, field: np.ndarray, radius_arcsec: float
) -> np.ndarray:
    """Which candidates are a lower-scored view of an object another field also lists.

    Greedy in decreasing score (ties: the earlier row first): each candidate still kept
    removes every candidate of another field within ``radius_arcsec`` (the suppression
    rule of :func:`lensscan.catalog.crossmatch.match_sky`).

    Args:
        ra: Right ascension, ICRS degrees (NaN: no sky position, never a duplicate).
        dec: Declination, ICRS degrees.
        score: Scores (NaN ranks last).
        field: The field of each candidate.
        radius_arcsec: The duplicate radius.

    Returns:
        Boolean mask, True for the duplicates to drop.
    """
    ranked = np.nan_to_num(np.asarray(score, np.float64), nan=-np.inf)
    order = np.lexsort((np.arange(len(ranked)), -ranked))
    match = match_sky(ra, dec, radius_arcsec, MatchRule.SUPPRESS, order=order, groups=field)
    return match.matched


def combine_catalogs(
    catalogs: Sequence[Path],
    fmt: str,
    out: Path,
    radius_arcsec: float,
    settings: Mapping[str, Any],
) -> CombinedCatalog:
    """Read the fields' catalogs, drop the overlap duplicates, write one ranked catalog.

    The combined catalog has the fields' columns, ``id`` re-ranked over all fields, and
    ``field_id`` (the candidate's rank in its field's catalog); its metadata records the
    field catalogs with their SHA-256, the radius and the number of duplicates dropped.

    Args:
        catalogs: The fields' catalogs (all of one format, written by this scan).
        fmt: Their format, and the combined catalog's.
        out: The combined catalog's path.
        radius_arcsec: The duplicate radius.
        settings: The run's resolved settings, for the provenance.

    Raises:
        UserError: If the catalogs cannot be read or do not share their columns.
    """
    from astropy.table import TableMergeError, vstack

    tables = [read_candidates(path, fmt) for path in catalogs]
    for path, table in zip(catalogs[1:], tables[1:], strict=True):
        if table.colnames != tables[0].colnames:
            raise UserError(
                f"{path}: its columns differ from those of {catalogs[0]}, so the two cannot be "
                "combined (were they scanned with other settings?)"
            )
    try:
        merged = vstack(tables, join_type="exact", metadata_conflicts="silent")
    except TableMergeError as exc:
        raise UserError(f"{out}: cannot combine the field catalogs ({exc})") from None
    field = np.asarray(merged["field"]).astype(str)
    score = np.asarray(merged["score"], np.float64)
    duplicates = overlap_duplicates(
        np.asarray(merged["ra"], np.float64),
        np.asarray(merged["dec"], np.float64),
        score,
        field,
        radius_arcsec,
    )
    kept = np.flatnonzero(~duplicates)
    ranked = np.nan_to_num(score[kept], nan=-np.inf)
    combined = merged[kept[np.lexsort((kept, -ranked))]]
    [spec] = COMBINED_COLUMNS
    combined.add_column(
        typed_column(spec, combined["id"]), index=combined.colnames.index("field") + 1
    )
    combined["id"] = np.arange(1, len(combined) + 1)
    record = provenance(command="scan", settings=settings)
    record["inputs"] = [
        {"role": "field catalog", "path": str(p.resolve()), "sha256": sha256_file(p)}
        for p in catalogs
    ]
    # Each field's way back to its pixels, so a combined catalog opens in `inspect` alone.
    sources: dict[str, Any] = {}
    for path, table in zip(catalogs, tables, strict=True):
        sources |= catalog_metadata(path, table).get("field_sources") or {}
    combined.meta = record | {
        "combined": True,
        "fields": sorted(set(field)),
        "field_sources": sources,
        "duplicate_radius_arcsec": radius_arcsec,
        "n_candidates_in": len(merged),
        "n_duplicates_removed": int(duplicates.sum()),
        "coordinates": "ra/dec ICRS degrees; x/y 0-based numpy pixels of each field",
    }
    write_catalog(combined, out, fmt)
    return CombinedCatalog(out, len(catalogs), len(combined), int(duplicates.sum()))
