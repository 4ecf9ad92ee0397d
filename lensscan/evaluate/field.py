"""Field-level evaluation: a ranked candidate catalog against the truth catalog of a field.

Matching is on the sky (ICRS RA/Dec, :func:`lensscan.catalog.crossmatch.match_sky`) and
one-to-one: candidates are taken in order of decreasing score (ties in catalog order) and
each takes the nearest true lens within the match radius that no better-scored candidate
has taken. So every true lens is
matched at most once, by its best-scored candidate, and a second detection of the same lens
counts as a false positive (a person would inspect it twice).

The area for false positives per square degree comes, in order of preference, from an
explicit ``area_deg2`` argument, an ``area_deg2`` (or FITS ``AREADEG2``) key in the truth or
candidate catalog metadata (``lensscan scan`` records the scanned image area), or the
convex hull of every truth and candidate position (which underestimates the scanned area a
little; the report says which was used).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensscan.catalog.crossmatch import MatchRule, match_sky
from lensscan.catalog.readers import read_table
from lensscan.errors import UserError

CANDIDATE_COLUMNS = ("ra", "dec", "score")
TRUTH_COLUMNS = ("ra", "dec")
# Metadata keys of the field area: ECSV (lensscan scan) and FITS header spellings.
AREA_KEYS = ("area_deg2", "AREADEG2")
REPORTED_RANKS = (10, 100, 1000, 10000)
REPORTED_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.99)


def read_catalog(path: str | os.PathLike[str], required: Sequence[str], option: str) -> Any:
    """Read a candidate or truth catalog and check its ``required`` columns.

    RA and Dec are found by name as everywhere else (``RA [deg]``, ``RAJ2000`` ...).

    Args:
        path: The catalog file.
        required: Columns it must have.
        option: The setting that named it, by its Python name (``truth``), for messages.

    Raises:
        UserError: If the file is missing, unreadable or lacks a column.
    """
    return read_table(path, f"`{option}`", required, sky_columns=True)


def degrees(column: Any) -> np.ndarray:
    """A coordinate column in degrees (a column without a unit is taken to be in degrees)."""
    import astropy.units as u

    if getattr(column, "unit", None) is not None:
        return np.asarray(column.quantity.to_value(u.deg), dtype=np.float64)
    return np.asarray(column, dtype=np.float64)


@dataclass(frozen=True)
class FieldMatch:
    """The one-to-one match of candidates to true lenses.

    Attributes:
        order: Candidate indices by decreasing score (the ranking).
        truth_index: Per candidate, the index of its true lens, or -1.
        separation_arcsec: Per candidate, the distance to its true lens (NaN if unmatched).
        offset_ra_arcsec: Per candidate, (RA_candidate - RA_truth) cos(Dec) in arcsec.
        offset_dec_arcsec: Per candidate, Dec_candidate - Dec_truth in arcsec.
    """

    order: np.ndarray
    truth_index: np.ndarray
    separation_arcsec: np.ndarray
    offset_ra_arcsec: np.ndarray
    offset_dec_arcsec: np.ndarray

    @property
    def matched(self) -> np.ndarray:
        """Per candidate, whether it matched a true lens."""
        return self.truth_index >= 0


def match_candidates(
    candidate_ra: np.ndarray,
    candidate_dec: np.ndarray,
    scores: np.ndarray,
    truth_ra: np.ndarray,
    truth_dec: np.ndarray,
    radius_arcsec: float,
) -> FieldMatch:
    """Match candidates to true lenses one-to-one, best score first.

    Args:
        candidate_ra: Candidate RA in degrees.
        candidate_dec: Candidate Dec in degrees.
        scores: Candidate scores.
        truth_ra: True-lens RA in degrees.
        truth_dec: True-lens Dec in degrees.
        radius_arcsec: The largest separation of a match.

    Returns:
        The match.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    n_candidates = len(candidate_ra)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    match = match_sky(
        candidate_ra,
        candidate_dec,
        radius_arcsec,
        MatchRule.ONE_TO_ONE,
        reference=(truth_ra, truth_dec),
        order=order,
    )
    offset_ra = np.full(n_candidates, np.nan)
    offset_dec = np.full(n_candidates, np.nan)
    matched = np.flatnonzero(match.matched)
    if len(matched):
        truth = SkyCoord(
            truth_ra[match.index[matched]] * u.deg,
            truth_dec[match.index[matched]] * u.deg,
            frame="icrs",
        )
        found = SkyCoord(
            candidate_ra[matched] * u.deg, candidate_dec[matched] * u.deg, frame="icrs"
        )
        d_ra, d_dec = truth.spherical_offsets_to(found)
        offset_ra[matched] = d_ra.to_value(u.arcsec)
        offset_dec[matched] = d_dec.to_value(u.arcsec)
    return FieldMatch(order, match.index, match.separation_arcsec, offset_ra, offset_dec)


