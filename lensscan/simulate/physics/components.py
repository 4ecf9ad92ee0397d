"""The light-component interface shared by the cutout and field renderers.

A component is anything that adds light to an image: a galaxy profile, a lensed source,
a star, a satellite trail. It knows where it is (its bounds, in arcsec of the scene frame)
and returns its mean surface brightness over pixels, per band. Pixel integration is done
by averaging a sub-pixel grid: the whole stamp for thin structures (arcs) and, for cuspy
profiles, a finer grid over the pixels around the centre.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache

import numpy as np

CORE_HALF_WIDTH_PX = 1
"""Pixels on each side of a profile's centre that are refined with ``core_oversample``."""

ShapeFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


CORE_REFINE_MIN_FLUX = 10.0
"""Components fainter than this in every band (mag 24.5) skip the core refinement: the
flux it moves within the central pixel is spread over ~10 pixels by the PSF, far below
the sky noise."""


@lru_cache(maxsize=64)
def _unit_offsets(factor: int) -> np.ndarray:
    offsets = (np.arange(factor) + 0.5) / factor - 0.5
    offsets.flags.writeable = False
    return offsets


def subpixel_offsets(factor: int, pixel_scale: float) -> np.ndarray:
    """Offsets (arcsec) of ``factor`` sub-pixel centres from a pixel centre, along one axis."""
    return _unit_offsets(factor) * pixel_scale


def pixel_average(
    shape: ShapeFunction, x: np.ndarray, y: np.ndarray, pixel_scale: float, factor: int
) -> np.ndarray:
    """Mean of ``shape`` over each pixel, sampled on a ``factor`` x ``factor`` sub-grid.

    Args:
        shape: Function of broadcastable (1, nx) and (ny, 1) arcsec coordinates.
        x: Pixel-centre x coordinates (nx,), arcsec.
        y: Pixel-centre y coordinates (ny,), arcsec.
        pixel_scale: Arcsec per pixel.
        factor: Sub-samples per pixel and axis (1: sample at pixel centres).

    Returns:
        (..., ny, nx) pixel means; leading axes are whatever ``shape`` returns.
    """
    if factor == 1:
        return shape(x[None, :], y[:, None])
    offsets = subpixel_offsets(factor, pixel_scale)
    fine_x = (x[:, None] + offsets[None, :]).ravel()
    fine_y = (y[:, None] + offsets[None, :]).ravel()
    values = shape(fine_x[None, :], fine_y[:, None])
    lead = values.shape[:-2]
    values = values.reshape(*lead, len(y), factor, len(x), factor)
    return np.add.reduce(values, axis=(-3, -1)) * (1.0 / factor**2)


def refine_core(
    stamp: np.ndarray,
    shape: ShapeFunction,
    x: np.ndarray,
    y: np.ndarray,
    pixel_scale: float,
    center: tuple[float, float],
    factor: int,
) -> None:
    """Re-sample the pixels around ``center`` at ``factor`` x ``factor`` in place.

    ``x`` and ``y`` are evenly spaced pixel centres (as every stamp's are).
    """
    step = pixel_scale
    col = round((center[0] - x[0]) / step)
    row = round((center[1] - y[0]) / step)
    c0, c1 = max(col - CORE_HALF_WIDTH_PX, 0), min(col + CORE_HALF_WIDTH_PX + 1, len(x))
    r0, r1 = max(row - CORE_HALF_WIDTH_PX, 0), min(row + CORE_HALF_WIDTH_PX + 1, len(y))
    if c0 >= c1 or r0 >= r1:
        return
    stamp[..., r0:r1, c0:c1] = pixel_average(shape, x[c0:c1], y[r0:r1], pixel_scale, factor)


def box_around(x0: float, y0: float, extent: float) -> tuple[float, float, float, float]:
    """The square (xmin, xmax, ymin, ymax) of half-size ``extent`` centred on (x0, y0)."""
    return x0 - extent, x0 + extent, y0 - extent, y0 + extent


class Component(ABC):
    """Something that adds light to an image, in every band.

    Subclasses set :attr:`fluxes` (one value per band; its meaning is documented by the
    subclass, usually the total flux in zero-point-27 units) and implement :meth:`shape`
    and :meth:`bounds`; components whose bands differ in shape override :meth:`stamp`.
    """

    fluxes: np.ndarray
    oversample: int = 1
    core_oversample: int = 1

    @abstractmethod
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, xmax, ymin, ymax) in arcsec outside which the light is negligible."""

    @abstractmethod
    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Surface brightness per arcsec^2 for unit flux at broadcastable arcsec coordinates."""

    @property
    def center(self) -> tuple[float, float]:
        """The point whose pixels are refined with :attr:`core_oversample`."""
        xmin, xmax, ymin, ymax = self.bounds()
        return 0.5 * (xmin + xmax), 0.5 * (ymin + ymax)

    def unit_stamp(self, x: np.ndarray, y: np.ndarray, pixel_scale: float) -> np.ndarray:
        """Pixel-mean surface brightness (ny, nx) for unit flux."""
        stamp = pixel_average(self.shape, x, y, pixel_scale, self.oversample)
        bright = float(self.fluxes.max()) >= CORE_REFINE_MIN_FLUX
        if self.core_oversample > self.oversample and bright:
            refine_core(stamp, self.shape, x, y, pixel_scale, self.center, self.core_oversample)
        return stamp

    def stamp(self, x: np.ndarray, y: np.ndarray, pixel_scale: float) -> np.ndarray:
        """Pixel-mean surface brightness per band, (n_bands, ny, nx), per arcsec^2.

        Args:
            x: Pixel-centre x coordinates (nx,), arcsec.
            y: Pixel-centre y coordinates (ny,), arcsec.
            pixel_scale: Arcsec per pixel.
        """
        unit = self.unit_stamp(x, y, pixel_scale)
        return self.fluxes.astype(unit.dtype)[:, None, None] * unit
