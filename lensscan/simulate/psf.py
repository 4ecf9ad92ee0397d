"""Point-spread functions: Moffat (HSC-like) and Gaussian (simple sims), and point sources.

A :class:`PSF` gives the unit-flux surface brightness of a star; :meth:`PSF.kernel` is its
pixel-integrated image for convolution, and :class:`PointSource` renders stars directly
with the same profile (so a star needs no convolution).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lensscan.simulate.components import Component, pixel_average, refine_core
from lensscan.simulate.profiles import elliptical_coordinates

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class PSF:
    """A Moffat (``beta`` set) or Gaussian (``beta`` None) PSF.

    Attributes:
        fwhm: Full width at half maximum (arcsec, product-averaged for elliptical PSFs).
        beta: Moffat index, or None for a Gaussian.
        q: Axis ratio (1: round).
        pa: Position angle of the major axis (radians).
    """

    fwhm: float
    beta: float | None = None
    q: float = 1.0
    pa: float = 0.0

    def profile(self, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness (per arcsec^2) at offsets from the centre."""
        u, v = elliptical_coordinates(dx, dy, 0.0, 0.0, self.q, self.pa)
        r2 = u * u + v * v
        if self.beta is None:
            sigma = self.fwhm / FWHM_PER_SIGMA
            return np.exp(-0.5 * r2 / sigma**2) / (2 * np.pi * sigma**2)
        alpha = self.fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / self.beta) - 1.0))
        return (self.beta - 1.0) / (np.pi * alpha**2) * (1.0 + r2 / alpha**2) ** (-self.beta)

    def radius_enclosing(self, fraction_lost: float) -> float:
        """Radius (arcsec) outside which only ``fraction_lost`` of the flux lies (round PSF)."""
        if self.beta is None:
            sigma = self.fwhm / FWHM_PER_SIGMA
            return float(sigma * np.sqrt(-2.0 * np.log(fraction_lost)))
        alpha = self.fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / self.beta) - 1.0))
        return float(alpha * np.sqrt(fraction_lost ** (1.0 / (1.0 - self.beta)) - 1.0))

    def kernel(self, pixel_scale: float, size: int, core_oversample: int = 5) -> np.ndarray:
        """Pixel-integrated PSF image (size x size, odd size, centred), summing to one.

        Pixels next to the centre, where the profile curves most, are integrated on a
        ``core_oversample`` sub-grid; the rest are sampled at their centres.
        """
        half = size // 2
        coords = (np.arange(size) - half) * pixel_scale
        image = self.profile(coords[None, :], coords[:, None])
        refine_core(image, self.profile, coords, coords, pixel_scale, (0.0, 0.0), core_oversample)
        return image / image.sum()


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
        return (
            self.x0 - self.extent,
            self.x0 + self.extent,
            self.y0 - self.extent,
            self.y0 + self.extent,
        )

    @property
    def center(self) -> tuple[float, float]:
        """The star's position."""
        return self.x0, self.y0

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux image of the first band's PSF."""
        return self.psfs[0].profile(x - self.x0, y - self.y0)

    def stamp(self, x: np.ndarray, y: np.ndarray, pixel_scale: float) -> np.ndarray:
        """Per-band PSF images scaled by flux."""
        planes = []
        for psf, flux in zip(self.psfs, self.fluxes, strict=True):

            def profile(px: np.ndarray, py: np.ndarray, psf: PSF = psf) -> np.ndarray:
                return psf.profile(px - self.x0, py - self.y0)

            plane = pixel_average(profile, x, y, pixel_scale, 1)
            refine_core(plane, profile, x, y, pixel_scale, self.center, self.core_oversample)
            planes.append(flux * plane)
        return np.stack(planes)


def point_source_extent(peak_flux: float, psf: PSF, floor: float) -> float:
    """Stamp half-size (arcsec) beyond which a star of total flux ``peak_flux`` is below ``floor``.

    Args:
        peak_flux: Total flux of the star.
        psf: Its PSF.
        floor: Surface brightness (flux per arcsec^2) worth rendering.
    """
    radii = np.geomspace(0.5, 60.0, 200)
    brightness = peak_flux * psf.profile(radii, np.zeros_like(radii))
    above = radii[brightness > floor]
    return float(max(above[-1] if above.size else 0.5, 3.0 * psf.fwhm))
