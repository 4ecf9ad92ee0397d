"""Priors of the ``hsc-galsim`` family: conditions, deflectors, sources, non-lenses, field.

Every function draws from the ``numpy.random.Generator`` it is given and returns plain
components (:mod:`.components`) and parameters; nothing is rendered here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensscan.simulate.domains.hsc_galsim.components import (
    Component,
    InclinedDisk,
    Knots,
    LensedSource,
    PowerLawLens,
    Ring,
    Sersic,
    Star,
)
from lensscan.simulate.domains.hsc_galsim.photometry import (
    angular_distance,
    angular_distance_between,
    apparent_magnitudes,
    band_flux,
    flux_magnitude,
    observed_magnitudes,
)
from lensscan.simulate.domains.hsc_galsim.render import Conditions
from lensscan.simulate.domains.presets import SurveyPreset

MIN_ARC_SNR = 20.0
"""Matched-filter S/N of the arc light (bands in quadrature) below which a lens is redrawn."""

MIN_MAGNIFICATION = 2.0
"""Total magnification of the source below which a lens is redrawn."""

EINSTEIN_RADIUS_RANGE = (0.6, 3.0)
"""Einstein radii (arcsec) of the deflectors; ellipticals of the non-lenses obey it too."""

CENTRAL_KINDS: Mapping[str, float] = {
    "elliptical": 0.34,
    "clumpy_disk": 0.14,
    "ring": 0.12,
    "edge_on": 0.10,
    "merger": 0.10,
    "blue_companions": 0.20,
}
"""The non-lens centrals and their shares: each a known false positive of lens searches."""

CENTRAL_TYPE_CODES = ("lens", *CENTRAL_KINDS)
"""Codes of the ``central_type`` column."""

_SPEED_OF_LIGHT = 299_792.458  # km/s
_ARCSEC_PER_RADIAN = 206_264.806
_FIELD_GALAXIES_PER_ARCMIN2 = 45.0  # brighter than i = 25.5
_STARS_PER_ARCMIN2 = 1.5  # brighter than i = 23, high latitude
_SEEING_SCATTER = 0.16  # log-normal, common to the bands
_SEEING_BAND_SCATTER = 0.05
_DEPTH_SCATTER = 0.25
_CENTRE_JITTER_ARCSEC = 0.05


def draw_conditions(
    rng: np.random.Generator, preset: SurveyPreset, bands: Sequence[str]
) -> Conditions:
    """Seeing, PSF shear and depth per band, scattered around the survey's medians."""
    common = np.exp(rng.normal(0.0, _SEEING_SCATTER))
    seeing = {
        band: float(
            preset.bands[band].psf_fwhm * common * np.exp(rng.normal(0, _SEEING_BAND_SCATTER))
        )
        for band in bands
    }
    shear = rng.normal(0.0, 0.015, 2)
    depth = {
        band: float(preset.bands[band].depth + rng.normal(0.0, _DEPTH_SCATTER)) for band in bands
    }
    return Conditions(
        bands=tuple(bands),
        seeing=seeing,
        psf_shear=(float(shear[0]), float(shear[1])),
        depth=depth,
        sky_brightness={band: preset.bands[band].sky_brightness for band in bands},
        pixel_scale=preset.pixel_scale,
        size=preset.cutout_size,
    )


def _fluxes(magnitudes: Mapping[str, float]) -> dict[str, float]:
    return {band: band_flux(mag) for band, mag in magnitudes.items()}


def einstein_radius(sigma: float, z_lens: float, z_source: float) -> float:
    """Einstein radius (arcsec) of a singular isothermal sphere."""
    ratio = angular_distance_between(z_lens, z_source) / angular_distance(z_source)
    return float(4 * np.pi * (sigma / _SPEED_OF_LIGHT) ** 2 * ratio * _ARCSEC_PER_RADIAN)


@dataclass(frozen=True)
class Deflector:
    """A massive early type: its light, its mass and the redshifts behind it."""

    light: Sersic
    mass: PowerLawLens
    z_lens: float
    z_source: float
    sigma: float
    magnitudes: Mapping[str, float]


