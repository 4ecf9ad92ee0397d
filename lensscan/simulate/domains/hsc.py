"""The HSC Wide-like domains: realistic lenses, hard negatives, contaminants, noise.

One cutout is drawn as a scene, with the numbers of one simulator family
(:mod:`lensscan.simulate.domains.families`: baseline, training or held-out):

1. observing conditions (PSF and depth per band, scattered around HSC medians);
2. the central galaxy at the cutout centre (plus a small offset): a lens system
   (:func:`~lensscan.simulate.populations.lenses.draw_lens_system`) or a non-lens
   central of a random type (early type, spiral, ring, merger, edge-on disk, irregular),
   or, for a family with scan-aware negatives, what a scan sees between galaxies (empty
   sky, an off-centre galaxy, a bright star's halo, the outskirts of a large galaxy);
3. contaminants, independent of the label: neighbours from number counts, blue
   companions, stars (bright ones with spikes), ghosts, satellite trails, sky-subtraction
   residuals, no-data edges.

Rendering adds the galaxies to a padded canvas, convolves each band with its PSF by FFT,
adds stars and artefacts (already PSF-shaped), crops, adds correlated sky noise and
object shot noise, and zeroes no-data pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any

import numpy as np

from lensscan.simulate.domains.conditions import ObservingConditions, draw_conditions
from lensscan.simulate.domains.families import BASELINE, SimulationFamily
from lensscan.simulate.domains.presets import SurveyPreset
from lensscan.simulate.physics.components import Component
from lensscan.simulate.physics.psf import psf_kernels
from lensscan.simulate.physics.render import Frame, add_components, convolve_periodic
from lensscan.simulate.populations.centrals import (
    CENTRAL_TYPE_CODES,
    draw_large_galaxy,
    draw_nonlens_central,
)
from lensscan.simulate.populations.contaminants import (
    ARCSEC2_PER_DEG2,
    STAR_COUNT_AT_20,
    STAR_COUNT_SLOPE,
    ContaminantRates,
    NoDataEdge,
    draw_blue_companions,
    draw_count_magnitudes,
    draw_ghost,
    draw_neighbours,
    draw_sky_residual,
    draw_star,
    draw_trail,
)
from lensscan.simulate.populations.lenses import draw_lens_system

PAD_PX = 16
"""Canvas padding around the cutout: room for neighbours' light and the FFT's wrap-around."""

_FLOAT_COLUMNS = (
    "einstein_radius",
    "velocity_dispersion",
    "z_central",
    "z_source",
    "central_r_eff",
    "central_sersic_n",
    "central_q",
    "central_dx",
    "central_dy",
    "lens_mass_q",
    "shear",
    "source_offset",
    "source_r_eff",
    "magnification",
    "merger_separation",
    "nodata_fraction",
    "noise_lag1",
)
_BAND_FLOAT_COLUMNS = (
    "mag_central",
    "mag_source",
    "mag_arc",
    "psf_fwhm",
    "psf_beta",
    "depth",
    "sky_sigma",
)
_INT_COLUMNS = (
    "true_label",
    "central_type",
    "source_real_shape",
    "source_n_clumps",
    "n_neighbours",
    "n_blue_companions",
    "n_stars",
    "has_bright_star",
    "has_trail",
    "has_ghost",
    "has_sky_residual",
    "has_nodata",
)


def band_column_names(prefixes: Sequence[str], bands: Sequence[str]) -> list[str]:
    """``prefix_band`` for every prefix and band."""
    return [f"{prefix}_{band}" for prefix in prefixes for band in bands]


@dataclass(eq=False)
class HscScene:
    """One HSC-like cutout before rendering.

    Attributes:
        conditions: PSFs and noise.
        intrinsic: Galaxies (convolved with the PSF).
        direct: Stars and artefacts (already PSF-shaped or instrumental).
        no_data: A no-data edge, if any.
        params: The parameter-table row.
    """

    conditions: ObservingConditions
    intrinsic: list[Component]
    direct: list[Component]
    no_data: NoDataEdge | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HscDomain:
    """An HSC Wide-like domain.

    Attributes:
        preset: Survey numbers (pixel scale, median PSF, depth ...).
        family: How far conditions, populations and contaminants vary.
    """

    preset: SurveyPreset
    family: SimulationFamily = BASELINE

    @property
    def rates(self) -> ContaminantRates:
        """The family's contaminant probabilities."""
        return self.family.rates

    @property
    def half_size(self) -> float:
        """Half-size of the cutout in arcsec."""
        return self.preset.cutout_size * self.preset.pixel_scale / 2

    def param_schema(self, bands: Sequence[str]) -> dict[str, np.dtype]:
        """Parameter columns and dtypes (central_type codes: see ``CENTRAL_TYPE_CODES``)."""
        schema = {name: np.dtype("float32") for name in _FLOAT_COLUMNS}
        schema.update(
            {n: np.dtype("float32") for n in band_column_names(_BAND_FLOAT_COLUMNS, bands)}
        )
        schema.update({name: np.dtype("int8") for name in _INT_COLUMNS})
        return schema

    def draw(self, rng: np.random.Generator, bands: Sequence[str], is_lens: bool) -> HscScene:
        """Draw the scene of one cutout."""
        scale = self.preset.pixel_scale
        family = self.family
        population = family.population
        conditions = draw_conditions(rng, self.preset, bands, family.conditions)
        dx, dy = rng.normal(0.0, family.centre_jitter_px * scale, 2)
        direct: list[Component] = []
        negatives = family.scan_negatives
        if is_lens:
            intrinsic, params = draw_lens_system(
                rng, bands, scale, float(dx), float(dy), population
            )
            params["central_type"] = CENTRAL_TYPE_CODES.index("lens")
        elif negatives.fraction > 0 and rng.uniform() < negatives.fraction:
            intrinsic, direct, params = self._draw_scan_negative(rng, bands, conditions)
            dx, dy = params.pop("central_dx"), params.pop("central_dy")
        else:
            intrinsic, params = draw_nonlens_central(rng, bands, float(dx), float(dy), population)
        params.update(
            conditions.params(),
            true_label=int(is_lens),
            central_dx=dx,
            central_dy=dy,
            noise_lag1=_lag1_correlation(conditions.noise.kernel_1d),
        )
        scene = HscScene(conditions, list(intrinsic), direct, None, params)
        self._add_contaminants(rng, bands, scene)
        return scene

    def _star_floor(self, conditions: ObservingConditions) -> float:
        """Surface brightness down to which stars are rendered: 0.1 sky sigma per pixel."""
        return 0.1 * float(conditions.noise.pixel_sigma.min()) / self.preset.pixel_scale**2

    def _draw_scan_negative(
        self, rng: np.random.Generator, bands: Sequence[str], conditions: ObservingConditions
    ) -> tuple[list[Component], list[Component], dict[str, Any]]:
        """What a scan sees between galaxies: galaxies, direct components, parameters."""
        weights = self.family.scan_negatives.weights
        kinds = list(weights)
        probabilities = np.array([weights[kind] for kind in kinds], float)
        kind = kinds[int(rng.choice(len(kinds), p=probabilities / probabilities.sum()))]
        intrinsic: list[Component] = []
        direct: list[Component] = []
        params: dict[str, Any] = {}
        x = y = 0.0
        if kind != "empty_sky":
            radius_range = {"off_centre": (1.5, 5.0), "star_halo": (0.0, 10.0)}.get(
                kind, (4.0, 12.0)
            )
            radius, angle = rng.uniform(*radius_range), rng.uniform(0, 2 * np.pi)
            x, y = float(radius * np.cos(angle)), float(radius * np.sin(angle))
        if kind == "off_centre":
            intrinsic, params = draw_nonlens_central(rng, bands, x, y, self.family.population)
        elif kind == "star_halo":
            direct = draw_star(
                rng,
                bands,
                conditions.psfs,
                x,
                y,
                float(rng.uniform(11.5, 17.0)),
                self._star_floor(conditions),
            )
        elif kind == "galaxy_piece":
            intrinsic, params = draw_large_galaxy(rng, bands, x, y)
        params.update(central_type=CENTRAL_TYPE_CODES.index(kind), central_dx=x, central_dy=y)
        return intrinsic, direct, params

    def _scaled_rates(self, rng: np.random.Generator) -> ContaminantRates:
        """The family's rates, each scaled by a random factor when the family says so."""
        spread = self.family.rate_scatter
        if spread <= 0:
            return self.rates
        names = [item.name for item in fields(ContaminantRates)]
        factors = np.exp(rng.uniform(-1.0, 1.0, len(names)) * np.log1p(spread))
        return replace(
            self.rates,
            **{
                name: min(1.0, getattr(self.rates, name) * factor)
                for name, factor in zip(names, factors, strict=True)
            },
        )

    def _add_contaminants(
        self, rng: np.random.Generator, bands: Sequence[str], scene: HscScene
    ) -> None:
        scale = self.preset.pixel_scale
        canvas_half = self.half_size + PAD_PX * scale
        sigma = scene.conditions.noise.pixel_sigma
        rates = self._scaled_rates(rng)
        neighbours = draw_neighbours(
            rng, bands, canvas_half, shape_half=self.family.population.shape_half
        )
        companions = (
            draw_blue_companions(rng, bands) if rng.uniform() < rates.blue_companions else []
        )
        scene.intrinsic += neighbours + companions
        floor = self._star_floor(scene.conditions)
        star_mags = draw_count_magnitudes(
            rng,
            (2 * canvas_half) ** 2 / ARCSEC2_PER_DEG2,
            (15.0, 25.0),
            STAR_COUNT_SLOPE,
            STAR_COUNT_AT_20,
            20.0,
        )
        bright_star = rng.uniform() < rates.bright_star
        positions = [rng.uniform(-canvas_half, canvas_half, 2) for _ in star_mags]
        if bright_star:
            star_mags = np.append(star_mags, rng.uniform(12.0, 16.5))
            radius, angle = rng.uniform(3.0, 15.0), rng.uniform(0, 2 * np.pi)
            positions.append(np.array([radius * np.cos(angle), radius * np.sin(angle)]))
        for mag, (x, y) in zip(star_mags, positions, strict=True):
            scene.direct += draw_star(
                rng, bands, scene.conditions.psfs, float(x), float(y), float(mag), floor
            )
        flags = {
            "has_ghost": rng.uniform() < rates.ghost,
            "has_trail": rng.uniform() < rates.satellite_trail,
        }
        flags["has_sky_residual"] = rng.uniform() < rates.sky_residual
        if flags["has_ghost"]:
            scene.direct.append(
                draw_ghost(rng, bands, *rng.uniform(-canvas_half, canvas_half, 2), sigma, scale)
            )
        if flags["has_trail"]:
            scene.direct.append(draw_trail(rng, bands, sigma, scale, self.half_size))
        if flags["has_sky_residual"]:
            scene.direct.append(draw_sky_residual(rng, sigma, scale, self.half_size))
        if rng.uniform() < rates.no_data:
            scene.no_data = NoDataEdge(
                float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.3, 0.9) * self.half_size)
            )
            scene.params["nodata_fraction"] = float(self.no_data_mask(scene.no_data).mean())
        scene.params.update(
            n_neighbours=len(neighbours),
            n_blue_companions=len(companions),
            n_stars=len(star_mags),
            has_bright_star=int(bright_star),
            has_nodata=int(scene.no_data is not None),
            **{name: int(value) for name, value in flags.items()},
        )

    def frames(self) -> tuple[Frame, Frame]:
        """The padded canvas frame and the cutout frame (scene origin at the cutout centre)."""
        return _cutout_frames(self.preset.cutout_size, self.preset.pixel_scale)

    def render(self, scene: HscScene, rng: np.random.Generator) -> np.ndarray:
        """Render one cutout (n_bands, size, size) float32 in zero-point-27 flux."""
        size = self.preset.cutout_size
        padded, cutout = self.frames()
        n_bands = len(scene.conditions.bands)
        canvas = np.zeros((n_bands, padded.height, padded.width), np.float32)
        add_components(canvas, padded, scene.intrinsic)
        kernels = psf_kernels(scene.conditions.psfs, self.preset.pixel_scale, 2 * PAD_PX + 1)
        convolved = convolve_periodic(canvas, kernels)
        model = convolved[:, PAD_PX : PAD_PX + size, PAD_PX : PAD_PX + size].copy()
        add_components(model, cutout, scene.direct)
        image = model + scene.conditions.noise.sample(model, rng)
        if scene.no_data is not None:
            image[:, self.no_data_mask(scene.no_data)] = 0.0
        return image

    def no_data_mask(self, edge: NoDataEdge) -> np.ndarray:
        """(size, size) boolean mask of the cutout pixels beyond a no-data edge."""
        _, cutout = self.frames()
        pixels = np.arange(self.preset.cutout_size)
        return edge.mask(cutout.x_of(pixels)[None, :], cutout.y_of(pixels)[:, None])


def _lag1_correlation(kernel: Sequence[float]) -> float:
    """Correlation of neighbouring pixels' noise along one axis for a separable kernel."""
    taps = np.asarray(kernel, float)
    return float((taps[1:] * taps[:-1]).sum() / (taps**2).sum())


@lru_cache(maxsize=8)
def _cutout_frames(size: int, scale: float) -> tuple[Frame, Frame]:
    """Single-precision frames of the padded canvas and of the cutout, built once."""
    centre = (size - 1) / 2
    padded_size = size + 2 * PAD_PX
    padded = Frame(scale, centre + PAD_PX, centre + PAD_PX, padded_size, padded_size, np.float32)
    return padded, Frame(scale, centre, centre, size, size, np.float32)
