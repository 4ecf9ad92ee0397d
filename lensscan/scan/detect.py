"""Source detection, Kron photometry and lens-galaxy preselection on one image region (sep).

The algorithms are SExtractor's, through the maintained ``sep`` library; this module only
decides what to run them on and how to read the results.

Detection image
---------------
Each band's background is estimated and subtracted (``sep.Background``, 64 px meshes, bad
pixels excluded). The detection image is the inverse-variance weighted mean of the chosen
bands' background-subtracted images, with one weight per band, ``1 / median(variance)``:
the optimal combination for a source of flat spectrum at the sky noise limit. Per-band
weights (not per-pixel ones) keep a bright galaxy's shape the same in the detection image
as in the bands, which per-pixel variances that include the source's own Poisson noise
would not. The per-pixel noise of the detection image,
``sqrt(sum_b w_b**2 var_b) / sum_b w_b``, is the error map the detection threshold is in
units of. ``var_b`` is the VARIANCE plane when the field has one, else the square of
sep's background RMS map. Bad pixels (MASK bits, NaN, no data) are masked throughout.

Photometry
----------
One Kron aperture per object, measured on the detection image (as SExtractor's dual-image
mode does), is used for every band, so colours compare the same light. The Kron radius
reported is the circularised one, ``kron_factor * sqrt(a * b)``, in pixels here and in
arcsec in the catalog. Magnitudes are AB, ``zero_point - 2.5 log10(flux)`` within 2.5 Kron
radii, NaN for a non-positive flux.

Flags are sep's bits (1 merged/deblended, 2 truncated at the region edge, 4 and 8
extraction overflow or singular moments, 16 aperture truncated, 32 aperture holds masked
pixels, 64 aperture all masked, 128 non-positive flux), OR-ed over detection and every
band's photometry.

Coordinates are numpy 0-based pixels of the region (sep's convention too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lensscan.config import parse_color_cut_text

BACKGROUND_MESH = 64
"""Side of sep's background meshes in pixels (about 11" at HSC's 0.168")."""
DEBLEND_THRESHOLDS = 32
"""Deblending sub-thresholds (SExtractor's DEBLEND_NTHRESH default)."""
DEBLEND_CONTRAST = 0.005
"""Minimum flux fraction of a deblended branch (SExtractor's DEBLEND_MINCONT default)."""
KRON_ELLIPSE = 6.0
"""Ellipse (in units of a, b) within which the Kron radius is measured."""
KRON_FACTOR = 2.5
"""Photometry aperture in Kron radii (SExtractor's MAG_AUTO)."""
ZERO_POINT = 27.0
"""AB zero point of the fluxes (HSC coadds: FLUXMAG0 = 10**10.8)."""
CORE_RADIUS_ARCSEC = 0.4
"""Radius of the aperture that measures an object's core (in the magnitude band): about
half HSC's median seeing FWHM, so a galaxy's nucleus dominates it and an arc's fragment
shows its low surface brightness."""


@dataclass(frozen=True)
class ColorCut:
    """A colour cut on Kron magnitudes, ``mag_blue - mag_red > value`` (or ``<``).

    Attributes:
        blue: The bluer band of the colour.
        red: The redder band.
        greater: Keep colours above ``value`` (else below).
        value: The limit, in magnitudes.
    """

    blue: str
    red: str
    greater: bool
    value: float

    @classmethod
    def parse(cls, text: str) -> ColorCut:
        """Parse ``"g-i>1.0"``.

        Raises:
            UserError: If the text is not ``BAND-BAND>VALUE`` or ``BAND-BAND<VALUE``.
        """
        return cls(*parse_color_cut_text(text))

    def __str__(self) -> str:
        return f"{self.blue}-{self.red}{'>' if self.greater else '<'}{self.value:g}"

    def keep(self, mags: dict[str, np.ndarray]) -> np.ndarray:
        """Which objects pass (an object with a NaN magnitude in either band does not)."""
        colour = mags[self.blue] - mags[self.red]
        with np.errstate(invalid="ignore"):
            return colour > self.value if self.greater else colour < self.value


