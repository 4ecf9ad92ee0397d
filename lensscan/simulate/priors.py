"""Galaxy populations: lens systems, lensed sources and the centrals of non-lens cutouts.

Every draw takes a :class:`numpy.random.Generator` and returns light components plus a
flat dictionary of the drawn parameters (for the store's parameter table). Physical
relations used:

* Lens galaxies are massive early types at z ~ 0.3-0.8: velocity dispersions from the
  SDSS velocity-dispersion function (Choi et al. 2007) weighted by the lensing cross
  section (sigma^4); Einstein radius of an SIS, ``4 pi (sigma/c)^2 D_ls/D_s``, kept in
  0.6-2.8" and thinned below ~1" where arcs hide in the seeing (median ~1.1");
  luminosity from the Faber-Jackson relation (L ~ sigma^4); size from the
  size-luminosity relation of early types; red-sequence colours.
* Sources are faint, blue, z ~ 1-3 star-forming galaxies, 0.05-0.6" in size: either a
  Sersic profile with star-forming clumps or a real galaxy shape from the HDF.
* Non-lens centrals: early types drawn exactly as lens galaxies (so the central alone
  does not reveal the label), spirals, ring galaxies, mergers with tidal features,
  edge-on disks and irregulars.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import numpy as np

from lensscan.simulate.colours import (
    band_fluxes,
    early_type_colours,
    early_type_k_correction,
    magnitudes,
    star_forming_colours,
)
from lensscan.simulate.components import Component
from lensscan.simulate.cosmology import distance_modulus, kpc_per_arcsec, sis_einstein_radius
from lensscan.simulate.families import Population
from lensscan.simulate.galaxies import RealGalaxy, draw_shape_index
from lensscan.simulate.lensing import LensedSource, SIEShear, lensed_fluxes
from lensscan.simulate.photometry import flux_to_mag
from lensscan.simulate.profiles import ArcSegment, Ring, Sersic, SpiralArms

Params = dict[str, Any]
Draw = tuple[list[Component], Params]

LENS_REDSHIFT_RANGE = (0.3, 0.8)
SOURCE_REDSHIFT_RANGE = (1.0, 3.0)
BASELINE_POPULATION = Population()
"""The priors of the baseline HSC-like domain (and of simulated fields)."""

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


def _fluxes(mags: Mapping[str, float], bands: Sequence[str]) -> np.ndarray:
    return band_fluxes(mags, bands)


def _mag_columns(prefix: str, mags: Mapping[str, float] | None, bands: Sequence[str]) -> Params:
    return {f"{prefix}_{band}": (np.nan if mags is None else float(mags[band])) for band in bands}


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
    return Sersic(x0, y0, galaxy.r_eff, galaxy.n, galaxy.q, galaxy.pa, _fluxes(galaxy.mags, bands))


def _source_colours(rng: np.random.Generator) -> np.ndarray:
    """Blue, flat-spectrum colours of a z ~ 1-3 star-forming galaxy."""
    return np.array(
        [
            rng.uniform(-0.10, 0.30),
            rng.uniform(-0.10, 0.25),
            rng.uniform(-0.15, 0.25),
            rng.uniform(-0.15, 0.20),
        ]
    )


def discovery_probability(
    theta_e: float, ramp: tuple[float, float] = BASELINE_POPULATION.discovery_ramp
) -> float:
    """Chance that a lens of Einstein radius ``theta_e`` (arcsec) is recognisable.

    Arcs much inside the seeing disk (~0.7") blend into the lens galaxy, so known HSC lens
    samples hold few lenses below ~0.9"; the baseline ramp (0.5" + 0.7") makes the drawn
    Einstein radii peak near 1-1.5" (median ~1.1") as in those samples.
    """
    start, width = ramp
    return float(np.clip((theta_e - start) / width, 0.0, 1.0))


def draw_source_parts(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> tuple[tuple[Component, ...], Params]:
    """A lensed source's source-plane light: real HDF shape, or Sersic plus clumps."""
    mag_r = float(rng.uniform(*population.source_mag_r_range))
    colours = _source_colours(rng)
    log_size = rng.normal(np.log10(population.source_size_median), population.source_size_dex)
    r_eff = float(np.clip(10**log_size, *population.source_size_limits))
    pa = float(rng.uniform(0, 2 * np.pi))
    total = magnitudes("r", mag_r, colours)
    params: Params = {"source_r_eff": r_eff, "source_real_shape": 0, "source_n_clumps": 0}
    if rng.uniform() < population.real_source_fraction:
        index = int(draw_shape_index(rng, population.shape_half))
        part = RealGalaxy(x0, y0, index, r_eff, pa, bool(rng.integers(2)), _fluxes(total, bands))
        params["source_real_shape"] = 1
        return (part,), params
    n_clumps = int(min(rng.poisson(1.5), 4))
    clump_fraction = rng.uniform(0.1, 0.45) if n_clumps else 0.0
    body_mags = magnitudes("r", mag_r - 2.5 * np.log10(1 - clump_fraction), colours)
    parts: list[Component] = [
        Sersic(
            x0,
            y0,
            r_eff,
            float(rng.uniform(0.5, 1.5)),
            float(rng.uniform(0.3, 1.0)),
            pa,
            _fluxes(body_mags, bands),
        )
    ]
    clump_colours = colours - np.array([0.15, 0.1, 0.05, 0.0])
    for weight in rng.dirichlet(np.ones(n_clumps)) if n_clumps else ():
        clump_mag = mag_r - 2.5 * np.log10(clump_fraction * weight)
        offset = rng.normal(0.0, r_eff, size=2)
        sigma = rng.uniform(0.025, 0.07)
        parts.append(
            Sersic(
                x0 + offset[0],
                y0 + offset[1],
                1.1774 * sigma,
                0.5,
                1.0,
                0.0,
                _fluxes(magnitudes("r", clump_mag, clump_colours), bands),
            )
        )
    params["source_n_clumps"] = n_clumps
    return tuple(parts), params


