"""The simple source domain, made with lenstronomy as in the DeepLense simulations.

Lenses: an SIE + external shear with Sersic lens light and a Sersic source; non-lenses:
the Sersic galaxy alone. One Gaussian PSF of fixed width for every band, white noise at
the HSC Wide depth, no neighbours, artefacts or shot noise. Priors are simple and
uniform. lenstronomy is imported only when a sim image is rendered.

The image is linear in each light profile's amplitude, so lenstronomy renders the lens
light and the lensed source once each with unit flux, and each band is a flux-weighted
sum of the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from lensscan.simulate.domains.conditions import ObservingConditions, draw_conditions
from lensscan.simulate.domains.hsc import band_column_names
from lensscan.simulate.domains.presets import SurveyPreset
from lensscan.simulate.physics.colours import band_fluxes, magnitudes
from lensscan.simulate.physics.lensing import LensedSource, SIEShear, lensed_fluxes
from lensscan.simulate.physics.photometry import flux_to_mag
from lensscan.simulate.physics.profiles import Sersic

LENS_COLOURS = (1.6, 0.7, 0.35, 0.2)
SOURCE_COLOURS = (0.2, 0.1, 0.05, 0.05)
SUPERSAMPLING = 2

_FLOAT_COLUMNS = (
    "einstein_radius",
    "lens_mass_q",
    "shear",
    "central_r_eff",
    "central_sersic_n",
    "central_q",
    "source_r_eff",
    "source_offset",
    "magnification",
)
_BAND_FLOAT_COLUMNS = ("mag_central", "mag_source", "mag_arc", "psf_fwhm", "depth", "sky_sigma")


@dataclass(eq=False)
class SimScene:
    """One simple simulated cutout.

    Attributes:
        conditions: PSF (Gaussian) and white noise.
        lens_light: The central Sersic galaxy.
        source: The lensed source, or None for a non-lens.
        params: The parameter-table row.
    """

    conditions: ObservingConditions
    lens_light: Sersic
    source: LensedSource | None
    params: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=8)
def _image_model(size: int, pixel_scale: float, fwhm: float, lensed: bool) -> Any:
    """A lenstronomy ImageModel for unit-flux rendering (cached per process)."""
    from lenstronomy.Data import psf as lenstronomy_psf
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel

    corner = -(size - 1) / 2 * pixel_scale
    data = ImageData(
        image_data=np.zeros((size, size)),
        background_rms=1.0,
        exposure_time=1.0,
        ra_at_xy_0=corner,
        dec_at_xy_0=corner,
        transform_pix2angle=np.array([[pixel_scale, 0.0], [0.0, pixel_scale]]),
    )
    psf = lenstronomy_psf.PSF(psf_type="GAUSSIAN", fwhm=fwhm, pixel_size=pixel_scale, truncation=5)
    return ImageModel(
        data,
        psf,
        lens_model_class=LensModel(["SIE", "SHEAR"]) if lensed else None,
        source_model_class=LightModel(["SERSIC_ELLIPSE"]) if lensed else None,
        lens_light_model_class=None if lensed else LightModel(["SERSIC_ELLIPSE"]),
        kwargs_numerics={"supersampling_factor": SUPERSAMPLING},
    )


def _ellipticity(q: float, pa: float) -> tuple[float, float]:
    """Lenstronomy's (e1, e2) from axis ratio and position angle."""
    e = (1.0 - q) / (1.0 + q)
    return float(e * np.cos(2 * pa)), float(e * np.sin(2 * pa))


def _sersic_kwargs(profile: Sersic) -> dict[str, float]:
    """Unit-total-flux lenstronomy SERSIC_ELLIPSE keywords of a Sersic profile."""
    from scipy.special import gamma

    from lensscan.simulate.physics.profiles import sersic_b

    e1, e2 = _ellipticity(profile.q, profile.pa)
    b = sersic_b(profile.n)
    # lenstronomy's amp is the surface brightness at R_sersic.
    amp = 1.0 / (
        2
        * np.pi
        * profile.n
        * profile.r_eff**2
        * np.exp(b)
        * b ** (-2 * profile.n)
        * gamma(2 * profile.n)
    )
    return {
        "amp": amp,
        "R_sersic": profile.r_eff,
        "n_sersic": profile.n,
        "e1": e1,
        "e2": e2,
        "center_x": profile.x0,
        "center_y": profile.y0,
    }


