"""Strong lensing: a singular isothermal ellipsoid (SIE) plus external shear, vectorised.

The SIE follows lenstronomy's convention: convergence
``kappa = theta_E / (2 sqrt(q x'^2 + y'^2 / q))`` with x' along the major axis. Its
deflection is the closed form of Kormann et al. (1994) / Keeton (2001): with
``b = theta_E sqrt(q)``, ``f = sqrt(1 - q^2)`` and ``psi = sqrt(q^2 x'^2 + y'^2)``,
``alpha_x' = b/f arctan(f x'/psi)`` and ``alpha_y' = b/f arctanh(f y'/psi)``. External
shear deflects by ``(g1 x + g2 y, g2 x - g1 y)`` about the lens centre. A test checks both
against lenstronomy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lensscan.simulate.physics.components import Component, box_around, subpixel_offsets

_ROUND_LIMIT = 1e-4  # below this 1 - q the SIS limit is used (f -> 0)


def sie_deflection(
    x: np.ndarray,
    y: np.ndarray,
    theta_e: float,
    q: float,
    pa: float,
    x0: float = 0.0,
    y0: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Deflection (arcsec) of an SIE at arcsec positions ``x, y``.

    Args:
        x: x coordinates.
        y: y coordinates.
        theta_e: Einstein radius (arcsec, lenstronomy's circularised definition).
        q: Axis ratio of the mass.
        pa: Position angle of the major axis (radians, from +x counter-clockwise).
        x0: Centre x.
        y0: Centre y.
    """
    cos, sin = np.cos(pa), np.sin(pa)
    dx, dy = x - x0, y - y0
    xr = cos * dx + sin * dy
    yr = -sin * dx + cos * dy
    b = theta_e * np.sqrt(q)
    psi = np.sqrt(q * q * xr * xr + yr * yr) + 1e-12
    if 1.0 - q < _ROUND_LIMIT:
        ax, ay = b * xr / psi, b * yr / psi
    else:
        f = np.sqrt(1.0 - q * q)
        ax = b / f * np.arctan(f * xr / psi)
        ay = b / f * np.arctanh(f * yr / psi)
    return cos * ax - sin * ay, sin * ax + cos * ay