def draw_source_redshift(rng: np.random.Generator) -> float:
    """A lensed source's redshift: a Beta(2, 2.5) over :data:`SOURCE_REDSHIFT_RANGE`."""
    low, high = SOURCE_REDSHIFT_RANGE
    return float(low + (high - low) * rng.beta(2.0, 2.5))


def draw_einstein_radius(
    rng: np.random.Generator, population: Population = BASELINE_POPULATION
) -> tuple[float, float, float, float]:
    """An Einstein radius from the lensing-weighted VDF and the redshift priors.

    Radii outside the population's range are redrawn, and small ones thinned by
    :func:`discovery_probability`.

    Returns:
        ``(theta_e, sigma_v, z_lens, z_source)``: arcsec, km/s and the two redshifts.
    """
    for _ in range(100):
        z_lens = LENS_REDSHIFT_RANGE[0] + np.diff(LENS_REDSHIFT_RANGE)[0] * rng.beta(2.0, 2.2)
        z_source = draw_source_redshift(rng)
        sigma_v = draw_velocity_dispersion(rng, lensing_weighted=True)
        theta_e = sis_einstein_radius(sigma_v, float(z_lens), float(z_source))
        low, high = population.einstein_radius_range
        in_range = low <= theta_e <= high
        if in_range and rng.uniform() < discovery_probability(theta_e, population.discovery_ramp):
            break
    else:  # pragma: no cover - the priors make this practically impossible
        theta_e = float(np.clip(theta_e, *population.einstein_radius_range))
    return float(theta_e), float(sigma_v), float(z_lens), float(z_source)


def velocity_dispersion_from_light(mag_i: float, z: float) -> float:
    """The Faber-Jackson velocity dispersion (km/s) of an early type of i magnitude ``mag_i``.

    The inverse of the relation :func:`draw_early_type` draws luminosities from (without
    its scatter), with the same K-correction and cosmology.
    """
    abs_mag_r = mag_i - float(distance_modulus(z)) - early_type_k_correction(z)
    return float(200.0 * 10.0 ** ((_FJ_M0 - abs_mag_r) / 10.0))


