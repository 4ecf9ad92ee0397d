"""Cross-match candidates against a catalog of known lenses (nearest neighbour on the sky)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lensscan.catalog.readers import SkyPositions


def match_known(
    ra: np.ndarray, dec: np.ndarray, known: SkyPositions, radius_arcsec: float
) -> dict[str, np.ndarray]:
    """Find the nearest known lens of each candidate within a radius.

    Args:
        ra: Candidate right ascensions (ICRS degrees; NaN rows never match).
        dec: Candidate declinations.
        known: The known lenses.
        radius_arcsec: Largest separation of a match.

    Returns:
        The :data:`~lensscan.catalog.schema.KNOWN_LENS_COLUMNS` values: ``known_lens``,
        ``known_name`` ('' when none) and ``known_separation`` (arcsec, NaN when none).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    n = len(ra)
    matched = np.zeros(n, dtype=bool)
    names = np.full(n, "", dtype=object)
    separation = np.full(n, np.nan)
    usable = np.isfinite(ra) & np.isfinite(dec)
    if n and usable.any() and len(known):
        candidates = SkyCoord(ra=ra[usable] * u.deg, dec=dec[usable] * u.deg, frame="icrs")
        catalog = SkyCoord(ra=known.ra * u.deg, dec=known.dec * u.deg, frame="icrs")
        index, sep2d, _ = candidates.match_to_catalog_sky(catalog)
        arcsec = sep2d.to_value(u.arcsec)
        within = arcsec <= radius_arcsec
        rows = np.flatnonzero(usable)[within]
        matched[rows] = True
        names[rows] = known.names[index[within]]
        separation[rows] = arcsec[within]
    return {"known_lens": matched, "known_name": names.astype(str), "known_separation": separation}


def add_known_columns(table: Any, known: SkyPositions, radius_arcsec: float) -> Any:
    """Return ``table`` with the known-lens columns added (typed by the schema)."""
    from lensscan.catalog.schema import KNOWN_LENS_COLUMNS, typed_column

    values = match_known(
        np.asarray(table["ra"], dtype=float),
        np.asarray(table["dec"], dtype=float),
        known,
        radius_arcsec,
    )
    for spec in KNOWN_LENS_COLUMNS:
        table.add_column(typed_column(spec, values[spec.name]))
    table.meta["known_lenses"] = {
        "catalog": str(known.source),
        "match_radius_arcsec": radius_arcsec,
    }
    return table
