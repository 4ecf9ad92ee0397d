"""Things that fool lens finders: neighbours, blue companions, stars and image artefacts.

Populations (the same for lenses and non-lenses, so none of them reveals the label):

* neighbours: galaxies from deep i-band number counts (log N(<m) rises 0.33 dex/mag,
  about 1.3e5 per deg^2 brighter than i = 25), early and late types and real HDF shapes;
* blue companions: compact blue galaxies 1-3.5" from the central, half of them stretched
  tangentially like arclets;
* stars: high-latitude star counts, bright ones with diffraction spikes and optical ghosts;
* artefacts: satellite trails surviving in one band, sky-subtraction residuals
  (gradients, dark halos) and no-data edges (set to 0 like HSC NO_DATA pixels).

Artefact brightness is set relative to the image's sky noise, since that is what decides
whether a finder sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lensscan.simulate.physics.colours import (
    band_fluxes,
    early_type_colours,
    fluxes_from_i,
    magnitudes,
    star_forming_colours,
    stellar_locus_colours,
)
from lensscan.simulate.physics.components import Component, box_around
from lensscan.simulate.physics.galaxies import RealGalaxy, draw_shape_index
from lensscan.simulate.physics.profiles import Ring, Sersic
from lensscan.simulate.physics.psf import PSF, PointSource, point_source_extent

ARCSEC2_PER_DEG2 = 3600.0**2

GALAXY_COUNT_SLOPE = 0.33
GALAXY_COUNT_AT_25 = 10**5.1  # galaxies per deg^2 brighter than i = 25
STAR_COUNT_SLOPE = 0.13
STAR_COUNT_AT_20 = 10**3.3  # stars per deg^2 brighter than i = 20 at high latitude

SPIKE_ANGLE = 0.0
"""Orientation of diffraction spikes (radians): HSC's spider gives a '+' on the sky."""


def cumulative_count(mag: float, slope: float, count_at_pivot: float, pivot: float) -> float:
    """Objects per deg^2 brighter than ``mag`` for a power-law count."""
    return count_at_pivot * 10 ** (slope * (mag - pivot))


def draw_count_magnitudes(
    rng: np.random.Generator,
    area_deg2: float,
    mag_range: tuple[float, float],
    slope: float,
    count_at_pivot: float,
    pivot: float,
) -> np.ndarray:
    """Poisson-many magnitudes from a power-law number count over an area."""
    low, high = (cumulative_count(m, slope, count_at_pivot, pivot) for m in mag_range)
    number = rng.poisson((high - low) * area_deg2)
    return (
        pivot + np.log10((low + rng.uniform(size=number) * (high - low)) / count_at_pivot) / slope
    )


FIELD_EARLY_FRACTION = 0.3
FIELD_REAL_SHAPE_FRACTION = 0.15


def draw_field_galaxies(
    rng: np.random.Generator,
    bands: Sequence[str],
    x: np.ndarray,
    y: np.ndarray,
    mag_i: np.ndarray,
    shape_half: int | None = None,
) -> list[Component]:
    """Generic galaxies at positions ``x, y`` with i magnitudes ``mag_i`` (vectorised).

    ``shape_half`` picks the half of the real-shape library used (see
    :func:`~lensscan.simulate.physics.galaxies.draw_shape_index`).

    30% are early types (red, Sersic n 2.5-5), 15% real HDF shapes and the rest
    star-forming Sersic disks; fainter galaxies are smaller and lie further away.
    """
    number = len(mag_i)
    if number == 0:
        return []
    z = np.clip(0.25 + 0.12 * (mag_i - 20.0) + rng.normal(0, 0.2, number), 0.05, 1.5)
    r_eff = np.clip(
        10 ** (np.log10(0.35) - 0.12 * (mag_i - 24.0) + rng.normal(0, 0.18, number)), 0.06, 3.0
    )
    pa = rng.uniform(0, np.pi, number)
    kind = rng.uniform(size=number)
    early = kind < FIELD_EARLY_FRACTION
    real = (~early) & (kind < FIELD_EARLY_FRACTION + FIELD_REAL_SHAPE_FRACTION)
    colours = np.where(
        early[:, None],
        early_type_colours(z) + rng.normal(0, 0.05, (number, 4)),
        star_forming_colours(rng.uniform(0.0, 1.0, number), z),
    )
    fluxes = fluxes_from_i(mag_i, colours, bands)
    sersic_n = np.where(early, rng.uniform(2.5, 5.0, number), rng.uniform(0.6, 1.6, number))
    q = np.where(early, rng.uniform(0.5, 1.0, number), rng.uniform(0.2, 1.0, number))
    size = np.where(early, 0.7 * r_eff, r_eff)
    index = draw_shape_index(rng, shape_half, size=number)
    flip = rng.integers(2, size=number).astype(bool)
    galaxies: list[Component] = []
    for k in range(number):
        if real[k]:
            galaxies.append(
                RealGalaxy(
                    float(x[k]),
                    float(y[k]),
                    int(index[k]),
                    float(size[k]),
                    float(pa[k]),
                    bool(flip[k]),
                    fluxes[k],
                )
            )
        else:
            galaxies.append(
                Sersic(
                    float(x[k]),
                    float(y[k]),
                    float(size[k]),
                    float(sersic_n[k]),
                    float(q[k]),
                    float(pa[k]),
                    fluxes[k],
                )
            )
    return galaxies


