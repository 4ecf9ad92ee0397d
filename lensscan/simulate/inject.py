"""Simulated lensed arcs painted onto real cutouts: ``lensscan simulate --domain inject``.

The galaxies, neighbours, artefacts and noise of each training image are then the
survey's own and only the arcs are simulated, as the lens searches that found the most
real lenses trained (HOLISMOKES on HSC, Jacobs and Rojas on DES). For each background
chosen to be a lens:

1. **Deflector from the galaxy's light.** The sky level and noise of every band are
   measured (sigma-clipped median and MAD), an inverse-variance-weighted detection image
   is made, and sep's object nearest the centre (within 15% of the cutout side) gives the
   deflector's centre, axis ratio and position angle. Without such an object, the mass
   sits at the centre with the prior's axis ratio (``deflector_from_light`` = 0).
2. **Einstein radius.** From the family's prior (the lensing-weighted velocity-dispersion
   function and redshifts, as simulated lenses are drawn), or, when the background's
   parameters hold a redshift and an i magnitude, from the Faber-Jackson velocity
   dispersion of that galaxy and a drawn source redshift; radii below
   ``min_einstein_radius`` (0.75", HOLISMOKES' lower bound) are redrawn.
3. **Source and arc.** A source of the family's population (real HDF shapes, or Sersic
   with clumps) behind an SIE plus shear aligned with the light, ray-traced on a
   sub-sampled grid, convolved with the background's PSF (a PSF image, or a Moffat of the
   FWHM the background or a setting gives, or HSC's median seeing), in zero-point-27
   flux and then in the background's own units: ``10**(0.4 (ZP - 27))`` per unit, or,
   for per-band min-max-normalised cutouts (values spanning exactly 0 to 1), the
   measured sky noise over HSC Wide's median sky noise in that band.
4. **Visibility.** The arc's matched-filter signal-to-noise against the measured sky
   noise, ``sqrt(sum(arc**2 / sigma**2))`` over bands and pixels, must reach
   ``min_arc_snr`` and its magnification ``min_magnification``; up to
   :data:`ARC_ATTEMPTS` arcs are drawn, and if none passes, the best one is brightened
   to the S/N cut (``arc_brightening`` records by how many magnitudes).
5. **Noise.** Poisson noise of the added flux, from a gain (a setting, else HSC Wide's
   sky-limited effective gain in the background's units), is added only where the arc
   adds flux, so the background is untouched beyond the arc's noise. Min-max-normalised
   cutouts are min-max-normalised again, so that they keep their format
   (``renormalised`` = 1 where the arc changed a band's range by more than 1%).

Negatives are the untouched backgrounds. With ``rotations``, backgrounds are reused
under the 8 flips and 90-degree rotations, so a run can hold up to 8 items per
background. Splits are drawn per background, so one background never sits in two
splits. An item depends only on the seed, its index and the backgrounds, never on the
order of work.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.bands import parse_band_names, wavelength_order
from lensscan.data.store import LENS, NONLENS, UNLABELLED, ImageBlocks, write_store
from lensscan.errors import SettingError, UserError, check_ranges
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.robust import MAD_TO_SIGMA
from lensscan.simulate.backgrounds import DEFAULT_ZERO_POINT, Backgrounds, open_backgrounds
from lensscan.simulate.cutouts import (
    BLOCK_ITEMS,
    item_generators,
    item_seeds,
    largest_remainder,
    param_columns,
    parse_splits,
)
from lensscan.simulate.families import FAMILIES, Population
from lensscan.simulate.lensing import LensedSource
from lensscan.simulate.noise import noise_model
from lensscan.simulate.photometry import ZERO_POINT
from lensscan.simulate.presets import HSC_WIDE, parse_bands
from lensscan.simulate.priors import (
    LENS_REDSHIFT_RANGE,
    draw_einstein_radius,
    draw_lensed_source,
    draw_source_redshift,
    velocity_dispersion_from_light,
)
from lensscan.simulate.psf import PSF, psf_kernels
from lensscan.simulate.render import Frame, add_component, convolve_periodic

GENERATOR_VERSION = "lensscan.simulate.inject/1"
ARC_ATTEMPTS = 20
"""Arcs drawn per lens before the best one is brightened to the S/N cut."""
KERNEL_SIZE = 33
"""Side of the PSF kernels drawn from a FWHM (holds all but ~0.2% of an HSC Moffat)."""
DEFLECTOR_SEARCH = 0.15
"""Largest distance of the deflector from the centre, as a fraction of the cutout side."""
RANGE_TOLERANCE = 0.01
"""Change of a min-max band's range beyond which ``renormalised`` is set."""
HOST_APERTURE_ARCSEC = 1.5
"""Radius of the aperture in which a host galaxy's magnitude is measured (``max_host_mag``)."""
SKY_INNER_RADIUS = 0.3
"""Sky statistics are measured beyond this radius, in cutout sides, from the centre."""
DEFAULT_MOFFAT_BETA = 3.0
"""Moffat index of PSFs given by a FWHM (HSC Wide's range is about 2.5-4)."""
REDSHIFT_COLUMNS = ("z", "redshift", "photoz", "z_phot", "z_central")
MAG_I_COLUMNS = ("mag_i", "mag_central_i")
_TRANSFORMS = 8
_PLAN_STREAM = 1


