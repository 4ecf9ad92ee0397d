"""Distances in a flat LambdaCDM cosmology (H0 = 70, Omega_m = 0.3), from one table.

Einstein radii need the distance ratio D_ls / D_s, galaxy sizes need kpc per arcsec and
magnitudes need distance moduli. A tabulated comoving distance makes each of these an
interpolation, fast enough to call per simulated galaxy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

H0 = 70.0  # km/s/Mpc
OMEGA_M = 0.3
SPEED_OF_LIGHT = 299_792.458  # km/s
ARCSEC_PER_RADIAN = 206_264.806
_Z_MAX = 6.0


@lru_cache(maxsize=1)
def _comoving_table() -> tuple[np.ndarray, np.ndarray]:
    z = np.linspace(0.0, _Z_MAX, 6001)
    inverse_e = 1.0 / np.sqrt(OMEGA_M * (1 + z) ** 3 + (1 - OMEGA_M))
    steps = 0.5 * (inverse_e[1:] + inverse_e[:-1]) * np.diff(z)
    distance = SPEED_OF_LIGHT / H0 * np.concatenate([[0.0], np.cumsum(steps)])
    return z, distance


def comoving_distance(z: float | np.ndarray) -> np.ndarray:
    """Line-of-sight comoving distance in Mpc."""
    table_z, table_d = _comoving_table()
    return np.interp(z, table_z, table_d)


def angular_diameter_distance(z: float | np.ndarray) -> np.ndarray:
    """Angular diameter distance in Mpc."""
    return comoving_distance(z) / (1.0 + np.asarray(z))


def lensing_distance_ratio(z_lens: float, z_source: float) -> float:
    """D_ls / D_s for a flat universe (0 when the source is not behind the lens)."""
    if z_source <= z_lens:
        return 0.0
    d_l, d_s = comoving_distance(z_lens), comoving_distance(z_source)
    return float((d_s - d_l) / d_s)


def distance_modulus(z: float | np.ndarray) -> np.ndarray:
    """Distance modulus 5 log10(D_L / 10 pc)."""
    luminosity_distance = comoving_distance(z) * (1.0 + np.asarray(z))
    return 5.0 * np.log10(luminosity_distance * 1e5)


def kpc_per_arcsec(z: float | np.ndarray) -> np.ndarray:
    """Proper kpc subtended by one arcsec at redshift ``z``."""
    return angular_diameter_distance(z) * 1e3 / ARCSEC_PER_RADIAN


def sis_einstein_radius(velocity_dispersion: float, z_lens: float, z_source: float) -> float:
    """Einstein radius (arcsec) of a singular isothermal sphere: 4 pi (sigma/c)^2 D_ls/D_s."""
    ratio = lensing_distance_ratio(z_lens, z_source)
    return float(
        4.0 * np.pi * (velocity_dispersion / SPEED_OF_LIGHT) ** 2 * ratio * ARCSEC_PER_RADIAN
    )