def draw_lensed_source(
    rng: np.random.Generator,
    bands: Sequence[str],
    pixel_scale: float,
    theta_e: float,
    light_q: float,
    light_pa: float,
    x0: float = 0.0,
    y0: float = 0.0,
    population: Population = BASELINE_POPULATION,
) -> tuple[LensedSource, Params]:
    """A source lensed by an SIE plus shear aligned with its deflector's light.

    The mass follows the light (axis ratio and angle scattered by 0.08 and 10 degrees), an
    external shear is drawn, and the source is placed inside ``0.6-0.7 theta_E`` of the
    centre, where it is multiply imaged and magnified several times.

    Returns:
        The lensed source and its parameters (mass, source, magnification and the
        unlensed and lensed magnitudes per band).
    """
    shear = min(float(rng.rayleigh(0.04)), 0.15)
    shear_angle = rng.uniform(0, np.pi)
    mass = SIEShear(
        theta_e=theta_e,
        q=float(np.clip(light_q + rng.normal(0.0, 0.08), 0.4, 1.0)),
        pa=light_pa + float(rng.normal(0.0, np.radians(10.0))),
        x0=x0,
        y0=y0,
        gamma1=shear * np.cos(2 * shear_angle),
        gamma2=shear * np.sin(2 * shear_angle),
    )
    beta = theta_e * population.source_offset_fraction * np.sqrt(rng.uniform())
    beta_angle = rng.uniform(0, 2 * np.pi)
    parts, source_params = draw_source_parts(
        rng, bands, x0 + beta * np.cos(beta_angle), y0 + beta * np.sin(beta_angle), population
    )
    source = LensedSource(mass, parts)
    arc_fluxes = lensed_fluxes(source, source.magnifications(pixel_scale))
    source_fluxes = source.fluxes
    params: Params = {
        "einstein_radius": theta_e,
        "lens_mass_q": mass.q,
        "shear": shear,
        "source_offset": float(beta),
        "magnification": float(arc_fluxes.sum() / source_fluxes.sum()),
        **source_params,
        **{
            f"mag_source_{b}": float(m)
            for b, m in zip(bands, flux_to_mag(source_fluxes), strict=True)
        },
        **{f"mag_arc_{b}": float(m) for b, m in zip(bands, flux_to_mag(arc_fluxes), strict=True)},
    }
    return source, params


