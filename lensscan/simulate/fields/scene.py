"""Everything on an HSC-like coadd patch, drawn: galaxies, stars, artefacts and lenses.

A patch is drawn from the same populations as the ``hsc`` cutout domain (no duplicated
physics): galaxies from i-band number counts (brighter than i = 21 drawn as cutout
centrals: early types, spirals, rings, mergers ...), stars with spikes, ghosts and dark
sky-subtraction halos around bright stars, an occasional satellite trail, no-data strips
along the patch edge, and lens systems at known positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensscan.errors import SettingError
from lensscan.simulate.domains.conditions import ObservingConditions, draw_conditions
from lensscan.simulate.domains.families import FAMILIES
from lensscan.simulate.domains.presets import HSC_WIDE
from lensscan.simulate.fields.request import FieldRequest
from lensscan.simulate.physics.components import Component
from lensscan.simulate.physics.photometry import flux_to_mag
from lensscan.simulate.populations.centrals import draw_nonlens_central
from lensscan.simulate.populations.contaminants import (
    ARCSEC2_PER_DEG2,
    GALAXY_COUNT_AT_25,
    GALAXY_COUNT_SLOPE,
    STAR_COUNT_AT_20,
    STAR_COUNT_SLOPE,
    SkyResidual,
    draw_count_magnitudes,
    draw_field_galaxies,
    draw_ghost,
    draw_star,
    draw_trail,
)
from lensscan.simulate.populations.lenses import draw_lens_system

BRIGHT_GALAXY_MAG = 21.0  # brighter galaxies are drawn as cutout centrals (all types)
GALAXY_MAG_RANGE = (16.0, 26.0)
STAR_MAG_RANGE = (16.0, 25.0)
BRIGHT_STARS_PER_DEG2 = 50.0  # stars with i = 12-16 at high galactic latitude
GHOST_MAG, MASK_MAG = 15.0, 17.5
LENS_MARGIN_PX = 48
MIN_LENS_SEPARATION_PX = 80
_STREAMS = ("conditions", "edges", "galaxies", "lenses", "stars", "artefacts", "noise")


@dataclass
class FieldScene:
    """Everything drawn for one patch.

    Attributes:
        conditions: One PSF and depth per band for the whole patch.
        galaxies: Galaxy and lens components (convolved with the PSF).
        direct: Stars, spikes, ghosts, halos and trails (already PSF-shaped).
        no_data: Per band, (H, W) boolean mask of pixels without data.
        lenses: Truth rows of the injected lenses.
        objects: Rows of every injected object (galaxies, stars, lenses).
        bright_stars: (x, y, radius) in pixels of BRIGHT_OBJECT masks.
    """

    conditions: ObservingConditions
    galaxies: list[Component]
    direct: list[Component]
    no_data: np.ndarray
    lenses: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    bright_stars: list[tuple[float, float, float]]


def field_streams(seed: int) -> dict[str, np.random.Generator]:
    """One generator per part of a patch, from the run's seed alone.

    Each part draws from its own stream, so changing how one part is drawn leaves the
    others as they were; the noise stream is used when the patch is rendered.
    """
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)
    }


def _no_data_masks(rng: np.random.Generator, size: int, n_bands: int) -> np.ndarray:
    """Strips without data along one or two patch edges, a few pixels different per band.

    A patch at the edge of a tract or of the survey has no inputs along its border; the
    coadds of different bands cover slightly different areas.
    """
    masks = np.zeros((n_bands, size, size), bool)
    sides = rng.permutation(4)[: 1 + int(rng.uniform() < 0.5)]
    rows = np.arange(size)
    for side in sides:
        width = rng.uniform(0.01, 0.06) * size
        wobble = rng.uniform(0.0, 0.01) * size * np.sin(rows / size * 2 * np.pi * rng.uniform(1, 3))
        for band in range(n_bands):
            edge = np.clip(width + wobble + rng.uniform(-3, 3), 0, size)
            strip = np.arange(size)[None, :] < edge[:, None]  # (along edge, into patch)
            oriented = {0: strip, 1: strip[:, ::-1], 2: strip.T, 3: strip.T[::-1, :]}[int(side)]
            masks[band] |= oriented
    return masks


def _place_lenses(rng: np.random.Generator, n: int, size: int, no_data: np.ndarray) -> np.ndarray:
    """Lens centres (n, 2) in pixels, away from edges, no-data and each other."""
    usable = ~no_data.any(axis=0)
    positions: list[np.ndarray] = []
    for _ in range(200 * max(n, 1)):
        if len(positions) == n:
            break
        candidate = rng.uniform(LENS_MARGIN_PX, size - 1 - LENS_MARGIN_PX, 2)
        col, row = int(candidate[0]), int(candidate[1])
        window = usable[
            max(row - LENS_MARGIN_PX, 0) : row + LENS_MARGIN_PX,
            max(col - LENS_MARGIN_PX, 0) : col + LENS_MARGIN_PX,
        ]
        if not window.all():
            continue
        if (
            positions
            and np.min(np.hypot(*(np.array(positions) - candidate).T)) < MIN_LENS_SEPARATION_PX
        ):
            continue
        positions.append(candidate)
    if len(positions) < n:
        raise SettingError("n_lenses", n, f"too many lenses for a {size}x{size} px patch")
    return np.array(positions).reshape(n, 2)


def _mag_entries(prefix: str, fluxes: np.ndarray, bands: Sequence[str]) -> dict[str, float]:
    return {
        f"{prefix}_{band}": float(m) for band, m in zip(bands, flux_to_mag(fluxes), strict=True)
    }


def draw_field(request: FieldRequest) -> FieldScene:
    """Draw every object, artefact and lens of a patch."""
    rngs = field_streams(request.seed)
    bands, size, scale = request.bands, request.size, HSC_WIDE.pixel_scale
    family = FAMILIES[request.family]
    population = family.population
    conditions = draw_conditions(rngs["conditions"], HSC_WIDE, bands, family.conditions)
    no_data = _no_data_masks(rngs["edges"], size, len(bands))
    side = size * scale
    area = side**2 / ARCSEC2_PER_DEG2
    galaxies: list[Component] = []
    objects: list[dict[str, Any]] = []

    rng = rngs["galaxies"]
    mags = draw_count_magnitudes(
        rng, area, GALAXY_MAG_RANGE, GALAXY_COUNT_SLOPE, GALAXY_COUNT_AT_25, 25.0
    )
    xs, ys = rng.uniform(0, side, (2, len(mags)))
    bright = mags < BRIGHT_GALAXY_MAG
    for x, y in zip(xs[bright], ys[bright], strict=True):
        components, params = draw_nonlens_central(rng, bands, float(x), float(y), population)
        galaxies += components
        objects.append(
            {
                "kind": "galaxy",
                "x": x / scale,
                "y": y / scale,
                **{f"mag_{b}": params[f"mag_central_{b}"] for b in bands},
            }
        )
    faint = draw_field_galaxies(
        rng, bands, xs[~bright], ys[~bright], mags[~bright], population.shape_half
    )
    galaxies += faint
    objects += [
        {
            "kind": "galaxy",
            "x": g.x0 / scale,
            "y": g.y0 / scale,
            **_mag_entries("mag", g.fluxes, bands),
        }
        for g in faint
    ]

    lenses: list[dict[str, Any]] = []
    rng = rngs["lenses"]
    for index, (col, row) in enumerate(_place_lenses(rng, request.n_lenses, size, no_data)):
        components, params = draw_lens_system(
            rng, bands, scale, float(col * scale), float(row * scale), population
        )
        galaxies += components
        lenses.append({"id": index, "x": float(col), "y": float(row), **params})
        objects.append(
            {
                "kind": "lens",
                "x": float(col),
                "y": float(row),
                **{f"mag_{b}": params[f"mag_central_{b}"] for b in bands},
            }
        )

    direct: list[Component] = []
    bright_stars: list[tuple[float, float, float]] = []
    rng = rngs["stars"]
    sigma = conditions.noise.pixel_sigma
    floor = 0.1 * float(sigma.min()) / scale**2
    star_mags = np.concatenate(
        [
            draw_count_magnitudes(
                rng, area, STAR_MAG_RANGE, STAR_COUNT_SLOPE, STAR_COUNT_AT_20, 20.0
            ),
            rng.uniform(12.0, 16.0, rng.poisson(BRIGHT_STARS_PER_DEG2 * area)),
        ]
    )
    for mag in star_mags:
        x, y = rng.uniform(0, side, 2)
        star = draw_star(rng, bands, conditions.psfs, float(x), float(y), float(mag), floor)
        direct += star
        objects.append(
            {
                "kind": "star",
                "x": x / scale,
                "y": y / scale,
                **_mag_entries("mag", star[0].fluxes, bands),
            }
        )
        if mag < MASK_MAG:
            bright_stars.append(
                (x / scale, y / scale, 5.0 * 10 ** (0.2 * (MASK_MAG - mag)) / scale)
            )
        if mag < GHOST_MAG:
            offset = rng.uniform(10.0, 60.0) * np.exp(1j * rng.uniform(0, 2 * np.pi))
            direct.append(draw_ghost(rng, bands, x + offset.real, y + offset.imag, sigma, scale))
            # Background over-subtraction leaves a dark halo around very bright stars.
            halo = rng.uniform(5.0, 15.0)
            amplitude = rng.uniform(0.2, 0.6) * sigma / scale**2
            direct.append(
                SkyResidual(float(x), float(y), halo, 0.0, np.inf, amplitude, extent=4 * halo)
            )

    rng = rngs["artefacts"]
    if rng.uniform() < 0.3:
        direct.append(draw_trail(rng, bands, sigma, scale, side / 2))
    return FieldScene(conditions, galaxies, direct, no_data, lenses, objects, bright_stars)
