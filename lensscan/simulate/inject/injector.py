"""One injected item: an arc drawn behind the measured deflector, checked and painted.

The steps (Einstein radius, source and arc, visibility, noise) are those listed in
:mod:`lensscan.simulate.inject`; an :class:`Injector` holds what a run's items share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensscan.bands import wavelength_order
from lensscan.simulate.cutouts.blocks import BLOCK_ITEMS
from lensscan.simulate.cutouts.plan import item_generators
from lensscan.simulate.domains.families import FAMILIES
from lensscan.simulate.inject.backgrounds import Backgrounds
from lensscan.simulate.inject.calibration import Calibration
from lensscan.simulate.inject.deflector import Deflector, measure_deflector, sky_statistics
from lensscan.simulate.inject.plan import dihedral_transform
from lensscan.simulate.inject.request import InjectionRequest
from lensscan.simulate.physics.cosmology import sis_einstein_radius
from lensscan.simulate.physics.lensing import LensedSource
from lensscan.simulate.physics.photometry import ZERO_POINT
from lensscan.simulate.physics.render import add_component, convolve_periodic
from lensscan.simulate.populations.early_types import (
    LENS_REDSHIFT_RANGE,
    velocity_dispersion_from_light,
)
from lensscan.simulate.populations.lenses import (
    draw_einstein_radius,
    draw_lensed_source,
    draw_source_redshift,
)
from lensscan.simulate.populations.population import Population

ARC_ATTEMPTS = 20
"""Arcs drawn per lens before the best one is brightened to the S/N cut."""
RANGE_TOLERANCE = 0.01
"""Change of a min-max band's range beyond which ``renormalised`` is set."""
HOST_APERTURE_ARCSEC = 1.5
"""Radius of the aperture in which a host galaxy's magnitude is measured (``max_host_mag``)."""
REDSHIFT_COLUMNS = ("z", "redshift", "photoz", "z_phot", "z_central")
MAG_I_COLUMNS = ("mag_i", "mag_central_i")


def _light_einstein_radius(
    rng: np.random.Generator, z: float, mag_i: float, population: Population, minimum: float
) -> tuple[float, float, float, float] | None:
    """Einstein radius from a galaxy's redshift and i magnitude (Faber-Jackson).

    Source redshifts are drawn until the radius lies in the population's range and above
    ``minimum``.

    Returns:
        ``(theta_e, sigma_v, z_lens, z_source)``, or None if no draw gives such a radius
        (a galaxy too faint to make a visible lens).
    """
    sigma_v = velocity_dispersion_from_light(mag_i, z)
    low, high = population.einstein_radius_range
    for _ in range(ARC_ATTEMPTS):
        z_source = draw_source_redshift(rng)
        if z_source <= z + 0.1:
            continue
        theta_e = sis_einstein_radius(sigma_v, z, z_source)
        if max(low, minimum) <= theta_e <= high:
            return float(theta_e), sigma_v, z, z_source
    return None


@dataclass(frozen=True)
class _Arc:
    """One drawn arc in the background's units, before noise."""

    model: np.ndarray
    params: dict[str, Any]
    snr: float
    magnification: float

    def scaled(self, factor: float, bands: tuple[str, ...]) -> _Arc:
        """The arc with its flux times ``factor``, its magnitudes and S/N following.

        ``arc_brightening`` records the change in magnitudes (negative: dimmed).
        """
        shift = 2.5 * math.log10(factor)
        params = dict(self.params, arc_brightening=shift)
        for band in bands:
            params[f"mag_source_{band}"] -= shift
            params[f"mag_arc_{band}"] -= shift
        return _Arc(self.model * np.float32(factor), params, self.snr * factor, self.magnification)


def render_arc(
    source: LensedSource, kernels: np.ndarray, calibration: Calibration, flux_scale: np.ndarray
) -> np.ndarray:
    """The noiseless arc (bands, size, size) in background units."""
    frame, pad = calibration.frames
    canvas = np.zeros((len(calibration.bands), frame.height, frame.width), np.float32)
    add_component(canvas, frame, source)
    size = calibration.size
    convolved = convolve_periodic(canvas, kernels.astype(np.float32, copy=False))
    model = convolved[:, pad : pad + size, pad : pad + size]
    return (model * flux_scale[:, None, None]).astype(np.float32)


