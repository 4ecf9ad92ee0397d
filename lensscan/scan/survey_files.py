"""Survey file naming: HSC calexp names, sibling bands, the bands and zero point a file declares."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from lensscan.bands import HSC_FILTER_BANDS, normalise_band
from lensscan.scan.hdu import ImageFile

HSC_CALEXP_NAME = re.compile(
    r"^calexp-HSC-(?P<filter>[A-Z0-9]+)-(?P<tract>\d+)-(?P<patch>\d+,\d+)(?P<suffix>\.fits(?:\.fz|\.gz)?)$",
    re.IGNORECASE,
)
"""HSC pipeline coadd file names, e.g. ``calexp-HSC-I-9813-4,4.fits``."""


def header_band_names(image: ImageFile) -> tuple[str, ...] | None:
    """Band names a file declares: HSC file name, BANDS/FILTERn of a cube, BAND/FILTER."""
    if image.planes > 1:
        listed = image.header.get("BANDS")
        if listed:
            names = [normalise_band(n) for n in re.split(r"[,\s]+", str(listed).strip()) if n]
            if len(names) == 1 and names[0] is None and len(str(listed)) == image.planes:
                names = [normalise_band(c) for c in str(listed)]
        else:
            names = [
                normalise_band(image.header.get(f"FILTER{i}", image.header.get(f"BAND{i}", "")))
                for i in range(1, image.planes + 1)
            ]
        if len(names) == image.planes and all(names):
            return tuple(names)  # type: ignore[arg-type]
        return None
    match = HSC_CALEXP_NAME.match(image.path.name)
    if match and match["filter"].upper() in HSC_FILTER_BANDS:
        return (HSC_FILTER_BANDS[match["filter"].upper()],)
    for header in (image.header, image.primary_header):
        for key in ("BAND", "FILTER"):
            band = normalise_band(header.get(key, "") or "")
            if band:
                return (band,)
    return None


def declared_filter(image: ImageFile) -> str | None:
    """The filter a one-plane file names, as written (HSC file name, BAND or FILTER), if any.

    Unlike :func:`header_band_names` this keeps names lensscan does not know as a band
    (``IRAC1``, ``F160W``): they tell that the image is from another part of the spectrum.
    """
    if image.planes != 1:
        return None
    match = HSC_CALEXP_NAME.match(image.path.name)
    if match:
        return f"HSC-{match['filter'].upper()}"
    for header in (image.header, image.primary_header):
        for key in ("BAND", "FILTER"):
            value = str(header.get(key, "") or "").strip()
            if value:
                return value
    return None


ZERO_POINT_KEYWORDS = ("MAGZERO", "MAGZPT", "FLUXMAG0")
"""Header keywords of an image's AB zero point, in the order they are looked for (FLUXMAG0
is a flux, the others magnitudes)."""


def header_zero_point(image: ImageFile) -> tuple[float, str] | None:
    """The AB zero point a file declares, with the card it came from, or ``None``.

    The image HDU's header is searched before the primary one (HSC coadds keep FLUXMAG0
    in the primary, DECam's community pipeline MAGZERO); the first keyword of
    :data:`ZERO_POINT_KEYWORDS` with a usable value wins. ``FLUXMAG0`` is the flux of a
    zero-magnitude source, so its zero point is ``2.5 log10(FLUXMAG0)``.
    """
    for header in (image.header, image.primary_header):
        for key in ZERO_POINT_KEYWORDS:
            try:
                value = float(header.get(key))
            except (TypeError, ValueError):
                continue
            if key == "FLUXMAG0":
                if value > 0 and math.isfinite(value):
                    return 2.5 * math.log10(value), f"{key}={value:g}"
            elif math.isfinite(value) and value > 0:
                return value, f"{key}={value:g}"
    return None


def field_name(path: str | os.PathLike[str]) -> str:
    """The name of a field: its file name without ``.fits``/``.fz``/``.gz`` suffixes."""
    name = Path(path).name
    for suffix in (".gz", ".fz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def hsc_siblings(path: Path) -> dict[str, Path]:
    """Band files of the same tract and patch beside an HSC calexp: band -> path."""
    match = HSC_CALEXP_NAME.match(path.name)
    if not match:
        return {}
    found: dict[str, Path] = {}
    for candidate in sorted(path.parent.glob(f"calexp-HSC-*-{match['tract']}-{match['patch']}*")):
        other = HSC_CALEXP_NAME.match(candidate.name)
        if other and other["tract"] == match["tract"] and other["patch"] == match["patch"]:
            band = HSC_FILTER_BANDS.get(other["filter"].upper())
            # A patch has one file per band; should both HSC-I and HSC-I2 exist, the first
            # in sorted order is used (and named in the notes).
            if band and band not in found:
                found[band] = candidate
    return found
