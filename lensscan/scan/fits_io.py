"""Open scan inputs without loading them: FITS layouts, bands, masks, WCS and region reads.

Supported layouts: HSC calexp multi-extension files (IMAGE, MASK, VARIANCE), plain
single-HDU images, (bands, y, x) cubes with a 2-axis celestial WCS, tile-compressed image
HDUs, and integer images scaled by BSCALE/BZERO (BLANK pixels become NaN).

Nothing reads a whole field. :func:`open_field` parses headers only (in the client) and
returns a small picklable :class:`FieldInputs` that Dask workers use to read one region at a
time: uncompressed HDUs through a numpy memory map at the data offset astropy reports, so
only the pages of the region are touched, and tile-compressed HDUs through astropy's
``section``, which decompresses only the tiles the region overlaps. Scaling is applied here,
in one place, for both.

Pixel convention: every array index and every pixel coordinate in lensscan is numpy 0-based
``(y, x)``; FITS 1-based pixels appear only where a file format asks for them, through
:data:`FITS_PIXEL_ORIGIN` and :func:`to_fits_pixel`, and all WCS calls pass origin 0.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.bands import HSC_FILTER_BANDS, normalise_band
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.scan.tiling import centred_window_start

FITS_PIXEL_ORIGIN = 1
"""FITS (and DS9) count pixels from 1; numpy and lensscan count from 0."""

HSC_CALEXP_NAME = re.compile(
    r"^calexp-HSC-(?P<filter>[A-Z0-9]+)-(?P<tract>\d+)-(?P<patch>\d+,\d+)(?P<suffix>\.fits(?:\.fz|\.gz)?)$",
    re.IGNORECASE,
)
"""HSC pipeline coadd file names, e.g. ``calexp-HSC-I-9813-4,4.fits``."""


HSC_MASK_BITS = {"BAD": 0, "EDGE": 4, "NO_DATA": 8}
"""Default bit numbers of the mask planes that make a pixel unusable, used when the MASK
header lacks its ``MP_<PLANE>`` keywords (values of the HSC pipeline)."""

GZIP_MAGIC = b"\x1f\x8b"
"""First two bytes of a gzip file (``.fits.gz``)."""

EMPTY_BAND_SAMPLE_ROWS = 16
"""Rows, spread over the field, read to tell whether a band holds only zeros."""

_NUMPY_DTYPE_OF_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def to_fits_pixel(coordinate: np.ndarray | float) -> np.ndarray | float:
    """Convert a 0-based pixel coordinate to the FITS/DS9 1-based convention."""
    return coordinate + FITS_PIXEL_ORIGIN


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
class BandPlane:
    """One band of a field: an HDU and, for a cube, the plane in it.

    Attributes:
        band: The band's name.
        data: The image HDU.
        plane: Plane of a cube, or ``None`` for a 2-D image.
        variance: The band's VARIANCE HDU (HSC calexp), or ``None``.
    """

    band: str
    data: HduData
    plane: int | None = None
    variance: HduData | None = None


@dataclass(frozen=True)
class MaskPlane:
    """A MASK HDU and the bits that mark a pixel unusable."""

    data: HduData
    bad_bits: int


@dataclass(frozen=True)
class FieldInputs:
    """What a worker needs to read any region of a field (small and picklable).

    Attributes:
        name: The field's name (the stem of its file).
        bands: One entry per model band, in the model's order.
        masks: MASK HDUs of the band files (a pixel is bad if any says so).
        shape: ``(H, W)`` of the field.
        files: Every file the field reads.
        no_data_bands: Bands found to hold only zeros; every pixel then lacks data.
    """

    name: str
    bands: tuple[BandPlane, ...]
    masks: tuple[MaskPlane, ...]
    shape: tuple[int, int]
    files: tuple[Path, ...]
    no_data_bands: tuple[str, ...] = ()

    def zero_bands(self) -> tuple[str, ...]:
        """Bands whose pixels are all exactly zero (or NaN), judged on a sample of rows.

        Coadds mark missing data with zeros; a band that is zero everywhere was not
        observed or not written, and scoring it as sky would be silently wrong.
        """
        height, width = self.shape
        rows = np.unique(np.linspace(0, height - 1, EMPTY_BAND_SAMPLE_ROWS).astype(int))
        empty = []
        for band in self.bands:
            values = np.concatenate(
                [band.data.read((int(r), int(r) + 1, 0, width), band.plane).ravel() for r in rows]
            )
            if ((values == 0) | ~np.isfinite(values)).all() and (values == 0).any():
                empty.append(band.band)
        return tuple(empty)

    @property
    def band_names(self) -> tuple[str, ...]:
        """Band names in model order."""
        return tuple(b.band for b in self.bands)

    def read_region(self, region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Read the bands and the bad-pixel mask of a region.

        A pixel is bad when a MASK HDU flags it (BAD, EDGE, NO_DATA), when any band is NaN
        or infinite there, when every band is exactly zero (how coadds mark no data), or
        everywhere when a band holds no data at all (:attr:`no_data_bands`).

        Args:
            region: ``(y0, y1, x0, x1)`` in 0-based pixels.

        Returns:
            ``(image, bad)``: float32 ``(C, h, w)`` with bad non-finite values left as they
            are, and boolean ``(h, w)``.
        """
        image = np.stack([b.data.read(region, b.plane) for b in self.bands]).astype(np.float32)
        bad = ~np.isfinite(image).all(axis=0)
        bad |= (image == 0).all(axis=0)
        if self.no_data_bands:
            bad[...] = True
        for mask in self.masks:
            bad |= (mask.data.read(region).astype(np.int64) & mask.bad_bits) != 0
        return image, bad

    @property
    def has_variance(self) -> bool:
        """Whether every band has a VARIANCE plane."""
        return all(b.variance is not None for b in self.bands)

    def read_variance(self, region: tuple[int, int, int, int]) -> np.ndarray:
        """The bands' VARIANCE planes over a region, float32 ``(C, h, w)``.

        Raises:
            ValueError: If a band has no VARIANCE plane (check :attr:`has_variance`).
        """
        if not self.has_variance:
            raise ValueError(f"{self.name}: not every band has a VARIANCE plane")
        return np.stack([b.variance.read(region) for b in self.bands]).astype(np.float32)

    def read_stamp(self, centre_y: float, centre_x: float, size: int) -> np.ndarray:
        """A (C, size, size) float32 stamp centred on a position; outside the field is NaN."""
        height, width = self.shape
        y0 = int(centred_window_start(np.array(centre_y), size))
        x0 = int(centred_window_start(np.array(centre_x), size))
        stamp = np.full((len(self.bands), size, size), np.nan, dtype=np.float32)
        ys, xs = max(y0, 0), max(x0, 0)
        ye, xe = min(y0 + size, height), min(x0 + size, width)
        if ye > ys and xe > xs:
            image, _ = self.read_region((ys, ye, xs, xe))
            stamp[:, ys - y0 : ye - y0, xs - x0 : xe - x0] = image
        return stamp


