"""Writing a coadd patch laid out like an HSC (LSST stack) ``calexp`` FITS file.

File name ``calexp-HSC-<BAND>-<tract>-<x>,<y>.fits``; HDUs: an empty primary (with
FLUXMAG0, filter, tract and patch), ``IMAGE`` (float32 flux, zero point 27), ``MASK``
(int32 bit planes, named by ``MP_*`` header keys as the LSST stack writes them),
``VARIANCE`` (float32) and ``PSF`` (the band's PSF image; the stack stores its PSF model
as binary tables, which lensscan does not need). Image HDUs carry a TAN WCS, the patch
origin in the tract (``LTV1/LTV2`` and the ``PARENT`` linear WCS ``A``), and
``EXTTYPE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from lensscan.simulate.physics.photometry import FLUXMAG0

MASK_PLANES: Mapping[str, int] = MappingProxyType(
    {
        "BAD": 0,
        "SAT": 1,
        "INTRP": 2,
        "CR": 3,
        "EDGE": 4,
        "DETECTED": 5,
        "DETECTED_NEGATIVE": 6,
        "SUSPECT": 7,
        "NO_DATA": 8,
        "BRIGHT_OBJECT": 9,
        "CROSSTALK": 10,
        "NOT_DEBLENDED": 11,
        "UNMASKEDNAN": 12,
        "CLIPPED": 13,
        "REJECTED": 14,
        "SENSOR_EDGE": 15,
        "INEXACT_PSF": 16,
    }
)
"""HSC coadd mask planes and their bits (header keys ``MP_<NAME>``)."""


def mask_bit(name: str) -> int:
    """The integer value of one mask plane."""
    return 1 << MASK_PLANES[name]


def _card(key: str) -> str:
    """A header key, as an explicit HIERARCH card when longer than FITS's 8 characters."""
    return key if len(key) <= 8 else f"HIERARCH {key}"


def calexp_name(band: str, tract: int, patch: tuple[int, int]) -> str:
    """``calexp-HSC-I-9813-4,4.fits`` for band i, tract 9813, patch (4, 4)."""
    return f"calexp-HSC-{band.upper()}-{tract}-{patch[0]},{patch[1]}.fits"


def write_calexp(
    path: Path,
    *,
    band: str,
    image: np.ndarray,
    mask: np.ndarray,
    variance: np.ndarray,
    psf_image: np.ndarray,
    wcs_header: Any,
    tract: int,
    patch: tuple[int, int],
    patch_origin: tuple[int, int],
    extra: Mapping[str, Any],
) -> None:
    """Write one band of a patch.

    Args:
        path: Output file.
        band: Band name (g, r, i, z, y).
        image: (H, W) float32 flux.
        mask: (H, W) int32 bit planes.
        variance: (H, W) float32 variance.
        psf_image: The PSF (odd square, unit sum).
        wcs_header: An astropy Header with the TAN WCS.
        tract: Tract number.
        patch: Patch (x, y) index.
        patch_origin: The patch's first pixel in tract coordinates (x0, y0).
        extra: Further primary-header cards (provenance summary, PSF numbers ...).
    """
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    header = primary.header
    header["FILTER"] = (f"HSC-{band.upper()}", "HSC filter")
    header["FLUXMAG0"] = (FLUXMAG0, "flux of a magnitude-0 source (zero point 27)")
    header[_card("FLUXMAG0ERR")] = (0.0, "uncertainty of FLUXMAG0")
    header["TRACT"] = tract
    header["PATCH"] = f"{patch[0]},{patch[1]}"
    for key, value in extra.items():
        header[_card(key)] = value
    hdus = [primary]
    for name, data in (("IMAGE", image), ("MASK", mask), ("VARIANCE", variance)):
        hdu = fits.ImageHDU(data=data, header=wcs_header.copy(), name=name)
        hdu.header["EXTTYPE"] = name
        hdu.header["INHERIT"] = True
        hdu.header["LTV1"] = -patch_origin[0]
        hdu.header["LTV2"] = -patch_origin[1]
        hdu.header["CTYPE1A"], hdu.header["CTYPE2A"] = "LINEAR", "LINEAR"
        hdu.header["CRPIX1A"], hdu.header["CRPIX2A"] = 1.0, 1.0
        hdu.header["CRVAL1A"], hdu.header["CRVAL2A"] = (
            float(patch_origin[0]),
            float(patch_origin[1]),
        )
        hdu.header["CUNIT1A"], hdu.header["CUNIT2A"] = "PIXEL", "PIXEL"
        hdu.header["WCSNAMEA"] = "PARENT"
        if name == "IMAGE":
            hdu.header["BUNIT"] = ("", "flux, zero point 27 (FLUXMAG0 in primary)")
        hdus.append(hdu)
    for plane, bit in MASK_PLANES.items():
        hdus[2].header[_card(f"MP_{plane}")] = bit
    psf = fits.ImageHDU(data=psf_image.astype(np.float32), name="PSF")
    psf.header["EXTTYPE"] = "PSF"
    hdus.append(psf)
    fits.HDUList(hdus).writeto(path)
