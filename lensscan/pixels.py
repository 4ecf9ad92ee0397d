"""Pixel conventions: numpy 0-based ``(y, x)`` everywhere, FITS 1-based only in files.

Every array index and every pixel coordinate in lensscan is numpy 0-based ``(y, x)``; FITS
1-based pixels appear only where a file format asks for them (DS9 regions, FITS tables),
through :data:`FITS_PIXEL_ORIGIN` and :func:`to_fits_pixel`, and all WCS calls pass
origin 0. A cutout's centre is pixel ``size // 2``, so :func:`centre_crop` keeps it there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lensscan.errors import UserError

FITS_PIXEL_ORIGIN = 1
"""FITS (and DS9) count pixels from 1; numpy and lensscan count from 0."""


def to_fits_pixel(coordinate: np.ndarray | float) -> np.ndarray | float:
    """Convert a 0-based pixel coordinate to the FITS/DS9 1-based convention."""
    return coordinate + FITS_PIXEL_ORIGIN


def wcs_pixel_scale(wcs: Any) -> float | None:
    """Arcsec per pixel of a celestial WCS (the mean of its two axes), or None without one."""
    if wcs is None:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    return float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)


def centre_crop(images: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop (N, C, H, W) images to (N, C, size, size).

    Raises:
        UserError: If the images are smaller than ``size``.
    """
    height, width = images.shape[-2:]
    if min(height, width) < size:
        raise UserError(f"{height}x{width} px cutouts are smaller than the model's {size} px")
    top, left = (height - size) // 2, (width - size) // 2
    return images[..., top : top + size, left : left + size]