def draw_neighbours(
    rng: np.random.Generator,
    bands: Sequence[str],
    half_size: float,
    mag_range: tuple[float, float] = (17.0, 26.0),
    keep_out: float = 1.2,
    shape_half: int | None = None,
) -> list[Component]:
    """Galaxies scattered over a square of half-size ``half_size`` arcsec around the centre.

    Galaxies closer than ``keep_out`` to the centre are dropped (blue companions model the
    close ones).
    """
    area = (2 * half_size) ** 2 / ARCSEC2_PER_DEG2
    mags = draw_count_magnitudes(rng, area, mag_range, GALAXY_COUNT_SLOPE, GALAXY_COUNT_AT_25, 25.0)
    x, y = rng.uniform(-half_size, half_size, (2, len(mags)))
    keep = np.hypot(x, y) >= keep_out
    return draw_field_galaxies(rng, bands, x[keep], y[keep], mags[keep], shape_half)


def draw_blue_companions(rng: np.random.Generator, bands: Sequence[str]) -> list[Component]:
    """1-3 compact blue galaxies near the central; half are tangential arclet look-alikes."""
    companions: list[Component] = []
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(1.0, 3.5)
        angle = rng.uniform(0, 2 * np.pi)
        tangential = rng.uniform() < 0.5
        mags = magnitudes(
            "g", rng.uniform(22.5, 25.0), star_forming_colours(rng.uniform(0.0, 0.3), 1.0)
        )
        companions.append(
            Sersic(
                radius * np.cos(angle),
                radius * np.sin(angle),
                rng.uniform(0.08, 0.3),
                rng.uniform(0.5, 1.5),
                rng.uniform(0.25, 0.6) if tangential else rng.uniform(0.4, 1.0),
                angle + np.pi / 2 if tangential else rng.uniform(0, np.pi),
                band_fluxes(mags, bands),
            )
        )
    return companions