def draw_deflector(rng: np.random.Generator, bands: Sequence[str]) -> Deflector:
    """A deflector whose Einstein radius for its source redshift lies in the allowed range."""
    while True:
        z_lens = float(rng.uniform(0.3, 0.9))
        sigma = float(10 ** rng.normal(2.37, 0.07))
        z_source = float(rng.uniform(z_lens + 0.5, 3.5))
        theta_e = einstein_radius(sigma, z_lens, z_source)
        if EINSTEIN_RADIUS_RANGE[0] <= theta_e <= EINSTEIN_RADIUS_RANGE[1]:
            break
    # Faber-Jackson (L ~ sigma^4) with passive brightening to higher redshift.
    absolute_i = -22.3 - 10.0 * np.log10(sigma / 250.0) - 1.0 * z_lens + rng.normal(0, 0.3)
    magnitudes = observed_magnitudes("E", z_lens, float(absolute_i), bands)
    kpc_per_arcsec = angular_distance(z_lens) * 1e3 / _ARCSEC_PER_RADIAN
    radius_kpc = 10 ** (0.55 + 1.1 * np.log10(sigma / 250.0) + rng.normal(0, 0.12))
    q_light = float(rng.uniform(0.55, 1.0))
    angle = float(rng.uniform(0, np.pi))
    jitter = rng.normal(0.0, _CENTRE_JITTER_ARCSEC, 2)
    light = Sersic(
        x=float(jitter[0]),
        y=float(jitter[1]),
        n=float(np.round(rng.uniform(3.0, 5.5) * 4) / 4),
        half_light_radius=float(np.clip(radius_kpc / kpc_per_arcsec, 0.3, 3.5)),
        q=q_light,
        angle=angle,
        fluxes=_fluxes(magnitudes),
    )
    shear = rng.normal(0.0, 0.04, 2)
    mass = PowerLawLens(
        theta_e=theta_e,
        slope=float(np.clip(rng.normal(2.0, 0.1), 1.8, 2.2)),
        q=float(np.clip(q_light + rng.normal(0.0, 0.08), 0.45, 1.0)),
        angle=float(angle + rng.normal(0.0, 0.15)),
        shear=(float(shear[0]), float(shear[1])),
        x=light.x,
        y=light.y,
    )
    return Deflector(light, mass, z_lens, z_source, sigma, magnitudes)


def draw_source(
    rng: np.random.Generator, bands: Sequence[str], deflector: Deflector
) -> tuple[LensedSource, dict[str, Any]]:
    """A star-forming source inside the deflector's strong-lensing region."""
    mass = deflector.mass
    radius = mass.theta_e * np.sqrt(rng.uniform(0.0, 0.55))
    angle = rng.uniform(0, 2 * np.pi)
    cx, cy = mass.x + radius * np.cos(angle), mass.y + radius * np.sin(angle)
    mag_i = float(rng.uniform(22.8, 25.8))
    knot_share = float(rng.uniform(0.25, 0.7))
    disk_radius = float(rng.uniform(0.08, 0.35))
    q, pa = float(rng.uniform(0.35, 1.0)), float(rng.uniform(0, np.pi))
    disk_mags = apparent_magnitudes(
        "Scd", deflector.z_source, mag_i - 2.5 * np.log10(1 - knot_share), bands
    )
    knot_mags = apparent_magnitudes(
        "Im", deflector.z_source, mag_i - 2.5 * np.log10(knot_share), bands
    )
    n_knots = int(rng.integers(5, 40))
    components: tuple[Component, ...] = (
        Sersic(float(cx), float(cy), 1.0, disk_radius, q, pa, _fluxes(disk_mags)),
        Knots(
            float(cx),
            float(cy),
            n_knots,
            disk_radius * float(rng.uniform(0.8, 1.5)),
            q,
            pa,
            int(rng.integers(1, 2**31 - 1)),
            _fluxes(knot_mags),
        ),
    )
    unlensed = {b: band_flux(disk_mags[b]) + band_flux(knot_mags[b]) for b in bands}
    source = LensedSource(
        mass=mass,
        components=components,
        centre=(float(cx), float(cy)),
        extent=max(0.4, 5.0 * disk_radius),
        unlensed_fluxes=unlensed,
    )
    params = {
        "source_offset": float(radius),
        "source_r_eff": disk_radius,
        "source_n_knots": n_knots,
        **{f"mag_source_{b}": flux_magnitude(unlensed[b]) for b in bands},
    }
    return source, params