@dataclass(frozen=True)
class OpenedField:
    """A field ready to scan: the worker-side inputs plus what the client needs.

    Attributes:
        inputs: The worker-side description.
        wcs: The celestial WCS, or ``None`` when the image has none.
        pixel_scale: Pixel scale in arcsec (from the WCS), or ``None``.
        notes: Lines to show the user (bands found, bands ignored).
        assumptions: Guesses the user should check (shown as warnings).
    """

    inputs: FieldInputs
    wcs: Any
    pixel_scale: float | None
    notes: tuple[str, ...] = field(default=())
    assumptions: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class _ImageFile:
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
        return self.data.shape[0] if len(self.data.shape) == 3 else 1

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.data.shape[-2], self.data.shape[-1]


@contextmanager
def _open_fits(path: Path) -> Iterator[Any]:
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
        _check_warnings(path, caught)
        yield hdul
    finally:
        hdul.close()


def _check_warnings(path: Path, caught: Sequence[warnings.WarningMessage]) -> None:
    for message in caught:
        text = str(message.message)
        if "truncated" in text.lower():
            raise UserError(f"{path}: truncated FITS file ({text})")
        logger.debug("%s: %s", path, " ".join(text.split()))


def _hdu_data(path: Path, index: int, hdu: Any) -> HduData:
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


def _mask_bits(header: Any) -> int:
    bits = 0
    for plane, default in HSC_MASK_BITS.items():
        bits |= 1 << int(header.get(f"MP_{plane}", default))
    return bits


def _celestial_wcs(path: Path, header: Any) -> Any:
    """The celestial part of a header's WCS, or ``None`` when it has none."""
    from astropy.wcs import WCS

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            wcs = WCS(header, naxis=2)
        except Exception as exc:  # astropy raises many types for malformed WCS keywords
            logger.warning("%s: WCS cannot be read (%s); scanning in pixel coordinates", path, exc)
            return None
    _check_warnings(path, caught)
    return wcs.celestial if wcs.has_celestial else None


