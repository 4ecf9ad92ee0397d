"""One sky matcher, three rules: nearest (known lenses), one-to-one (evaluation), suppression."""

from __future__ import annotations

import numpy as np
import pytest

from lensscan.catalog.crossmatch import MatchRule, match_sky

ARCSEC = 1 / 3600.0


def _east(offsets_arcsec: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Positions on the equator, ``offsets`` arcsec east of RA 150."""
    return 150.0 + np.array(offsets_arcsec) * ARCSEC, np.zeros(len(offsets_arcsec))


def test_nearest_shares_a_reference_and_leaves_the_far_and_the_unplaced_alone() -> None:
    ra, dec = _east([0.0, 0.4, 3.0, 0.0])
    ra[3] = np.nan
    match = match_sky(ra, dec, 1.0, MatchRule.NEAREST, reference=_east([0.1, 0.5]))
    np.testing.assert_array_equal(match.index, [0, 1, -1, -1])
    np.testing.assert_allclose(match.separation_arcsec[:2], [0.1, 0.1], atol=1e-6)
    assert np.isnan(match.separation_arcsec[2:]).all()


def test_one_to_one_gives_each_reference_to_the_first_item_in_priority_order() -> None:
    ra, dec = _east([0.0, 0.2, 0.9])
    reference = _east([0.1, 1.0])
    # Item 1 comes first: it takes reference 0; item 0 then finds reference 1 too far
    # (1 arcsec away is within the radius only for a radius of at least 1), item 2 takes 1.
    match = match_sky(ra, dec, 0.95, MatchRule.ONE_TO_ONE, reference, order=np.array([1, 0, 2]))
    np.testing.assert_array_equal(match.index, [-1, 0, 1])
    match = match_sky(ra, dec, 1.5, MatchRule.ONE_TO_ONE, reference, order=np.array([1, 0, 2]))
    np.testing.assert_array_equal(match.index, [1, 0, -1])


def test_suppression_keeps_the_best_of_each_object_across_groups_only() -> None:
    ra, dec = _east([0.0, 0.5, 1.2, -0.3, 10.0])
    groups = np.array(["a", "b", "c", "a", "b"])
    # Item 0 is best: it suppresses 1 (another field, 0.5") but not 3 (its own field); 2 is
    # 1.2" from 0 and 0.7" from 1, which was suppressed first, so 2 stays; 3 is 0.8" from
    # the suppressed 1 and 1.5" from 2, so it stays too.
    match = match_sky(ra, dec, 1.0, MatchRule.SUPPRESS, order=np.arange(5), groups=groups)
    np.testing.assert_array_equal(match.index, [-1, 0, -1, -1, -1])
    np.testing.assert_allclose(match.separation_arcsec[1], 0.5, atol=1e-6)


def test_suppression_is_of_a_catalog_against_itself() -> None:
    ra, dec = _east([0.0])
    with pytest.raises(ValueError, match="itself"):
        match_sky(ra, dec, 1.0, MatchRule.SUPPRESS, reference=(ra, dec))
