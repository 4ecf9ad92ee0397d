"""Galaxy light profiles: Sersic, spiral arms, rings and arc segments.

All profiles use elliptical coordinates with the product-averaged radius
``R^2 = q x'^2 + y'^2 / q`` (x' along the major axis, as lenstronomy does), so ``r_eff`` is
the geometric-mean half-light radius and an isophote of radius ``R`` encloses area
``pi R^2`` whatever the axis ratio. Each profile's :meth:`shape` integrates to one over
the plane (analytically), so a component's flux is its total flux.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from lensscan.simulate.physics.components import Component, box_around

STAMP_MAX_RADIUS_ARCSEC = 12.0
"""Largest stamp half-size for an extended profile (light beyond is dropped)."""


def elliptical_coordinates(
    x: np.ndarray, y: np.ndarray, x0: float, y0: float, q: float, pa: float
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled coordinates (u, v) with ``u^2 + v^2 = q x'^2 + y'^2 / q``.

    Args:
        x: x coordinates (arcsec).
        y: y coordinates (arcsec).
        x0: Centre x (arcsec).
        y0: Centre y (arcsec).
        q: Axis ratio (minor / major) in (0, 1].
        pa: Position angle of the major axis from +x, counter-clockwise (radians).
    """
    # Python floats keep single-precision coordinates in single precision.
    dx, dy = x - float(x0), y - float(y0)
    cos, sin = math.cos(pa), math.sin(pa)
    root_q = math.sqrt(q)
    return (dx * cos + dy * sin) * root_q, (dy * cos - dx * sin) / root_q


def elliptical_form(q: float, pa: float, unit: float = 1.0) -> tuple[float, float, float]:
    """``(a, b, c)`` with ``a dx^2 + b dx dy + c dy^2 = (q x'^2 + y'^2 / q) / unit^2``.

    Args:
        q: Axis ratio.
        pa: Position angle (radians).
        unit: Length unit of the radius (arcsec), e.g. a half-light radius.
    """
    cos, sin = math.cos(pa), math.sin(pa)
    inverse2 = 1.0 / (unit * unit)
    return (
        (q * cos * cos + sin * sin / q) * inverse2,
        2.0 * cos * sin * (q - 1.0 / q) * inverse2,
        (q * sin * sin + cos * cos / q) * inverse2,
    )


