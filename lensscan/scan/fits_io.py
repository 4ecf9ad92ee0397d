"""Open scan inputs without loading them: FITS layouts, bands, masks, WCS and region reads.

Supported layouts: HSC calexp multi-extension files (IMAGE, MASK, VARIANCE), plain
single-HDU images, (bands, y, x) cubes with a 2-axis celestial WCS, tile-compressed image
HDUs, and integer images scaled by BSCALE/BZERO (BLANK pixels become NaN).

Nothing reads a whole field. :func:`open_field` parses headers only (in the client) and
returns a small picklable :class:`FieldInputs` that Dask workers use to read one region at a
time through :mod:`lensscan.scan.hdu`; survey file names (HSC calexps and their sibling
bands) are :mod:`lensscan.scan.survey_files`' business, and pixel conventions
:mod:`lensscan.pixels`'.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.bands import normalise_band
from lensscan.errors import UserError
from lensscan.pixels import wcs_pixel_scale
from lensscan.robust import MAD_TO_SIGMA
from lensscan.scan.detect import ZERO_POINT
from lensscan.scan.geometry import centred_window_start
from lensscan.scan.hdu import HduData, ImageFile, MaskPlane, describe_image
from lensscan.scan.survey_files import (
    declared_filter,
    field_name,
    header_band_names,
    header_zero_point,
    hsc_siblings,
)

EMPTY_BAND_SAMPLE_ROWS = 16
"""Rows, spread over the field, read to tell whether a band holds only zeros."""


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

    def unusable_variance_bands(self) -> tuple[str, ...]:
        """Bands whose VARIANCE plane holds no positive finite value, judged on sampled rows.

        An all-zero VARIANCE plane (a file written without one) would give those pixels
        zero noise, so weights and thresholds divide by zero.
        """
        height, width = self.shape
        rows = np.unique(np.linspace(0, height - 1, EMPTY_BAND_SAMPLE_ROWS).astype(int))
        unusable = []
        for band in self.bands:
            if band.variance is None:
                continue
            values = np.concatenate(
                [band.variance.read((int(r), int(r) + 1, 0, width)).ravel() for r in rows]
            )
            if not (np.isfinite(values) & (values > 0)).any():
                unusable.append(band.band)
        return tuple(unusable)

    def without_variance(self, bands: Sequence[str]) -> FieldInputs:
        """These inputs with the VARIANCE planes of ``bands`` dropped."""
        planes = tuple(replace(b, variance=None) if b.band in bands else b for b in self.bands)
        return replace(self, bands=planes)

    def typical_variances(self) -> tuple[float, ...]:
        """Each band's typical variance over the field, judged on a sample of rows.

        The median of the VARIANCE plane where the band has one, else the square of the
        pixels' robust spread. A field-wide value (not a chunk's) keeps the detection
        image's band weights the same whatever the chunk size.
        """
        height, width = self.shape
        rows = np.unique(np.linspace(0, height - 1, EMPTY_BAND_SAMPLE_ROWS).astype(int))
        typical = []
        for band in self.bands:
            source = band.variance if band.variance is not None else band.data
            plane = None if band.variance is not None else band.plane
            values = np.concatenate(
                [source.read((int(r), int(r) + 1, 0, width), plane).ravel() for r in rows]
            ).astype(np.float64)
            values = values[np.isfinite(values) & (values != 0)]
            if not len(values):
                typical.append(0.0)
            elif band.variance is not None:
                typical.append(float(np.median(values)))
            else:
                spread = MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values))))
                typical.append(spread**2)
        return tuple(typical)

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
        zero_points: Band -> (AB zero point, the header card it came from), for the bands
            whose files declare one.
        filters: Band -> the filter its one-plane file names (HSC name, BAND or FILTER),
            as written, for the bands whose files name one.
    """

    inputs: FieldInputs
    wcs: Any
    pixel_scale: float | None
    notes: tuple[str, ...] = field(default=())
    assumptions: tuple[str, ...] = field(default=())
    zero_points: dict[str, tuple[float, str]] = field(default_factory=dict)
    filters: dict[str, str] = field(default_factory=dict)

    def zero_point(self, band: str) -> tuple[float, str]:
        """A band's AB zero point and where it came from: its file's header, else HSC's 27.

        Magnitudes (and so a magnitude limit or colour cut) are only right at the image's
        own zero point; a DECam CCD in counts has about 30, not the HSC coadds' 27.
        """
        found = self.zero_points.get(band)
        if found is not None:
            return found[0], f"header {found[1]}"
        return ZERO_POINT, "default (HSC coadd, FLUXMAG0 = 10**10.8)"


def _check_size(image: ImageFile, window: int) -> None:
    height, width = image.image_shape
    if height < window or width < window:
        raise UserError(
            f"{image.path}: image is {width}x{height} px, smaller than the model's {window} px "
            "cutout (lensscan does not pad images)"
        )


def _same_grid(reference: ImageFile, other: ImageFile) -> str | None:
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