@dataclass(frozen=True)
class SimDomain:
    """The simple, DeepLense-like source domain.

    Attributes:
        preset: Survey numbers (pixel scale, PSF, depth).
    """

    preset: SurveyPreset

    def param_schema(self, bands: Sequence[str]) -> dict[str, np.dtype]:
        """Parameter columns and dtypes."""
        schema = {name: np.dtype("float32") for name in _FLOAT_COLUMNS}
        schema.update(
            {n: np.dtype("float32") for n in band_column_names(_BAND_FLOAT_COLUMNS, bands)}
        )
        schema["true_label"] = np.dtype("int8")
        return schema

    def draw(self, rng: np.random.Generator, bands: Sequence[str], is_lens: bool) -> SimScene:
        """Draw one cutout: a Sersic galaxy, lensing a Sersic source if ``is_lens``."""
        conditions = draw_conditions(rng, self.preset, bands)
        lens_mags = magnitudes(
            "i", rng.uniform(18.5, 21.0), np.array(LENS_COLOURS) + rng.normal(0, 0.05, 4)
        )
        q, pa = float(rng.uniform(0.5, 1.0)), float(rng.uniform(0, np.pi))
        light = Sersic(
            0.0,
            0.0,
            float(rng.uniform(0.5, 1.5)),
            float(rng.uniform(3.0, 5.0)),
            q,
            pa,
            band_fluxes(lens_mags, bands),
        )
        params: dict[str, Any] = {
            "true_label": int(is_lens),
            "central_r_eff": light.r_eff,
            "central_sersic_n": light.n,
            "central_q": q,
            **{f"mag_central_{b}": lens_mags[b] for b in bands},
            **{k: v for k, v in conditions.params().items() if not k.startswith("psf_beta")},
        }
        source = None
        if is_lens:
            theta_e = float(rng.uniform(0.6, 2.8))
            shear, shear_angle = float(rng.uniform(0, 0.1)), float(rng.uniform(0, np.pi))
            mass = SIEShear(
                theta_e,
                float(np.clip(q + rng.normal(0, 0.05), 0.4, 1.0)),
                pa,
                gamma1=shear * np.cos(2 * shear_angle),
                gamma2=shear * np.sin(2 * shear_angle),
            )
            offset, angle = theta_e * 0.5 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            source_mags = magnitudes("r", rng.uniform(22.5, 24.5), np.array(SOURCE_COLOURS))
            part = Sersic(
                float(offset * np.cos(angle)),
                float(offset * np.sin(angle)),
                float(rng.uniform(0.1, 0.5)),
                float(rng.uniform(0.5, 2.0)),
                float(rng.uniform(0.4, 1.0)),
                float(rng.uniform(0, np.pi)),
                band_fluxes(source_mags, bands),
            )
            source = LensedSource(mass, (part,))
            arc = lensed_fluxes(source, source.magnifications(self.preset.pixel_scale))
            params.update(
                einstein_radius=theta_e,
                lens_mass_q=mass.q,
                shear=shear,
                source_r_eff=part.r_eff,
                source_offset=float(offset),
                magnification=float(arc.sum() / part.fluxes.sum()),
                **{f"mag_source_{b}": source_mags[b] for b in bands},
                **{f"mag_arc_{b}": float(m) for b, m in zip(bands, flux_to_mag(arc), strict=True)},
            )
        return SimScene(conditions, light, source, params)

    def render(self, scene: SimScene, rng: np.random.Generator) -> np.ndarray:
        """Render with lenstronomy: unit-flux lens light and source, combined per band."""
        size, scale = self.preset.cutout_size, self.preset.pixel_scale
        fwhm = scene.conditions.psfs[0].fwhm
        light_model = _image_model(size, scale, fwhm, lensed=False)
        model = (
            scene.lens_light.fluxes[:, None, None]
            * light_model.image(kwargs_lens_light=[_sersic_kwargs(scene.lens_light)])[None]
        )
        if scene.source is not None:
            mass = scene.source.mass
            e1, e2 = _ellipticity(mass.q, mass.pa)
            kwargs_lens = [
                {
                    "theta_E": mass.theta_e,
                    "e1": e1,
                    "e2": e2,
                    "center_x": mass.x0,
                    "center_y": mass.y0,
                },
                {"gamma1": mass.gamma1, "gamma2": mass.gamma2, "ra_0": mass.x0, "dec_0": mass.y0},
            ]
            (part,) = scene.source.parts
            source_image = _image_model(size, scale, fwhm, lensed=True).image(
                kwargs_lens=kwargs_lens, kwargs_source=[_sersic_kwargs(part)]
            )
            model = model + part.fluxes[:, None, None] * source_image[None]
        return (model + scene.conditions.noise.sample(model, rng)).astype(np.float32)
