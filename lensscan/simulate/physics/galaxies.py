"""Real galaxy shapes: stamps cut from the Hubble eXtreme Deep Field.

``skimage.data.hubble_deep_field()`` (public domain, NASA; shipped inside scikit-image, so
it works offline) is a colour JPEG. We undo the display gamma (``v**2.2``), average the
channels, segment the sources, and keep each galaxy's pixels (neighbours and sky zeroed)
as a stamp normalised to unit flux, with its half-light radius. The stamps give lensed
sources and irregular galaxies real, clumpy shapes; colours come from the priors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

from lensscan.robust import MAD_TO_SIGMA
from lensscan.simulate.physics.components import Component

DISPLAY_GAMMA = 2.2
_ROTATED_HALF_SIZE = 0.71
"""Half-size of the box holding a square stamp at any rotation, in stamp widths."""
_MIN_AREA_PX, _MAX_AREA_PX = 60, 8000
_MIN_HALF_LIGHT_PX = 2.0
_DETECTION_SIGMA = 3.0


@dataclass(frozen=True, eq=False)
class GalaxyStamp:
    """One real galaxy.

    Attributes:
        image: Unit-sum float32 image, centred on the light-weighted centroid.
        half_light_radius: Half-light radius in stamp pixels.
        support_radius: Radius (stamp pixels) around the centre beyond which the image,
            interpolated bilinearly, is zero: renderers need look no further.
    """

    image: np.ndarray
    half_light_radius: float
    support_radius: float


def hubble_deep_field_path() -> Path:
    """Path of the Hubble Deep Field JPEG inside scikit-image (recorded as an input)."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "hubble_deep_field.jpg"


