"""Where windows and positions lie on a field: centred windows, the inside test, pixel <-> sky.

Coordinates are numpy 0-based pixels (``x`` the column, ``y`` the row, pixel centres at
integers); a window starting at ``(y0, x0)`` covers ``[y0, y0 + size) x [x0, x0 + size)``
and its centre is at ``start + (size - 1) / 2``. A cutout is scored or cut only when its
whole window lies on the field: lensscan never pads. :func:`pixel_to_icrs` and
:func:`icrs_to_pixel` are the one place where positions meet a WCS (always with origin 0,
so no FITS +1 is ever needed elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lensscan.catalog.readers import SkyPositions
from lensscan.errors import UserError


def window_centre(start: np.ndarray | float, size: int) -> np.ndarray | float:
    """Pixel coordinate (0-based) of the centre of windows starting at ``start``."""
    return start + (size - 1) / 2.0


def centred_window_start(centre: np.ndarray, size: int) -> np.ndarray:
    """Start of the window whose centre is nearest to ``centre`` (0-based pixels).

    Halves round up, so the result does not depend on the platform's rounding rule.
    """
    return np.floor(np.asarray(centre, dtype=np.float64) - (size - 1) / 2.0 + 0.5).astype(np.int64)


@dataclass(frozen=True)
class CentredWindows:
    """Windows centred on positions, and which of them lie wholly on the field.

    Attributes:
        start_y: Row start of each window (meaningless where the position is not finite).
        start_x: Column start of each window.
        inside: Whether the position is finite and its whole window lies on the field.
    """

    start_y: np.ndarray
    start_x: np.ndarray
    inside: np.ndarray


def centred_windows(
    x: np.ndarray, y: np.ndarray, size: int, shape: tuple[int, int]
) -> CentredWindows:
    """The ``size`` windows centred on positions of a field of ``shape`` ``(height, width)``.

    A position that is not finite (a sky position the WCS cannot place) gets a window
    outside the field, so it is never inside.
    """
    height, width = shape
    finite = np.isfinite(x) & np.isfinite(y)
    start_x = centred_window_start(np.where(finite, x, -size), size)
    start_y = centred_window_start(np.where(finite, y, -size), size)
    inside = (
        finite
        & (start_x >= 0)
        & (start_y >= 0)
        & (start_x + size <= width)
        & (start_y + size <= height)
    )
    return CentredWindows(start_y, start_x, inside)


def pixels_inside(x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which positions fall on one of the field's pixels (NaN positions do not)."""
    height, width = shape
    with np.errstate(invalid="ignore"):
        return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def pixel_to_icrs(wcs: Any, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ICRS RA/Dec (degrees) of 0-based pixel positions; NaN everywhere without a WCS.

    A WCS in another celestial frame (Galactic, FK5, ...) is converted to ICRS.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if wcs is None or len(x) == 0:
        return np.full(x.shape, np.nan), np.full(x.shape, np.nan)
    from astropy.wcs.utils import pixel_to_skycoord

    coords = pixel_to_skycoord(x, y, wcs, origin=0).icrs
    return coords.ra.deg, coords.dec.deg


def icrs_to_pixel(wcs: Any, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """0-based pixel ``(x, y)`` of ICRS positions (degrees) through a celestial WCS."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.wcs.utils import skycoord_to_pixel

    coords = SkyCoord(ra=np.asarray(ra) * u.deg, dec=np.asarray(dec) * u.deg, frame="icrs")
    x, y = skycoord_to_pixel(coords, wcs, origin=0)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


@dataclass
class PositionPlan:
    """Catalogued positions that fall inside a field (``positions``).

    Attributes:
        rows: Row of each usable position in the positions file.
        x: Its 0-based pixel column.
        y: Its 0-based pixel row.
        ra: Its RA (degrees, as given).
        dec: Its Dec.
        n_outside: Positions whose cutout would not fit inside the field.
    """

    rows: np.ndarray
    x: np.ndarray
    y: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    n_outside: int


def place_positions(
    wcs: Any, shape: tuple[int, int], positions: SkyPositions, size: int, label: str
) -> PositionPlan:
    """The catalogued positions whose centred ``size`` cutout lies inside the field.

    Args:
        wcs: The field's celestial WCS.
        shape: The field's ``(height, width)``.
        positions: The catalogued positions.
        size: The cutout size.
        label: The field as messages name it.

    Raises:
        UserError: If the field has no celestial WCS.
    """
    if wcs is None:
        raise UserError(f"{label}: no celestial WCS, so `positions` cannot be placed on it")
    x, y = icrs_to_pixel(wcs, positions.ra, positions.dec)
    rows = np.flatnonzero(centred_windows(x, y, size, shape).inside)
    return PositionPlan(
        rows=rows,
        x=x[rows],
        y=y[rows],
        ra=positions.ra[rows],
        dec=positions.dec[rows],
        n_outside=int(len(x) - len(rows)),
    )