def parse_band_values(
    text: str | float | None, bands: Sequence[str], option: str
) -> np.ndarray | None:
    """``"27"`` or ``"g=27.1,r=27.0,i=26.9"`` (or a number) as one value per band.

    Args:
        text: The setting's value (None stays None).
        bands: The bands, in the order of the values returned.
        option: The setting (``zero_point``), for messages.

    Raises:
        SettingError: On a malformed entry, an unknown band or a band left out.
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        return np.full(len(bands), float(text))
    entries = [entry.strip() for entry in str(text).split(",") if entry.strip()]
    try:
        if len(entries) == 1 and "=" not in entries[0]:
            return np.full(len(bands), float(entries[0]))
        values = {}
        for entry in entries:
            band, sep, value = entry.partition("=")
            if not sep:
                raise ValueError(entry)
            values[band.strip()] = float(value)
    except ValueError:
        raise SettingError(
            option, text, "expected a number or BAND=VALUE pairs, e.g. 'g=27,r=27,i=27'"
        ) from None
    unknown = set(values) - set(bands)
    if unknown:
        raise SettingError(option, text, f"band(s) {', '.join(sorted(unknown))} not injected")
    missing = [band for band in bands if band not in values]
    if missing:
        raise SettingError(option, text, f"no value for band(s) {', '.join(missing)}")
    return np.array([values[band] for band in bands])


@dataclass(frozen=True)
class InjectionRequest:
    """A validated ``lensscan simulate --domain inject`` request.

    Attributes:
        backgrounds: Cutout stores, folders or files.
        n: Items to make (None: one per background).
        bands: Bands to write (None: every band of the backgrounds).
        background_bands: Band names of the planes of sources that do not name them.
        size: Cutout side (None: the backgrounds'); larger backgrounds are centre-cropped.
        lens_fraction: Fraction of items with an arc.
        splits: (name, fraction) pairs (or ``"train=0.8,val=0.2"``), drawn per background.
        unlabelled: Store labels as -1 (true labels stay in ``params/true_label``).
        seed: The run's seed.
        family: Simulator family whose source population and Einstein radii are used.
        pixel_scale: Arcsec per pixel (None: the backgrounds').
        zero_point: AB zero point(s) (None: the backgrounds', else 27).
        psf: FITS PSF image(s) at the backgrounds' pixel scale, or None.
        psf_fwhm: PSF FWHM(s) in arcsec (None: the backgrounds', else HSC's medians).
        psf_beta: Moffat index of PSFs given by a FWHM.
        gain: Counts per background flux unit (None: HSC Wide's effective gain).
        min_arc_snr: Smallest arc signal-to-noise.
        min_magnification: Smallest arc magnification.
        min_einstein_radius: Smallest Einstein radius (arcsec); arcs inside the seeing
            disk are lenses nobody could grade.
        max_host_mag: If set, only backgrounds whose central galaxy is brighter than
            this (AB, reddest band, within :data:`HOST_APERTURE_ARCSEC`) are used, for
            lenses and non-lenses alike.
        rotations: Reuse backgrounds under the 8 flips and rotations.
    """

    backgrounds: tuple[str, ...]
    n: int | None = None
    bands: tuple[str, ...] | str | None = None
    background_bands: tuple[str, ...] | str | None = None
    size: int | None = None
    lens_fraction: float = 0.5
    splits: tuple[tuple[str, float], ...] | str = "train=1"
    unlabelled: bool = False
    seed: int = 0
    family: str = "hsc-train"
    pixel_scale: float | None = None
    zero_point: str | None = None
    psf: str | None = None
    psf_fwhm: str | None = None
    psf_beta: float = DEFAULT_MOFFAT_BETA
    gain: str | None = None
    min_arc_snr: float = 20.0
    min_magnification: float = 2.0
    min_einstein_radius: float = 0.75
    max_host_mag: float | None = None
    rotations: bool = False

    def __post_init__(self) -> None:
        resolved = {
            "backgrounds": tuple(str(path) for path in self.backgrounds),
            "bands": self.bands
            if not isinstance(self.bands, str)
            else parse_bands(self.bands, HSC_WIDE),
            "background_bands": parse_band_names(self.background_bands, "background_bands"),
            "splits": parse_splits(self.splits) if isinstance(self.splits, str) else self.splits,
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        checks = [
            ("n", self.n, self.n is None or self.n > 0),
            ("size", self.size, self.size is None or self.size >= 16),
            ("lens_fraction", self.lens_fraction, 0.0 <= self.lens_fraction <= 1.0),
            ("seed", self.seed, self.seed >= 0),
            ("pixel_scale", self.pixel_scale, self.pixel_scale is None or self.pixel_scale > 0),
            ("psf_beta", self.psf_beta, self.psf_beta > 1.0),
            ("min_arc_snr", self.min_arc_snr, self.min_arc_snr >= 0),
            ("min_magnification", self.min_magnification, self.min_magnification >= 0),
            (
                "min_einstein_radius",
                self.min_einstein_radius,
                0 <= self.min_einstein_radius < 5.0,
            ),
            (
                "max_host_mag",
                self.max_host_mag,
                self.max_host_mag is None or math.isfinite(self.max_host_mag),
            ),
        ]
        check_ranges(checks)
        if self.family not in FAMILIES:
            raise SettingError(
                "family", self.family, f"unknown; choose one of {', '.join(FAMILIES)}"
            )

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings for provenance."""
        record = dataclasses.asdict(self)
        record["splits"] = dict(self.splits)
        record["domain"] = "inject"
        return record


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


def sky_statistics(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sky level and noise (clipped median, MAD) of every band of a cutout.

    Measured outside a central disc of radius 0.3 cutout sides, where the galaxy's own
    light least inflates them (on HSC-like simulations: within 6% of the true sky noise in
    the median, within a factor 1.7 for 95% of cutouts; bright neighbours and sky
    gradients make the tail). No-data pixels (exact zeros, as survey pipelines write them)
    are left out. A band without noise (constant) gets a noise of a millionth of its
    largest value, so that signal-to-noise stays finite.
    """
    height, width = image.shape[-2:]
    rows, cols = np.ogrid[:height, :width]
    radius = np.hypot(rows - (height - 1) / 2, cols - (width - 1) / 2)
    outer = radius >= SKY_INNER_RADIUS * min(height, width)
    levels, noises = [], []
    for plane in image:
        usable = np.isfinite(plane) & (plane != 0.0)
        pixels = plane[usable & outer]
        if pixels.size < outer.sum() // 4:
            pixels = plane[np.isfinite(plane)]
        median, sigma = _clipped_median_mad(pixels.astype(np.float32))
        floor = 1e-6 * max(float(np.abs(pixels).max(initial=0.0)), 1e-12)
        levels.append(median)
        noises.append(max(sigma, floor))
    return np.array(levels), np.array(noises)


def _clipped_median_mad(pixels: np.ndarray, clip: float = 2.5) -> tuple[float, float]:
    """Median and normalised MAD after iterative ``clip``-sigma clipping (at most 4 passes)."""
    median = sigma = 0.0
    for _ in range(4):
        if pixels.size == 0:
            break
        median = float(np.median(pixels))
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(pixels - median)))
        kept = pixels[np.abs(pixels - median) <= clip * sigma]
        if kept.size == pixels.size:
            break
        pixels = kept
    return median, sigma


@dataclass(frozen=True)
class Deflector:
    """The lens galaxy as measured from its light (arcsec from the cutout centre)."""

    x: float
    y: float
    q: float
    pa: float
    from_light: bool


def measure_deflector(
    image: np.ndarray,
    sky: np.ndarray,
    sigma: np.ndarray,
    pixel_scale: float,
    rng: np.random.Generator,
) -> Deflector:
    """Centre, axis ratio and angle of the object nearest the centre, from sep's moments.

    Args:
        image: (bands, size, size) cutout.
        sky: Sky level per band.
        sigma: Sky noise per band.
        pixel_scale: Arcsec per pixel.
        rng: Draws the axis ratio and angle when no object is near the centre.
    """
    import sep

    weights = 1.0 / sigma**2
    detection = ((image - sky[:, None, None]) * weights[:, None, None]).sum(0)
    detection /= math.sqrt(weights.sum())
    size = image.shape[-1]
    centre = (size - 1) / 2
    try:
        objects = sep.extract(np.ascontiguousarray(detection, np.float32), 2.0, err=1.0, minarea=5)
    except Exception:  # sep gives up on pathological images (e.g. all pixels equal)
        objects = np.zeros(0, dtype=[("x", float), ("y", float)])
    if len(objects):
        distance = np.hypot(objects["x"] - centre, objects["y"] - centre)
        best = int(np.argmin(distance))
        if distance[best] <= DEFLECTOR_SEARCH * size:
            found = objects[best]
            return Deflector(
                x=float((found["x"] - centre) * pixel_scale),
                y=float((found["y"] - centre) * pixel_scale),
                q=float(np.clip(found["b"] / max(found["a"], 1e-6), 0.4, 1.0)),
                pa=float(found["theta"]),
                from_light=True,
            )
    return Deflector(
        0.0,
        0.0,
        float(np.clip(rng.normal(0.75, 0.14), 0.4, 1.0)),
        float(rng.uniform(0.0, np.pi)),
        False,
    )


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
    from lensscan.simulate.cosmology import sis_einstein_radius

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
                return arc
            if best is None or snr > best.snr:
                best = arc
        assert best is not None
        factor = request.min_arc_snr / max(best.snr, 1e-12)
        shift = 2.5 * math.log10(factor) if factor > 1 else 0.0
        params = dict(best.params, arc_brightening=shift)
        for band in calibration.bands:
            params[f"mag_source_{band}"] -= shift
            params[f"mag_arc_{band}"] -= shift
        scale = max(factor, 1.0)
        return _Arc(best.model * np.float32(scale), params, best.snr * scale, best.magnification)

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


def dihedral_transform(image: np.ndarray, transform: int) -> np.ndarray:
    """One of the 8 flips and 90-degree rotations of a (bands, H, W) image (0: itself)."""
    rotated = np.rot90(image, transform % 4, axes=(1, 2))
    return rotated[:, :, ::-1] if transform >= 4 else rotated


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


@dataclass(frozen=True)
class InjectionPlan:
    """Which background, transform, label and split every item gets."""

    background: np.ndarray
    transform: np.ndarray
    labels: np.ndarray
    split: np.ndarray


def plan_injection(
    request: InjectionRequest, n_backgrounds: int, hosts: np.ndarray | None = None
) -> InjectionPlan:
    """Assign backgrounds, transforms, labels and splits from the run's plan stream.

    Item k takes background ``order[k % m]`` under transform ``k // m``, where ``order`` is
    a permutation of the m usable backgrounds: all of them, or with ``max_host_mag`` those
    whose central galaxy is bright enough. The cut selects the population of lenses and
    non-lenses alike, so that a host's brightness never tells the two apart.

    Args:
        request: The request.
        n_backgrounds: Number of backgrounds.
        hosts: Host magnitude per background (:meth:`Injector.host_magnitudes`), needed
            with ``max_host_mag``.

    Raises:
        UserError: If more items are asked for than the backgrounds allow, or no host is
            bright enough.
    """
    usable = np.arange(n_backgrounds)
    if request.max_host_mag is not None:
        assert hosts is not None
        usable = np.flatnonzero(hosts <= request.max_host_mag)
        if usable.size == 0:
            brightest = f"{np.nanmin(hosts):.2f}" if np.isfinite(hosts).any() else "none found"
            raise UserError(
                f"`max_host_mag` {request.max_host_mag:g}: no background's central galaxy is "
                f"that bright (brightest: {brightest})"
            )
    n = request.n or usable.size
    limit = usable.size * (_TRANSFORMS if request.rotations else 1)
    if n > limit:
        hint = "" if request.rotations else "; pass `rotations` to reuse them flipped and rotated"
        which = "backgrounds" if request.max_host_mag is None else "backgrounds with such a host"
        raise SettingError("n", n, f"{usable.size} {which} give at most {limit} items{hint}")
    rng = np.random.default_rng(np.random.SeedSequence(request.seed, spawn_key=(_PLAN_STREAM,)))
    order = usable[rng.permutation(usable.size)]
    items = np.arange(n)
    background = order[items % usable.size]
    transform = (items // usable.size).astype(np.int8)
    labels = np.full(n, NONLENS, np.int8)
    labels[rng.permutation(n)[: round(request.lens_fraction * n)]] = LENS
    counts = largest_remainder(n_backgrounds, [fraction for _, fraction in request.splits])
    background_split = np.empty(n_backgrounds, np.int8)
    background_split[rng.permutation(n_backgrounds)] = np.repeat(
        np.arange(len(counts)), counts
    ).astype(np.int8)
    return InjectionPlan(background, transform, labels, background_split[background])


def inject_arcs(
    request: InjectionRequest, out: str | os.PathLike[str], *, overwrite: bool = False
) -> str:
    """Make an injection store at ``out``, atomically.

    Returns:
        A one-line summary.

    Raises:
        UserError: For unusable backgrounds or settings, or an ``out`` that exists.
    """
    out_path = check_output_path(out, overwrite=overwrite, option="out")
    started = time.monotonic()
    backgrounds = open_backgrounds(request.backgrounds, request.background_bands)
    hosts = None
    if request.max_host_mag is None:
        plan = plan_injection(request, backgrounds.n)
        calibration = calibrate(request, backgrounds)
        injector = Injector(request, backgrounds, calibration)
    else:
        calibration = calibrate(request, backgrounds)
        injector = Injector(request, backgrounds, calibration)
        hosts = injector.host_magnitudes()
        plan = plan_injection(request, backgrounds.n, hosts)
    n = len(plan.labels)
    seeds = item_seeds(request.seed, n)
    carried = {name: values[plan.background] for name, values in backgrounds.columns.items()}
    if hosts is not None:
        carried["host_mag"] = hosts[plan.background].astype(np.float32)
    schema = param_schema(calibration.bands)
    bands = calibration.bands

    def write_block(array: Any, start: int) -> list[dict[str, Any]]:
        """Make items ``start`` to the end of their block and write them (one Zarr chunk)."""
        stop = min(start + BLOCK_ITEMS, n)
        indices = plan.background[start:stop]
        images = injector.crop(backgrounds.read(indices))
        block = np.empty((stop - start, len(bands), calibration.size, calibration.size))
        rows = []
        for k, item in enumerate(range(start, stop)):
            block[k], params = injector.item(
                images[k],
                int(indices[k]),
                int(plan.transform[item]),
                bool(plan.labels[item] == LENS),
                int(seeds[item]),
            )
            rows.append(params)
        array[start:stop] = block.astype(np.float32)
        return rows

    def write(array: Any) -> dict[str, np.ndarray]:
        rows: list[dict[str, Any]] = []
        for start in range(0, n, BLOCK_ITEMS):
            rows.extend(write_block(array, start))
            logger.info("inject: %d / %d items", len(rows), n)
        return param_columns(schema, rows) | {"item_seed": seeds}

    attrs = {
        "domain": "inject",
        "generator": GENERATOR_VERSION,
        "seed": request.seed,
        "lens_fraction": request.lens_fraction,
        "n_lenses": int((plan.labels == LENS).sum()),
        "unlabelled": request.unlabelled,
        "family": request.family,
        "host_band": calibration.bands[injector.host_band] if hosts is not None else None,
        "normalised_backgrounds": calibration.normalised,
        "zero_points": {
            band: float(ZERO_POINT + 2.5 * math.log10(scale))
            for band, scale in zip(bands, calibration.flux_scale, strict=True)
        }
        if not calibration.normalised
        else None,
        "backgrounds": [str(source.path) for source in backgrounds.sources],
        "provenance": provenance(
            command="simulate",
            settings=request.settings(),
            seed=request.seed,
            inputs=backgrounds.files(),
        ),
    }
    stored = np.full(n, UNLABELLED, np.int8) if request.unlabelled else plan.labels
    images = ImageBlocks(
        (n, len(bands), calibration.size, calibration.size),
        write,
        param_dtypes={**schema, "item_seed": seeds.dtype},
    )
    with atomic_output(out_path) as tmp:
        write_store(
            tmp,
            images=images,
            labels=stored,
            split=plan.split,
            split_names=[name for name, _ in request.splits],
            bands=bands,
            pixel_scale=calibration.pixel_scale,
            attrs=attrs,
            params=carried,
            chunk_items=BLOCK_ITEMS,
        )
    elapsed = time.monotonic() - started
    n_lenses = int((plan.labels == LENS).sum())
    return (
        f"wrote {out_path}: {n} cutouts on {_used(plan, backgrounds.n)}, bands {''.join(bands)}, "
        f"{n_lenses} with injected arcs / {n - n_lenses} untouched"
        f"{' (stored unlabelled)' if request.unlabelled else ''}; "
        f"{elapsed:.1f} s ({n / max(elapsed, 1e-9):.0f} images/s)"
    )


def _used(plan: InjectionPlan, n_backgrounds: int) -> str:
    """``"300 backgrounds"``, or ``"162 of 300 backgrounds"`` when a cut left some out."""
    used = len(np.unique(plan.background))
    if used == n_backgrounds:
        return f"{used} backgrounds"
    return f"{used} of {n_backgrounds} backgrounds"
