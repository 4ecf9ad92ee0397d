"""How arcs are made in the backgrounds' units: bands, pixel scale, zero points, PSF, gain."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.simulate.domains.presets import HSC_WIDE
from lensscan.simulate.inject.backgrounds import DEFAULT_ZERO_POINT, Backgrounds
from lensscan.simulate.inject.plan import dihedral_transform
from lensscan.simulate.inject.request import InjectionRequest, parse_band_values
from lensscan.simulate.physics.noise import noise_model
from lensscan.simulate.physics.photometry import ZERO_POINT
from lensscan.simulate.physics.psf import PSF, psf_kernels
from lensscan.simulate.physics.render import Frame

KERNEL_SIZE = 33
"""Side of the PSF kernels drawn from a FWHM (holds all but ~0.2% of an HSC Moffat)."""


@dataclass(frozen=True)
class Calibration:
    """How arcs are made in the backgrounds' units.

    Attributes:
        bands: Bands written.
        planes: Index of each band among the backgrounds' planes.
        size: Cutout side.
        pixel_scale: Arcsec per pixel.
        normalised: Whether the backgrounds are per-band min-max normalised.
        flux_scale: Background units per zero-point-27 flux unit, per band (raw
            backgrounds; normalised ones measure theirs per item).
        hsc_sigma: HSC Wide's median sky noise per pixel per band (zero-point 27).
        hsc_gain: HSC Wide's effective gain per band (counts per zero-point-27 unit).
        gain: Counts per background unit per band, if given.
        psf_kernels: (bands, k, k) PSF images, if given.
        psf_fwhm: PSF FWHM per band (arcsec) for items without their own.
        item_fwhm: (n_backgrounds, bands) FWHM per background, if the backgrounds say.
        item_beta: (n_backgrounds, bands) Moffat beta per background, if they say.
        psf_beta: Moffat beta for FWHM-given PSFs.
    """

    bands: tuple[str, ...]
    planes: np.ndarray
    size: int
    pixel_scale: float
    normalised: bool
    flux_scale: np.ndarray
    hsc_sigma: np.ndarray
    hsc_gain: np.ndarray
    gain: np.ndarray | None
    psf_kernels: np.ndarray | None
    psf_fwhm: np.ndarray
    item_fwhm: np.ndarray | None
    item_beta: np.ndarray | None
    psf_beta: float

    def fwhm(self, background: int) -> np.ndarray:
        """PSF FWHM per band (arcsec) of one background."""
        own = None if self.item_fwhm is None else self.item_fwhm[background]
        if self.psf_kernels is None and own is not None and np.isfinite(own).all():
            return own
        return self.psf_fwhm

    def kernels(self, background: int, transform: int) -> np.ndarray:
        """PSF kernels (bands, k, k) of one background, flipped and rotated with it."""
        if self.psf_kernels is not None:
            return dihedral_transform(self.psf_kernels, transform)
        beta = np.full(len(self.bands), self.psf_beta)
        if self.item_beta is not None and np.isfinite(self.item_beta[background]).all():
            beta = self.item_beta[background]
        fwhm = self.fwhm(background)
        return _moffat_kernels(tuple(map(float, fwhm)), tuple(map(float, beta)), self.pixel_scale)

    @cached_property
    def frames(self) -> tuple[Frame, int]:
        """The padded canvas frame (scene origin at the cutout centre) and the padding."""
        pad = KERNEL_SIZE // 2
        if self.psf_kernels is not None:
            pad = self.psf_kernels.shape[-1] // 2
        centre = (self.size - 1) / 2
        side = self.size + 2 * pad
        return Frame(self.pixel_scale, centre + pad, centre + pad, side, side, np.float32), pad


@lru_cache(maxsize=256)
def _moffat_kernels(
    fwhm: tuple[float, ...], beta: tuple[float, ...], pixel_scale: float
) -> np.ndarray:
    """Moffat kernels (bands, k, k), float32, built once per PSF (runs share one FWHM)."""
    psfs = [PSF(f, b) for f, b in zip(fwhm, beta, strict=True)]
    kernels = psf_kernels(psfs, pixel_scale, KERNEL_SIZE).astype(np.float32)
    kernels.flags.writeable = False
    return kernels


def _read_psf(path: str, n_bands: int, planes: np.ndarray) -> np.ndarray:
    """PSF kernels (bands, k, k) from a FITS cube, one HDU per plane or one image for all."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdus:
            images = [np.asarray(h.data, float) for h in hdus if h.is_image and h.data is not None]
    except Exception as exc:
        raise UserError(f"`psf` {path}: cannot read ({exc})") from None
    if not images:
        raise UserError(f"`psf` {path}: the FITS file holds no image")
    if images[0].ndim == 3:
        cube = images[0]
    elif len(images) == n_bands and all(i.ndim == 2 for i in images):
        cube = np.stack(images)
    elif images[0].ndim == 2:
        cube = np.repeat(images[0][None], n_bands, 0)
    else:
        raise UserError(f"`psf` {path}: expected (k,k) images or a (planes,k,k) cube")
    if cube.shape[0] != n_bands:
        raise UserError(f"`psf` {path}: {cube.shape[0]} PSF planes for {n_bands} background planes")
    if cube.shape[1] != cube.shape[2] or cube.shape[1] % 2 == 0:
        raise UserError(f"`psf` {path}: PSF images must be square with an odd side")
    cube = cube[planes]
    totals = cube.sum(axis=(1, 2), keepdims=True)
    if not np.all(totals > 0):
        raise UserError(f"`psf` {path}: a PSF image does not sum to a positive flux")
    return cube / totals


