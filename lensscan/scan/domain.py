"""Whether a field lies in the model's domain: its pixel scale and the filters of its bands.

A model learns lenses at one pixel scale, in named optical bands. A field at several times
that scale, or in a filter that is none of the optical bands (an infrared camera's), shows
it objects it never saw: its scores are numbers without meaning, and a ranked catalog of
them looks as trustworthy as any other. Such a field is refused unless the user says to
scan it anyway, and the catalog then records the mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lensscan.bands import normalise_band
from lensscan.errors import UserError

PIXEL_SCALE_TOLERANCE = 0.1
"""Relative pixel-scale difference between field and model above which a scan warns."""
PIXEL_SCALE_LIMIT = 1.5
"""Ratio of field to model pixel scale (either way) above which a field is out of domain.

At 1.5x an Einstein radius of 1.5" spans 6 pixels instead of 9 (HSC), and a cutout covers
2.25 times the sky: the model sees neither the scales nor the neighbours it learnt."""


def domain_mismatches(
    opened: Any, model_bands: Sequence[str], model_scale: float | None
) -> list[str]:
    """How a field lies outside the model's domain, one phrase each (empty when it does not).

    Args:
        opened: The :class:`~lensscan.scan.fits_io.OpenedField`.
        model_bands: The model's bands.
        model_scale: The model's pixel scale in arcsec, if its card says.
    """
    found = []
    scale = opened.pixel_scale
    if scale and model_scale:
        ratio = max(scale / model_scale, model_scale / scale)
        if ratio > PIXEL_SCALE_LIMIT:
            found.append(
                f'pixel scale {scale:.3f}" is {ratio:.2f}x off the model\'s {model_scale:.3f}" '
                f"(more than {PIXEL_SCALE_LIMIT:g}x)"
            )
    for band in model_bands:
        name = opened.filters.get(band)
        if name is not None and normalise_band(name) is None:
            found.append(f"band {band} is read from a file whose filter is {name!r}, not {band}")
    return found


def check_domain(
    opened: Any, model_bands: Sequence[str], model_scale: float | None, label: str, force: bool
) -> list[str]:
    """Refuse a field out of the model's domain unless ``force``; return the mismatches.

    Raises:
        UserError: If the field is out of domain and ``force`` is false.
    """
    mismatches = domain_mismatches(opened, model_bands, model_scale)
    if mismatches and not force:
        raise UserError(
            f"{label}: far from the model's domain ({'; '.join(mismatches)}), so its scores "
            "would mean little; set `force_domain` to scan it anyway"
        )
    return mismatches
