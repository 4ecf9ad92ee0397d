"""Massive early-type galaxies: the lens galaxies, and the non-lenses drawn as their twins.

Velocity dispersions come from the SDSS velocity-dispersion function (Choi et al. 2007),
weighted by the lensing cross section (sigma^4) for lenses; luminosity from the
Faber-Jackson relation (L ~ sigma^4); size from the size-luminosity relation of early
types; red-sequence colours. Non-lens early types are drawn by the same function, so
that the central alone does not reveal the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lensscan.simulate.physics.colours import (
    band_fluxes,
    early_type_colours,
    early_type_k_correction,
    magnitudes,
)
from lensscan.simulate.physics.cosmology import distance_modulus, kpc_per_arcsec
from lensscan.simulate.physics.profiles import Sersic
from lensscan.simulate.populations.population import BASELINE_POPULATION, Population

LENS_REDSHIFT_RANGE = (0.3, 0.8)

# Velocity-dispersion function (Choi, Park & Vogeley 2007).
_VDF_ALPHA, _VDF_BETA, _VDF_SIGMA_STAR = 2.32, 2.67, 161.0
# Faber-Jackson: M_r = M0 - 10 log10(sigma / 200 km/s), scatter in mag.
_FJ_M0, _FJ_SCATTER = -21.5, 0.35
# Size-luminosity of early types: log10(Re/kpc) = a + b (-21.5 - M_r), scatter in dex.
_SIZE_A, _SIZE_B, _SIZE_SCATTER = 0.62, 0.24, 0.12


@lru_cache(maxsize=2)
def _sigma_cdf(lensing_weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    sigma = np.linspace(120.0, 420.0, 601)
    ratio = sigma / _VDF_SIGMA_STAR
    density = ratio**_VDF_ALPHA * np.exp(-(ratio**_VDF_BETA)) / sigma
    if lensing_weighted:
        density = density * sigma**4
    cdf = np.cumsum(density)
    return sigma, cdf / cdf[-1]


def draw_velocity_dispersion(rng: np.random.Generator, lensing_weighted: bool) -> float:
    """A velocity dispersion (km/s) from the VDF, optionally weighted by sigma^4."""
    sigma, cdf = _sigma_cdf(lensing_weighted)
    return float(np.interp(rng.uniform(), cdf, sigma))


@dataclass(frozen=True)
class EarlyType:
    """A drawn early-type galaxy.

    Attributes:
        z: Redshift.
        sigma_v: Velocity dispersion (km/s).
        mags: Magnitudes in every band.
        r_eff: Half-light radius (arcsec).
        n: Sersic index.
        q: Axis ratio.
        pa: Position angle (radians).
    """

    z: float
    sigma_v: float
    mags: dict[str, float]
    r_eff: float
    n: float
    q: float
    pa: float


def draw_early_type(
    rng: np.random.Generator,
    z: float | None = None,
    sigma_v: float | None = None,
    population: Population = BASELINE_POPULATION,
) -> EarlyType:
    """A massive early type at z ~ 0.3-0.8 (lens-galaxy population)."""
    if z is None:
        z = LENS_REDSHIFT_RANGE[0] + np.diff(LENS_REDSHIFT_RANGE)[0] * rng.beta(2.0, 2.2)
    if sigma_v is None:
        sigma_v = draw_velocity_dispersion(rng, lensing_weighted=True)
    abs_mag_r = _FJ_M0 - 10.0 * np.log10(sigma_v / 200.0) + rng.normal(0.0, _FJ_SCATTER)
    mag_i = abs_mag_r + float(distance_modulus(z)) + early_type_k_correction(z)
    colour_sigma = population.colour_scatter * np.array([0.06, 0.04, 0.03, 0.03])
    colours = early_type_colours(z) + rng.normal(0.0, colour_sigma)
    log_re_kpc = _SIZE_A + _SIZE_B * (-21.5 - abs_mag_r) + rng.normal(0.0, _SIZE_SCATTER)
    r_eff = float(10**log_re_kpc / kpc_per_arcsec(z))
    return EarlyType(
        z=float(z),
        sigma_v=float(sigma_v),
        mags=magnitudes("i", float(mag_i), colours),
        r_eff=float(np.clip(r_eff, 0.2, 4.0)),
        n=float(rng.uniform(*population.lens_sersic_n_range)),
        q=float(np.clip(rng.normal(0.75, 0.14), 0.4, 1.0)),
        pa=float(rng.uniform(0.0, np.pi)),
    )


def early_type_component(galaxy: EarlyType, x0: float, y0: float, bands: Sequence[str]) -> Sersic:
    """The Sersic light of an early type."""
    return Sersic(
        x0, y0, galaxy.r_eff, galaxy.n, galaxy.q, galaxy.pa, band_fluxes(galaxy.mags, bands)
    )


def velocity_dispersion_from_light(mag_i: float, z: float) -> float:
    """The Faber-Jackson velocity dispersion (km/s) of an early type of i magnitude ``mag_i``.

    The inverse of the relation :func:`draw_early_type` draws luminosities from (without
    its scatter), with the same K-correction and cosmology.
    """
    abs_mag_r = mag_i - float(distance_modulus(z)) - early_type_k_correction(z)
    return float(200.0 * 10.0 ** ((_FJ_M0 - abs_mag_r) / 10.0))