def _half_light_radius(image: np.ndarray) -> float:
    rows, cols = np.indices(image.shape)
    cy, cx = (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    radius = np.hypot(rows - cy, cols - cx).ravel()
    order = np.argsort(radius)
    cumulative = np.cumsum(image.ravel()[order])
    return float(radius[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])


def _support_radius(image: np.ndarray) -> float:
    """Farthest reach from the centre of the bilinear interpolant of ``image``'s light.

    A point takes light from a pixel less than one pixel away along each axis, so less
    than sqrt(2) away; the half-diagonal of the stamp bounds it too.
    """
    rows, cols = np.nonzero(image)
    centre = (image.shape[0] - 1) / 2
    farthest = float(np.hypot(rows - centre, cols - centre).max())
    return min(farthest + math.sqrt(2.0), _ROTATED_HALF_SIZE * image.shape[0])


def _cut_stamp(
    luminance: np.ndarray, labels: np.ndarray, label: int, box: tuple[slice, slice]
) -> np.ndarray | None:
    """The galaxy's own (dilated) pixels, centred on its centroid, or None at the border."""
    own = ndimage.binary_dilation(labels[box] == label, iterations=3)
    cut = np.where(own & ((labels[box] == 0) | (labels[box] == label)), luminance[box], 0.0)
    cut = np.clip(cut, 0.0, None)
    if cut.sum() <= 0:
        return None
    cy, cx = ndimage.center_of_mass(cut)
    half = int(np.ceil(max(cut.shape) * 0.75)) + 2
    row0 = box[0].start + round(cy) - half
    col0 = box[1].start + round(cx) - half
    if row0 < 0 or col0 < 0 or row0 + 2 * half + 1 > labels.shape[0]:
        return None
    if col0 + 2 * half + 1 > labels.shape[1]:
        return None
    size = 2 * half + 1
    window = (slice(row0, row0 + size), slice(col0, col0 + size))
    # The dilated mask moved into the window's frame (the box may stick out of it).
    own_in_window = np.zeros((size, size), bool)
    rows = slice(max(box[0].start, row0), min(box[0].stop, row0 + size))
    cols = slice(max(box[1].start, col0), min(box[1].stop, col0 + size))
    own_in_window[rows.start - row0 : rows.stop - row0, cols.start - col0 : cols.stop - col0] = own[
        rows.start - box[0].start : rows.stop - box[0].start,
        cols.start - box[1].start : cols.stop - box[1].start,
    ]
    stamp = np.where(
        own_in_window & ((labels[window] == 0) | (labels[window] == label)),
        luminance[window],
        0.0,
    )
    return np.clip(stamp, 0.0, None)


@lru_cache(maxsize=1)
def galaxy_library() -> tuple[GalaxyStamp, ...]:
    """The real-galaxy stamps, built once per process (about a third of a second)."""
    return _build_galaxy_library()


def _build_galaxy_library() -> tuple[GalaxyStamp, ...]:
    """Segment the Hubble Deep Field into unit-flux galaxy stamps."""
    from PIL import Image

    # Read with Pillow, as skimage.data.hubble_deep_field() does, without loading skimage.io.
    with Image.open(hubble_deep_field_path()) as jpeg:
        rgb = np.asarray(jpeg.convert("RGB"))
    linear = (np.arange(256) / 255.0) ** DISPLAY_GAMMA  # the display gamma undone, per level
    luminance = linear[rgb].mean(axis=2)
    background = np.median(luminance)
    noise = MAD_TO_SIGMA * np.median(np.abs(luminance - background))
    luminance = luminance - background
    detection = ndimage.gaussian_filter(luminance, 1.5) > _DETECTION_SIGMA * noise
    labels, _ = ndimage.label(detection)
    stamps = []
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        area = int((labels[box] == label).sum())
        if not _MIN_AREA_PX <= area <= _MAX_AREA_PX:
            continue
        stamp = _cut_stamp(luminance, labels, label, box)
        if stamp is None:
            continue
        radius = _half_light_radius(stamp)
        if radius < _MIN_HALF_LIGHT_PX:
            continue
        stamps.append(
            GalaxyStamp((stamp / stamp.sum()).astype(np.float32), radius, _support_radius(stamp))
        )
    return tuple(stamps)


def draw_shape_index(
    rng: np.random.Generator, half: int | None, size: int | None = None
) -> int | np.ndarray:
    """Random index (or ``size`` indices) into :func:`galaxy_library`.

    Args:
        rng: The random generator.
        half: 0 draws only even indices, 1 only odd ones, None any: two simulator
            families given different halves share no real galaxy shape.
        size: How many indices; None for one int.
    """
    count = len(galaxy_library())
    if half is None:
        return int(rng.integers(count)) if size is None else rng.integers(count, size=size)
    picks = rng.integers((count - half + 1) // 2, size=size)
    indices = 2 * picks + half
    return int(indices) if size is None else indices


@dataclass(frozen=True, eq=False)
class RealGalaxy(Component):
    """A real galaxy stamp scaled, rotated and placed in the scene.

    Attributes:
        x0: Centre x (arcsec).
        y0: Centre y (arcsec).
        index: Index into :func:`galaxy_library`.
        r_eff: Half-light radius to scale the stamp to (arcsec).
        pa: Rotation (radians).
        flip: Whether to mirror the stamp (doubles the shape variety).
        fluxes: Total flux per band.
    """

    x0: float
    y0: float
    index: int
    r_eff: float
    pa: float
    flip: bool
    fluxes: np.ndarray
    oversample: int = 1
    core_oversample: int = 1

    @property
    def _stamp(self) -> GalaxyStamp:
        library = galaxy_library()
        return library[self.index % len(library)]

    @property
    def _arcsec_per_stamp_pixel(self) -> float:
        return self.r_eff / self._stamp.half_light_radius

    def bounds(self) -> tuple[float, float, float, float]:
        """The box around the rotated stamp's light."""
        half = self._stamp.support_radius * self._arcsec_per_stamp_pixel
        return self.x0 - half, self.x0 + half, self.y0 - half, self.y0 + half

    @property
    def center(self) -> tuple[float, float]:
        """The galaxy's centroid."""
        return self.x0, self.y0

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness, interpolated bilinearly from the stamp."""
        stamp = self._stamp.image
        scale = self._arcsec_per_stamp_pixel
        dx, dy = np.broadcast_arrays(x - self.x0, y - self.y0)
        cos, sin = np.cos(self.pa), np.sin(self.pa)
        col = (cos * dx + sin * dy) / scale
        row = (-sin * dx + cos * dy) / scale
        if self.flip:
            col = -col
        centre = (stamp.shape[0] - 1) / 2
        values = ndimage.map_coordinates(
            stamp, [row.ravel() + centre, col.ravel() + centre], order=1, cval=0.0
        )
        return values.reshape(dx.shape) / scale**2
