"""Magnitudes of redshifted galaxies from GalSim's spectral templates and throughputs.

The templates (Coleman, Wu & Weedman 1980, extended) and the LSST g, r, i, z, y
throughputs are data files GalSim ships. For a template at redshift z the observed AB
magnitude in band X of a galaxy of absolute i magnitude M is

    m_X = M + DM(z) + K_i(z) + (c_X(z) - c_i(z)),

with the same-band K-correction ``K_i(z) = -2.5 log10[(1+z) <L(nu (1+z))>_i / <L(nu)>_i]``
(Hogg et al. 2002, eq. 13) and ``c_X(z) = -2.5 log10 <L(nu (1+z))>_X``, where ``<.>_X``
averages the rest-frame f_nu over the band with weight ``T(nu) dnu / nu``. Distances come
from astropy's flat LambdaCDM (H0 = 70, Omega_m = 0.3). Everything is tabulated once per
process on a redshift grid and interpolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from lensscan.errors import UserError

TEMPLATES = ("E", "Sbc", "Scd", "Im")
"""Spectral templates, red to blue."""

_Z_GRID = np.linspace(0.0, 4.0, 401)
_TEMPLATE_FILES = {name: f"CWW_{name}_ext.sed" for name in TEMPLATES}
_BAND_FILES = {band: f"LSST_{band}.dat" for band in "grizy"}


def require_galsim() -> object:
    """Import GalSim, or say in one line what to install.

    Raises:
        UserError: If GalSim is not installed.
    """
    try:
        import galsim
    except ImportError:
        raise UserError(
            "the hsc-galsim test family needs GalSim: pip install 'lensscan[testfamily]'"
        ) from None
    return galsim


def _share_dir() -> Path:
    galsim = require_galsim()
    return Path(galsim.meta_data.share_dir)  # type: ignore[attr-defined]


@lru_cache(maxsize=1)
def _distance_tables() -> tuple[np.ndarray, np.ndarray]:
    """Distance modulus and angular-diameter distance (Mpc) on the redshift grid."""
    from astropy.cosmology import FlatLambdaCDM

    cosmology = FlatLambdaCDM(H0=70.0, Om0=0.3)
    z = np.maximum(_Z_GRID, 1e-4)
    modulus = cosmology.distmod(z).value
    d_a = cosmology.angular_diameter_distance(z).value
    return modulus, d_a


def distance_modulus(z: float) -> float:
    """Distance modulus at redshift ``z``."""
    return float(np.interp(z, _Z_GRID, _distance_tables()[0]))


def angular_distance(z: float) -> float:
    """Angular-diameter distance (Mpc) at redshift ``z``."""
    return float(np.interp(z, _Z_GRID, _distance_tables()[1]))


def angular_distance_between(z1: float, z2: float) -> float:
    """Angular-diameter distance (Mpc) from ``z1`` to ``z2`` in a flat universe."""
    d1 = angular_distance(z1) * (1 + z1)
    d2 = angular_distance(z2) * (1 + z2)
    return (d2 - d1) / (1 + z2)


@lru_cache(maxsize=1)
def _colour_tables() -> dict[str, dict[str, np.ndarray]]:
    """``c_X(z)`` per template and band on the redshift grid (an arbitrary common zero)."""
    share = _share_dir()
    tables: dict[str, dict[str, np.ndarray]] = {}
    for name, filename in _TEMPLATE_FILES.items():
        wave_angstrom, f_lambda = np.loadtxt(share / "SEDs" / filename, unpack=True)
        rest_nu = 1.0 / wave_angstrom  # frequency up to a constant
        f_nu = f_lambda * wave_angstrom**2
        order = np.argsort(rest_nu)
        rest_nu, f_nu = rest_nu[order], f_nu[order]
        tables[name] = {}
        for band, filename_band in _BAND_FILES.items():
            wave_nm, throughput = np.loadtxt(share / "bandpasses" / filename_band, unpack=True)
            nu = 1.0 / (wave_nm * 10.0)
            weight = throughput / nu
            averages = []
            for z in _Z_GRID:
                emitted = np.interp(nu * (1 + z), rest_nu, f_nu, left=0.0, right=0.0)
                averages.append(np.trapezoid(emitted * weight, nu) / np.trapezoid(weight, nu))
            tables[name][band] = -2.5 * np.log10(np.maximum(averages, 1e-300))
    return tables


def observed_magnitudes(
    template: str, z: float, absolute_i: float, bands: Sequence[str]
) -> dict[str, float]:
    """Observed AB magnitudes of a galaxy.

    Args:
        template: One of :data:`TEMPLATES`.
        z: Redshift.
        absolute_i: Absolute magnitude in the rest-frame i band.
        bands: Bands wanted.
    """
    table = _colour_tables()[template]
    c_i0 = float(table["i"][0])
    c_i = float(np.interp(z, _Z_GRID, table["i"]))
    k_i = c_i - c_i0 - 2.5 * np.log10(1 + z)
    base = absolute_i + distance_modulus(z) + k_i - c_i
    return {band: base + float(np.interp(z, _Z_GRID, table[band])) for band in bands}


def apparent_magnitudes(
    template: str, z: float, magnitude_i: float, bands: Sequence[str]
) -> dict[str, float]:
    """Observed magnitudes of a galaxy whose observed i magnitude is given."""
    table = _colour_tables()[template]
    c_i = float(np.interp(z, _Z_GRID, table["i"]))
    return {band: magnitude_i + float(np.interp(z, _Z_GRID, table[band])) - c_i for band in bands}


def band_flux(magnitude: float, zero_point: float = 27.0) -> float:
    """Flux in zero-point units of an AB magnitude."""
    return float(10.0 ** (-0.4 * (magnitude - zero_point)))


def flux_magnitude(flux: float, zero_point: float = 27.0) -> float:
    """AB magnitude of a flux in zero-point units (the inverse of :func:`band_flux`)."""
    return float(zero_point - 2.5 * np.log10(flux))
