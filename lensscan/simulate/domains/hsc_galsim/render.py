"""Rendering of ``hsc-galsim`` scenes: GalSim profiles, lenstronomy ray tracing, coadd noise.

Pixel convention: GalSim draws an even-sized stamp with its true centre between the four
central pixels, which is where a scene's origin sits, as in every lensscan cutout
(``(size - 1) / 2`` in 0-based pixels). +x runs along columns and +y along rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.ndimage import map_coordinates

from lensscan.simulate.domains.hsc_galsim.components import Component, LensedSource, PowerLawLens
from lensscan.simulate.domains.hsc_galsim.photometry import require_galsim

SUBSAMPLING = 4
"""Ray-traced sub-pixels per pixel side."""

SOURCE_PIXEL_ARCSEC = 0.02
"""Pixel of the source-plane image that rays sample."""

APERTURE_DIAMETER_ARCSEC = 2.0
"""The aperture of the survey's 5-sigma depths."""

COADD_VISITS = 4
"""Visits averaged into the coadd noise, each resampled at its own sub-pixel offset."""

_LANCZOS_ORDER = 3
_PRIMARY_MIRROR_LAMBDA_OVER_D = {"g": 0.0121, "r": 0.0155, "i": 0.0193, "z": 0.0223, "y": 0.0247}
"""lambda / D in arcsec for an 8.2 m pupil at each band's effective wavelength."""

_MIRROR_OBSCURATION = 0.23


@lru_cache(maxsize=1)
def _gsparams() -> Any:
    """Accuracy settings: a 1% folding threshold keeps 64-pixel stamps fast."""
    galsim = require_galsim()
    return galsim.GSParams(folding_threshold=1e-2, maxk_threshold=2e-3)


@dataclass(frozen=True)
class Conditions:
    """Observing conditions of one cutout.

    Attributes:
        bands: Band names, one channel each.
        seeing: Atmospheric FWHM per band (arcsec).
        psf_shear: PSF shear (g1, g2), common to all bands.
        depth: 5-sigma point-source depth in a 2" aperture per band (AB).
        sky_brightness: Sky surface brightness per band (AB mag / arcsec^2).
        pixel_scale: Arcsec per pixel.
        size: Cutout side in pixels.
    """

    bands: tuple[str, ...]
    seeing: Mapping[str, float]
    psf_shear: tuple[float, float]
    depth: Mapping[str, float]
    sky_brightness: Mapping[str, float]
    pixel_scale: float
    size: int

    def psf(self, band: str) -> Any:
        """The band's PSF: Kolmogorov turbulence convolved with the telescope's Airy pattern."""
        galsim = require_galsim()
        atmosphere = galsim.Kolmogorov(fwhm=self.seeing[band], gsparams=_gsparams())
        optics = galsim.Airy(
            lam_over_diam=_PRIMARY_MIRROR_LAMBDA_OVER_D[band],
            obscuration=_MIRROR_OBSCURATION,
            gsparams=_gsparams(),
        )
        g1, g2 = self.psf_shear
        return galsim.Convolve(atmosphere, optics).shear(g1=g1, g2=g2)

    def white_sigma(self, band: str) -> float:
        """Per-pixel sky noise before resampling, so that the 2" aperture has the depth's noise."""
        aperture_noise = 10.0 ** (-0.4 * (self.depth[band] - 27.0)) / 5.0
        aperture_pixels = np.pi * (APERTURE_DIAMETER_ARCSEC / 2 / self.pixel_scale) ** 2
        return float(aperture_noise / np.sqrt(aperture_pixels))

    def electrons_per_unit(self, band: str) -> float:
        """Gain implied by a sky-limited noise: sky counts per pixel over their variance."""
        sky = 10.0 ** (-0.4 * (self.sky_brightness[band] - 27.0)) * self.pixel_scale**2
        return float(sky / self.white_sigma(band) ** 2)


def draw_components(
    components: Sequence[Component], conditions: Conditions, band: str
) -> np.ndarray:
    """PSF-convolved, pixel-integrated image of components in one band."""
    galsim = require_galsim()
    size = conditions.size
    if not components:
        return np.zeros((size, size), np.float32)
    scene = galsim.Sum([component.profile(galsim, band) for component in components])
    image = galsim.Convolve(scene, conditions.psf(band), gsparams=_gsparams()).drawImage(
        nx=size, ny=size, scale=conditions.pixel_scale
    )
    return image.array.astype(np.float32)


def _image_plane_grid(conditions: Conditions) -> tuple[np.ndarray, np.ndarray, float]:
    """Sub-pixel centres (arcsec) covering the cutout, and the sub-pixel side."""
    step = conditions.pixel_scale / SUBSAMPLING
    n = conditions.size * SUBSAMPLING
    axis = (np.arange(n) - (n - 1) / 2) * step
    x, y = np.meshgrid(axis, axis)
    return x, y, step


