"""Observing conditions of one image: a PSF and a noise level per band.

HSC Wide coadds vary from place to place: the seeing of the visits that went in and
the number of visits (depth) differ per band. Each cutout (or field) draws its own
conditions around the preset's medians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lensscan.simulate.domains.presets import SurveyPreset
from lensscan.simulate.physics.noise import NoiseModel, noise_model
from lensscan.simulate.physics.psf import PSF

PSF_FWHM_LIMITS = (0.4, 1.4)  # arcsec; HSC Wide accepts visits up to about 1.3"


@dataclass(frozen=True)
class ConditionsVariation:
    """How PSF and noise vary from image to image.

    Attributes:
        psf_kind: ``"moffat"``, ``"gaussian"`` or ``"double_gaussian"`` (core plus halo).
        fwhm_image_scatter: Log-normal scatter of one FWHM factor shared by an image's bands.
        fwhm_band_scatter: Log-normal scatter of each band's FWHM on top.
        moffat_beta_range: Range of the Moffat beta of an image.
        max_ellipticity: Largest PSF ellipticity (1 - axis ratio).
        halo_fraction_range: Flux fraction of a double Gaussian's halo.
        halo_scale_range: Halo width over core width of a double Gaussian.
        depth_offset_range: Range of one depth offset (mag) shared by an image's bands;
            None draws none.
        depth_band_scatter: Scatter (mag) of each band's depth on top.
        noise_kernels: Separable noise-correlation kernels, one drawn per image.
    """

    psf_kind: str
    fwhm_image_scatter: float
    fwhm_band_scatter: float
    moffat_beta_range: tuple[float, float]
    max_ellipticity: float
    depth_band_scatter: float
    noise_kernels: tuple[tuple[float, ...], ...]
    halo_fraction_range: tuple[float, float] = (0.0, 0.0)
    halo_scale_range: tuple[float, float] = (1.0, 1.0)
    depth_offset_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class ObservingConditions:
    """PSF and noise of one image.

    Attributes:
        bands: Band names.
        psfs: One PSF per band.
        depths: 5-sigma 2" aperture depth per band (mag).
        noise: The noise model.
    """

    bands: tuple[str, ...]
    psfs: tuple[PSF, ...]
    depths: np.ndarray
    noise: NoiseModel

    def params(self) -> dict[str, float]:
        """Per-band PSF FWHM, Moffat beta, depth and pixel sky sigma, for parameter tables."""
        row: dict[str, float] = {}
        for k, band in enumerate(self.bands):
            beta = self.psfs[k].beta
            row[f"psf_fwhm_{band}"] = self.psfs[k].fwhm
            row[f"psf_beta_{band}"] = np.nan if beta is None else beta
            row[f"depth_{band}"] = float(self.depths[k])
            row[f"sky_sigma_{band}"] = float(self.noise.pixel_sigma[k])
        return row


def _clip(value: float, limits: tuple[float, float]) -> float:
    """``value`` kept within ``limits`` (a scalar ``np.clip`` costs microseconds)."""
    return float(min(max(value, limits[0]), limits[1]))


def preset_variation(preset: SurveyPreset) -> ConditionsVariation:
    """The variation a survey preset itself describes (its own PSF and depth scatter)."""
    return ConditionsVariation(
        psf_kind=preset.psf_model,
        fwhm_image_scatter=0.0,
        fwhm_band_scatter=preset.psf_fwhm_scatter,
        moffat_beta_range=preset.moffat_beta_range,
        max_ellipticity=preset.psf_max_ellipticity,
        depth_band_scatter=preset.depth_scatter,
        noise_kernels=(preset.noise_kernel_1d,),
    )


def draw_conditions(
    rng: np.random.Generator,
    preset: SurveyPreset,
    bands: Sequence[str],
    variation: ConditionsVariation | None = None,
) -> ObservingConditions:
    """Draw PSFs and depths around the preset's medians.

    Args:
        rng: The item's random generator.
        preset: Survey medians (PSF FWHM, depth, sky brightness per band).
        bands: Bands to draw.
        variation: How far conditions vary; None: the preset's own scatter (fixed
            conditions if it has none).
    """
    variation = variation or preset_variation(preset)
    psfs = []
    depths = []
    # The PSF wings come from the telescope and the atmosphere alike in every band: one
    # Moffat beta per image, with a little scatter between bands.
    beta = float(rng.uniform(*variation.moffat_beta_range))
    # Seeing and depth are mostly properties of the night and the number of visits: one
    # factor per image, then a little scatter per band.
    image_fwhm = (
        math.exp(rng.normal(0.0, variation.fwhm_image_scatter))
        if variation.fwhm_image_scatter > 0
        else 1.0
    )
    image_depth = (
        float(rng.uniform(*variation.depth_offset_range)) if variation.depth_offset_range else 0.0
    )
    for band in bands:
        conditions = preset.bands[band]
        band_factor = (
            math.exp(rng.normal(0.0, variation.fwhm_band_scatter))
            if variation.fwhm_band_scatter > 0
            else 1.0
        )
        fwhm = _clip(conditions.psf_fwhm * image_fwhm * band_factor, PSF_FWHM_LIMITS)
        if variation.psf_kind == "moffat":
            band_beta = _clip(beta + rng.normal(0.0, 0.1), variation.moffat_beta_range)
            q = 1.0 - float(rng.uniform(0.0, variation.max_ellipticity))
            psfs.append(PSF(fwhm, band_beta, q, float(rng.uniform(0, np.pi))))
        elif variation.psf_kind == "double_gaussian":
            q = 1.0 - float(rng.uniform(0.0, variation.max_ellipticity))
            psfs.append(
                PSF(
                    fwhm,
                    None,
                    q,
                    float(rng.uniform(0, np.pi)),
                    halo_fraction=float(rng.uniform(*variation.halo_fraction_range)),
                    halo_scale=float(rng.uniform(*variation.halo_scale_range)),
                )
            )
        else:
            psfs.append(PSF(fwhm))
        scatter = (
            rng.normal(0.0, variation.depth_band_scatter)
            if variation.depth_band_scatter > 0
            else 0.0
        )
        depths.append(conditions.depth + image_depth + scatter)
    depth_array = np.array(depths)
    kernels = variation.noise_kernels
    kernel = kernels[int(rng.integers(len(kernels)))] if len(kernels) > 1 else kernels[0]
    sky = np.array([preset.bands[band].sky_brightness for band in bands])
    noise = noise_model(depth_array, sky, kernel, preset.pixel_scale, preset.poisson_noise)
    return ObservingConditions(tuple(bands), tuple(psfs), depth_array, noise)