def _disk_galaxy(
    rng: np.random.Generator, bands: Sequence[str], x: float, y: float, mag_i: float, z: float
) -> list[Component]:
    """A disk with a bulge and clumps: a clumpy spiral or irregular."""
    radius = float(rng.uniform(0.5, 1.6))
    q, pa = float(rng.uniform(0.4, 1.0)), float(rng.uniform(0, np.pi))
    shares = rng.dirichlet([2.0, 3.0, 2.0])
    parts = (("E", 4.0, 0.25 * radius), ("Sbc", 1.0, radius))
    out: list[Component] = [
        Sersic(
            x,
            y,
            n,
            size,
            q,
            pa,
            _fluxes(apparent_magnitudes(t, z, mag_i - 2.5 * np.log10(s), bands)),
        )
        for (t, n, size), s in zip(parts, shares[:2], strict=True)
    ]
    out.append(
        Knots(
            x,
            y,
            int(rng.integers(10, 60)),
            radius * 1.2,
            q,
            pa,
            int(rng.integers(1, 2**31 - 1)),
            _fluxes(apparent_magnitudes("Im", z, mag_i - 2.5 * np.log10(shares[2]), bands)),
        )
    )
    return out


def _small_blue_galaxy(
    rng: np.random.Generator, bands: Sequence[str], x: float, y: float, mag_i: float
) -> list[Component]:
    z = float(rng.uniform(0.8, 2.5))
    radius = float(rng.uniform(0.08, 0.3))
    q, pa = float(rng.uniform(0.3, 1.0)), float(rng.uniform(0, np.pi))
    mags = apparent_magnitudes("Im", z, mag_i, bands)
    half = {b: f / 2 for b, f in _fluxes(mags).items()}
    seed = int(rng.integers(1, 2**31 - 1))
    return [
        Sersic(x, y, 1.0, radius, q, pa, half),
        Knots(x, y, int(rng.integers(3, 15)), radius, q, pa, seed, half),
    ]


