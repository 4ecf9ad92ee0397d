"""Magnitudes and fluxes in zero-point-27 units (HSC coadd convention).

A flux of 1 is magnitude 27.0 AB, so ``FLUXMAG0 = 10**10.8`` (the flux of a magnitude-0
source) as written in HSC calexp headers.
"""

from __future__ import annotations

import numpy as np

ZERO_POINT = 27.0
FLUXMAG0 = 10.0 ** (0.4 * ZERO_POINT)


def mag_to_flux(mag: float | np.ndarray) -> np.ndarray:
    """Convert AB magnitudes to fluxes in zero-point-27 units."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - ZERO_POINT))


def flux_to_mag(flux: float | np.ndarray) -> np.ndarray:
    """Convert zero-point-27 fluxes to AB magnitudes (NaN for non-positive fluxes)."""
    flux = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            flux > 0, ZERO_POINT - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), np.nan
        )
