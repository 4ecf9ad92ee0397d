"""The ``hsc-galsim`` domain: scenes of the independent family, drawn and rendered.

A lens is a deflector (:func:`~.population.draw_deflector`) with a source behind it that
passes the visible-arc criterion (see the package docstring); a non-lens is one of the
kinds of :data:`~.population.CENTRAL_KINDS`. Field galaxies and stars are added to both
classes alike, over the cutout and a margin around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lensscan.simulate.domains.hsc_galsim.components import Component
from lensscan.simulate.domains.hsc_galsim.photometry import flux_magnitude
from lensscan.simulate.domains.hsc_galsim.population import (
    CENTRAL_KINDS,
    CENTRAL_TYPE_CODES,
    MIN_ARC_SNR,
    MIN_MAGNIFICATION,
    draw_conditions,
    draw_deflector,
    draw_field,
    draw_nonlens_central,
    draw_source,
)
from lensscan.simulate.domains.hsc_galsim.render import (
    Conditions,
    add_noise,
    draw_components,
    lensed_images,
)
from lensscan.simulate.domains.presets import SurveyPreset

SOURCE_TRIES = 6
"""Sources drawn behind one deflector before the deflector itself is drawn again."""

VISIBLE_ARC_CONTRAST = 1.0
"""Arc-to-lens-light ratio from which an arc pixel counts towards the visible-arc S/N."""

_FIELD_MARGIN_ARCSEC = 3.0

_FLOAT_COLUMNS = (
    "einstein_radius",
    "mass_slope",
    "mass_q",
    "shear",
    "velocity_dispersion",
    "z_lens",
    "z_source",
    "source_offset",
    "source_r_eff",
    "magnification",
    "arc_snr",
    "ring_radius",
    "merger_separation",
)
_BAND_FLOAT_COLUMNS = ("mag_central", "mag_source", "mag_arc", "psf_fwhm", "depth")
_INT_COLUMNS = ("true_label", "central_type", "source_n_knots", "n_field_galaxies", "n_stars")


@dataclass(eq=False)
class GalSimScene:
    """One cutout before noise.

    Attributes:
        conditions: PSFs, depths and noise of the cutout.
        components: Every unlensed light component.
        arcs: The PSF-convolved lensed source, ``(n_bands, size, size)``, or None.
        params: The parameter-table row.
    """

    conditions: Conditions
    components: list[Component]
    arcs: np.ndarray | None
    params: dict[str, Any] = field(default_factory=dict)


def arc_snr(arcs: np.ndarray, lens_light: np.ndarray, conditions: Conditions) -> float:
    """Matched-filter S/N of the arc where it stands out from the lens galaxy.

    Only pixels where the arc is at least :data:`VISIBLE_ARC_CONTRAST` times the lens
    galaxy's light count, so an arc buried in the deflector's core does not pass; the
    bands add in quadrature. The sky sigma is that of white noise at the band's depth
    (the coadd's correlation lowers it per pixel but not over an arc).
    """
    total = 0.0
    for k, band in enumerate(conditions.bands):
        arc = arcs[k].astype(float)
        visible = arc >= VISIBLE_ARC_CONTRAST * lens_light[k]
        total += float(np.sum(arc[visible] ** 2)) / conditions.white_sigma(band) ** 2
    return float(np.sqrt(total))


@dataclass(frozen=True)
class GalSimDomain:
    """The independent HSC-like test family (``--domain hsc-galsim``).

    Attributes:
        preset: The survey's numbers (pixel scale, median seeing, depth, sky).
    """

    preset: SurveyPreset

    def param_schema(self, bands: Sequence[str]) -> dict[str, np.dtype]:
        """Parameter columns and dtypes (``central_type``: :data:`CENTRAL_TYPE_CODES`)."""
        schema = {name: np.dtype("float32") for name in _FLOAT_COLUMNS}
        schema.update({f"{p}_{b}": np.dtype("float32") for p in _BAND_FLOAT_COLUMNS for b in bands})
        schema.update({name: np.dtype("int16") for name in _INT_COLUMNS})
        return schema

    def draw(self, rng: np.random.Generator, bands: Sequence[str], is_lens: bool) -> GalSimScene:
        """Draw (and, for a lens, ray-trace) one cutout's scene."""
        bands = tuple(bands)
        conditions = draw_conditions(rng, self.preset, bands)
        params: dict[str, Any] = {
            "true_label": int(is_lens),
            **{f"psf_fwhm_{b}": conditions.seeing[b] for b in bands},
            **{f"depth_{b}": conditions.depth[b] for b in bands},
        }
        arcs = None
        if is_lens:
            central, arcs, lens_params = self._draw_lens(rng, bands, conditions)
            params.update(lens_params, central_type=0)
        else:
            kinds = list(CENTRAL_KINDS)
            shares = np.array([CENTRAL_KINDS[k] for k in kinds])
            kind = kinds[int(rng.choice(len(kinds), p=shares / shares.sum()))]
            central, kind_params = draw_nonlens_central(rng, bands, kind)
            params.update(kind_params, central_type=CENTRAL_TYPE_CODES.index(kind))
        for band in bands:
            params[f"mag_central_{band}"] = flux_magnitude(central[0].fluxes[band])
        half_side = self.preset.cutout_size * self.preset.pixel_scale / 2 + _FIELD_MARGIN_ARCSEC
        field_components, n_galaxies, n_stars = draw_field(rng, bands, half_side)
        params.update(n_field_galaxies=n_galaxies, n_stars=n_stars)
        return GalSimScene(conditions, [*central, *field_components], arcs, params)

    def _draw_lens(
        self, rng: np.random.Generator, bands: tuple[str, ...], conditions: Conditions
    ) -> tuple[list[Component], np.ndarray, dict[str, Any]]:
        """A deflector and a source that pass the visible-arc criterion."""
        while True:
            deflector = draw_deflector(rng, bands)
            lens_light = np.stack(
                [draw_components([deflector.light], conditions, band) for band in bands]
            )
            for _ in range(SOURCE_TRIES):
                source, source_params = draw_source(rng, bands, deflector)
                arcs, lensed = lensed_images(source, conditions)
                magnification = float(lensed.sum() / sum(source.unlensed_fluxes.values()))
                snr = arc_snr(arcs, lens_light, conditions)
                if magnification >= MIN_MAGNIFICATION and snr >= MIN_ARC_SNR:
                    mass = deflector.mass
                    params = {
                        **source_params,
                        "einstein_radius": mass.theta_e,
                        "mass_slope": mass.slope,
                        "mass_q": mass.q,
                        "shear": float(np.hypot(*mass.shear)),
                        "velocity_dispersion": deflector.sigma,
                        "z_lens": deflector.z_lens,
                        "z_source": deflector.z_source,
                        "magnification": magnification,
                        "arc_snr": snr,
                        **{
                            f"mag_arc_{b}": flux_magnitude(max(f, 1e-12))
                            for b, f in zip(bands, lensed, strict=True)
                        },
                    }
                    return [deflector.light], arcs, params

    def render(self, scene: GalSimScene, rng: np.random.Generator) -> np.ndarray:
        """Render one cutout ``(n_bands, size, size)`` float32 in zero-point-27 flux."""
        conditions = scene.conditions
        model = np.stack(
            [draw_components(scene.components, conditions, band) for band in conditions.bands]
        )
        if scene.arcs is not None:
            model = model + scene.arcs
        return add_noise(model, conditions, rng)
