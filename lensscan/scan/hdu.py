"""FITS image HDUs read without loading them: layout, scaling, masks, WCS, region reads.

Uncompressed HDUs are read through a numpy memory map at the data offset astropy reports,
so only the pages of a region are touched, and tile-compressed HDUs through astropy's
``section``, which decompresses only the tiles a region overlaps. Scaling (BSCALE, BZERO,
BLANK) is applied here, in one place, for both.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.errors import UserError
from lensscan.progress import logger

HSC_MASK_BITS = {"BAD": 0, "EDGE": 4, "NO_DATA": 8}
"""Default bit numbers of the mask planes that make a pixel unusable, used when the MASK
header lacks its ``MP_<PLANE>`` keywords (values of the HSC pipeline)."""

GZIP_MAGIC = b"\x1f\x8b"
"""First two bytes of a gzip file (``.fits.gz``)."""

_NUMPY_DTYPE_OF_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


@dataclass(frozen=True)
class HduData:
    """Where an image HDU's pixels are and how to turn them into physical values.

    Attributes:
        path: The FITS file.
        hdu: Index of the HDU in the file.
        shape: Array shape as numpy sees it, ``(H, W)`` or ``(planes, H, W)``.
        compressed: Whether the HDU is tile-compressed (read through ``section``).
        offset: Byte offset of the data (uncompressed HDUs).
        dtype: numpy dtype of the stored values (big-endian).
        bscale: BSCALE (1 when absent).
        bzero: BZERO (0 when absent).
        blank: BLANK value of integer images, if any.
    """

    path: Path
    hdu: int
    shape: tuple[int, ...]
    compressed: bool
    offset: int
    dtype: str
    bscale: float = 1.0
    bzero: float = 0.0
    blank: int | None = None

    @property
    def is_cube(self) -> bool:
        """Whether the HDU is a (planes, H, W) cube."""
        return len(self.shape) == 3

    def read(self, region: tuple[int, int, int, int], plane: int | None = None) -> np.ndarray:
        """Read a region as float64 physical values (scaled, BLANK as NaN).

        Args:
            region: ``(y0, y1, x0, x1)`` in 0-based pixels.
            plane: Plane of a cube, or ``None`` for a 2-D image.
        """
        y0, y1, x0, x1 = region
        index = (
            (slice(y0, y1), slice(x0, x1))
            if plane is None
            else (plane, slice(y0, y1), slice(x0, x1))
        )
        if self.compressed:
            raw = self._read_compressed(index)
        else:
            memmap = np.memmap(
                self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape
            )
            raw = np.array(memmap[index])
            del memmap
        values = raw.astype(np.float64)
        if self.blank is not None:
            values[raw == self.blank] = np.nan
        if self.bscale != 1.0 or self.bzero != 0.0:
            values = values * self.bscale + self.bzero
        return values

    def _read_compressed(self, index: tuple[Any, ...]) -> np.ndarray:
        from astropy.io import fits

        with fits.open(self.path, memmap=True, do_not_scale_image_data=True) as hdul:
            return np.asarray(hdul[self.hdu].section[index])


@dataclass(frozen=True)
class MaskPlane:
    """A MASK HDU and the bits that mark a pixel unusable."""

    data: HduData
    bad_bits: int


@dataclass(frozen=True)
class ImageFile:
    """An image HDU found in a file, with its header facts."""

    path: Path
    data: HduData
    header: Any
    primary_header: Any
    wcs: Any
    mask: MaskPlane | None
    variance: HduData | None = None

    @property
    def planes(self) -> int:
        """Planes of the image (1, or the cube's first axis)."""
        return self.data.shape[0] if len(self.data.shape) == 3 else 1

    @property
    def image_shape(self) -> tuple[int, int]:
        """(height, width) of every plane."""
        return self.data.shape[-2], self.data.shape[-1]


@contextmanager
def open_fits(path: Path) -> Iterator[Any]:
    """Open a FITS file for header reading, turning every failure into a :class:`UserError`.

    astropy reports a truncated file only as a warning; we turn that one into an error. The
    other warnings it gives while parsing (non-standard header cards of old files) are
    logged rather than raised, since they do not stop the scan.
    """
    from astropy.io import fits

    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a FITS file")
    with path.open("rb") as handle:
        if handle.read(2) == GZIP_MAGIC:
            raise UserError(
                f"{path}: gzip-compressed FITS is not supported (a field is read region by "
                "region, which gzip does not allow); gunzip it, or fpack it (tile-compressed "
                "FITS is read directly)"
            )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(path, memmap=True, do_not_scale_image_data=True, lazy_load_hdus=False)
        except (OSError, ValueError, TypeError, IndexError) as exc:
            raise UserError(f"{path}: not a readable FITS file ({exc})") from None
    try:
        check_warnings(path, caught)
        yield hdul
    finally:
        hdul.close()


def check_warnings(path: Path, caught: Sequence[warnings.WarningMessage]) -> None:
    """Raise on a truncation warning astropy gave while parsing; log the others."""
    for message in caught:
        text = str(message.message)
        if "truncated" in text.lower():
            raise UserError(f"{path}: truncated FITS file ({text})")
        logger.debug("%s: %s", path, " ".join(text.split()))


def hdu_data(path: Path, index: int, hdu: Any) -> HduData:
    """Where HDU ``index`` of ``path`` keeps its pixels and how to scale them.

    Raises:
        UserError: If the file is shorter than the HDU's data.
    """
    from astropy.io import fits

    header = hdu.header
    compressed = isinstance(hdu, fits.CompImageHDU)
    shape = tuple(int(header[f"NAXIS{axis}"]) for axis in range(int(header["NAXIS"]), 0, -1))
    bitpix = int(header["BITPIX"])
    info = hdu.fileinfo()
    offset = int(info["datLoc"]) if info else 0
    if not compressed:
        expected = offset + int(np.prod(shape)) * abs(bitpix) // 8
        if os.path.getsize(path) < expected:
            raise UserError(
                f"{path}: truncated FITS file (HDU {index} needs {expected} bytes, file has "
                f"{os.path.getsize(path)})"
            )
    blank = header.get("BLANK") if bitpix > 0 else None
    return HduData(
        path=path,
        hdu=index,
        shape=shape,
        compressed=compressed,
        offset=offset,
        dtype=_NUMPY_DTYPE_OF_BITPIX[bitpix],
        bscale=float(header.get("BSCALE", 1.0)),
        bzero=float(header.get("BZERO", 0.0)),
        blank=None if blank is None else int(blank),
    )


def mask_bits(header: Any) -> int:
    """The MASK bits that make a pixel unusable (from ``MP_*`` keys, else HSC's numbers)."""
    bits = 0
    for plane, default in HSC_MASK_BITS.items():
        bits |= 1 << int(header.get(f"MP_{plane}", default))
    return bits


def celestial_wcs(path: Path, header: Any) -> Any:
    """The celestial part of a header's WCS, or ``None`` when it has none."""
    from astropy.wcs import WCS

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            wcs = WCS(header, naxis=2)
        except Exception as exc:  # astropy raises many types for malformed WCS keywords
            logger.warning("%s: WCS cannot be read (%s); scanning in pixel coordinates", path, exc)
            return None
    check_warnings(path, caught)
    return wcs.celestial if wcs.has_celestial else None


def describe_image(path: Path) -> ImageFile:
    """Find the image HDU of a file (the IMAGE extension of a calexp, else the first image)."""
    from astropy.io import fits

    with open_fits(path) as hdul:
        names = [hdu.name.upper() for hdu in hdul]
        if "IMAGE" in names:
            index = names.index("IMAGE")
        else:
            with_data = [i for i, hdu in enumerate(hdul) if hdu.header.get("NAXIS", 0) > 0]
            if not with_data:
                raise UserError(f"{path}: no HDU holds data")
            index = with_data[0]
        hdu = hdul[index]
        if not isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
            raise UserError(
                f"{path}: HDU {index} is a {type(hdu).__name__} (a table), expected an image"
            )
        naxis = int(hdu.header["NAXIS"])
        if naxis not in (2, 3):
            raise UserError(
                f"{path}: HDU {index} has {naxis} axes, expected an image or a (bands, y, x) cube"
            )
        data = hdu_data(path, index, hdu)
        mask = None
        if "MASK" in names:
            mask_hdu = hdul[names.index("MASK")]
            mask = MaskPlane(
                hdu_data(path, names.index("MASK"), mask_hdu), mask_bits(mask_hdu.header)
            )
            if mask.data.shape != data.shape[-2:]:
                raise UserError(
                    f"{path}: MASK shape {mask.data.shape} differs from IMAGE {data.shape}"
                )
        variance = None
        if "VARIANCE" in names:
            variance = hdu_data(path, names.index("VARIANCE"), hdul[names.index("VARIANCE")])
            if variance.shape != data.shape:
                raise UserError(
                    f"{path}: VARIANCE shape {variance.shape} differs from IMAGE {data.shape}"
                )
        header = hdu.header.copy()
        primary = hdul[0].header.copy()
    return ImageFile(
        path=path,
        data=data,
        header=header,
        primary_header=primary,
        wcs=celestial_wcs(path, header),
        mask=mask,
        variance=variance,
    )