def kernel_fwhm(kernel: np.ndarray, pixel_scale: float) -> float:
    """FWHM (arcsec) of a PSF image: the diameter of a disc as large as its half-maximum area."""
    area = float((kernel >= kernel.max() / 2).sum())
    return 2.0 * math.sqrt(area / math.pi) * pixel_scale


def _is_normalised(backgrounds: Backgrounds, planes: np.ndarray) -> bool:
    """Whether every band of the first backgrounds spans exactly 0 to 1 (min-max cutouts)."""
    sample = backgrounds.read(np.arange(min(backgrounds.n, 64)))[:, planes]
    low, high = sample.min(axis=(2, 3)), sample.max(axis=(2, 3))
    return bool(np.allclose(low, 0.0, atol=1e-6) and np.allclose(high, 1.0, atol=1e-6))


def calibrate(request: InjectionRequest, backgrounds: Backgrounds) -> Calibration:
    """Bands, pixel scale, units, PSF and gain of the arcs.

    Raises:
        UserError: If bands do not match the backgrounds, the pixel scale is unknown,
            the backgrounds are smaller than a cutout, or a setting is malformed.
    """
    bands = request.bands or backgrounds.bands
    missing = [band for band in bands if band not in backgrounds.bands]
    if missing:
        raise UserError(
            f"`bands` {''.join(bands)}: {', '.join(missing)} not among the backgrounds' bands "
            f"{''.join(backgrounds.bands)}"
        )
    unknown = [band for band in bands if band not in HSC_WIDE.bands]
    if unknown:
        raise UserError(
            f"`bands` {''.join(bands)}: no source colours for {', '.join(unknown)}; arcs are "
            f"made in {''.join(HSC_WIDE.bands)}"
        )
    planes = np.array([backgrounds.bands.index(band) for band in bands])
    pixel_scale = request.pixel_scale or backgrounds.pixel_scale
    if pixel_scale is None:
        raise UserError(
            "`backgrounds`: no pixel scale (no store attribute, no celestial WCS); "
            "pass `pixel_scale`"
        )
    height, width = backgrounds.shape[1:]
    size = request.size or min(height, width)
    if size > min(height, width):
        raise UserError(
            f"`backgrounds`: {height}x{width} px cutouts are smaller than a {size} px cutout; "
            "pass a smaller `size` or larger backgrounds"
        )
    normalised = _is_normalised(backgrounds, planes)
    zero_points = parse_band_values(request.zero_point, bands, "zero_point")
    if zero_points is None and backgrounds.zero_points is not None:
        zero_points = backgrounds.zero_points[planes]
    if zero_points is None:
        if not normalised:
            logger.info("backgrounds: no zero point given; assuming %.1f", DEFAULT_ZERO_POINT)
        zero_points = np.full(len(bands), DEFAULT_ZERO_POINT)
    fwhm = parse_band_values(request.psf_fwhm, bands, "psf_fwhm")
    if fwhm is not None and not np.all(fwhm > 0):
        raise UserError(f"`psf_fwhm` {request.psf_fwhm}: must be positive")
    item_fwhm = None if fwhm is not None else backgrounds.per_item("psf_fwhm")
    hsc_fwhm = np.array([HSC_WIDE.bands[band].psf_fwhm for band in bands])
    kernels = None
    if request.psf is not None:
        kernels = _read_psf(request.psf, backgrounds.shape[0], planes)
        fwhm = np.array([kernel_fwhm(kernel, pixel_scale) for kernel in kernels])
    elif fwhm is None and item_fwhm is None:
        logger.info("backgrounds: no PSF given; using HSC Wide's median seeing per band")
    gain = parse_band_values(request.gain, bands, "gain")
    if gain is not None and not np.all(gain > 0):
        raise UserError(f"`gain` {request.gain}: must be positive")
    hsc = noise_model(
        np.array([HSC_WIDE.bands[b].depth for b in bands]),
        np.array([HSC_WIDE.bands[b].sky_brightness for b in bands]),
        HSC_WIDE.noise_kernel_1d,
        HSC_WIDE.pixel_scale,
        shot_noise=True,
    )
    return Calibration(
        bands=tuple(bands),
        planes=planes,
        size=size,
        pixel_scale=float(pixel_scale),
        normalised=normalised,
        flux_scale=10.0 ** (0.4 * (zero_points - ZERO_POINT)),
        hsc_sigma=np.asarray(hsc.pixel_sigma, float),
        hsc_gain=np.asarray(hsc.gain, float),
        gain=gain,
        psf_kernels=kernels,
        psf_fwhm=fwhm if fwhm is not None else hsc_fwhm,
        item_fwhm=None if item_fwhm is None else item_fwhm[:, planes],
        item_beta=None if item_fwhm is None else _item_beta(backgrounds, planes),
        psf_beta=request.psf_beta,
    )


def _item_beta(backgrounds: Backgrounds, planes: np.ndarray) -> np.ndarray | None:
    beta = backgrounds.per_item("psf_beta")
    return None if beta is None else beta[:, planes]
