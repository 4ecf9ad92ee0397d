"""Pixel conventions: numpy 0-based ``(y, x)`` everywhere, FITS 1-based only in files.

Every array index and every pixel coordinate in lensscan is numpy 0-based ``(y, x)``; FITS
1-based pixels appear only where a file format asks for them (DS9 regions, FITS tables),
through :data:`FITS_PIXEL_ORIGIN` and :func:`to_fits_pixel`, and all WCS calls pass
origin 0.
"""

from __future__ import annotations

import numpy as np

FITS_PIXEL_ORIGIN = 1
"""FITS (and DS9) count pixels from 1; numpy and lensscan count from 0."""


def to_fits_pixel(coordinate: np.ndarray | float) -> np.ndarray | float:
    """Convert a 0-based pixel coordinate to the FITS/DS9 1-based convention."""
    return coordinate + FITS_PIXEL_ORIGIN
