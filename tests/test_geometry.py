"""Geometry: centred windows, the inside-the-field test, placing positions, pixel <-> sky."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from scan_helpers import tan_wcs

from lensscan.catalog.readers import SkyPositions
from lensscan.errors import UserError
from lensscan.scan.geometry import (
    centred_window_start,
    centred_windows,
    icrs_to_pixel,
    pixel_to_icrs,
    pixels_inside,
    place_positions,
    window_centre,
)


def test_window_centre_and_centred_start_are_inverse() -> None:
    assert window_centre(0, 64) == 31.5
    assert window_centre(10, 5) == 12.0
    np.testing.assert_array_equal(
        centred_window_start(np.array([31.5, 12.0, 12.4]), 64), [0, -19, -19]
    )
    np.testing.assert_array_equal(
        centred_window_start(np.array([12.0, 12.5, 11.5]), 5), [10, 11, 10]
    )


def test_a_window_is_inside_only_when_all_of_it_lies_on_the_field() -> None:
    # A 100 x 80 field (height, width) and 10 px windows: centres from 4 to below 75 fit
    # along x (a centre between pixels rounds its window's start up).
    x = np.array([4.0, 3.9, 74.9, 75.0, 40.0, np.nan, 40.0])
    y = np.array([50.0, 50.0, 50.0, 50.0, 95.5, 50.0, np.inf])
    windows = centred_windows(x, y, 10, (100, 80))
    np.testing.assert_array_equal(windows.inside, [True, False, True, False, False, False, False])
    np.testing.assert_array_equal(windows.start_x[[0, 2]], [0, 70])
    np.testing.assert_array_equal(windows.start_y[[0, 2]], [46, 46])


def test_pixels_inside_the_field_reach_half_a_pixel_past_the_outer_centres() -> None:
    x = np.array([-0.5, -0.51, 79.49, 79.5, np.nan])
    inside = pixels_inside(x, np.zeros(5), (100, 80))
    np.testing.assert_array_equal(inside, [True, False, True, False, False])


def test_positions_are_placed_where_their_cutout_fits() -> None:
    wcs = tan_wcs((100, 120), ra=150.0, dec=2.2)
    ra, dec = pixel_to_icrs(wcs, np.array([60.0, 2.0, 500.0]), np.array([50.0, 50.0, 50.0]))
    positions = SkyPositions(ra, dec, np.array(["a", "b", "c"]), Path("positions.csv"))
    placed = place_positions(wcs, (100, 120), positions, 16, "field")
    np.testing.assert_array_equal(placed.rows, [0])
    assert placed.n_outside == 2
    np.testing.assert_allclose([placed.x[0], placed.y[0]], [60.0, 50.0], atol=1e-8)
    with pytest.raises(UserError, match="field: no celestial WCS"):
        place_positions(None, (100, 120), positions, 16, "field")


def test_pixel_to_icrs_matches_astropy_with_origin_zero() -> None:
    wcs = tan_wcs((100, 120), ra=150.0, dec=2.2)
    ra, dec = pixel_to_icrs(wcs, np.array([0.0, 59.5]), np.array([0.0, 49.5]))
    expected = wcs.all_pix2world([1.0, 60.5], [1.0, 50.5], 1)  # FITS 1-based, same pixels
    np.testing.assert_allclose(ra, expected[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(dec, expected[1], rtol=0, atol=1e-10)
    assert ra[1] == pytest.approx(150.0) and dec[1] == pytest.approx(2.2)
    x, y = icrs_to_pixel(wcs, ra, dec)
    np.testing.assert_allclose([x, y], [[0.0, 59.5], [0.0, 49.5]], atol=1e-8)


def test_galactic_wcs_is_converted_to_icrs() -> None:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["GLON-CAR", "GLAT-CAR"]
    wcs.wcs.crval = [18.2, 0.2]
    wcs.wcs.crpix = [50.0, 50.0]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    ra, dec = pixel_to_icrs(wcs, np.array([49.0]), np.array([49.0]))
    expected = SkyCoord(l=18.2, b=0.2, unit="deg", frame="galactic").icrs
    assert ra[0] == pytest.approx(expected.ra.deg, abs=1e-9)
    assert dec[0] == pytest.approx(expected.dec.deg, abs=1e-9)


def test_no_wcs_gives_nan() -> None:
    ra, dec = pixel_to_icrs(None, np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert np.isnan(ra).all() and np.isnan(dec).all()
