"""Matching positions on the sky: one matcher, the rule a parameter; known-lens columns.

Three questions are asked of positions on the sky, each with its own rule
(:class:`MatchRule`): which known lens is a candidate near (``scan --known``: the nearest
within the radius, shared by any number of candidates), which true lens did a candidate find
(``evaluate --catalog``: one-to-one, best-scored candidate first), and which candidates of a
combined catalog are another field's view of one object (``scan`` over overlapping fields:
suppression, best-scored first). :func:`match_sky` answers all three on the pairs astropy
finds (:func:`~astropy.coordinates.match_coordinates_sky` for the nearest,
:func:`~astropy.coordinates.search_around_sky` for the pairs within the radius), so every
command measures separations alike. Positions that are not finite (a field without a
celestial WCS) never match.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from lensscan.catalog.readers import SkyPositions

MATCH_RADIUS_ARCSEC = 1.0
"""Largest separation (arcsec) at which a candidate matches a known or injected lens, in
``scan --known`` and ``evaluate`` alike: about the seeing, and well inside an Einstein
radius, so a match means the same object."""


class MatchRule(StrEnum):
    """How pairs within the radius become matches."""

    NEAREST = "nearest"
    """Each item takes its nearest reference within the radius; references may be shared."""
    ONE_TO_ONE = "one-to-one"
    """In priority order, each item takes the nearest reference within the radius that no
    earlier item took."""
    SUPPRESS = "suppress"
    """A catalog against itself: in priority order, each item not yet suppressed suppresses
    every other item within the radius; an item's match is the item that suppressed it."""


@dataclass(frozen=True)
class SkyMatch:
    """What each item matched.

    Attributes:
        index: Per item, the index of its reference (for :attr:`MatchRule.SUPPRESS`, of the
            item that suppressed it), or -1.
        separation_arcsec: Per item, the separation of that match (NaN where none).
    """

    index: np.ndarray
    separation_arcsec: np.ndarray

    @property
    def matched(self) -> np.ndarray:
        """Per item, whether it matched."""
        return self.index >= 0


def _coords(ra: np.ndarray, dec: np.ndarray) -> Any:
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs")


def match_sky(
    ra: np.ndarray,
    dec: np.ndarray,
    radius_arcsec: float,
    rule: MatchRule,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    order: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> SkyMatch:
    """Match positions (ICRS degrees) on the sky to references, by ``rule``.

    Separations are measured from the reference to the item, as astropy does for a
    catalog's match.

    Args:
        ra: The items' right ascensions.
        dec: Their declinations.
        radius_arcsec: Largest separation of a match (for the nearest rule, a separation
            equal to it matches).
        rule: How pairs become matches.
        reference: ``(ra, dec)`` of the references; ``None`` (and always for
            :attr:`MatchRule.SUPPRESS`) matches the items against themselves.
        order: Item indices, highest priority first, for the one-to-one and suppression
            rules (default: the items' order); ties between pairs of one item go to the
            nearer reference, then to astropy's pair order.
        groups: A label per item: items of one group are never paired (suppression across
            fields only).

    Returns:
        Each item's match.

    Raises:
        ValueError: If ``reference`` is given for the suppression rule.
    """
    import astropy.units as u
    from astropy.coordinates import search_around_sky

    ra, dec = np.asarray(ra, np.float64), np.asarray(dec, np.float64)
    if rule is MatchRule.SUPPRESS and reference is not None:
        raise ValueError("the suppression rule matches a catalog against itself")
    ref_ra, ref_dec = (ra, dec) if reference is None else (np.asarray(a) for a in reference)
    n = len(ra)
    index = np.full(n, -1, dtype=np.int64)
    separation = np.full(n, np.nan)
    items = np.flatnonzero(np.isfinite(ra) & np.isfinite(dec))
    refs = np.flatnonzero(np.isfinite(ref_ra) & np.isfinite(ref_dec))
    if not len(items) or not len(refs):
        return SkyMatch(index, separation)
    coords, ref_coords = _coords(ra[items], dec[items]), _coords(ref_ra[refs], ref_dec[refs])
    if rule is MatchRule.NEAREST:
        nearest, sep2d, _ = coords.match_to_catalog_sky(ref_coords)
        arcsec = sep2d.to_value(u.arcsec)
        within = arcsec <= radius_arcsec
        index[items[within]] = refs[nearest[within]]
        separation[items[within]] = arcsec[within]
        return SkyMatch(index, separation)
    pair_ref, pair_item, sep2d, _ = search_around_sky(ref_coords, coords, radius_arcsec * u.arcsec)
    pair_ref, pair_item, arcsec = refs[pair_ref], items[pair_item], sep2d.to_value(u.arcsec)
    if groups is not None:
        apart = groups[pair_ref] != groups[pair_item]
        pair_ref, pair_item, arcsec = pair_ref[apart], pair_item[apart], arcsec[apart]
    order = np.arange(n) if order is None else np.asarray(order)
    if rule is MatchRule.ONE_TO_ONE:
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        taken = np.zeros(len(ref_ra), dtype=bool)
        # Pairs in the order items claim them: best rank first, nearest reference first.
        for pair in np.lexsort((arcsec, rank[pair_item])):
            item, ref = pair_item[pair], pair_ref[pair]
            if index[item] >= 0 or taken[ref]:
                continue
            index[item], separation[item] = ref, arcsec[pair]
            taken[ref] = True
        return SkyMatch(index, separation)
    other = pair_ref != pair_item
    by_ref = np.argsort(pair_ref[other], kind="stable")
    pair_ref, pair_item, arcsec = (a[other][by_ref] for a in (pair_ref, pair_item, arcsec))
    bounds = np.searchsorted(pair_ref, np.arange(n + 1))
    for item in order:
        if index[item] >= 0:
            continue
        # A kept item is never among a later one's partners: that one would have been
        # suppressed by it first.
        partners = slice(bounds[item], bounds[item + 1])
        fresh = index[pair_item[partners]] < 0
        suppressed = pair_item[partners][fresh]
        index[suppressed], separation[suppressed] = item, arcsec[partners][fresh]
    return SkyMatch(index, separation)


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
    match = match_sky(ra, dec, radius_arcsec, MatchRule.NEAREST, (known.ra, known.dec))
    names = np.full(len(match.index), "", dtype=object)
    names[match.matched] = known.names[match.index[match.matched]]
    return {
        "known_lens": match.matched,
        "known_name": names.astype(str),
        "known_separation": match.separation_arcsec,
    }


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