def _describe_image(path: Path) -> _ImageFile:
    """Find the image HDU of a file (the IMAGE extension of a calexp, else the first image)."""
    from astropy.io import fits

    with _open_fits(path) as hdul:
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
        data = _hdu_data(path, index, hdu)
        mask = None
        if "MASK" in names:
            mask_hdu = hdul[names.index("MASK")]
            mask = MaskPlane(
                _hdu_data(path, names.index("MASK"), mask_hdu), _mask_bits(mask_hdu.header)
            )
            if mask.data.shape != data.shape[-2:]:
                raise UserError(
                    f"{path}: MASK shape {mask.data.shape} differs from IMAGE {data.shape}"
                )
        variance = None
        if "VARIANCE" in names:
            variance = _hdu_data(path, names.index("VARIANCE"), hdul[names.index("VARIANCE")])
            if variance.shape != data.shape:
                raise UserError(
                    f"{path}: VARIANCE shape {variance.shape} differs from IMAGE {data.shape}"
                )
        header = hdu.header.copy()
        primary = hdul[0].header.copy()
    return _ImageFile(
        path=path,
        data=data,
        header=header,
        primary_header=primary,
        wcs=_celestial_wcs(path, header),
        mask=mask,
        variance=variance,
    )


def _header_band_names(image: _ImageFile) -> tuple[str, ...] | None:
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