@dataclass(frozen=True)
class DetectSettings:
    """How to detect and preselect objects.

    Attributes:
        bands: Bands combined into the detection image (all of the field's when empty).
        threshold: Detection threshold in units of the detection image's noise.
        min_area: Fewest connected pixels above threshold that make an object.
        mag_band: Band of the magnitude limit.
        mag_limit: Keep objects brighter than this Kron magnitude in ``mag_band``.
        min_kron_radius: Keep objects with a Kron radius of at least this (arcsec).
        color_cut: Optional colour cut.
        pixel_scale: Arcsec per pixel of the field.
        zero_points: AB zero point of each band of the field, in the field's band order
            (empty: :data:`ZERO_POINT` for every band).
    """

    bands: tuple[str, ...]
    threshold: float
    min_area: int
    mag_band: str
    mag_limit: float
    min_kron_radius: float
    color_cut: ColorCut | None
    pixel_scale: float
    zero_points: tuple[float, ...] = ()


def _background_subtracted(plane: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A band minus sep's background, and the background RMS map (bad pixels as 0)."""
    import sep

    data = np.ascontiguousarray(np.where(bad, 0.0, plane), dtype=np.float32)
    mesh = min(BACKGROUND_MESH, *data.shape)
    background = sep.Background(data, mask=bad, bw=mesh, bh=mesh)
    return data - background.back(), background.rms()


def _detection_image(
    subtracted: Sequence[np.ndarray], variances: Sequence[np.ndarray], bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The inverse-variance weighted mean image and its per-pixel noise (see module doc)."""
    good = ~bad
    weights = []
    for variance in variances:
        typical = float(np.median(variance[good])) if good.any() else 0.0
        weights.append(1.0 / typical if typical > 0 and math.isfinite(typical) else 0.0)
    total = sum(weights)
    if total <= 0:
        zeros = np.zeros(bad.shape, np.float32)
        return zeros, np.ones(bad.shape, np.float32)
    image = sum(w * s for w, s in zip(weights, subtracted, strict=True)) / total
    noise = np.sqrt(sum(w * w * v for w, v in zip(weights, variances, strict=True))) / total
    noise = np.where(good & np.isfinite(noise) & (noise > 0), noise, np.inf)
    return np.ascontiguousarray(image, np.float32), np.ascontiguousarray(noise, np.float32)


def detect_objects(
    image: np.ndarray,
    variance: np.ndarray | None,
    bad: np.ndarray,
    band_names: Sequence[str],
    settings: DetectSettings,
) -> dict[str, np.ndarray]:
    """Detect, deblend and measure the objects of a region.

    Args:
        image: (C, h, w) float32 flux of the field's bands.
        variance: (C, h, w) variance of the same bands, or ``None`` to use the background RMS.
        bad: (h, w) bad pixels (masked, NaN, no data); nothing is detected on them.
        band_names: Band of each plane.
        settings: Detection settings.

    Returns:
        Columns ``x``, ``y`` (region pixels), ``a``, ``b``, ``theta`` (pixels, radians),
        ``kron_radius`` (pixels, circularised), ``ellipticity`` (1 - b/a), ``flags``,
        ``npix``, ``core`` (flux in the magnitude band within :data:`CORE_RADIUS_ARCSEC`
        of the centre), and ``flux_<band>``, ``mag_<band>`` for every band.
    """
    import sep

    bad = np.ascontiguousarray(bad | ~np.isfinite(image).all(axis=0))
    subtracted, variances = [], []
    for c in range(len(band_names)):
        plane, rms = _background_subtracted(image[c], bad)
        subtracted.append(plane)
        plane_variance = variance[c] if variance is not None else rms.astype(np.float64) ** 2
        variances.append(np.where(bad, np.inf, plane_variance))
    chosen = (
        [band_names.index(b) for b in settings.bands] if settings.bands else range(len(band_names))
    )
    detection, noise = _detection_image(
        [subtracted[c] for c in chosen], [variances[c] for c in chosen], bad
    )
    # Bad pixels are masked; a huge (finite) noise there keeps sep's arithmetic clean.
    noise = np.where(np.isfinite(noise), noise, np.float32(1e30)).astype(np.float32)
    # sep's default stacks (300,000 pixels, 1,024 sub-objects) overflow on a crowded
    # 1024 px chunk with its halo; these are process-wide limits, sized to the region.
    sep.set_extract_pixstack(max(300_000, detection.size))
    sep.set_sub_object_limit(4096)
    objects = sep.extract(
        detection,
        settings.threshold,
        err=noise,
        mask=bad,
        minarea=settings.min_area,
        deblend_nthresh=DEBLEND_THRESHOLDS,
        deblend_cont=DEBLEND_CONTRAST,
    )
    x, y = objects["x"].astype(np.float64), objects["y"].astype(np.float64)
    a = np.maximum(objects["a"].astype(np.float64), 1e-3)
    b = np.maximum(objects["b"].astype(np.float64), 1e-3)
    # sep reports theta in [-pi/2, pi/2] but float32 rounding can step just outside.
    theta = np.clip(objects["theta"].astype(np.float64), -math.pi / 2, math.pi / 2)
    flags = objects["flag"].astype(np.int64)
    columns: dict[str, np.ndarray] = {"x": x, "y": y, "a": a, "b": b, "theta": theta}
    if len(x):
        kron, kron_flags = sep.kron_radius(detection, x, y, a, b, theta, KRON_ELLIPSE, mask=bad)
        flags |= kron_flags
        # Objects whose Kron radius cannot be measured get the SExtractor minimum of 3.5.
        kron = np.where(np.isfinite(kron) & (kron > 0), kron, 3.5 / KRON_FACTOR)
        # The core is measured in the magnitude band (i, else the reddest): there a lens
        # galaxy's nucleus outshines its blue arcs, which the detection image adds up.
        core, _, core_flags = sep.sum_circle(
            subtracted[band_names.index(settings.mag_band)],
            x,
            y,
            CORE_RADIUS_ARCSEC / settings.pixel_scale,
            mask=bad,
            subpix=5,
        )
        flags |= core_flags
    else:
        kron = core = np.zeros(0)
    for c, band in enumerate(band_names):
        if len(x):
            flux, _, flux_flags = sep.sum_ellipse(
                subtracted[c], x, y, a, b, theta, KRON_FACTOR * kron, mask=bad, subpix=1
            )
            flags |= flux_flags
        else:
            flux = np.zeros(0)
        columns[f"flux_{band}"] = flux
        zero_point = settings.zero_points[c] if settings.zero_points else ZERO_POINT
        columns[f"mag_{band}"] = magnitudes(flux, zero_point)
    columns |= {
        "kron_radius": kron * np.sqrt(a * b),
        "ellipticity": 1.0 - b / a,
        "flags": flags,
        "npix": objects["npix"].astype(np.int64),
        "core": core,
    }
    return columns


def magnitudes(flux: np.ndarray, zero_point: float = ZERO_POINT) -> np.ndarray:
    """AB magnitudes of fluxes at ``zero_point``; NaN where the flux is not positive."""
    flux = np.asarray(flux, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, zero_point - 2.5 * np.log10(flux), np.nan)


def preselect(
    columns: dict[str, np.ndarray], bad: np.ndarray, settings: DetectSettings
) -> np.ndarray:
    """Which detections are lens-galaxy candidates.

    An object is kept when it is extended beyond the PSF (Kron radius at least
    ``min_kron_radius``), brighter than ``mag_limit`` in ``mag_band``, passes the colour
    cut if any, and its centre pixel is not bad.

    Args:
        columns: Output of :func:`detect_objects`.
        bad: The region's bad-pixel mask.
        settings: The preselection limits.

    Returns:
        Boolean mask over the detections.
    """
    x, y = columns["x"], columns["y"]
    height, width = bad.shape
    col = np.clip(np.round(x).astype(np.int64), 0, width - 1)
    row = np.clip(np.round(y).astype(np.int64), 0, height - 1)
    with np.errstate(invalid="ignore"):
        keep = columns["kron_radius"] * settings.pixel_scale >= settings.min_kron_radius
        keep &= columns[f"mag_{settings.mag_band}"] < settings.mag_limit
    keep &= ~bad[row, col]
    if settings.color_cut is not None:
        mags = {b: columns[f"mag_{b}"] for b in (settings.color_cut.blue, settings.color_cut.red)}
        keep &= settings.color_cut.keep(mags)
    return keep
