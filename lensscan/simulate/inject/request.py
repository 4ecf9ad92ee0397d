"""What a ``lensscan simulate --domain inject`` run is asked for, checked once on construction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensscan.bands import parse_band_names
from lensscan.errors import SettingError, check_ranges
from lensscan.simulate.cutouts.request import parse_splits
from lensscan.simulate.domains.families import FAMILIES
from lensscan.simulate.domains.presets import HSC_WIDE, parse_bands

DEFAULT_MOFFAT_BETA = 3.0
"""Moffat index of PSFs given by a FWHM (HSC Wide's range is about 2.5-4)."""


def parse_band_values(
    text: str | float | None, bands: Sequence[str], option: str
) -> np.ndarray | None:
    """``"27"`` or ``"g=27.1,r=27.0,i=26.9"`` (or a number) as one value per band.

    Args:
        text: The setting's value (None stays None).
        bands: The bands, in the order of the values returned.
        option: The setting (``zero_point``), for messages.

    Raises:
        SettingError: On a malformed entry, an unknown band or a band left out.
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        return np.full(len(bands), float(text))
    entries = [entry.strip() for entry in str(text).split(",") if entry.strip()]
    try:
        if len(entries) == 1 and "=" not in entries[0]:
            return np.full(len(bands), float(entries[0]))
        values = {}
        for entry in entries:
            band, sep, value = entry.partition("=")
            if not sep:
                raise ValueError(entry)
            values[band.strip()] = float(value)
    except ValueError:
        raise SettingError(
            option, text, "expected a number or BAND=VALUE pairs, e.g. 'g=27,r=27,i=27'"
        ) from None
    unknown = set(values) - set(bands)
    if unknown:
        raise SettingError(option, text, f"band(s) {', '.join(sorted(unknown))} not injected")
    missing = [band for band in bands if band not in values]
    if missing:
        raise SettingError(option, text, f"no value for band(s) {', '.join(missing)}")
    return np.array([values[band] for band in bands])


@dataclass(frozen=True)
class InjectionRequest:
    """A validated ``lensscan simulate --domain inject`` request.

    Attributes:
        backgrounds: Cutout stores, folders or files.
        n: Items to make (None: one per background).
        bands: Bands to write (None: every band of the backgrounds).
        background_bands: Band names of the planes of sources that do not name them.
        size: Cutout side (None: the backgrounds'); larger backgrounds are centre-cropped.
        lens_fraction: Fraction of items with an arc.
        splits: (name, fraction) pairs (or ``"train=0.8,val=0.2"``), drawn per background.
        unlabelled: Store labels as -1 (true labels stay in ``params/true_label``).
        seed: The run's seed.
        family: Simulator family whose source population and Einstein radii are used.
        pixel_scale: Arcsec per pixel (None: the backgrounds').
        zero_point: AB zero point(s) (None: the backgrounds', else 27).
        psf: FITS PSF image(s) at the backgrounds' pixel scale, or None.
        psf_fwhm: PSF FWHM(s) in arcsec (None: the backgrounds', else HSC's medians).
        psf_beta: Moffat index of PSFs given by a FWHM.
        gain: Counts per background flux unit (None: HSC Wide's effective gain).
        min_arc_snr: Smallest arc signal-to-noise.
        max_arc_snr: If set, an arc brighter than this is dimmed to a signal-to-noise
            drawn log-uniformly between ``min_arc_snr`` and this, so that the injected
            arcs reach down to the detectable limit instead of following the source
            population's magnitudes alone.
        min_magnification: Smallest arc magnification.
        min_einstein_radius: Smallest Einstein radius (arcsec); arcs inside the seeing
            disk are lenses nobody could grade.
        max_host_mag: If set, only backgrounds whose central galaxy is brighter than
            this (AB, reddest band, within
            :data:`~lensscan.simulate.inject.injector.HOST_APERTURE_ARCSEC`) are used,
            for lenses and non-lenses alike.
        rotations: Reuse backgrounds under the 8 flips and rotations.
    """

    backgrounds: tuple[str, ...]
    n: int | None = None
    bands: tuple[str, ...] | str | None = None
    background_bands: tuple[str, ...] | str | None = None
    size: int | None = None
    lens_fraction: float = 0.5
    splits: tuple[tuple[str, float], ...] | str = "train=1"
    unlabelled: bool = False
    seed: int = 0
    family: str = "hsc-train"
    pixel_scale: float | None = None
    zero_point: str | None = None
    psf: str | None = None
    psf_fwhm: str | None = None
    psf_beta: float = DEFAULT_MOFFAT_BETA
    gain: str | None = None
    min_arc_snr: float = 20.0
    max_arc_snr: float | None = None
    min_magnification: float = 2.0
    min_einstein_radius: float = 0.75
    max_host_mag: float | None = None
    rotations: bool = False

    def __post_init__(self) -> None:
        resolved = {
            "backgrounds": tuple(str(path) for path in self.backgrounds),
            "bands": self.bands
            if not isinstance(self.bands, str)
            else parse_bands(self.bands, HSC_WIDE),
            "background_bands": parse_band_names(self.background_bands, "background_bands"),
            "splits": parse_splits(self.splits) if isinstance(self.splits, str) else self.splits,
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        checks = [
            ("n", self.n, self.n is None or self.n > 0),
            ("size", self.size, self.size is None or self.size >= 16),
            ("lens_fraction", self.lens_fraction, 0.0 <= self.lens_fraction <= 1.0),
            ("seed", self.seed, self.seed >= 0),
            ("pixel_scale", self.pixel_scale, self.pixel_scale is None or self.pixel_scale > 0),
            ("psf_beta", self.psf_beta, self.psf_beta > 1.0),
            ("min_arc_snr", self.min_arc_snr, self.min_arc_snr >= 0),
            (
                "max_arc_snr",
                self.max_arc_snr,
                self.max_arc_snr is None
                or (math.isfinite(self.max_arc_snr) and self.max_arc_snr > self.min_arc_snr),
            ),
            ("min_magnification", self.min_magnification, self.min_magnification >= 0),
            (
                "min_einstein_radius",
                self.min_einstein_radius,
                0 <= self.min_einstein_radius < 5.0,
            ),
            (
                "max_host_mag",
                self.max_host_mag,
                self.max_host_mag is None or math.isfinite(self.max_host_mag),
            ),
        ]
        check_ranges(checks)
        if self.family not in FAMILIES:
            raise SettingError(
                "family", self.family, f"unknown; choose one of {', '.join(FAMILIES)}"
            )

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings for provenance."""
        record = dataclasses.asdict(self)
        record["splits"] = dict(self.splits)
        record["domain"] = "inject"
        return record
