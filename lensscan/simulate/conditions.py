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

from lensscan.simulate.noise import NoiseModel, noise_model
from lensscan.simulate.presets import SurveyPreset
from lensscan.simulate.psf import PSF

PSF_FWHM_LIMITS = (0.4, 1.4)  # arcsec; HSC Wide accepts visits up to about 1.3"


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


def draw_conditions(
    rng: np.random.Generator, preset: SurveyPreset, bands: Sequence[str]
) -> ObservingConditions:
    """Draw PSFs and depths around the preset's medians (fixed if the preset has no scatter)."""
    psfs = []
    depths = []
    # The PSF wings come from the telescope and the atmosphere alike in every band: one
    # Moffat beta per image, with a little scatter between bands.
    beta = float(rng.uniform(*preset.moffat_beta_range))
    for band in bands:
        conditions = preset.bands[band]
        fwhm = conditions.psf_fwhm
        if preset.psf_fwhm_scatter > 0:
            fwhm = _clip(fwhm * math.exp(rng.normal(0.0, preset.psf_fwhm_scatter)), PSF_FWHM_LIMITS)
        if preset.psf_model == "moffat":
            band_beta = _clip(beta + rng.normal(0.0, 0.1), preset.moffat_beta_range)
            q = 1.0 - float(rng.uniform(0.0, preset.psf_max_ellipticity))
            psfs.append(PSF(fwhm, band_beta, q, float(rng.uniform(0, np.pi))))
        else:
            psfs.append(PSF(fwhm))
        scatter = rng.normal(0.0, preset.depth_scatter) if preset.depth_scatter > 0 else 0.0
        depths.append(conditions.depth + scatter)
    depth_array = np.array(depths)
    sky = np.array([preset.bands[band].sky_brightness for band in bands])
    noise = noise_model(
        depth_array, sky, preset.noise_kernel_1d, preset.pixel_scale, preset.poisson_noise
    )
    return ObservingConditions(tuple(bands), tuple(psfs), depth_array, noise)
