"""Real cutouts to paint arcs on: cutout stores, cutout folders and FITS or NumPy files.

:func:`open_backgrounds` gathers every source into one :class:`Backgrounds`, which reads
images by index (a store lazily, chunk by chunk; files and folders once, into memory)
and knows what the arcs need from each source: band names, pixel scale, zero point and
PSF where the source says. Lenses of a labelled source are never used as backgrounds
(they would become mislabelled negatives). Fields go through ``lensscan cutouts`` first,
which cuts the same detected or catalogued galaxies a scan scores.

What is read from where:

* cutout store (``.zarr``): bands and pixel scale from its attributes; zero point from
  ``zero_points`` if written there, else 27 for stores lensscan simulated or cut from HSC
  coadds; the PSF FWHM and Moffat beta per item from the ``psf_fwhm_<band>`` and
  ``psf_beta_<band>`` parameter columns, when present; every numeric parameter column is
  carried over (prefixed ``background_``).
* folder: the DeepLense layout (``lenses/`` and ``nonlenses/``, optionally split-prefixed;
  only non-lenses are used) or a flat folder of cutout files.
* file (``.npy``, ``.fits``): a (C,H,W) or (H,W) cutout; a FITS header gives the pixel
  scale (celestial WCS), the band (``BAND``/``FILTER`` of a one-plane file), the zero
  point (``MAGZERO``, ``MAGZPT`` or ``FLUXMAG0``) and the PSF FWHM in arcsec (``SEEING``,
  ``PSF_FWHM``), from the image HDU or the primary one.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.data.store import LENS, NONLENS, CutoutStore
from lensscan.errors import UserError
from lensscan.pixels import wcs_pixel_scale

DEFAULT_ZERO_POINT = 27.0
"""AB zero point of HSC coadds (``FLUXMAG0 = 10**10.8``), assumed where a source says none."""

_ZERO_POINT_KEYS = ("MAGZERO", "MAGZPT", "ZEROPNT")
_SEEING_KEYS = ("SEEING", "PSF_FWHM", "PSFFWHM")
_CUTOUT_SUFFIXES = (".npy", ".fits", ".fit", ".fits.gz", ".fit.gz")


@dataclass
class BackgroundSource:
    """One input of backgrounds.

    Attributes:
        path: The store, folder or file.
        n: Number of usable backgrounds in it.
        bands: Band name of every plane, or None if the source does not say.
        shape: (C, H, W) of every image.
        read: Reads images (k, C, H, W) float32 of sorted usable indices.
        pixel_scale: Arcsec per pixel, if the source says.
        zero_points: AB zero point per plane, if the source says.
        psf_fwhm: (n, C) PSF FWHM in arcsec per item, if the source says.
        psf_beta: (n, C) Moffat beta per item, if the source says.
        params: Numeric per-item columns to carry into the injected store.
        files: Files and stores to hash into provenance.
    """

    path: Path
    n: int
    bands: tuple[str, ...] | None
    shape: tuple[int, int, int]
    read: Callable[[np.ndarray], np.ndarray]
    pixel_scale: float | None = None
    zero_points: np.ndarray | None = None
    psf_fwhm: np.ndarray | None = None
    psf_beta: np.ndarray | None = None
    params: dict[str, np.ndarray] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


@dataclass
class Backgrounds:
    """Every background of a run, indexed 0..n-1 across its sources.

    Attributes:
        sources: The inputs, in the order given.
        bands: Band name of every plane.
        shape: (C, H, W) of every image.
        pixel_scale: Arcsec per pixel, if any source says.
        zero_points: AB zero point per plane, if any source says.
    """

    sources: list[BackgroundSource]
    bands: tuple[str, ...]
    shape: tuple[int, int, int]
    pixel_scale: float | None
    zero_points: np.ndarray | None

    @property
    def n(self) -> int:
        """Number of backgrounds."""
        return sum(source.n for source in self.sources)

    @property
    def offsets(self) -> np.ndarray:
        """Index of every source's first background."""
        return np.cumsum([0] + [source.n for source in self.sources])

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Images (k, C, H, W) float32 of any indices, in the order given."""
        indices = np.asarray(indices, np.int64)
        out = np.empty((len(indices), *self.shape), np.float32)
        for source, start in zip(self.sources, self.offsets, strict=False):
            inside = np.flatnonzero((indices >= start) & (indices < start + source.n))
            if inside.size == 0:
                continue
            local = indices[inside] - start
            order = np.argsort(local, kind="stable")
            unique, inverse = np.unique(local[order], return_inverse=True)
            images = source.read(unique)
            out[inside[order]] = images[inverse]
        return out

    def per_item(self, name: str) -> np.ndarray | None:
        """(n, C) values of a per-item PSF attribute, or None unless every source has it."""
        values = [getattr(source, name) for source in self.sources]
        if any(value is None for value in values):
            return None
        return np.concatenate(values)

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """Parameter columns every source has, prefixed ``background_``, plus the source."""
        names = set.intersection(*(set(source.params) for source in self.sources))
        columns = {
            f"background_{name}": np.concatenate([s.params[name] for s in self.sources])
            for name in sorted(names)
        }
        columns["background_source"] = np.repeat(
            np.arange(len(self.sources), dtype=np.int16), [s.n for s in self.sources]
        )
        columns["background_item"] = np.concatenate(
            [np.arange(source.n, dtype=np.int64) for source in self.sources]
        )
        return columns

    def files(self) -> list[Path]:
        """Every file read, for provenance."""
        return [path for source in self.sources for path in source.files]


def _header_value(headers: Sequence[Any], keys: Sequence[str]) -> float | None:
    for header in headers:
        for key in keys:
            value = header.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                return float(value)
    return None


def _header_zero_point(headers: Sequence[Any]) -> float | None:
    zero_point = _header_value(headers, _ZERO_POINT_KEYS)
    if zero_point is not None:
        return zero_point
    fluxmag0 = _header_value(headers, ("FLUXMAG0",))
    return 2.5 * math.log10(fluxmag0) if fluxmag0 and fluxmag0 > 0 else None


def _wcs_pixel_scale(header: Any) -> float | None:
    """Arcsec per pixel of a header's celestial WCS, or None without one."""
    import warnings

    from astropy.utils.exceptions import AstropyWarning
    from astropy.wcs import WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        try:
            wcs = WCS(header, naxis=2)
        except Exception:  # astropy raises many types for malformed WCS keywords
            return None
    return wcs_pixel_scale(wcs.celestial) if wcs.has_celestial else None


