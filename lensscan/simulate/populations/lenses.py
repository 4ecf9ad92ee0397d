"""Strong lens systems: Einstein radii, lensed sources and the deflector's light.

* Einstein radius of an SIS, ``4 pi (sigma/c)^2 D_ls/D_s``, from the lensing-weighted
  velocity dispersion of an early type at z ~ 0.3-0.8 and a source at z ~ 1-3; kept in
  the population's range (0.6-2.8" for the baseline) and thinned below ~1" where arcs
  hide in the seeing (median ~1.1").
* Sources are faint, blue, z ~ 1-3 star-forming galaxies, 0.05-0.6" in size: either a
  Sersic profile with star-forming clumps or a real galaxy shape from the HDF, lensed by
  an SIE plus external shear aligned with the deflector's light.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lensscan.simulate.physics.colours import band_fluxes, magnitudes
from lensscan.simulate.physics.components import Component
from lensscan.simulate.physics.cosmology import sis_einstein_radius
from lensscan.simulate.physics.galaxies import RealGalaxy, draw_shape_index
from lensscan.simulate.physics.lensing import LensedSource, SIEShear, lensed_fluxes
from lensscan.simulate.physics.photometry import flux_to_mag
from lensscan.simulate.physics.profiles import Sersic
from lensscan.simulate.populations.early_types import (
    LENS_REDSHIFT_RANGE,
    draw_early_type,
    draw_velocity_dispersion,
    early_type_component,
)
from lensscan.simulate.populations.population import (
    BASELINE_POPULATION,
    Draw,
    Params,
    Population,
    magnitude_columns,
)

SOURCE_REDSHIFT_RANGE = (1.0, 3.0)


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
        part = RealGalaxy(
            x0, y0, index, r_eff, pa, bool(rng.integers(2)), band_fluxes(total, bands)
        )
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
            band_fluxes(body_mags, bands),
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
                band_fluxes(magnitudes("r", clump_mag, clump_colours), bands),
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
        **magnitude_columns("mag_central", galaxy.mags, bands),
    }
    return [early_type_component(galaxy, x0, y0, bands), source], params