def quadratic_form(dx: np.ndarray, dy: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """``a dx^2 + b dx dy + c dy^2`` as a new array, in the precision of the offsets.

    Cheap on broadcast (1, nx) and (ny, 1) offsets: one full-size product and two sums.
    """
    radius2 = np.asarray((b * dx) * dy)
    radius2 += a * (dx * dx)
    radius2 += c * (dy * dy)
    return radius2


@lru_cache(maxsize=256)
def sersic_b(n: float) -> float:
    """The Sersic b_n making r_eff the half-light radius (Ciotti & Bertin 1999 expansion)."""
    return (
        2.0 * n
        - 1.0 / 3.0
        + 4.0 / (405.0 * n)
        + 46.0 / (25515.0 * n**2)
        + 131.0 / (1148175.0 * n**3)
        - 2194697.0 / (30690717750.0 * n**4)
    )


SURFACE_BRIGHTNESS_FLOOR = 0.1
"""Flux per arcsec^2 (about 0.1 sky sigma per HSC Wide pixel) below which the outskirts of
a profile are not rendered: faint galaxies get small stamps."""


def sersic_normalisation(r_eff: float, n: float) -> float:
    """Surface brightness at the centre (per arcsec^2) of a unit-flux Sersic profile."""
    b = sersic_b(n)
    return 1.0 / (2.0 * math.pi * n * r_eff**2 * b ** (-2.0 * n) * math.gamma(2 * n))


def sersic_extent(r_eff: float, n: float, q: float, flux: float = math.inf) -> float:
    """Stamp half-size (arcsec) holding the light of a Sersic profile above the floor.

    The radius where ``flux * I(R)`` falls to :data:`SURFACE_BRIGHTNESS_FLOOR`, capped at
    the radius holding nearly all of the light.
    """
    factor = 4.0 + 2.0 * max(n - 1.0, 0.0)
    extent = factor * r_eff
    central = flux * sersic_normalisation(r_eff, n)
    if central > SURFACE_BRIGHTNESS_FLOOR:
        extent = min(
            extent, r_eff * (math.log(central / SURFACE_BRIGHTNESS_FLOOR) / sersic_b(n)) ** n
        )
    else:
        extent = r_eff
    return min(extent / math.sqrt(q) + 0.2, STAMP_MAX_RADIUS_ARCSEC)


@dataclass(frozen=True, eq=False)
class Sersic(Component):
    """Elliptical Sersic profile.

    Attributes:
        x0: Centre x (arcsec).
        y0: Centre y (arcsec).
        r_eff: Half-light radius (arcsec, product-averaged).
        n: Sersic index.
        q: Axis ratio.
        pa: Position angle (radians).
        fluxes: Total flux per band.
    """

    x0: float
    y0: float
    r_eff: float
    n: float
    q: float
    pa: float
    fluxes: np.ndarray
    oversample: int = 1
    core_oversample: int = 5

    def bounds(self) -> tuple[float, float, float, float]:
        """Box holding nearly all of the light."""
        extent = sersic_extent(self.r_eff, self.n, self.q, float(self.fluxes.max()))
        return box_around(self.x0, self.y0, extent)

    @property
    def center(self) -> tuple[float, float]:
        """The profile centre."""
        return self.x0, self.y0

    @cached_property
    def _constants(self) -> tuple[float, float, float, float, float, float, float]:
        """Python floats ``(x0, y0, a, b, c, -b_n, I_0)`` of :meth:`shape`.

        The centre, the quadratic form in units of r_eff, the exponent's factor and the
        central surface brightness.
        """
        return (
            float(self.x0),
            float(self.y0),
            *elliptical_form(self.q, self.pa, self.r_eff),
            -sersic_b(self.n),
            sersic_normalisation(self.r_eff, self.n),
        )

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness."""
        x0, y0, a, b, c, minus_b_n, central = self._constants
        radius2 = quadratic_form(x - x0, y - y0, a, b, c)
        # (R / r_eff)^(1/n), in place: the stamp is the only full-size array made.
        if self.n == 1.0:
            np.sqrt(radius2, out=radius2)
        elif self.n != 0.5:
            np.power(radius2, 0.5 / self.n, out=radius2)
        radius2 *= minus_b_n
        np.exp(radius2, out=radius2)
        radius2 *= central
        return radius2


@dataclass(frozen=True, eq=False)
class SpiralArms(Component):
    """An exponential disk modulated into logarithmic spiral arms.

    The modulation ``((1 + cos(m (phi - ln(R/h) / tan(pitch)) + phase)) / 2)^2`` averages
    to 3/8 on every circle, so dividing by 3/8 keeps the unit total flux exact.

    Attributes:
        x0: Centre x (arcsec).
        y0: Centre y (arcsec).
        scale_length: Exponential scale length h (arcsec).
        q: Axis ratio (inclination).
        pa: Position angle (radians).
        n_arms: Number of arms.
        pitch: Pitch angle (radians).
        phase: Rotation of the pattern (radians).
        fluxes: Total flux per band.
    """

    x0: float
    y0: float
    scale_length: float
    q: float
    pa: float
    n_arms: int
    pitch: float
    phase: float
    fluxes: np.ndarray
    oversample: int = 1
    core_oversample: int = 1

    _MEAN_MODULATION = 3.0 / 8.0

    def bounds(self) -> tuple[float, float, float, float]:
        """Box holding nearly all of the light."""
        extent = min(7.0 * self.scale_length / np.sqrt(self.q), STAMP_MAX_RADIUS_ARCSEC)
        return box_around(self.x0, self.y0, extent)

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness."""
        u, v = elliptical_coordinates(x, y, self.x0, self.y0, self.q, self.pa)
        radius = np.sqrt(u * u + v * v) + 1e-6
        angle = np.arctan2(v, u)
        winding = np.log(radius / self.scale_length) / np.tan(self.pitch)
        modulation = (0.5 * (1.0 + np.cos(self.n_arms * (angle - winding) + self.phase))) ** 2
        disk = np.exp(-radius / self.scale_length) / (2.0 * np.pi * self.scale_length**2)
        return disk * modulation / self._MEAN_MODULATION


def _ring_normalisation(radius: float, width: float) -> float:
    """Integral over the plane of exp(-(R - radius)^2 / (2 width^2))."""
    return float(
        2.0
        * np.pi
        * (
            width**2 * np.exp(-(radius**2) / (2 * width**2))
            + radius * width * np.sqrt(np.pi / 2) * (1 + math.erf(radius / (np.sqrt(2) * width)))
        )
    )


@dataclass(frozen=True, eq=False)
class Ring(Component):
    """An elliptical Gaussian ring (ring galaxies; HSC optical ghosts).

    Attributes:
        x0: Centre x (arcsec).
        y0: Centre y (arcsec).
        radius: Ring radius (arcsec, product-averaged).
        width: Gaussian width of the ring (arcsec).
        q: Axis ratio.
        pa: Position angle (radians).
        fluxes: Total flux per band.
    """

    x0: float
    y0: float
    radius: float
    width: float
    q: float
    pa: float
    fluxes: np.ndarray
    oversample: int = 2
    core_oversample: int = 1

    def bounds(self) -> tuple[float, float, float, float]:
        """Box holding nearly all of the light."""
        extent = (self.radius + 4.0 * self.width) / np.sqrt(self.q)
        return box_around(self.x0, self.y0, extent)

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness."""
        u, v = elliptical_coordinates(x, y, self.x0, self.y0, self.q, self.pa)
        offset = np.sqrt(u * u + v * v) - self.radius
        norm = _ring_normalisation(self.radius, self.width)
        return np.exp(-0.5 * (offset / self.width) ** 2) / norm


@dataclass(frozen=True, eq=False)
class ArcSegment(Component):
    """Part of a ring, fading with angle: tidal tails and shells of interacting galaxies.

    Attributes:
        x0: Centre of curvature x (arcsec).
        y0: Centre of curvature y (arcsec).
        radius: Radius of curvature (arcsec).
        width: Gaussian width across the arc (arcsec).
        angle: Direction of the arc's middle from the centre (radians).
        angular_width: Gaussian angular half-width of the arc (radians, below ~pi/2).
        fluxes: Total flux per band (approximate: the angular window is normalised as if
            it were untruncated).
    """

    x0: float
    y0: float
    radius: float
    width: float
    angle: float
    angular_width: float
    fluxes: np.ndarray
    oversample: int = 1
    core_oversample: int = 1

    def bounds(self) -> tuple[float, float, float, float]:
        """Box holding nearly all of the light."""
        extent = self.radius + 4.0 * self.width
        return box_around(self.x0, self.y0, extent)

    def shape(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit-flux surface brightness."""
        dx, dy = x - self.x0, y - self.y0
        radius = np.sqrt(dx * dx + dy * dy)
        delta = (np.arctan2(dy, dx) - self.angle + np.pi) % (2 * np.pi) - np.pi
        ring_norm = _ring_normalisation(self.radius, self.width)
        window_norm = self.angular_width * np.sqrt(2 * np.pi) / (2 * np.pi)
        return (
            np.exp(-0.5 * ((radius - self.radius) / self.width) ** 2)
            * np.exp(-0.5 * (delta / self.angular_width) ** 2)
            / (ring_norm * window_norm)
        )