@dataclass(frozen=True)
class SIEShear:
    """An SIE mass with external shear.

    Attributes:
        theta_e: Einstein radius (arcsec).
        q: Axis ratio of the mass.
        pa: Position angle of the mass (radians).
        x0: Centre x (arcsec).
        y0: Centre y (arcsec).
        gamma1: External shear component 1.
        gamma2: External shear component 2.
    """

    theta_e: float
    q: float
    pa: float
    x0: float = 0.0
    y0: float = 0.0
    gamma1: float = 0.0
    gamma2: float = 0.0

    def deflection(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Total deflection (arcsec)."""
        ax, ay = sie_deflection(x, y, self.theta_e, self.q, self.pa, self.x0, self.y0)
        dx, dy = x - self.x0, y - self.y0
        return ax + self.gamma1 * dx + self.gamma2 * dy, ay + self.gamma2 * dx - self.gamma1 * dy

    def ray_shoot(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source-plane positions of image-plane positions (the lens equation)."""
        ax, ay = self.deflection(x, y)
        return x - ax, y - ay

    def image_extent(self) -> float:
        """Radius (arcsec) beyond the Einstein radius's reach, for stamp sizes."""
        shear = float(np.hypot(self.gamma1, self.gamma2))
        return self.theta_e * (1.0 + shear) / np.sqrt(self.q)


@dataclass(frozen=True, eq=False)
class LensedSource(Component):
    """Source-plane light components seen through a lens.

    Each source part is a component evaluated at the ray-shot positions; surface
    brightness is conserved, so a part's rendered flux is its flux times its magnification.

    Attributes:
        mass: The lens.
        parts: Source-plane components (their positions are source-plane positions).
        oversample: Sub-samples per pixel and axis (arcs are thin). Only pixels whose rays
            can land on a source part are sub-sampled: a pixel's sub-samples lie within 0.71
            pixel of its centre and the lens map stretches that by at most about
            ``1 + theta_E / r`` (the SIE's ``1 - kappa - gamma``), so a pixel is kept when its
            centre's ray lands within that margin of a part's box.
    """

    mass: SIEShear
    parts: tuple[Component, ...]
    oversample: int = 3
    core_oversample: int = 1

    @property
    def fluxes(self) -> np.ndarray:  # type: ignore[override]
        """Intrinsic (unlensed) total flux per band."""
        return np.sum([part.fluxes for part in self.parts], axis=0)

    def bounds(self) -> tuple[float, float, float, float]:
        """Box around the Einstein ring holding every image."""
        reach = 0.0
        for part in self.parts:
            xmin, xmax, ymin, ymax = part.bounds()
            corners = np.array([xmin, xmax, ymin, ymax]) - np.repeat(
                [self.mass.x0, self.mass.y0], 2
            )
            reach = max(reach, float(np.abs(corners).max()))
        extent = self.mass.image_extent() + reach + 0.3
        return box_around(self.mass.x0, self.mass.y0, extent)

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux-per-part surface brightness summed over parts."""
        bx, by = self.mass.ray_shoot(*np.broadcast_arrays(x, y))
        return sum(part.shape(bx, by) for part in self.parts)

    def _part_planes(self, x: np.ndarray, y: np.ndarray, pixel_scale: float) -> np.ndarray:
        """Pixel-mean unit-flux surface brightness of each part, (n_parts, ny, nx)."""
        planes = np.zeros((len(self.parts), len(y), len(x)))
        lit = np.zeros((len(y), len(x)), bool)
        xx, yy = np.meshgrid(x, y)
        bx, by = self.mass.ray_shoot(xx, yy)
        radius = np.maximum(np.hypot(xx - self.mass.x0, yy - self.mass.y0), pixel_scale)
        margin = 0.71 * pixel_scale * (1.2 + self.mass.theta_e / radius)
        for part in self.parts:
            xmin, xmax, ymin, ymax = part.bounds()
            lit |= (
                (bx > xmin - margin)
                & (bx < xmax + margin)
                & (by > ymin - margin)
                & (by < ymax + margin)
            )
        rows, cols = np.nonzero(lit)
        if rows.size == 0:
            return planes
        offsets = subpixel_offsets(self.oversample, pixel_scale)
        fine_x = x[cols][:, None, None] + offsets[None, None, :]
        fine_y = y[rows][:, None, None] + offsets[None, :, None]
        fine_bx, fine_by = self.mass.ray_shoot(*np.broadcast_arrays(fine_x, fine_y))
        for k, part in enumerate(self.parts):
            planes[k, rows, cols] = part.shape(fine_bx, fine_by).mean(axis=(1, 2))
        return planes

    def stamp(self, x: np.ndarray, y: np.ndarray, pixel_scale: float) -> np.ndarray:
        """Lensed surface brightness per band, (n_bands, ny, nx)."""
        planes = self._part_planes(x, y, pixel_scale)
        return sum(
            part.fluxes[:, None, None] * plane[None]
            for part, plane in zip(self.parts, planes, strict=True)
        )

    def magnifications(self, pixel_scale: float) -> np.ndarray:
        """Magnification of each part: its lensed over its intrinsic flux."""
        xmin, xmax, ymin, ymax = self.bounds()
        x = np.arange(xmin, xmax, pixel_scale)
        y = np.arange(ymin, ymax, pixel_scale)
        planes = self._part_planes(x, y, pixel_scale)
        return np.array([plane.sum() * pixel_scale**2 for plane in planes])


def lensed_fluxes(source: LensedSource, magnifications: Sequence[float]) -> np.ndarray:
    """Lensed (observed) flux per band given each part's magnification."""
    return np.sum(
        [part.fluxes * mu for part, mu in zip(source.parts, magnifications, strict=True)], axis=0
    )