def draw_nonlens_central(
    rng: np.random.Generator, bands: Sequence[str], kind: str
) -> tuple[list[Component], dict[str, Any]]:
    """The central object of a non-lens of ``kind`` (one of :data:`CENTRAL_KINDS`)."""
    jitter = rng.normal(0.0, _CENTRE_JITTER_ARCSEC, 2)
    x, y = float(jitter[0]), float(jitter[1])
    params: dict[str, Any] = {}
    if kind in ("elliptical", "blue_companions"):
        deflector = draw_deflector(rng, bands)
        out: list[Component] = [deflector.light]
        params.update(z_lens=deflector.z_lens, velocity_dispersion=deflector.sigma)
        if kind == "blue_companions":
            for _ in range(int(rng.integers(1, 4))):
                r, a = rng.uniform(1.0, 3.0), rng.uniform(0, 2 * np.pi)
                out += _small_blue_galaxy(
                    rng, bands, x + r * np.cos(a), y + r * np.sin(a), float(rng.uniform(22.0, 24.8))
                )
        return out, params
    z = float(rng.uniform(0.05, 0.6))
    mag_i = float(rng.uniform(18.5, 21.5))
    if kind == "clumpy_disk":
        return _disk_galaxy(rng, bands, x, y, mag_i, z), params
    q, pa = float(rng.uniform(0.5, 1.0)), float(rng.uniform(0, np.pi))
    if kind == "ring":
        ring_share = float(rng.uniform(0.3, 0.7))
        ring_radius = float(rng.uniform(0.8, 3.0))
        inner = float(rng.uniform(0.6, 0.85))
        scale = ring_radius * (1 - inner) / (inner * -np.log(inner))
        bulge_mags = apparent_magnitudes("E", z, mag_i - 2.5 * np.log10(1 - ring_share), bands)
        ring_template = str(rng.choice(["Im", "Scd", "Sbc"]))
        ring_mags = apparent_magnitudes(ring_template, z, mag_i - 2.5 * np.log10(ring_share), bands)
        params["ring_radius"] = ring_radius
        return [
            Sersic(x, y, 4.0, float(rng.uniform(0.2, 0.6)), q, pa, _fluxes(bulge_mags)),
            Ring(x, y, scale, inner, q, pa, _fluxes(ring_mags)),
        ], params
    if kind == "edge_on":
        mags = apparent_magnitudes("Sbc", z, mag_i, bands)
        return [
            InclinedDisk(
                x,
                y,
                float(rng.uniform(0.4, 1.2)),
                float(np.radians(rng.uniform(75.0, 89.0))),
                float(rng.uniform(0.08, 0.2)),
                pa,
                _fluxes(mags),
            )
        ], params
    # merger: two galaxies 0.8-2.5" apart, one of them clumpy
    separation, a = rng.uniform(0.8, 2.5), rng.uniform(0, 2 * np.pi)
    dx, dy = separation * np.cos(a) / 2, separation * np.sin(a) / 2
    first = apparent_magnitudes("E", z, mag_i + 0.4, bands)
    params["merger_separation"] = float(separation)
    return [
        Sersic(x + dx, y + dy, 3.0, float(rng.uniform(0.3, 0.9)), q, pa, _fluxes(first)),
        *_disk_galaxy(rng, bands, x - dx, y - dy, mag_i + float(rng.uniform(0.4, 1.5)), z),
    ], params


def _power_law_magnitudes(
    rng: np.random.Generator, count: int, bright: float, faint: float, slope: float
) -> np.ndarray:
    """Magnitudes with dN/dm ~ 10^(slope m) between ``bright`` and ``faint``."""
    a, b = 10 ** (slope * bright), 10 ** (slope * faint)
    return np.log10(a + rng.uniform(0, 1, count) * (b - a)) / slope


def draw_field(
    rng: np.random.Generator, bands: Sequence[str], half_side: float
) -> tuple[list[Component], int, int]:
    """Field galaxies and stars over a square of half-side ``half_side`` arcsec.

    Returns:
        The components, the number of galaxies and the number of stars.
    """
    area = (2 * half_side / 60.0) ** 2
    components: list[Component] = []
    galaxy_mags = _power_law_magnitudes(
        rng, int(rng.poisson(_FIELD_GALAXIES_PER_ARCMIN2 * area)), 19.0, 25.5, 0.33
    )
    for mag in galaxy_mags:
        x, y = rng.uniform(-half_side, half_side, 2)
        template = str(rng.choice(["E", "Sbc", "Scd", "Im"]))
        z = float(rng.uniform(0.2, 2.0))
        size = float(np.clip(0.9 * 10 ** (-0.12 * (mag - 21.0)) * rng.lognormal(0, 0.3), 0.08, 2.5))
        components.append(
            Sersic(
                float(x),
                float(y),
                float(np.round(rng.uniform(0.8, 4.5) * 4) / 4),
                size,
                float(rng.uniform(0.3, 1.0)),
                float(rng.uniform(0, np.pi)),
                _fluxes(apparent_magnitudes(template, z, float(mag), bands)),
            )
        )
    star_mags = _power_law_magnitudes(
        rng, int(rng.poisson(_STARS_PER_ARCMIN2 * area)), 15.0, 23.0, 0.15
    )
    for mag in star_mags:
        x, y = rng.uniform(-half_side, half_side, 2)
        g_r = float(rng.uniform(0.3, 1.5))
        colours = {"g": g_r, "r": 0.0, "i": -0.4 * g_r + 0.05, "z": -0.6 * g_r, "y": -0.7 * g_r}
        components.append(Star(float(x), float(y), {b: band_flux(mag + colours[b]) for b in bands}))
    return components, len(galaxy_mags), len(star_mags)
