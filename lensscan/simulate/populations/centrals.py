"""The central galaxies of non-lens cutouts, each a kind that lens finders mistake for lenses.

Early types drawn exactly as lens galaxies (so the central alone does not reveal the
label), spirals with star-forming knots, ring galaxies, mergers with tidal features,
edge-on disks and irregulars, weighed by a family's
:class:`~lensscan.simulate.populations.population.Population`. Large nearby galaxies fill
the scan-aware negatives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import numpy as np

from lensscan.simulate.physics.colours import (
    band_fluxes,
    early_type_colours,
    magnitudes,
    star_forming_colours,
)
from lensscan.simulate.physics.components import Component
from lensscan.simulate.physics.galaxies import RealGalaxy, draw_shape_index
from lensscan.simulate.physics.photometry import flux_to_mag
from lensscan.simulate.physics.profiles import ArcSegment, Ring, Sersic, SpiralArms
from lensscan.simulate.populations.early_types import draw_early_type, early_type_component
from lensscan.simulate.populations.population import (
    BASELINE_POPULATION,
    Draw,
    Params,
    Population,
    magnitude_columns,
)


def _central_params(
    z: float, mags: Mapping[str, float], r_eff: float, bands: Sequence[str]
) -> Params:
    return {"z_central": z, "central_r_eff": r_eff, **magnitude_columns("mag_central", mags, bands)}


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
            band_fluxes(bulge_mags, bands),
        ),
        Sersic(x0, y0, r_eff, 1.0, q, pa, band_fluxes(disk_mags, bands)),
        SpiralArms(
            x0,
            y0,
            h * rng.uniform(0.9, 1.3),
            q,
            pa,
            int(rng.choice([2, 2, 3])),
            np.radians(rng.uniform(12, 30)),
            rng.uniform(0, 2 * np.pi),
            band_fluxes(arm_mags, bands),
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
        knots.append(
            Sersic(kx, ky, rng.uniform(0.05, 0.15), 0.5, 1.0, 0.0, band_fluxes(mags, bands))
        )
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
        Sersic(x0, y0, host.r_eff, host.n, host.q, host.pa, band_fluxes(host_mags, bands)),
        Ring(
            x0,
            y0,
            rng.uniform(0.9, 2.8),
            rng.uniform(0.08, 0.3),
            ring_q,
            host.pa,
            band_fluxes(ring_mags, bands),
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
            band_fluxes(second_mags, bands),
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
                band_fluxes(tail_mags, bands),
            )
        )
    total = flux_to_mag(band_fluxes(first.mags, ("i",)) * (1 + flux_ratio))[0]
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
        Sersic(x0, y0, r_eff, 1.0, q, pa, band_fluxes(disk_mags, bands)),
        Sersic(x0, y0, r_eff * 0.2, 2.5, 0.7, pa, band_fluxes(bulge_mags, bands)),
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
        x0,
        y0,
        index,
        r_eff,
        rng.uniform(0, 2 * np.pi),
        bool(rng.integers(2)),
        band_fluxes(mags, bands),
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
            Sersic(x0, y0, r_eff, rng.uniform(3.0, 5.0), q, pa, band_fluxes(mags, bands))
        ]
    else:
        mags = magnitudes("i", mag_i, star_forming_colours(rng.uniform(0.4, 0.9), z))
        arm_fraction = rng.uniform(0.2, 0.5)
        disk_mags = magnitudes("i", mag_i - 2.5 * np.log10(1 - arm_fraction), early_type_colours(z))
        arm_mags = magnitudes(
            "i", mag_i - 2.5 * np.log10(arm_fraction), star_forming_colours(0.2, z)
        )
        components = [
            Sersic(x0, y0, r_eff, 1.0, q, pa, band_fluxes(disk_mags, bands)),
            SpiralArms(
                x0,
                y0,
                r_eff / 1.678,
                q,
                pa,
                int(rng.choice([2, 3])),
                np.radians(rng.uniform(12, 30)),
                rng.uniform(0, 2 * np.pi),
                band_fluxes(arm_mags, bands),
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
"""Scan-aware negative kinds (see :class:`~lensscan.simulate.domains.families.ScanNegatives`)."""

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
