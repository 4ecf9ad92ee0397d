"""Pixel frames and rendering: components added in place, PSF convolution.

A :class:`Frame` maps arcsec scene coordinates to the pixels of a canvas: pixel
``(col, row)`` (numpy 0-based, pixel centres) sits at arcsec
``((col - origin_col) * scale, (row - origin_row) * scale)``. Cutouts and fields both draw
their components with :func:`add_component`, each as a stamp clipped to the canvas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lensscan.simulate.components import Component
from lensscan.simulate.psf import PSF


@dataclass(frozen=True)
class Frame:
    """The geometry of a canvas.

    Attributes:
        pixel_scale: Arcsec per pixel.
        origin_col: Column (0-based, may be fractional) of the scene origin.
        origin_row: Row (0-based, may be fractional) of the scene origin.
        width: Canvas width (columns).
        height: Canvas height (rows).
    """

    pixel_scale: float
    origin_col: float
    origin_row: float
    width: int
    height: int

    def col_of(self, x: float | np.ndarray) -> float | np.ndarray:
        """Column of an arcsec x coordinate."""
        return np.asarray(x) / self.pixel_scale + self.origin_col

    def row_of(self, y: float | np.ndarray) -> float | np.ndarray:
        """Row of an arcsec y coordinate."""
        return np.asarray(y) / self.pixel_scale + self.origin_row

    def x_of(self, col: float | np.ndarray) -> np.ndarray:
        """Arcsec x of a column."""
        return (np.asarray(col, dtype=float) - self.origin_col) * self.pixel_scale

    def y_of(self, row: float | np.ndarray) -> np.ndarray:
        """Arcsec y of a row."""
        return (np.asarray(row, dtype=float) - self.origin_row) * self.pixel_scale

    def pixel_box(self, bounds: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """(col0, col1, row0, row1) of the pixels whose centres lie in ``bounds``, clipped."""
        xmin, xmax, ymin, ymax = (float(v) / self.pixel_scale for v in bounds)
        col0 = max(math.ceil(xmin + self.origin_col), 0)
        col1 = min(math.floor(xmax + self.origin_col) + 1, self.width)
        row0 = max(math.ceil(ymin + self.origin_row), 0)
        row1 = min(math.floor(ymax + self.origin_row) + 1, self.height)
        return col0, col1, row0, row1


def add_component(canvas: np.ndarray, frame: Frame, component: Component) -> None:
    """Add a component's pixel fluxes to ``canvas`` (n_bands, height, width) in place."""
    col0, col1, row0, row1 = frame.pixel_box(component.bounds())
    if col0 >= col1 or row0 >= row1:
        return
    x = frame.x_of(np.arange(col0, col1))
    y = frame.y_of(np.arange(row0, row1))
    stamp = component.stamp(x, y, frame.pixel_scale)
    canvas[:, row0:row1, col0:col1] += stamp * frame.pixel_scale**2


def add_components(canvas: np.ndarray, frame: Frame, components: Iterable[Component]) -> None:
    """Add several components in order."""
    for component in components:
        add_component(canvas, frame, component)


def psf_kernels(psfs: Sequence[PSF], pixel_scale: float, size: int) -> np.ndarray:
    """Pixel-integrated kernels (n_bands, size, size) of odd ``size``."""
    return np.stack([psf.kernel(pixel_scale, size) for psf in psfs])


def convolve_periodic(canvas: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Convolve each band of a padded canvas with its kernel using FFTs.

    The convolution wraps around, so the canvas must be padded by at least the kernel
    radius around the region that is kept.

    Args:
        canvas: (n_bands, height, width).
        kernels: (n_bands, k, k), odd k no larger than the canvas.
    """
    from scipy import fft

    n_bands, height, width = canvas.shape
    half = kernels.shape[-1] // 2
    # Single precision halves the FFT cost; the error (~1e-7 of the peak) is far below noise.
    wrapped = np.zeros((n_bands, height, width), np.float32)
    wrapped[:, : half + 1, : half + 1] = kernels[:, half:, half:]
    wrapped[:, : half + 1, width - half :] = kernels[:, half:, :half]
    wrapped[:, height - half :, : half + 1] = kernels[:, :half, half:]
    wrapped[:, height - half :, width - half :] = kernels[:, :half, :half]
    spectrum = fft.rfft2(canvas.astype(np.float32)) * fft.rfft2(wrapped)
    return fft.irfft2(spectrum, s=(height, width)).astype(np.float64)


def convolve_large(canvas: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Convolve each band of a large canvas (a field) with its kernel, zero outside.

    Uses overlap-add FFT convolution, fast for a small kernel on a big image.
    """
    from scipy.signal import oaconvolve

    return np.stack(
        [
            oaconvolve(plane, kernel, mode="same").astype(canvas.dtype)
            for plane, kernel in zip(canvas, kernels, strict=True)
        ]
    )