def ray_trace(mass: PowerLawLens, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Source-plane positions of image-plane positions through lenstronomy's EPL + shear."""
    from lenstronomy.Util.param_util import phi_q2_ellipticity

    e1, e2 = phi_q2_ellipticity(mass.angle, mass.q)
    kwargs = [
        {
            "theta_E": mass.theta_e,
            "gamma": mass.slope,
            "e1": e1,
            "e2": e2,
            "center_x": mass.x,
            "center_y": mass.y,
        },
        {"gamma1": mass.shear[0], "gamma2": mass.shear[1], "ra_0": mass.x, "dec_0": mass.y},
    ]
    return _lens_model().ray_shooting(x, y, kwargs)


@lru_cache(maxsize=1)
def _lens_model() -> Any:
    """The EPL + shear model of lenstronomy, built once per process."""
    from lenstronomy.LensModel.lens_model import LensModel

    return LensModel(["EPL", "SHEAR"])


def lensed_images(source: LensedSource, conditions: Conditions) -> tuple[np.ndarray, np.ndarray]:
    """The lensed source: PSF-convolved images per band and unconvolved fluxes per band.

    Each band's source-plane image is drawn by GalSim (no PSF, no pixel) on a fine grid,
    sampled at the ray-traced positions of 4x4 sub-pixels per pixel, and the sub-pixel
    image is convolved with the band's PSF and pixel by GalSim.

    Returns:
        ``(n_bands, size, size)`` float32 arc images, and ``(n_bands,)`` lensed fluxes
        before the PSF (within the cutout).
    """
    galsim = require_galsim()
    x, y, step = _image_plane_grid(conditions)
    beta_x, beta_y = ray_trace(source.mass, x, y)
    n_source = int(np.ceil(2 * source.extent / SOURCE_PIXEL_ARCSEC)) | 1
    centre_x, centre_y = source.centre
    half = (n_source - 1) / 2
    columns = (beta_x - centre_x) / SOURCE_PIXEL_ARCSEC + half
    rows = (beta_y - centre_y) / SOURCE_PIXEL_ARCSEC + half
    # Each component has one shape in every band: draw and ray-trace it once at unit
    # flux, then weight it by its flux in each band.
    lensed_shapes = []
    for component in source.components:
        unit = (
            component.profile(galsim, source.reference_band)
            / component.fluxes[source.reference_band]
        )
        plane = unit.shift(-centre_x, -centre_y).drawImage(
            nx=n_source, ny=n_source, scale=SOURCE_PIXEL_ARCSEC, method="no_pixel"
        )
        surface = plane.array / SOURCE_PIXEL_ARCSEC**2
        lensed_shapes.append(map_coordinates(surface, [rows, columns], order=1) * step**2)
    arcs = np.zeros((len(conditions.bands), conditions.size, conditions.size), np.float32)
    fluxes = np.zeros(len(conditions.bands))
    for k, band in enumerate(conditions.bands):
        sub = sum(
            c.fluxes[band] * shape
            for c, shape in zip(source.components, lensed_shapes, strict=True)
        )
        fluxes[k] = float(sub.sum())
        lensed = galsim.InterpolatedImage(
            galsim.Image(sub, scale=step),
            calculate_stepk=False,
            calculate_maxk=False,
            gsparams=_gsparams(),
        )
        drawn = galsim.Convolve(lensed, conditions.psf(band), gsparams=_gsparams()).drawImage(
            nx=conditions.size, ny=conditions.size, scale=conditions.pixel_scale
        )
        arcs[k] = drawn.array
    return arcs, fluxes


def _lanczos_weights(offset: float) -> np.ndarray:
    """Lanczos-3 taps (GalSim's interpolant) that shift a row by ``offset`` pixels."""
    galsim = require_galsim()
    interpolant = galsim.Lanczos(_LANCZOS_ORDER)
    taps = np.arange(-_LANCZOS_ORDER + 1, _LANCZOS_ORDER + 1) - offset
    weights = np.array([interpolant.xval(float(t)) for t in taps])
    return weights / weights.sum()


def _resample(values: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Shift an image by a sub-pixel offset with separable Lanczos-3 taps (5 pixels shorter)."""
    out = values
    for axis, offset in ((1, dx), (0, dy)):
        weights = _lanczos_weights(offset)
        n = out.shape[axis] - len(weights) + 1
        out = sum(w * np.take(out, np.arange(j, j + n), axis=axis) for j, w in enumerate(weights))
    return out


def coadd_noise(conditions: Conditions, band: str, rng: np.random.Generator) -> np.ndarray:
    """Sky noise of a coadd: visits of white noise, each resampled at a sub-pixel offset, averaged.

    The variance of a 2" aperture sum stays that of the depth, while neighbouring pixels
    correlate as they do in a warped coadd.
    """
    size = conditions.size
    grown = size + 2 * _LANCZOS_ORDER - 1
    visit_sigma = conditions.white_sigma(band) * np.sqrt(COADD_VISITS)
    total = np.zeros((size, size))
    for _ in range(COADD_VISITS):
        white = rng.normal(0.0, visit_sigma, (grown, grown))
        dx, dy = rng.uniform(-0.5, 0.5, 2)
        total += _resample(white, float(dx), float(dy))
    return (total / COADD_VISITS).astype(np.float32)


def add_noise(model: np.ndarray, conditions: Conditions, rng: np.random.Generator) -> np.ndarray:
    """The noisy image: coadd sky noise plus the objects' shot noise, per band."""
    image = model.astype(np.float32).copy()
    for k, band in enumerate(conditions.bands):
        shot_sigma = np.sqrt(np.clip(model[k], 0.0, None) / conditions.electrons_per_unit(band))
        image[k] += coadd_noise(conditions, band, rng) + rng.normal(0.0, 1.0, model[k].shape) * (
            shot_sigma
        )
    return image