@dataclass(frozen=True)
class _CutoutFile:
    """One cutout read from a file, with what its header says."""

    image: np.ndarray
    band: str | None
    pixel_scale: float | None
    zero_point: float | None
    seeing: float | None


def _read_file(path: Path) -> _CutoutFile:
    """Read a (C,H,W) or (H,W) cutout file and the calibration its header holds."""
    if path.name.lower().endswith(".npy"):
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise UserError(f"`backgrounds` {path}: cannot read ({exc})") from None
        return _CutoutFile(_as_cube(data, path), None, None, None, None)
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdus:
            image_hdus = [h for h in hdus if h.is_image and h.data is not None]
            if not image_hdus:
                raise UserError(f"`backgrounds` {path}: the FITS file holds no image")
            hdu = image_hdus[0]
            headers = [hdu.header, hdus[0].header]
            data = np.asarray(hdu.data, np.float32)
            band = hdu.header.get("BAND") or hdus[0].header.get("BAND")
            return _CutoutFile(
                _as_cube(data, path),
                str(band).strip() if band and data.ndim == 2 else None,
                _wcs_pixel_scale(hdu.header),
                _header_zero_point(headers),
                _header_value(headers, _SEEING_KEYS),
            )
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"`backgrounds` {path}: cannot read ({exc})") from None


def _as_cube(data: np.ndarray, path: Path) -> np.ndarray:
    data = np.asarray(data, np.float32)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise UserError(
            f"`backgrounds` {path}: expected a (C,H,W) or (H,W) cutout, got shape {data.shape}"
        )
    return data


def _file_source(path: Path, files: list[Path]) -> BackgroundSource:
    """A source of cutout files held in memory (a folder's, or one file)."""
    cutouts = [_read_file(f) for f in files]
    shapes = {c.image.shape for c in cutouts}
    if len(shapes) > 1:
        raise UserError(
            f"`backgrounds` {path}: cutouts of different shapes {sorted(shapes)}; "
            "give cutouts of one size"
        )
    images = np.stack([c.image for c in cutouts])
    bands_seen = {c.band for c in cutouts}
    bands = (bands_seen.pop(),) if len(bands_seen) == 1 and None not in bands_seen else None
    scales = {c.pixel_scale for c in cutouts if c.pixel_scale is not None}
    zero_points = {c.zero_point for c in cutouts if c.zero_point is not None}
    seeing = np.array([np.nan if c.seeing is None else c.seeing for c in cutouts])
    n_planes = images.shape[1]
    return BackgroundSource(
        path=path,
        n=len(images),
        bands=bands,
        shape=images.shape[1:],
        read=lambda indices: images[indices],
        pixel_scale=float(np.median(sorted(scales))) if scales else None,
        zero_points=np.full(n_planes, zero_points.pop()) if len(zero_points) == 1 else None,
        psf_fwhm=np.repeat(seeing[:, None], n_planes, 1) if np.isfinite(seeing).all() else None,
        files=list(files),
    )


def _folder_files(path: Path) -> list[Path]:
    """The non-lens cutout files of a folder (DeepLense layout) or every file of a flat one."""
    from lensscan.data.folders import folder_splits, natural_key

    if any(p.is_dir() for p in path.iterdir()):
        splits = folder_splits(path)
        return [f for by_label in splits.values() for f in by_label.get(NONLENS, [])]
    files = [p for p in path.iterdir() if p.name.lower().endswith(_CUTOUT_SUFFIXES)]
    return sorted(files, key=natural_key)


