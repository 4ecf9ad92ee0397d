"""Survey presets: every number describing a survey's images, in one place.

``hsc`` holds the HSC-SSP Wide numbers the HSC-like domain and fields use (pixel scale,
median seeing, 5-sigma depth in a 2" aperture, sky brightness); ``sim`` holds the simple
source-domain settings (Gaussian PSF of fixed width, white noise). lenstronomy ships no
HSC configuration, so this module is the only place these numbers live. A new survey is
one new preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from lensscan.bands import DEFAULT_BANDS, parse_band_names
from lensscan.errors import SettingError


@dataclass(frozen=True)
class BandConditions:
    """Observing conditions of one band.

    Attributes:
        psf_fwhm: Median PSF FWHM in arcsec.
        depth: 5-sigma point-source depth in a 2" diameter aperture (AB mag).
        sky_brightness: Sky surface brightness (AB mag / arcsec^2); sets object shot noise.
    """

    psf_fwhm: float
    depth: float
    sky_brightness: float


@dataclass(frozen=True)
class SurveyPreset:
    """The image properties of one simulated domain.

    Attributes:
        name: Preset name (the ``domain`` value).
        description: One line for stores and help.
        pixel_scale: Arcsec per pixel.
        cutout_size: Cutout side in pixels.
        bands: Conditions per band.
        default_bands: Bands used when ``bands`` is not given.
        default_lens_fraction: Lens fraction used when ``lens_fraction`` is not given.
        psf_model: ``"moffat"`` or ``"gaussian"``.
        psf_fwhm_scatter: Log-normal scatter of the PSF FWHM around the median (0: fixed).
        moffat_beta_range: Range of the Moffat beta drawn per band.
        psf_max_ellipticity: Largest PSF ellipticity (1 - axis ratio) drawn.
        depth_scatter: Scatter of the depth per item and band (mag), as survey depth varies.
        noise_kernel_1d: Separable kernel that correlates white noise as coadd warping does;
            ``(1.0,)`` gives white noise.
        poisson_noise: Whether objects add shot noise.
    """

    name: str
    description: str
    pixel_scale: float
    cutout_size: int
    bands: Mapping[str, BandConditions]
    default_bands: tuple[str, ...]
    default_lens_fraction: float
    psf_model: str
    psf_fwhm_scatter: float
    moffat_beta_range: tuple[float, float] = (2.5, 4.0)
    psf_max_ellipticity: float = 0.0
    depth_scatter: float = 0.0
    noise_kernel_1d: tuple[float, ...] = (1.0,)
    poisson_noise: bool = False
    references: tuple[str, ...] = field(default=())


# HSC-SSP Wide (Aihara et al. 2018, 2022): 0.168"/px, median seeing and 5-sigma 2" depths.
# Sky brightness: typical Maunakea dark/grey values in the HSC filters.
_HSC_WIDE_BANDS = MappingProxyType(
    {
        "g": BandConditions(psf_fwhm=0.77, depth=26.5, sky_brightness=22.0),
        "r": BandConditions(psf_fwhm=0.76, depth=26.1, sky_brightness=21.1),
        "i": BandConditions(psf_fwhm=0.59, depth=25.9, sky_brightness=20.2),
        "z": BandConditions(psf_fwhm=0.68, depth=24.9, sky_brightness=19.3),
        "y": BandConditions(psf_fwhm=0.70, depth=24.3, sky_brightness=18.4),
    }
)

HSC_WIDE = SurveyPreset(
    name="hsc",
    description="HSC-SSP Wide-like: Moffat PSF, Wide depth, coadd-correlated noise",
    pixel_scale=0.168,
    cutout_size=64,
    bands=_HSC_WIDE_BANDS,
    default_bands=DEFAULT_BANDS,
    default_lens_fraction=1.0 / 101.0,
    psf_model="moffat",
    psf_fwhm_scatter=0.12,
    moffat_beta_range=(2.5, 4.0),
    psf_max_ellipticity=0.06,
    depth_scatter=0.15,
    # Warping each visit with Lanczos/bilinear kernels at random sub-pixel offsets and
    # averaging correlates neighbouring pixels; this kernel gives a lag-1 correlation
    # of about 0.24 per axis, close to HSC coadds.
    noise_kernel_1d=(0.1, 0.8, 0.1),
    poisson_noise=True,
    references=(
        "Aihara et al. 2018 PASJ 70 S4 (HSC-SSP survey design)",
        "Aihara et al. 2022 PASJ 74 247 (PDR3 seeing and depth)",
    ),
)

# The simple source domain: same pixels and depths, but one Gaussian PSF of fixed width
# for every band and white noise, as in the DeepLense simulations.
_SIM_PSF_FWHM = 0.7
_SIM_BANDS = MappingProxyType(
    {
        band: BandConditions(psf_fwhm=_SIM_PSF_FWHM, depth=c.depth, sky_brightness=c.sky_brightness)
        for band, c in _HSC_WIDE_BANDS.items()
    }
)

SIM = SurveyPreset(
    name="sim",
    description="simple lenstronomy simulations: Gaussian PSF, white noise, no contaminants",
    pixel_scale=0.168,
    cutout_size=64,
    bands=_SIM_BANDS,
    default_bands=DEFAULT_BANDS,
    default_lens_fraction=1.0 / 3.0,
    psf_model="gaussian",
    psf_fwhm_scatter=0.0,
)

PRESETS: Mapping[str, SurveyPreset] = MappingProxyType({"sim": SIM, "hsc": HSC_WIDE})


def get_preset(name: str, option: str = "domain") -> SurveyPreset:
    """Return the preset called ``name``.

    Args:
        name: The preset's name.
        option: The setting that named it, for messages.

    Raises:
        SettingError: If there is no such preset.
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise SettingError(
            option, name, f"unknown domain; choose one of {', '.join(PRESETS)}"
        ) from None


def parse_bands(text: str | None, preset: SurveyPreset, option: str = "bands") -> tuple[str, ...]:
    """Parse a band list such as ``"gri"``, ``"g,r,i"`` or ``"i"`` of the preset's bands.

    Args:
        text: The setting's value, or ``None`` for the preset's default bands.
        preset: The survey preset that defines the available bands.
        option: The setting that gave the bands, for messages.

    Returns:
        The bands in the order given.

    Raises:
        UserError: If a band is unknown, repeated, or none is given.
    """
    bands = parse_band_names(text, option, allowed=tuple(preset.bands))
    return preset.default_bands if bands is None else bands