@dataclass(frozen=True, eq=False)
class DiffractionSpikes(Component):
    """Four spikes of a bright star, fading as (1 + t/length)^-2 along each arm.

    Attributes:
        x0: Star position x (arcsec).
        y0: Star position y (arcsec).
        length: Fading length of the spikes (arcsec).
        width: Gaussian half-width across the spikes (arcsec).
        angle: Orientation of the first arm (radians).
        fluxes: Total flux in the spikes per band.
    """

    x0: float
    y0: float
    length: float
    width: float
    angle: float
    fluxes: np.ndarray
    oversample: int = 1
    core_oversample: int = 1

    def bounds(self) -> tuple[float, float, float, float]:
        """Box reaching 30 fading lengths."""
        extent = 30.0 * self.length
        return box_around(self.x0, self.y0, extent)

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness."""
        dx, dy = x - self.x0, y - self.y0
        total = 0.0
        for arm in range(4):
            direction = self.angle + arm * np.pi / 2
            along = dx * np.cos(direction) + dy * np.sin(direction)
            across = -dx * np.sin(direction) + dy * np.cos(direction)
            fade = np.where(along > 0, (1.0 + np.clip(along, 0, None) / self.length) ** -2, 0.0)
            total = total + fade * np.exp(-0.5 * (across / self.width) ** 2)
        return total / (4.0 * self.length * self.width * np.sqrt(2 * np.pi))


@dataclass(frozen=True, eq=False)
class SatelliteTrail(Component):
    """A straight trail across the image (a residual left by the coadd's clipping).

    Attributes:
        x0: A point on the trail, x (arcsec).
        y0: A point on the trail, y (arcsec).
        angle: Direction of the trail (radians).
        width: Gaussian width across (arcsec).
        fluxes: Peak surface brightness per band (flux per arcsec^2).
    """

    x0: float
    y0: float
    angle: float
    width: float
    fluxes: np.ndarray
    oversample: int = 1
    core_oversample: int = 1

    def bounds(self) -> tuple[float, float, float, float]:
        """Unbounded in practice: the renderer clips it to the canvas."""
        return -1e6, 1e6, -1e6, 1e6

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Peak-normalised profile."""
        across = -(x - self.x0) * np.sin(self.angle) + (y - self.y0) * np.cos(self.angle)
        return np.exp(-0.5 * (across / self.width) ** 2)


@dataclass(frozen=True, eq=False)
class SkyResidual(Component):
    """A sky-subtraction residual: a gradient plus a broad dark (over-subtracted) halo.

    Attributes:
        x0: Halo centre x (arcsec).
        y0: Halo centre y (arcsec).
        halo_sigma: Gaussian width of the halo (arcsec).
        gradient_angle: Direction of the gradient (radians).
        gradient_scale: Distance over which the gradient changes by one unit (arcsec;
            ``inf`` for a halo alone).
        fluxes: Amplitude per band (flux per arcsec^2); the halo dips by this amount.
        extent: Half-size of the affected box (arcsec); unbounded by default.
    """

    x0: float
    y0: float
    halo_sigma: float
    gradient_angle: float
    gradient_scale: float
    fluxes: np.ndarray
    extent: float = 1e6
    oversample: int = 1
    core_oversample: int = 1

    def bounds(self) -> tuple[float, float, float, float]:
        """The affected box (the renderer clips it to the canvas)."""
        return box_around(self.x0, self.y0, self.extent)

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Peak-normalised residual."""
        dx, dy = x - self.x0, y - self.y0
        along = (
            dx * np.cos(self.gradient_angle) + dy * np.sin(self.gradient_angle)
        ) / self.gradient_scale
        return 0.5 * along - np.exp(-0.5 * (dx * dx + dy * dy) / self.halo_sigma**2)


@dataclass(frozen=True)
class NoDataEdge:
    """A region without data (0 in every band, like HSC NO_DATA), beyond a straight edge.

    Attributes:
        angle: Direction of the edge's normal (radians).
        distance: Distance of the edge from the scene origin (arcsec).
    """

    angle: float
    distance: float

    def mask(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """True where there is no data, at broadcastable arcsec coordinates."""
        return x * np.cos(self.angle) + y * np.sin(self.angle) > self.distance


@dataclass(frozen=True)
class ContaminantRates:
    """Probabilities of each contaminant in one cutout."""

    blue_companions: float = 0.3
    bright_star: float = 0.04
    satellite_trail: float = 0.02
    ghost: float = 0.03
    sky_residual: float = 0.2
    no_data: float = 0.03


def draw_star(
    rng: np.random.Generator,
    bands: Sequence[str],
    psfs: Sequence[PSF],
    x0: float,
    y0: float,
    mag_i: float,
    floor: float,
) -> list[Component]:
    """A star on the stellar locus; bright stars get diffraction spikes."""
    mags = magnitudes("i", mag_i, stellar_locus_colours(rng.uniform(0.25, 1.5)))
    fluxes = band_fluxes(mags, bands)
    extent = point_source_extent(fluxes, psfs, floor)
    star: list[Component] = [PointSource(x0, y0, fluxes, tuple(psfs), extent)]
    if mag_i < 18.5:
        length = 0.4 * 10 ** (-0.2 * (mag_i - 16.0))
        star.append(
            DiffractionSpikes(
                x0,
                y0,
                length,
                0.12,
                SPIKE_ANGLE + rng.normal(0, 0.02),
                fluxes * rng.uniform(0.004, 0.012),
            )
        )
    return star


def draw_ghost(
    rng: np.random.Generator,
    bands: Sequence[str],
    x0: float,
    y0: float,
    pixel_sigma: np.ndarray,
    pixel_scale: float,
) -> Ring:
    """A large, faint optical ghost (doughnut), present in one or two bands."""
    radius = rng.uniform(2.0, 8.0)
    width = rng.uniform(0.5, 2.0) * radius / 4
    present = rng.uniform(size=len(bands)) < 0.6
    present[rng.integers(len(bands))] = True
    peak = rng.uniform(0.5, 2.0) * pixel_sigma * present / pixel_scale**2
    norm = 2 * np.pi * radius * width * np.sqrt(2 * np.pi)
    return Ring(x0, y0, radius, width, 1.0, 0.0, peak * norm)


def draw_trail(
    rng: np.random.Generator,
    bands: Sequence[str],
    pixel_sigma: np.ndarray,
    pixel_scale: float,
    half_size: float,
) -> SatelliteTrail:
    """A satellite trail in one band, crossing the central region."""
    amplitude = np.zeros(len(bands))
    band = int(rng.integers(len(bands)))
    amplitude[band] = rng.uniform(1.0, 6.0) * pixel_sigma[band] / pixel_scale**2
    return SatelliteTrail(
        *rng.uniform(-half_size, half_size, 2),
        rng.uniform(0, np.pi),
        rng.uniform(0.15, 0.4),
        amplitude,
    )


def draw_sky_residual(
    rng: np.random.Generator, pixel_sigma: np.ndarray, pixel_scale: float, half_size: float
) -> SkyResidual:
    """A gradient plus a dark halo, at 0.2-1 sky sigma, correlated across bands."""
    amplitude = rng.uniform(0.2, 1.0) * pixel_sigma * rng.uniform(0.6, 1.0, len(pixel_sigma))
    return SkyResidual(
        *rng.uniform(-half_size, half_size, 2),
        rng.uniform(2.0, 6.0),
        rng.uniform(0, 2 * np.pi),
        rng.uniform(5.0, 20.0),
        amplitude / pixel_scale**2,
    )
