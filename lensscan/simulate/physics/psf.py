"""Point-spread functions: Moffat (HSC-like), Gaussian (simple sims), core plus halo.

A :class:`PSF` gives the unit-flux surface brightness of a star; :meth:`PSF.kernel` is its
pixel-integrated image for convolution, and :class:`PointSource` renders stars directly
with the same profile (so a star needs no convolution).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from lensscan.simulate.physics.components import Component, box_around, pixel_average, refine_core
from lensscan.simulate.physics.profiles import elliptical_form

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class PSF:
    """A Moffat (``beta`` set) or Gaussian (``beta`` None) PSF, optionally with a halo.

    A halo is a second profile of the same kind, ``halo_scale`` times wider, holding the
    fraction ``halo_fraction`` of the flux (a Gaussian with a halo is the double Gaussian
    many survey pipelines fit).

    Attributes:
        fwhm: Full width at half maximum of the core (arcsec, product-averaged for
            elliptical PSFs).
        beta: Moffat index, or None for a Gaussian.
        q: Axis ratio (1: round).
        pa: Position angle of the major axis (radians).
        halo_fraction: Flux fraction in the halo (0: none).
        halo_scale: Halo width over core width.
    """

    fwhm: float
    beta: float | None = None
    q: float = 1.0
    pa: float = 0.0
    halo_fraction: float = 0.0
    halo_scale: float = 1.0

    @property
    def core(self) -> PSF:
        """The core profile alone (this PSF when it has no halo)."""
        if self.halo_fraction <= 0:
            return self
        return PSF(self.fwhm, self.beta, self.q, self.pa)

    @property
    def halo(self) -> PSF:
        """The halo profile alone, with unit flux."""
        return PSF(self.fwhm * self.halo_scale, self.beta, self.q, self.pa)

    @property
    def width(self) -> float:
        """The profile's scale length: Moffat alpha, or Gaussian sigma (arcsec)."""
        if self.beta is None:
            return self.fwhm / FWHM_PER_SIGMA
        return self.fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / self.beta) - 1.0))

    def profile(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness (per arcsec^2) at offsets from the centre."""
        return stacked_profiles((self,), dx, dy)[0]

    def radius_enclosing(self, fraction_lost: float) -> float:
        """Radius (arcsec) outside which only ``fraction_lost`` of the flux lies (round PSF)."""
        if self.halo_fraction > 0:
            return max(
                self.core.radius_enclosing(fraction_lost),
                self.halo.radius_enclosing(fraction_lost / self.halo_fraction),
            )
        if self.beta is None:
            return float(self.width * np.sqrt(-2.0 * np.log(fraction_lost)))
        return float(self.width * np.sqrt(fraction_lost ** (1.0 / (1.0 - self.beta)) - 1.0))

    def kernel(self, pixel_scale: float, size: int, core_oversample: int = 5) -> np.ndarray:
        """Pixel-integrated PSF image (size x size, odd size, centred), summing to one.

        Pixels next to the centre, where the profile curves most, are integrated on a
        ``core_oversample`` sub-grid; the rest are sampled at their centres.
        """
        return psf_kernels((self,), pixel_scale, size, core_oversample)[0]

    @cached_property
    def coefficients(self) -> tuple[float, float, float, float, float]:
        """``(A, B, C, peak, beta)`` of :func:`stacked_profiles`.

        ``A dx^2 + B dx dy + C dy^2`` is the squared elliptical radius in units of the
        profile's scale length (``q x'^2 + y'^2 / q``, as for galaxy profiles); ``peak`` is
        the central surface brightness and ``beta`` the Moffat index (0 for a Gaussian).
        """
        width2 = self.width**2
        if self.beta is None:
            peak, beta = 1.0 / (2.0 * math.pi * width2), 0.0
        else:
            peak, beta = (self.beta - 1.0) / (math.pi * width2), self.beta
        return (*elliptical_form(self.q, self.pa, self.width), peak, beta)


@lru_cache(maxsize=64)
def _coefficient_table(psfs: tuple[PSF, ...], dtype: np.dtype) -> np.ndarray:
    """:attr:`PSF.coefficients` of several PSFs as a read-only (5, n_psfs) array."""
    table = np.array([psf.coefficients for psf in psfs], dtype=dtype).T
    table.flags.writeable = False
    return table


def stacked_profiles(psfs: Sequence[PSF], dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Unit-flux surface brightness of several PSFs at once, (n_psfs, ...).

    Args:
        psfs: The PSFs (evaluated together when all Moffat or all Gaussian).
        dx: x offsets from the centre (arcsec), broadcastable with ``dy``.
        dy: y offsets from the centre (arcsec).

    Returns:
        One plane per PSF, in the precision of the offsets.
    """
    if any(psf.halo_fraction > 0 for psf in psfs):
        cores = stacked_profiles([psf.core for psf in psfs], dx, dy)
        halos = stacked_profiles([psf.halo for psf in psfs], dx, dy)
        weight = np.array([psf.halo_fraction for psf in psfs], cores.dtype)
        weight = weight.reshape((-1,) + (1,) * (cores.ndim - 1))
        return cores * (1 - weight) + halos * weight
    gaussian = {psf.beta is None for psf in psfs}
    if len(gaussian) > 1:
        return np.stack([stacked_profiles((psf,), dx, dy)[0] for psf in psfs])
    dx, dy = np.asarray(dx), np.asarray(dy)
    dtype = np.result_type(dx, dy, np.float32)
    dx, dy = dx.astype(dtype, copy=False), dy.astype(dtype, copy=False)
    # One leading axis for the PSFs, broadcast against the offsets' axes.
    per_psf = (-1,) + (1,) * max(dx.ndim, dy.ndim)
    a, b, c, peak, beta = (
        values.reshape(per_psf) for values in _coefficient_table(tuple(psfs), dtype)
    )
    # In place on the one full-size array: exp(-R^2 / 2) or (1 + R^2)^-beta, times the peak.
    profile = a * (dx * dx) + c * (dy * dy) + b * (dx * dy)
    if gaussian.pop():
        profile *= -0.5
    else:
        profile += 1.0
        np.log(profile, out=profile)
        profile *= -beta
    np.exp(profile, out=profile)
    profile *= peak
    return profile


def psf_kernels(
    psfs: Sequence[PSF], pixel_scale: float, size: int, core_oversample: int = 5
) -> np.ndarray:
    """Pixel-integrated kernels (n_psfs, size, size) of odd ``size``, each summing to one.

    Pixels next to the centre, where the profile curves most, are integrated on a
    ``core_oversample`` sub-grid; the rest are sampled at their centres. PSFs of one kind
    are evaluated together.
    """
    half = size // 2
    # Profiles in single precision (twice as fast, 1e-7 relative), normalised in double.
    coords = ((np.arange(size) - half) * pixel_scale).astype(np.float32)

    def profiles(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        return stacked_profiles(psfs, dx, dy)

    image = profiles(coords[None, :], coords[:, None])
    refine_core(image, profiles, coords, coords, pixel_scale, (0.0, 0.0), core_oversample)
    image = image.astype(np.float64)
    return image / image.sum(axis=(1, 2), keepdims=True)


def kernel_size(psfs: Sequence[PSF], pixel_scale: float, fraction_lost: float = 2e-3) -> int:
    """An odd kernel size holding all but ``fraction_lost`` of every PSF's flux."""
    radius = max(psf.radius_enclosing(fraction_lost) for psf in psfs) / pixel_scale
    return 2 * int(np.ceil(radius)) + 1


@dataclass(frozen=True, eq=False)
class PointSource(Component):
    """A star: each band's PSF scaled by the band's flux.

    Attributes:
        x0: Position x (arcsec).
        y0: Position y (arcsec).
        fluxes: Total flux per band.
        psfs: One PSF per band.
        extent: Stamp half-size (arcsec).
    """

    x0: float
    y0: float
    fluxes: np.ndarray
    psfs: tuple[PSF, ...]
    extent: float
    oversample: int = 1
    core_oversample: int = 5

    def bounds(self) -> tuple[float, float, float, float]:
        """The stamp box."""
        return box_around(self.x0, self.y0, self.extent)

    @property
    def center(self) -> tuple[float, float]:
        """The star's position."""
        return self.x0, self.y0

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux image of the first band's PSF."""
        return self.psfs[0].profile(x - self.x0, y - self.y0)

    def _profiles(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return stacked_profiles(self.psfs, x - self.x0, y - self.y0)

    def stamp(self, x: np.ndarray, y: np.ndarray, pixel_scale: float) -> np.ndarray:
        """Per-band PSF images scaled by flux."""
        planes = pixel_average(self._profiles, x, y, pixel_scale, 1)
        refine_core(planes, self._profiles, x, y, pixel_scale, self.center, self.core_oversample)
        return self.fluxes.astype(planes.dtype)[:, None, None] * planes


_EXTENT_RADII = np.geomspace(0.5, 60.0, 200)
"""Radii (arcsec) at which :func:`point_source_extent` looks for the floor."""


def point_source_extent(fluxes: np.ndarray, psfs: Sequence[PSF], floor: float) -> float:
    """Stamp half-size (arcsec) beyond which a star is below ``floor`` in every band.

    Args:
        fluxes: Total flux of the star per band.
        psfs: The PSF of each band.
        floor: Surface brightness (flux per arcsec^2) worth rendering.
    """
    profiles = stacked_profiles(psfs, _EXTENT_RADII, np.zeros_like(_EXTENT_RADII))
    brightness = np.asarray(fluxes, dtype=float)[:, None] * profiles
    extent = 0.0
    for band_brightness, psf in zip(brightness, psfs, strict=True):
        above = _EXTENT_RADII[band_brightness > floor]
        extent = max(extent, above[-1] if above.size else 0.5, 3.0 * psf.fwhm)
    return float(extent)