def draw_lens_system(
    rng: np.random.Generator,
    bands: Sequence[str],
    pixel_scale: float,
    x0: float = 0.0,
    y0: float = 0.0,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """A galaxy-scale strong lens: early-type deflector with a lensed blue source.

    Returns:
        The lens galaxy's light and the lensed source, and their parameters.
    """
    theta_e, sigma_v, z_lens, z_source = draw_einstein_radius(rng, population)
    galaxy = draw_early_type(rng, z=z_lens, sigma_v=sigma_v, population=population)
    source, source_params = draw_lensed_source(
        rng, bands, pixel_scale, theta_e, galaxy.q, galaxy.pa, x0, y0, population
    )
    params: Params = {
        "z_central": galaxy.z,
        "velocity_dispersion": galaxy.sigma_v,
        "central_r_eff": galaxy.r_eff,
        "central_sersic_n": galaxy.n,
        "central_q": galaxy.q,
        "z_source": z_source,
        **source_params,
        **_mag_columns("mag_central", galaxy.mags, bands),
    }
    return [early_type_component(galaxy, x0, y0, bands), source], params


# --- non-lens centrals ---------------------------------------------------------------


def _central_params(
    z: float, mags: Mapping[str, float], r_eff: float, bands: Sequence[str]
) -> Params:
    return {"z_central": z, "central_r_eff": r_eff, **_mag_columns("mag_central", mags, bands)}


def _disk_size(rng: np.random.Generator, mag_i: float) -> float:
    """Half-light radius (arcsec) of a disk galaxy of i magnitude ``mag_i``."""
    return float(
        np.clip(10 ** (np.log10(1.1) - 0.12 * (mag_i - 20.0) + rng.normal(0, 0.12)), 0.3, 4.0)
    )


def _inclined_axis_ratio(rng: np.random.Generator, thickness: float = 0.15) -> float:
    cos_i = rng.uniform(0.15, 1.0)
    return float(np.sqrt(cos_i**2 * (1 - thickness**2) + thickness**2))


def draw_early_type_central(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """An early type drawn exactly like a lens galaxy (the hardest negatives)."""
    galaxy = draw_early_type(rng, population=population)
    params = _central_params(galaxy.z, galaxy.mags, galaxy.r_eff, bands)
    params.update(velocity_dispersion=galaxy.sigma_v, central_sersic_n=galaxy.n, central_q=galaxy.q)
    return [early_type_component(galaxy, x0, y0, bands)], params


def draw_spiral(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """A bulge + disk + logarithmic arms + star-forming knots."""
    z = float(rng.uniform(0.08, 0.6))
    mag_i = float(rng.uniform(17.8, 21.5))
    r_eff = _disk_size(rng, mag_i) * float(np.clip(1.3 - z, 0.6, 1.2))
    q = _inclined_axis_ratio(rng)
    pa = float(rng.uniform(0, np.pi))
    bulge_fraction = rng.uniform(0.1, 0.5)
    arm_fraction = rng.uniform(0.25, 0.6) * (1 - bulge_fraction)
    disk_fraction = 1 - bulge_fraction - arm_fraction
    total = magnitudes("i", mag_i, star_forming_colours(rng.uniform(0.6, 1.0), z))
    bulge_mags = magnitudes("i", mag_i - 2.5 * np.log10(bulge_fraction), early_type_colours(z))
    disk_mags = magnitudes(
        "i", mag_i - 2.5 * np.log10(disk_fraction), star_forming_colours(rng.uniform(0.5, 0.9), z)
    )
    arm_mags = magnitudes(
        "i", mag_i - 2.5 * np.log10(arm_fraction), star_forming_colours(rng.uniform(0.0, 0.4), z)
    )
    h = r_eff / 1.678
    components: list[Component] = [
        Sersic(
            x0,
            y0,
            r_eff * rng.uniform(0.12, 0.3),
            rng.uniform(2.0, 4.0),
            min(1.0, q + 0.2),
            pa,
            _fluxes(bulge_mags, bands),
        ),
        Sersic(x0, y0, r_eff, 1.0, q, pa, _fluxes(disk_mags, bands)),
        SpiralArms(
            x0,
            y0,
            h * rng.uniform(0.9, 1.3),
            q,
            pa,
            int(rng.choice([2, 2, 3])),
            np.radians(rng.uniform(12, 30)),
            rng.uniform(0, 2 * np.pi),
            _fluxes(arm_mags, bands),
        ),
    ]
    components += _star_forming_knots(rng, bands, x0, y0, r_eff, q, pa, mag_i, z)
    params = _central_params(z, total, r_eff, bands)
    params["central_q"] = q
    return components, params


def _star_forming_knots(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    r_eff: float,
    q: float,
    pa: float,
    mag_host: float,
    z: float,
) -> list[Component]:
    """Compact blue HII-region knots in a disk (they mimic lensed images)."""
    knots: list[Component] = []
    for _ in range(int(rng.poisson(2.0))):
        radius = r_eff * rng.uniform(0.5, 1.8)
        angle = rng.uniform(0, 2 * np.pi)
        local_x = radius * np.cos(angle) / np.sqrt(q)
        local_y = radius * np.sin(angle) * np.sqrt(q)
        kx = x0 + local_x * np.cos(pa) - local_y * np.sin(pa)
        ky = y0 + local_x * np.sin(pa) + local_y * np.cos(pa)
        mags = magnitudes(
            "i", mag_host + rng.uniform(2.0, 4.0), star_forming_colours(rng.uniform(0, 0.2), z)
        )
        knots.append(Sersic(kx, ky, rng.uniform(0.05, 0.15), 0.5, 1.0, 0.0, _fluxes(mags, bands)))
    return knots


def draw_ring_galaxy(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """An early type or S0 with a (often blue) stellar ring, like an Einstein ring."""
    host = draw_early_type(rng, population=population)
    ring_fraction = rng.uniform(0.08, 0.3)
    ring_colours = (
        star_forming_colours(rng.uniform(0.0, 0.5), host.z)
        if rng.uniform() < 0.7
        else early_type_colours(host.z)
    )
    ring_mags = magnitudes("i", host.mags["i"] - 2.5 * np.log10(ring_fraction), ring_colours)
    host_mags = magnitudes(
        "i", host.mags["i"] - 2.5 * np.log10(1 - ring_fraction), early_type_colours(host.z)
    )
    ring_q = float(np.clip(host.q + rng.normal(0, 0.1), 0.3, 1.0))
    components: list[Component] = [
        Sersic(x0, y0, host.r_eff, host.n, host.q, host.pa, _fluxes(host_mags, bands)),
        Ring(
            x0,
            y0,
            rng.uniform(0.9, 2.8),
            rng.uniform(0.08, 0.3),
            ring_q,
            host.pa,
            _fluxes(ring_mags, bands),
        ),
    ]
    params = _central_params(host.z, host.mags, host.r_eff, bands)
    params.update(velocity_dispersion=host.sigma_v, central_sersic_n=host.n, central_q=host.q)
    return components, params


def draw_merger(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """Two galaxies 0.6-3" apart with tidal tails or shells."""
    first = draw_early_type(rng, population=population)
    separation = rng.uniform(0.6, 3.0)
    angle = rng.uniform(0, 2 * np.pi)
    flux_ratio = rng.uniform(0.2, 1.0)
    second_colours = (
        early_type_colours(first.z)
        if rng.uniform() < 0.5
        else star_forming_colours(rng.uniform(0.3, 1.0), first.z)
    )
    second_mags = magnitudes("i", first.mags["i"] - 2.5 * np.log10(flux_ratio), second_colours)
    sx, sy = x0 + separation * np.cos(angle), y0 + separation * np.sin(angle)
    components: list[Component] = [
        early_type_component(first, x0, y0, bands),
        Sersic(
            sx,
            sy,
            first.r_eff * rng.uniform(0.5, 1.0),
            rng.uniform(1.0, 4.0),
            rng.uniform(0.4, 1.0),
            rng.uniform(0, np.pi),
            _fluxes(second_mags, bands),
        ),
    ]
    for _ in range(int(rng.integers(1, 3))):
        tail_mags = magnitudes("i", first.mags["i"] + rng.uniform(1.5, 3.0), second_colours)
        components.append(
            ArcSegment(
                x0 + rng.normal(0, 0.3),
                y0 + rng.normal(0, 0.3),
                separation * rng.uniform(0.8, 2.0),
                rng.uniform(0.15, 0.5),
                angle + rng.normal(0, 1.0),
                rng.uniform(0.4, 1.0),
                _fluxes(tail_mags, bands),
            )
        )
    total = flux_to_mag(_fluxes(first.mags, ("i",)) * (1 + flux_ratio))[0]
    params = _central_params(
        first.z, magnitudes("i", float(total), early_type_colours(first.z)), first.r_eff, bands
    )
    params["merger_separation"] = float(separation)
    return components, params


def draw_edge_on_disk(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """A thin, nearly edge-on disk with a small bulge (elongated like an arc)."""
    z = float(rng.uniform(0.08, 0.6))
    mag_i = float(rng.uniform(18.0, 21.5))
    r_eff = _disk_size(rng, mag_i)
    q = float(rng.uniform(0.1, 0.25))
    pa = float(rng.uniform(0, np.pi))
    bulge_fraction = rng.uniform(0.05, 0.3)
    disk_mags = magnitudes(
        "i",
        mag_i - 2.5 * np.log10(1 - bulge_fraction),
        star_forming_colours(rng.uniform(0.5, 1.0), z),
    )
    bulge_mags = magnitudes("i", mag_i - 2.5 * np.log10(bulge_fraction), early_type_colours(z))
    components: list[Component] = [
        Sersic(x0, y0, r_eff, 1.0, q, pa, _fluxes(disk_mags, bands)),
        Sersic(x0, y0, r_eff * 0.2, 2.5, 0.7, pa, _fluxes(bulge_mags, bands)),
    ]
    params = _central_params(z, magnitudes("i", mag_i, star_forming_colours(0.8, z)), r_eff, bands)
    params["central_q"] = q
    return components, params


def draw_irregular(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """A real, clumpy galaxy shape from the HDF with star-forming colours."""
    z = float(rng.uniform(0.1, 0.6))
    mag_i = float(rng.uniform(18.5, 21.8))
    r_eff = float(np.clip(_disk_size(rng, mag_i) * 0.8, 0.3, 2.5))
    mags = magnitudes("i", mag_i, star_forming_colours(rng.uniform(0.0, 0.7), z))
    index = int(draw_shape_index(rng, population.shape_half))
    component = RealGalaxy(
        x0, y0, index, r_eff, rng.uniform(0, 2 * np.pi), bool(rng.integers(2)), _fluxes(mags, bands)
    )
    return [component], _central_params(z, mags, r_eff, bands)


def draw_large_galaxy(rng: np.random.Generator, bands: Sequence[str], x0: float, y0: float) -> Draw:
    """A bright, nearby galaxy several arcsec across (its outskirts fill a scan window).

    Half are early types (Sersic n 3-5), half disks with a bulge and spiral arms.
    """
    z = float(rng.uniform(0.03, 0.15))
    mag_i = float(rng.uniform(15.5, 18.5))
    r_eff = float(rng.uniform(2.5, 8.0))
    q = float(rng.uniform(0.3, 1.0))
    pa = float(rng.uniform(0, np.pi))
    if rng.uniform() < 0.5:
        mags = magnitudes("i", mag_i, early_type_colours(z))
        components: list[Component] = [
            Sersic(x0, y0, r_eff, rng.uniform(3.0, 5.0), q, pa, _fluxes(mags, bands))
        ]
    else:
        mags = magnitudes("i", mag_i, star_forming_colours(rng.uniform(0.4, 0.9), z))
        arm_fraction = rng.uniform(0.2, 0.5)
        disk_mags = magnitudes("i", mag_i - 2.5 * np.log10(1 - arm_fraction), early_type_colours(z))
        arm_mags = magnitudes(
            "i", mag_i - 2.5 * np.log10(arm_fraction), star_forming_colours(0.2, z)
        )
        components = [
            Sersic(x0, y0, r_eff, 1.0, q, pa, _fluxes(disk_mags, bands)),
            SpiralArms(
                x0,
                y0,
                r_eff / 1.678,
                q,
                pa,
                int(rng.choice([2, 3])),
                np.radians(rng.uniform(12, 30)),
                rng.uniform(0, 2 * np.pi),
                _fluxes(arm_mags, bands),
            ),
        ]
    params = _central_params(z, mags, r_eff, bands)
    params["central_q"] = q
    return components, params


CentralDraw = Callable[[np.random.Generator, Sequence[str], float, float, Population], Draw]

CENTRAL_TYPES: Mapping[str, CentralDraw] = MappingProxyType(
    {
        "early_type": draw_early_type_central,
        "spiral": draw_spiral,
        "ring": draw_ring_galaxy,
        "merger": draw_merger,
        "edge_on": draw_edge_on_disk,
        "irregular": draw_irregular,
    }
)
"""Non-lens central types: name -> draw function (probabilities: ``Population``)."""

SCAN_NEGATIVE_TYPES: tuple[str, ...] = ("empty_sky", "off_centre", "star_halo", "galaxy_piece")
"""Scan-aware negative kinds (see :class:`~lensscan.simulate.families.ScanNegatives`)."""

CENTRAL_TYPE_CODES: tuple[str, ...] = ("lens", *CENTRAL_TYPES, *SCAN_NEGATIVE_TYPES)
"""Codes stored in the ``central_type`` parameter column (index into this tuple)."""


def draw_nonlens_central(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    population: Population = BASELINE_POPULATION,
) -> Draw:
    """A non-lens central galaxy of a type drawn from the population's mixture."""
    names = [name for name in CENTRAL_TYPES if population.central_weights.get(name, 0) > 0]
    weights = np.array([population.central_weights[name] for name in names])
    name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    components, params = CENTRAL_TYPES[name](rng, bands, x0, y0, population)
    params["central_type"] = CENTRAL_TYPE_CODES.index(name)
    return components, params