def _store_source(path: Path) -> BackgroundSource:
    """A cutout store, read lazily; its lens items are left out."""
    store = CutoutStore.open(path, "backgrounds")
    usable = np.flatnonzero(store.labels != LENS)
    attrs = store.attrs
    params = store.params()
    bands = tuple(store.bands)
    zero_points = attrs.get("zero_points")
    simulated = str(attrs.get("generator", "")).startswith("lensscan.simulate")
    if isinstance(zero_points, dict) and all(b in zero_points for b in bands):
        zp = np.array([float(zero_points[b]) for b in bands])
    elif simulated or attrs.get("domain") in ("field", "inject"):
        zp = np.full(len(bands), DEFAULT_ZERO_POINT)
    else:
        zp = None

    def per_band(prefix: str) -> np.ndarray | None:
        names = [f"{prefix}_{b}" for b in bands]
        if not all(name in params for name in names):
            return None
        return np.stack([params[name][usable] for name in names], axis=1).astype(float)

    carried = {
        name: values[usable]
        for name, values in params.items()
        if values.dtype.kind in "fiub" and values.ndim == 1
    }

    def read(indices: np.ndarray) -> np.ndarray:
        return store.read_images(usable[indices])

    return BackgroundSource(
        path=path,
        n=len(usable),
        bands=bands,
        shape=tuple(store.image_shape),
        read=read,
        pixel_scale=store.pixel_scale,
        zero_points=zp,
        psf_fwhm=per_band("psf_fwhm"),
        psf_beta=per_band("psf_beta"),
        params=carried,
        files=[path],
    )


def open_source(path: str | os.PathLike[str]) -> BackgroundSource:
    """Open one ``backgrounds`` input.

    Raises:
        UserError: If it is missing, unreadable, or holds no usable background.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"`backgrounds` {path}: no such file or directory")
    if path.is_dir() and (path / "zarr.json").exists():
        source = _store_source(path)
    elif path.is_dir():
        files = _folder_files(path)
        if not files:
            raise UserError(f"`backgrounds` {path}: no cutout file (.npy, .fits) in the folder")
        source = _file_source(path, files)
    elif path.name.lower().endswith(_CUTOUT_SUFFIXES):
        source = _file_source(path, [path])
    else:
        raise UserError(
            f"`backgrounds` {path}: not a cutout store (.zarr), folder or cutout file "
            "(.npy, .fits); cut fields into a store with `lensscan cutouts` first"
        )
    if source.n == 0:
        raise UserError(f"`backgrounds` {path}: no background (a labelled store of lenses only?)")
    return source


def open_backgrounds(
    paths: Sequence[str | os.PathLike[str]], plane_bands: Sequence[str] | None = None
) -> Backgrounds:
    """Open every ``backgrounds`` input as one set.

    Args:
        paths: Stores, folders or files.
        plane_bands: Band names of the planes of sources that do not name them
            (``background_bands``).

    Raises:
        UserError: If an input is unusable, or the inputs disagree on bands, image shape,
            pixel scale or zero point.
    """
    if not paths:
        raise UserError("`backgrounds`: give at least one cutout store, folder or file")
    sources = [open_source(path) for path in paths]
    for source in sources:
        if source.bands is None:
            if plane_bands is None:
                raise UserError(
                    f"`backgrounds` {source.path}: {source.shape[0]}-plane cutouts without band "
                    "names; pass `background_bands` (e.g. 'gri')"
                )
            if len(plane_bands) != source.shape[0]:
                raise UserError(
                    f"`background_bands` {''.join(plane_bands)}: {len(plane_bands)} bands, but "
                    f"{source.path} has {source.shape[0]} planes"
                )
            source.bands = tuple(plane_bands)
    first = sources[0]
    for source in sources[1:]:
        for what in ("bands", "shape"):
            if getattr(source, what) != getattr(first, what):
                raise UserError(
                    f"`backgrounds` {source.path}: {what} {getattr(source, what)} differ from "
                    f"{first.path}'s {getattr(first, what)}"
                )
    scales = {round(s.pixel_scale, 4) for s in sources if s.pixel_scale is not None}
    if len(scales) > 1:
        raise UserError(f"`backgrounds`: pixel scales {sorted(scales)} differ between the inputs")
    zero_point_sets = {tuple(s.zero_points) for s in sources if s.zero_points is not None}
    if len(zero_point_sets) > 1:
        raise UserError("`backgrounds`: the inputs' zero points differ; cut them separately")
    return Backgrounds(
        sources=sources,
        bands=tuple(first.bands or ()),
        shape=first.shape,
        pixel_scale=scales.pop() if scales else None,
        zero_points=np.array(zero_point_sets.pop()) if zero_point_sets else None,
    )
