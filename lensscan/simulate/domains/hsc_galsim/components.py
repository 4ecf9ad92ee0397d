"""The light components of the ``hsc-galsim`` family, each turned into a GalSim profile.

A component is plain data (positions in arcsec from the cutout centre, sizes in arcsec,
flux per band in zero-point-27 units) with one method, :meth:`profile`, that builds its
GalSim profile for a band. Drawing happens in :mod:`.render`, so scenes are drawn (and
their parameters tabulated) without rendering.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_KNOT_SIGMA_ARCSEC = 0.03
"""Gaussian width of one star-forming clump (about 250 pc at z = 1.5)."""


def _oriented(galsim: Any, profile: Any, q: float, angle: float, x: float, y: float) -> Any:
    """Shear a round profile to axis ratio ``q`` at ``angle`` (radians) and move it."""
    if q < 1.0:
        profile = profile.shear(q=q, beta=angle * galsim.radians)
    return profile.shift(x, y)


@dataclass(frozen=True)
class Sersic:
    """A Sersic profile (GalSim's, index 0.3-6.2)."""

    x: float
    y: float
    n: float
    half_light_radius: float
    q: float
    angle: float
    fluxes: Mapping[str, float]

    def profile(self, galsim: Any, band: str) -> Any:
        """The GalSim profile in ``band``."""
        shape = galsim.Sersic(
            n=self.n, half_light_radius=self.half_light_radius, flux=self.fluxes[band]
        )
        return _oriented(galsim, shape, self.q, self.angle, self.x, self.y)


@dataclass(frozen=True)
class InclinedDisk:
    """An exponential disk of finite thickness seen at ``inclination`` (radians)."""

    x: float
    y: float
    scale_radius: float
    inclination: float
    height_ratio: float
    angle: float
    fluxes: Mapping[str, float]

    def profile(self, galsim: Any, band: str) -> Any:
        """The GalSim profile in ``band``."""
        disk = galsim.InclinedExponential(
            inclination=self.inclination * galsim.radians,
            scale_radius=self.scale_radius,
            scale_h_over_r=self.height_ratio,
            flux=self.fluxes[band],
        )
        return disk.rotate(self.angle * galsim.radians).shift(self.x, self.y)


@dataclass(frozen=True)
class Ring:
    """A ring: the difference of two exponentials of equal central surface brightness.

    ``I(r) ~ exp(-r / h) - exp(-r / (w h))`` vanishes at the centre and peaks at
    ``r = h w ln(1 / w) / (1 - w)``; ``fluxes`` is the ring's total flux.
    """

    x: float
    y: float
    scale_radius: float
    inner_ratio: float
    q: float
    angle: float
    fluxes: Mapping[str, float]

    @property
    def peak_radius(self) -> float:
        """Radius of the ring's brightest circle (arcsec, before shearing)."""
        w = self.inner_ratio
        return self.scale_radius * w * -math.log(w) / (1.0 - w)

    def profile(self, galsim: Any, band: str) -> Any:
        """The GalSim profile in ``band``."""
        w = self.inner_ratio
        outer_flux = self.fluxes[band] / (1.0 - w * w)
        ring = galsim.Exponential(scale_radius=self.scale_radius, flux=outer_flux) + (
            galsim.Exponential(scale_radius=w * self.scale_radius, flux=-outer_flux * w * w)
        )
        return _oriented(galsim, ring, self.q, self.angle, self.x, self.y)


@dataclass(frozen=True)
class Knots:
    """Star-forming clumps: GalSim's ``RandomKnots`` (a random walk), each a small Gaussian."""

    x: float
    y: float
    n_knots: int
    half_light_radius: float
    q: float
    angle: float
    seed: int
    fluxes: Mapping[str, float]

    def profile(self, galsim: Any, band: str) -> Any:
        """The GalSim profile in ``band`` (the same clumps in every band)."""
        knots = galsim.RandomKnots(
            self.n_knots,
            half_light_radius=self.half_light_radius,
            flux=self.fluxes[band],
            rng=galsim.BaseDeviate(self.seed),
        )
        blurred = galsim.Convolve(knots, galsim.Gaussian(sigma=_KNOT_SIGMA_ARCSEC))
        return _oriented(galsim, blurred, self.q, self.angle, self.x, self.y)


@dataclass(frozen=True)
class Star:
    """A point source (drawn as the band's PSF)."""

    x: float
    y: float
    fluxes: Mapping[str, float]

    def profile(self, galsim: Any, band: str) -> Any:
        """The GalSim profile in ``band`` (a delta function, before the PSF)."""
        return galsim.DeltaFunction(flux=self.fluxes[band]).shift(self.x, self.y)


Component = Sersic | InclinedDisk | Ring | Knots | Star


@dataclass(frozen=True)
class PowerLawLens:
    """lenstronomy's elliptical power-law mass (EPL) with external shear.

    Attributes:
        theta_e: Einstein radius (arcsec).
        slope: Logarithmic slope of the 3-D density (2: isothermal).
        q: Axis ratio of the mass.
        angle: Position angle of the major axis (radians).
        shear: External shear components (gamma1, gamma2).
        x: Centre x (arcsec).
        y: Centre y (arcsec).
    """

    theta_e: float
    slope: float
    q: float
    angle: float
    shear: tuple[float, float]
    x: float
    y: float


@dataclass(frozen=True)
class LensedSource:
    """A source behind a lens: its components sit in the source plane.

    Attributes:
        mass: The deflector's mass.
        components: Source-plane light (arcsec from the optical axis).
        centre: Source-plane centre of the light (arcsec).
        extent: Half-side of the source-plane window that holds the light (arcsec).
    """

    mass: PowerLawLens
    components: tuple[Component, ...]
    centre: tuple[float, float]
    extent: float
    unlensed_fluxes: Mapping[str, float] = field(default_factory=dict)

    @property
    def reference_band(self) -> str:
        """A band in which every component has flux (their shapes are the same in all)."""
        return next(iter(self.unlensed_fluxes))