class Injector:
    """Paints arcs on the backgrounds of one run."""

    def __init__(
        self, request: InjectionRequest, backgrounds: Backgrounds, calibration: Calibration
    ) -> None:
        self.request = request
        self.backgrounds = backgrounds
        self.calibration = calibration
        self.population = FAMILIES[request.family].population
        self._redshift, self._mag_i = _light_columns(backgrounds)
        self._sky: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def host_band(self) -> int:
        """Index of the reddest injected band, in which hosts are measured."""
        return wavelength_order(self.calibration.bands)[-1]

    def host_magnitudes(self) -> np.ndarray:
        """AB magnitude of every background's central galaxy (NaN where there is none).

        Measured in the reddest band within :data:`HOST_APERTURE_ARCSEC` of the object sep
        finds nearest the centre (as the deflector is found), sky-subtracted, in the flux
        units the arcs are made in.
        """
        calibration = self.calibration
        band = self.host_band
        radius = HOST_APERTURE_ARCSEC / calibration.pixel_scale
        size = calibration.size
        rows, cols = np.mgrid[:size, :size] - (size - 1) / 2
        magnitudes = np.full(self.backgrounds.n, np.nan)
        for start in range(0, self.backgrounds.n, BLOCK_ITEMS):
            indices = np.arange(start, min(start + BLOCK_ITEMS, self.backgrounds.n))
            for index, image in zip(
                indices, self.crop(self.backgrounds.read(indices)), strict=True
            ):
                sky, sigma = self.sky(int(index), image)
                found = measure_deflector(
                    image, sky, sigma, calibration.pixel_scale, np.random.default_rng(0)
                )
                if not found.from_light:
                    continue
                dx, dy = found.x / calibration.pixel_scale, found.y / calibration.pixel_scale
                inside = np.hypot(cols - dx, rows - dy) <= radius
                flux = float((image[band][inside] - sky[band]).sum())
                scale = self.flux_scale(sigma)[band]
                if flux > 0:
                    magnitudes[index] = ZERO_POINT - 2.5 * math.log10(flux / scale)
        return magnitudes

    def sky(self, index: int, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sky level and noise of a background, measured once (flips keep them)."""
        if index not in self._sky:
            self._sky[index] = sky_statistics(background)
        return self._sky[index]

    def flux_scale(self, sigma: np.ndarray) -> np.ndarray:
        """Background units per zero-point-27 flux unit, per band, for a background's noise."""
        calibration = self.calibration
        if calibration.normalised:
            return sigma / calibration.hsc_sigma
        return calibration.flux_scale

    def crop(self, images: np.ndarray) -> np.ndarray:
        """Centre-crop backgrounds (k, planes, H, W) to the cutout and keep the bands."""
        size = self.calibration.size
        height, width = images.shape[-2:]
        top, left = (height - size) // 2, (width - size) // 2
        return images[:, self.calibration.planes, top : top + size, left : left + size]

    def item(
        self,
        background: np.ndarray,
        index: int,
        transform: int,
        is_lens: bool,
        item_seed: int,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """One item (bands, size, size) float32 and its parameters."""
        calibration = self.calibration
        scene_rng, noise_rng = item_generators(item_seed)
        image = dihedral_transform(background, transform).astype(np.float32, copy=True)
        sky, sigma = self.sky(index, background)
        flux_scale = self.flux_scale(sigma)
        fwhm = calibration.fwhm(index)
        params: dict[str, Any] = {
            "true_label": int(is_lens),
            "background_index": index,
            "transform": transform,
            **_band_values("sky_sigma", calibration.bands, sigma),
            **_band_values("flux_scale", calibration.bands, flux_scale),
            **_band_values("psf_fwhm", calibration.bands, fwhm),
        }
        if not is_lens:
            return image, params
        deflector = measure_deflector(image, sky, sigma, calibration.pixel_scale, scene_rng)
        kernels = calibration.kernels(index, transform)
        arc = self._draw_arc(scene_rng, deflector, index, kernels, sigma, flux_scale)
        gain = (
            calibration.gain if calibration.gain is not None else calibration.hsc_gain / flux_scale
        )
        variance = np.maximum(arc.model, 0.0) / gain[:, None, None].astype(np.float32)
        noise = np.sqrt(variance) * noise_rng.standard_normal(image.shape, dtype=np.float32)
        image += arc.model + noise
        renormalised = 0
        if calibration.normalised:
            low = image.min(axis=(1, 2), keepdims=True)
            span = image.max(axis=(1, 2), keepdims=True) - low
            image = (image - low) / np.maximum(span, 1e-12)
            # Flag the arcs that became a band's brightest (or faintest) pixels, not noise.
            renormalised = int(np.abs(span - 1.0).max() > RANGE_TOLERANCE)
        params.update(
            arc.params,
            deflector_x=deflector.x,
            deflector_y=deflector.y,
            deflector_q=deflector.q,
            deflector_pa=deflector.pa,
            deflector_from_light=int(deflector.from_light),
            arc_snr=arc.snr,
            renormalised=renormalised,
        )
        return image.astype(np.float32), params

    def _draw_arc(
        self,
        rng: np.random.Generator,
        deflector: Deflector,
        index: int,
        kernels: np.ndarray,
        sigma: np.ndarray,
        flux_scale: np.ndarray,
    ) -> _Arc:
        """The first arc passing the visibility cuts, else the best one brightened."""
        request, calibration = self.request, self.calibration
        best: _Arc | None = None
        for _ in range(ARC_ATTEMPTS):
            theta_e, sigma_v, z_lens, z_source, from_light = self._einstein_radius(rng, index)
            source, params = draw_lensed_source(
                rng,
                calibration.bands,
                calibration.pixel_scale,
                theta_e,
                deflector.q,
                deflector.pa,
                deflector.x,
                deflector.y,
                self.population,
            )
            model = render_arc(source, kernels, calibration, flux_scale)
            snr = float(np.sqrt(((model / sigma[:, None, None]) ** 2).sum()))
            params.update(
                velocity_dispersion=sigma_v,
                z_central=z_lens,
                z_source=z_source,
                einstein_radius_from_light=from_light,
                arc_brightening=0.0,
            )
            arc = _Arc(model, params, snr, float(params["magnification"]))
            if snr >= request.min_arc_snr and arc.magnification >= request.min_magnification:
                return self._dimmed(rng, arc)
            if best is None or snr > best.snr:
                best = arc
        assert best is not None
        return best.scaled(max(request.min_arc_snr / max(best.snr, 1e-12), 1.0), calibration.bands)

    def _dimmed(self, rng: np.random.Generator, arc: _Arc) -> _Arc:
        """With ``max_arc_snr``, an arc brighter than it dimmed to a log-uniform S/N."""
        low, high = self.request.min_arc_snr, self.request.max_arc_snr
        if high is None or arc.snr <= high:
            return arc
        target = math.exp(rng.uniform(math.log(max(low, 1e-3)), math.log(high)))
        return arc.scaled(target / arc.snr, self.calibration.bands)

    def _einstein_radius(
        self, rng: np.random.Generator, index: int
    ) -> tuple[float, float, float, float, int]:
        """An Einstein radius of at least ``min_einstein_radius``.

        From the background's light where its parameters allow and the galaxy is massive
        enough, else from the family's prior (redrawn below the minimum, clipped last).

        Returns:
            ``(theta_e, sigma_v, z_lens, z_source, from_light)``.
        """
        z, mag_i = self._light(index)
        minimum = self.request.min_einstein_radius
        if z is not None and mag_i is not None:
            drawn = _light_einstein_radius(rng, z, mag_i, self.population, minimum)
            if drawn is not None:
                return *drawn, 1
        for _ in range(5 * ARC_ATTEMPTS):
            theta_e, sigma_v, z_lens, z_source = draw_einstein_radius(rng, self.population)
            if theta_e >= minimum:
                break
        return max(theta_e, minimum), sigma_v, z_lens, z_source, 0

    def _light(self, index: int) -> tuple[float | None, float | None]:
        """The background galaxy's redshift and i magnitude, where its parameters hold both."""
        if self._redshift is None or self._mag_i is None:
            return None, None
        z, mag_i = float(self._redshift[index]), float(self._mag_i[index])
        valid = math.isfinite(z) and math.isfinite(mag_i) and LENS_REDSHIFT_RANGE[0] / 3 < z < 2.0
        return (z, mag_i) if valid else (None, None)


def _light_columns(backgrounds: Backgrounds) -> tuple[np.ndarray | None, np.ndarray | None]:
    columns = {name.removeprefix("background_"): v for name, v in backgrounds.columns.items()}
    redshift = next((columns[n] for n in REDSHIFT_COLUMNS if n in columns), None)
    mag_i = next((columns[n] for n in MAG_I_COLUMNS if n in columns), None)
    return redshift, mag_i


def _band_values(prefix: str, bands: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {f"{prefix}_{band}": float(v) for band, v in zip(bands, values, strict=True)}


def param_schema(bands: Sequence[str]) -> dict[str, np.dtype]:
    """Every parameter column an injection run writes (besides the background's own)."""
    floats = (
        "einstein_radius",
        "velocity_dispersion",
        "z_central",
        "z_source",
        "deflector_x",
        "deflector_y",
        "deflector_q",
        "deflector_pa",
        "lens_mass_q",
        "shear",
        "source_offset",
        "source_r_eff",
        "magnification",
        "arc_snr",
        "arc_brightening",
    )
    band_floats = ("mag_source", "mag_arc", "sky_sigma", "flux_scale", "psf_fwhm")
    ints = (
        "true_label",
        "transform",
        "deflector_from_light",
        "einstein_radius_from_light",
        "source_real_shape",
        "source_n_clumps",
        "renormalised",
    )
    schema = {name: np.dtype("float32") for name in floats}
    schema.update({f"{prefix}_{b}": np.dtype("float32") for prefix in band_floats for b in bands})
    schema.update({name: np.dtype("int8") for name in ints})
    schema["background_index"] = np.dtype("int64")
    return schema
