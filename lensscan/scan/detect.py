"""Source detection, Kron photometry and lens-galaxy preselection on one image region (sep).

The algorithms are SExtractor's, through the maintained ``sep`` library; this module only
decides what to run them on and how to read the results.

Detection image
---------------
Each band's background is estimated and subtracted (SExtractor's recipe on 64 px meshes of the
field's grid, made local: see :func:`_background_subtracted`; bad
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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lensscan.scan.settings import DetectionSettings, parse_color_cut_text

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


@dataclass(frozen=True, kw_only=True)
class DetectSettings(DetectionSettings):
    """The detection settings applied to one field: the user's and what the field adds.

    Attributes:
        mag_band: Band of the magnitude limit (i, else the field's reddest band).
        pixel_scale: Arcsec per pixel of the field.
        zero_points: AB zero point of each band of the field, in the field's band order
            (empty: :data:`ZERO_POINT` for every band).
        band_variances: Typical variance of each band over the whole field, in the field's
            band order, which weights the bands in the detection image (empty: the median
            over each region, which then depends on where the region ends).
    """

    mag_band: str
    pixel_scale: float
    zero_points: tuple[float, ...] = ()
    band_variances: tuple[float, ...] = ()

    @cached_property
    def cut(self) -> ColorCut | None:
        """The colour cut, parsed (None without one)."""
        return ColorCut.parse(self.color_cut) if self.color_cut else None


def _mesh_statistics(plane: np.ndarray, bad: np.ndarray, origin: tuple[int, int]):
    """Background and RMS of each mesh of the field's mesh grid that the region covers.

    Meshes are :data:`BACKGROUND_MESH` pixels on a grid anchored at the field's pixel
    (0, 0), not the region's, so a mesh holds the same pixels whatever chunk reads it. Each
    mesh's background is SExtractor's: the pixels sigma-clipped at 3 sigma (3 passes), then
    the mode estimate ``2.5 median - 1.5 mean``, or the median in crowded meshes where the
    mean and median differ by more than 0.3 sigma. Meshes under half good are NaN.

    Returns:
        ``(back, rms, first)``: (ny, nx) node values, and the field index of the first mesh
        along y and x.
    """
    mesh = BACKGROUND_MESH
    y0, x0 = origin
    first = (y0 // mesh, x0 // mesh)
    # Pad the region out to whole meshes of the field's grid; padding counts as bad.
    top, left = y0 - first[0] * mesh, x0 - first[1] * mesh
    height, width = plane.shape
    ny, nx = -(-(top + height) // mesh), -(-(left + width) // mesh)
    values = np.full((ny * mesh, nx * mesh), np.nan, np.float32)
    values[top : top + height, left : left + width] = np.where(bad, np.nan, plane)
    blocks = values.reshape(ny, mesh, nx, mesh).transpose(0, 2, 1, 3).reshape(ny * nx, -1)
    # Sorted once (NaN last), the clipped set of a mesh is an index range [low, high), and
    # its moments come from cumulative sums: ten times faster than masked medians.
    ordered = np.sort(blocks, axis=-1)
    count = np.isfinite(ordered).sum(axis=-1)
    finite = np.nan_to_num(ordered).astype(np.float64)
    sums = np.concatenate([np.zeros((len(finite), 1)), np.cumsum(finite, axis=-1)], axis=-1)
    squares = np.concatenate(
        [np.zeros((len(finite), 1)), np.cumsum(finite * finite, axis=-1)], axis=-1
    )
    rows = np.arange(len(ordered))
    low, high = np.zeros_like(count), count.copy()

    def moments() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        kept = np.maximum(high - low, 1)
        middle = ordered[rows, np.minimum(low + (kept - 1) // 2, ordered.shape[1] - 1)]
        upper = ordered[rows, np.minimum(low + kept // 2, ordered.shape[1] - 1)]
        mean = (sums[rows, high] - sums[rows, low]) / kept
        variance = (squares[rows, high] - squares[rows, low]) / kept - mean * mean
        empty = high <= low
        return (
            np.where(empty, np.nan, (middle + upper) / 2),
            np.where(empty, np.nan, mean),
            np.where(empty, np.nan, np.sqrt(np.maximum(variance, 0.0))),
        )

    for _ in range(3):
        centre, _, spread = moments()
        with np.errstate(invalid="ignore"):
            below = (ordered < (centre - 3 * spread)[:, None]).sum(axis=-1)
            within = (ordered <= (centre + 3 * spread)[:, None]).sum(axis=-1)
        low, high = np.maximum(low, below), np.minimum(high, within)
    median, mean, rms = (m.reshape(ny, nx) for m in moments())
    enough = (count >= blocks.shape[-1] / 2).reshape(ny, nx)
    median, mean, rms = (np.where(enough, m, np.nan) for m in (median, mean, rms))
    crowded = np.abs(mean - median) > 0.3 * rms
    back = np.where(crowded, median, 2.5 * median - 1.5 * mean)
    return back, rms, first


def _fill_nodes(nodes: np.ndarray) -> np.ndarray:
    """Fill NaN nodes from their finite neighbours, ring by ring (0 if none is finite)."""
    nodes = nodes.copy()
    for _ in range(max(nodes.shape)):
        missing = ~np.isfinite(nodes)
        if not missing.any():
            break
        padded = np.pad(nodes, 1, constant_values=np.nan)
        rows, cols = nodes.shape
        around = np.stack(
            [padded[dy : dy + rows, dx : dx + cols] for dy in range(3) for dx in range(3)]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            filled = np.nanmedian(around, axis=0)
        nodes = np.where(missing, filled, nodes)
    return np.nan_to_num(nodes, nan=0.0)


def _interpolate_nodes(
    nodes: np.ndarray, first: tuple[int, int], origin: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    """Bilinear map of mesh-centre values over a region (constant beyond the outer centres).

    Bilinear interpolation (unlike sep's bicubic spline over the whole region) makes a
    pixel's value depend only on the four nearest mesh centres.
    """
    mesh = BACKGROUND_MESH

    def axis(start: int, length: int, first_mesh: int, count: int):
        # In field mesh units, so a pixel's weights are bit-identical whatever the region.
        position = (np.arange(start, start + length) - (mesh - 1) / 2) / mesh
        position = np.clip(position, first_mesh, first_mesh + count - 1)
        low = np.minimum(np.floor(position).astype(int), first_mesh + max(count - 2, 0))
        high = np.minimum(low + 1, first_mesh + count - 1)
        return low - first_mesh, high - first_mesh, position - low

    ly, hy, fy = axis(origin[0], shape[0], first[0], nodes.shape[0])
    lx, hx, fx = axis(origin[1], shape[1], first[1], nodes.shape[1])
    # Separable: along x for each row of nodes, then along y (two gathers, not four).
    along_x = nodes[:, lx] * (1 - fx) + nodes[:, hx] * fx
    fy = fy[:, None]
    return along_x[ly] * (1 - fy) + along_x[hy] * fy


def _background_subtracted(
    plane: np.ndarray, bad: np.ndarray, origin: tuple[int, int] = (0, 0), rms: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """A band minus its background, and the background RMS map.

    The background is SExtractor's recipe, made local so a chunk's result does not depend
    on where the chunk ends: mesh values on the field's mesh grid (:func:`_mesh_statistics`),
    a 3x3 median filter of the meshes, and bilinear interpolation between mesh centres. A
    core pixel then depends only on meshes within two of its own, which the halo holds.

    Args:
        plane: (h, w) band of the region.
        bad: (h, w) bad pixels (excluded from the statistics).
        origin: Field pixel ``(y, x)`` of the region's first pixel.
        rms: Whether to make the RMS map too (``None`` in its place otherwise).
    """
    from scipy.ndimage import median_filter

    back, spread, first = _mesh_statistics(plane, bad, origin)
    maps = []
    for nodes in (back, spread) if rms else (back,):
        nodes = median_filter(_fill_nodes(nodes), size=3, mode="nearest")
        maps.append(_interpolate_nodes(nodes, first, origin, plane.shape).astype(np.float32))
    data = np.where(bad, 0.0, plane).astype(np.float32)
    return np.ascontiguousarray(data - maps[0]), maps[1] if rms else None


def _detection_image(
    subtracted: Sequence[np.ndarray],
    variances: Sequence[np.ndarray],
    bad: np.ndarray,
    typical: Sequence[float] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """The inverse-variance weighted mean image and its per-pixel noise (see module doc).

    ``typical`` gives each band's field-wide variance; without it each band's median over
    the region is used.
    """
    good = ~bad
    weights = []
    for c, variance in enumerate(variances):
        region_median = float(np.median(variance[good])) if good.any() else 0.0
        value = typical[c] if typical else region_median
        weights.append(1.0 / value if value > 0 and math.isfinite(value) else 0.0)
    total = sum(weights)
    if total <= 0 or not good.any():
        zeros = np.zeros(bad.shape, np.float32)
        return zeros, np.ones(bad.shape, np.float32)
    # A band without weight (no data in the field) adds nothing, not 0 * inf.
    used = [c for c, w in enumerate(weights) if w > 0]
    image = sum(weights[c] * subtracted[c] for c in used) / total
    noise = np.sqrt(sum(weights[c] ** 2 * variances[c] for c in used)) / total
    noise = np.where(good & np.isfinite(noise) & (noise > 0), noise, np.inf)
    return np.ascontiguousarray(image, np.float32), np.ascontiguousarray(noise, np.float32)


def detect_objects(
    image: np.ndarray,
    variance: np.ndarray | None,
    bad: np.ndarray,
    band_names: Sequence[str],
    settings: DetectSettings,
    origin: tuple[int, int] = (0, 0),
) -> dict[str, np.ndarray]:
    """Detect, deblend and measure the objects of a region.

    Args:
        image: (C, h, w) float32 flux of the field's bands.
        variance: (C, h, w) variance of the same bands, or ``None`` to use the background RMS.
        bad: (h, w) bad pixels (masked, NaN, no data); nothing is detected on them.
        band_names: Band of each plane.
        settings: Detection settings.
        origin: Field pixel ``(y, x)`` of the region's first pixel, which anchors the
            background meshes to the field's grid.

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
        plane, rms = _background_subtracted(image[c], bad, origin, rms=variance is None)
        subtracted.append(plane)
        plane_variance = variance[c] if rms is None else rms.astype(np.float64) ** 2
        variances.append(np.where(bad, np.inf, plane_variance))
    chosen = (
        [band_names.index(b) for b in settings.bands] if settings.bands else range(len(band_names))
    )
    typical = settings.band_variances
    detection, noise = _detection_image(
        [subtracted[c] for c in chosen],
        [variances[c] for c in chosen],
        bad,
        [typical[c] for c in chosen] if typical else (),
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
    if settings.cut is not None:
        mags = {b: columns[f"mag_{b}"] for b in (settings.cut.blue, settings.cut.red)}
        keep &= settings.cut.keep(mags)
    return keep