def _band_planes(image: ImageFile, names: Sequence[str], wanted: Sequence[str]) -> list[BandPlane]:
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
    image = describe_image(Path(path))
    _check_size(image, window)
    notes: list[str] = []
    assumptions: list[str] = []
    names = _declared_bands(image, bands_hint, model_bands, assumptions)
    missing = [b for b in model_bands if b not in names]
    if not missing:
        planes = _band_planes(image, names, model_bands)
        return _assemble(field_name(path), [image], planes, notes, assumptions)
    siblings = hsc_siblings(image.path) if image.planes == 1 else {}
    if not all(b in siblings for b in missing):
        raise UserError(
            f"{image.path}: provides band(s) {','.join(names)} but the model needs "
            f"{','.join(model_bands)} (give one file per band with `band` BAND=PATH)"
        )
    files = {names[0]: image} | {b: describe_image(siblings[b]) for b in missing}
    notes.append(
        "found HSC sibling band files: "
        + ", ".join(f"{b}={files[b].path.name}" for b in model_bands if b in files)
    )
    return _from_band_files(field_name(path), files, model_bands, notes, assumptions)


def open_band_files(
    band_paths: Mapping[str, str | os.PathLike[str]],
    model_bands: Sequence[str],
    window: int,
    force_bands: bool = False,
) -> OpenedField:
    """Open one field given as one 2-D file per band (``--band g=PATH ...``).

    The files must share one pixel grid (shape and WCS). Bands the model does not use are
    ignored, with a note. A file whose name or header (``BAND``, ``FILTER``) says another
    band than the one it is given as is refused unless ``force_bands``: an HSC-R file
    given as g would be scored as g without a word.

    Args:
        band_paths: Band name -> file.
        model_bands: The bands the model needs, in its order.
        window: The model's cutout size.
        force_bands: Take each file as the band it is given as, whatever it declares.

    Returns:
        The opened field, named after the file of the model's first band.

    Raises:
        UserError: On a missing band, a band its file contradicts, a grid mismatch or an
            unreadable file.
    """
    normalised = {(normalise_band(b) or b.lower()): Path(p) for b, p in band_paths.items()}
    missing = [b for b in model_bands if b not in normalised]
    if missing:
        raise UserError(
            f"`band`: the model needs band(s) {','.join(model_bands)}; missing {','.join(missing)}"
        )
    notes = []
    unused = sorted(set(normalised) - set(model_bands))
    if unused:
        notes.append(f"ignoring band(s) the model does not use: {','.join(unused)}")
    files = {}
    for band in model_bands:
        image = describe_image(normalised[band])
        if image.planes != 1:
            raise UserError(
                f"`band` {band}={image.path}: is a {image.planes}-plane cube, expected one band"
            )
        _check_size(image, window)
        declared = header_band_names(image)
        if declared is not None and declared[0] != band and not force_bands:
            raise UserError(
                f"`band` {band}={image.path}: the file says it holds band {declared[0]} (its "
                f"name or BAND/FILTER header); give it as {declared[0]}, or set "
                "`force_bands` to take it as given"
            )
        files[band] = image
    return _from_band_files(field_name(normalised[model_bands[0]]), files, model_bands, notes)


def _from_band_files(
    name: str,
    files: Mapping[str, ImageFile],
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
    image: ImageFile,
    bands_hint: Sequence[str] | None,
    model_bands: Sequence[str],
    assumptions: list[str],
) -> tuple[str, ...]:
    if bands_hint:
        names = tuple(normalise_band(b) or b.lower() for b in bands_hint)
        if len(names) != image.planes:
            raise UserError(
                f"`bands` {','.join(bands_hint)}: {image.path} has {image.planes} plane(s), "
                f"not {len(names)}"
            )
        return names
    declared = header_band_names(image)
    if declared is not None:
        return declared
    if image.planes == len(model_bands):
        assumptions.append(
            f"{image.path.name} does not name its band(s); assuming the model's "
            f"{','.join(model_bands)} (pass `bands` to say)"
        )
        return tuple(model_bands)
    raise UserError(
        f"{image.path}: cannot tell which band(s) its {image.planes} plane(s) hold "
        "(pass `bands`, e.g. `bands` g,r,i,z,y)"
    )


def _assemble(
    name: str,
    images: Sequence[ImageFile],
    planes: Sequence[BandPlane],
    notes: Sequence[str],
    assumptions: Sequence[str] = (),
) -> OpenedField:
    reference = images[0]
    unique_files = tuple(dict.fromkeys(image.path for image in images))
    filters = {image.data.path: declared_filter(image) for image in images}
    declared = {image.data.path: header_zero_point(image) for image in images}
    zero_points = {
        plane.band: found
        for plane in planes
        if (found := declared.get(plane.data.path)) is not None
    }
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
        pixel_scale=wcs_pixel_scale(reference.wcs),
        notes=tuple(notes),
        assumptions=tuple(assumptions),
        zero_points=zero_points,
        filters={
            plane.band: name
            for plane in planes
            if (name := filters.get(plane.data.path)) is not None
        },
    )