def field_name(path: str | os.PathLike[str]) -> str:
    """The name of a field: its file name without ``.fits``/``.fz``/``.gz`` suffixes."""
    name = Path(path).name
    for suffix in (".gz", ".fz", ".fits", ".fit", ".fts"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _hsc_siblings(path: Path) -> dict[str, Path]:
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


def _check_size(image: _ImageFile, window: int) -> None:
    height, width = image.image_shape
    if height < window or width < window:
        raise UserError(
            f"{image.path}: image is {width}x{height} px, smaller than the model's {window} px "
            "cutout (lensscan does not pad images)"
        )


def _same_grid(reference: _ImageFile, other: _ImageFile) -> str | None:
    """Why two images do not share one pixel grid, or ``None`` when they do."""
    from astropy import wcs as astropy_wcs

    if reference.image_shape != other.image_shape:
        return (
            f"shape {other.image_shape} differs from {reference.path.name} {reference.image_shape}"
        )
    if (reference.wcs is None) != (other.wcs is None):
        return f"celestial WCS present in only one of it and {reference.path.name}"
    if reference.wcs is not None and not reference.wcs.wcs.compare(
        other.wcs.wcs, cmp=astropy_wcs.WCSCOMPARE_ANCILLARY, tolerance=1e-9
    ):
        return f"WCS differs from {reference.path.name}"
    return None


def _pixel_scale(wcs: Any) -> float | None:
    if wcs is None:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    return float(np.mean(proj_plane_pixel_scales(wcs)) * 3600.0)


def _band_planes(image: _ImageFile, names: Sequence[str], wanted: Sequence[str]) -> list[BandPlane]:
    return [
        BandPlane(
            band=band,
            data=image.data,
            plane=names.index(band) if image.data.is_cube else None,
            # A cube's VARIANCE (if any) would be a cube too; only 2-D images carry one here.
            variance=None if image.data.is_cube else image.variance,
        )
        for band in wanted
    ]


def open_field(
    path: str | os.PathLike[str],
    model_bands: Sequence[str],
    window: int,
    bands_hint: Sequence[str] | None = None,
) -> OpenedField:
    """Open one field given as one file, finding the bands the model needs.

    A cube supplies its own bands (header ``BANDS`` or ``FILTERn``, else ``bands_hint``).
    A 2-D image is one band, named by ``bands_hint``, the HSC file name, or its
    ``BAND``/``FILTER`` header; an HSC calexp whose model needs more bands takes the other
    bands from its siblings of the same tract and patch in the same folder. When nothing
    names the band(s) and the file has exactly as many planes as the model has bands, the
    model's bands are assumed, with a warning.

    Args:
        path: The FITS file.
        model_bands: The bands the model needs, in its order.
        window: The model's cutout size, the smallest image that can be scanned.
        bands_hint: Band names for the file's planes given by the user (``--bands``).

    Returns:
        The opened field.

    Raises:
        UserError: Naming the file and the problem.
    """
    image = _describe_image(Path(path))
    _check_size(image, window)
    notes: list[str] = []
    assumptions: list[str] = []
    names = _declared_bands(image, bands_hint, model_bands, assumptions)
    missing = [b for b in model_bands if b not in names]
    if not missing:
        planes = _band_planes(image, names, model_bands)
        return _assemble(field_name(path), [image], planes, notes, assumptions)
    siblings = _hsc_siblings(image.path) if image.planes == 1 else {}
    if not all(b in siblings for b in missing):
        raise UserError(
            f"{image.path}: provides band(s) {','.join(names)} but the model needs "
            f"{','.join(model_bands)} (give one file per band with --band BAND=PATH)"
        )
    files = {names[0]: image} | {b: _describe_image(siblings[b]) for b in missing}
    notes.append(
        "found HSC sibling band files: "
        + ", ".join(f"{b}={files[b].path.name}" for b in model_bands if b in files)
    )
    return _from_band_files(field_name(path), files, model_bands, notes, assumptions)


def open_band_files(
    band_paths: Mapping[str, str | os.PathLike[str]],
    model_bands: Sequence[str],
    window: int,
) -> OpenedField:
    """Open one field given as one 2-D file per band (``--band g=PATH ...``).

    The files must share one pixel grid (shape and WCS). Bands the model does not use are
    ignored, with a note.

    Args:
        band_paths: Band name -> file.
        model_bands: The bands the model needs, in its order.
        window: The model's cutout size.

    Returns:
        The opened field, named after the file of the model's first band.

    Raises:
        UserError: On a missing band, a grid mismatch or an unreadable file.
    """
    normalised = {(normalise_band(b) or b.lower()): Path(p) for b, p in band_paths.items()}
    missing = [b for b in model_bands if b not in normalised]
    if missing:
        raise UserError(
            f"--band: the model needs band(s) {','.join(model_bands)}; missing {','.join(missing)}"
        )
    notes = []
    unused = sorted(set(normalised) - set(model_bands))
    if unused:
        notes.append(f"ignoring band(s) the model does not use: {','.join(unused)}")
    files = {}
    for band in model_bands:
        image = _describe_image(normalised[band])
        if image.planes != 1:
            raise UserError(
                f"--band {band}={image.path}: is a {image.planes}-plane cube, expected one band"
            )
        _check_size(image, window)
        files[band] = image
    return _from_band_files(field_name(normalised[model_bands[0]]), files, model_bands, notes)


def _from_band_files(
    name: str,
    files: Mapping[str, _ImageFile],
    model_bands: Sequence[str],
    notes: list[str],
    assumptions: Sequence[str] = (),
) -> OpenedField:
    reference = files[model_bands[0]]
    for band in model_bands[1:]:
        problem = _same_grid(reference, files[band])
        if problem:
            raise UserError(
                f"{files[band].path}: not on the pixel grid of band {model_bands[0]}: {problem}"
            )
    planes = [
        BandPlane(
            band=b,
            data=files[b].data,
            plane=0 if files[b].data.is_cube else None,
            variance=files[b].variance,
        )
        for b in model_bands
    ]
    return _assemble(name, [files[b] for b in model_bands], planes, notes, assumptions)


def _declared_bands(
    image: _ImageFile,
    bands_hint: Sequence[str] | None,
    model_bands: Sequence[str],
    assumptions: list[str],
) -> tuple[str, ...]:
    if bands_hint:
        names = tuple(normalise_band(b) or b.lower() for b in bands_hint)
        if len(names) != image.planes:
            raise UserError(
                f"--bands {','.join(bands_hint)}: {image.path} has {image.planes} plane(s), "
                f"not {len(names)}"
            )
        return names
    declared = _header_band_names(image)
    if declared is not None:
        return declared
    if image.planes == len(model_bands):
        assumptions.append(
            f"{image.path.name} does not name its band(s); assuming the model's "
            f"{','.join(model_bands)} (pass --bands to say)"
        )
        return tuple(model_bands)
    raise UserError(
        f"{image.path}: cannot tell which band(s) its {image.planes} plane(s) hold "
        "(pass --bands, e.g. --bands g,r,i,z,y)"
    )


def _assemble(
    name: str,
    images: Sequence[_ImageFile],
    planes: Sequence[BandPlane],
    notes: Sequence[str],
    assumptions: Sequence[str] = (),
) -> OpenedField:
    reference = images[0]
    unique_files = tuple(dict.fromkeys(image.path for image in images))
    masks = tuple(dict.fromkeys(image.mask for image in images if image.mask is not None))
    inputs = FieldInputs(
        name=name,
        bands=tuple(planes),
        masks=masks,
        shape=reference.image_shape,
        files=unique_files,
    )
    return OpenedField(
        inputs=inputs,
        wcs=reference.wcs,
        pixel_scale=_pixel_scale(reference.wcs),
        notes=tuple(notes),
        assumptions=tuple(assumptions),
    )