def convex_hull_area_deg2(ra: np.ndarray, dec: np.ndarray) -> float:
    """Area in square degrees of the convex hull of sky positions (tangent-plane projection).

    Raises:
        UserError: If the positions do not span an area (fewer than three, or collinear).
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord, UnitSphericalRepresentation
    from scipy.spatial import ConvexHull, QhullError

    coords = SkyCoord(ra * u.deg, dec * u.deg, frame="icrs")
    mean_direction = coords.cartesian.mean().represent_as(UnitSphericalRepresentation)
    centre = SkyCoord(mean_direction.lon, mean_direction.lat, frame="icrs")
    d_lon, d_lat = centre.spherical_offsets_to(coords)
    points = np.column_stack([d_lon.to_value(u.deg), d_lat.to_value(u.deg)])
    try:
        return float(ConvexHull(points).volume) if len(points) >= 3 else 0.0
    except QhullError:
        return 0.0


def _is_number(value: Any) -> bool:
    try:
        return value is not None and math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class FieldArea:
    """The field area used for false positives per square degree.

    Attributes:
        deg2: The area in square degrees.
        source: Where it came from (```area_deg2```, a metadata key, or the convex hull).
    """

    deg2: float
    source: str


def resolve_area(
    area_deg2: float | None,
    truth_meta: dict[str, Any],
    candidate_meta: dict[str, Any],
    ra: np.ndarray,
    dec: np.ndarray,
) -> FieldArea:
    """Choose the field area: explicit value, catalog metadata, else the convex hull.

    Raises:
        UserError: If the area is not positive or cannot be estimated.
    """
    recorded = {
        "`area_deg2`": area_deg2,
        **{f"truth catalog metadata {key}": truth_meta.get(key) for key in AREA_KEYS},
        **{f"candidate catalog metadata {key}": candidate_meta.get(key) for key in AREA_KEYS},
    }
    # A scan of an image without a pixel scale records the area as null: skip it.
    known = [(source, value) for source, value in recorded.items() if _is_number(value)]
    if known:
        source, value = known[0]
        chosen = FieldArea(float(value), source)
    else:
        chosen = FieldArea(
            convex_hull_area_deg2(ra, dec),
            "convex hull of the truth and candidate positions (a slight underestimate)",
        )
    if not (math.isfinite(chosen.deg2) and chosen.deg2 > 0):
        raise UserError(
            f"field area from {chosen.source} is {chosen.deg2:g} deg2; give it with `area_deg2`"
        )
    return chosen


@dataclass(frozen=True)
class FieldMetrics:
    """Completeness, purity and astrometry of a candidate catalog.

    Attributes:
        summary: JSON-ready scalar metrics.
        ranked_scores: Candidate scores in rank order.
        completeness_at_rank: Completeness after inspecting the top 1, 2, ... candidates.
        purity_at_rank: Purity of the top 1, 2, ... candidates.
    """

    summary: dict[str, Any]
    ranked_scores: np.ndarray
    completeness_at_rank: np.ndarray
    purity_at_rank: np.ndarray


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2))) if values.size else math.nan


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else math.nan


def field_metrics(
    match: FieldMatch, scores: np.ndarray, n_truth: int, area: FieldArea, threshold: float
) -> FieldMetrics:
    """Summarise a match: completeness against rank and score, purity, FP density, offsets.

    Args:
        match: The candidate-truth match.
        scores: Candidate scores.
        n_truth: Number of true lenses in the field.
        area: The field area.
        threshold: The score threshold reported beside the fixed ones.

    Returns:
        The metrics.
    """
    n_candidates = len(scores)
    ranked_scores = np.asarray(scores, dtype=np.float64)[match.order]
    hits = match.matched[match.order]
    found = np.cumsum(hits)
    inspected = np.arange(1, n_candidates + 1)
    completeness_at_rank = found / n_truth if n_truth else np.full(n_candidates, np.nan)
    purity_at_rank = found / inspected
    n_matched = int(hits.sum())
    separation = match.separation_arcsec[match.matched]

    def at_threshold(value: float) -> dict[str, Any]:
        kept = ranked_scores >= value
        n_kept, n_found = int(kept.sum()), int(hits[kept].sum())
        return {
            "threshold": value,
            "n_candidates": n_kept,
            "completeness": n_found / n_truth if n_truth else math.nan,
            "purity": n_found / n_kept if n_kept else math.nan,
            "false_positives_per_deg2": (n_kept - n_found) / area.deg2,
        }

    summary = {
        "n_candidates": n_candidates,
        "n_truth": n_truth,
        "n_matched": n_matched,
        "completeness": n_matched / n_truth if n_truth else math.nan,
        "purity": n_matched / n_candidates if n_candidates else math.nan,
        "false_positives": n_candidates - n_matched,
        "area_deg2": area.deg2,
        "area_source": area.source,
        "false_positives_per_deg2": (n_candidates - n_matched) / area.deg2,
        "completeness_at_rank": {
            str(rank): float(completeness_at_rank[rank - 1])
            for rank in REPORTED_RANKS
            if rank <= n_candidates
        },
        "at_threshold": [
            at_threshold(value) for value in sorted({*REPORTED_THRESHOLDS, float(threshold)})
        ],
        "astrometry_arcsec": {
            "median_separation": _median(separation),
            "rms_separation": _rms(separation),
            "mean_offset_ra_cosdec": float(np.mean(match.offset_ra_arcsec[match.matched]))
            if n_matched
            else math.nan,
            "mean_offset_dec": float(np.mean(match.offset_dec_arcsec[match.matched]))
            if n_matched
            else math.nan,
        },
    }
    return FieldMetrics(summary, ranked_scores, completeness_at_rank, purity_at_rank)
