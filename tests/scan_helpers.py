"""Tiny FITS fields in every layout the scanner reads, and a deterministic fake model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from astropy.io import fits
from astropy.wcs import WCS

PIXEL_SCALE = 0.168


def tan_wcs(
    shape: tuple[int, int], ra: float = 150.0, dec: float = 2.2, scale: float = PIXEL_SCALE
) -> WCS:
    """A TAN WCS centred on (ra, dec) for an image of ``shape`` (H, W)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.cdelt = [-scale / 3600.0, scale / 3600.0]
    return wcs


def write_calexp(
    path: Path, image: np.ndarray, wcs: WCS | None, mask: np.ndarray | None = None
) -> Path:
    """An HSC calexp-style file: empty primary, IMAGE, MASK (with MP_ keywords), VARIANCE."""
    header = wcs.to_header() if wcs is not None else fits.Header()
    # The HSC pipeline writes its mask-plane bits as HIERARCH cards (names over 8 chars).
    mask_header = fits.Header(
        [("MP_BAD", 0), ("MP_EDGE", 4), ("HIERARCH MP_NO_DATA", 8), ("HIERARCH MP_DETECTED", 5)]
    )
    mask = np.zeros(image.shape, np.int32) if mask is None else mask.astype(np.int32)
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(image.astype(np.float32), header=header, name="IMAGE"),
            fits.ImageHDU(mask, header=mask_header, name="MASK"),
            fits.ImageHDU(np.ones(image.shape, np.float32), name="VARIANCE"),
        ]
    ).writeto(path, overwrite=True)
    return path


def write_plain(path: Path, image: np.ndarray, wcs: WCS | None = None, **cards: object) -> Path:
    """A single-HDU image (2-D or a cube), with extra header cards."""
    header = wcs.to_header() if wcs is not None else fits.Header()
    header.update(cards)
    fits.PrimaryHDU(np.asarray(image), header=header).writeto(path, overwrite=True)
    return path


def write_compressed(path: Path, image: np.ndarray, wcs: WCS | None = None) -> Path:
    """A tile-compressed image HDU (lossless GZIP of an int32 image)."""
    header = wcs.to_header() if wcs is not None else fits.Header()
    hdu = fits.CompImageHDU(
        image.astype(np.int32), header=header, compression_type="GZIP_2", tile_shape=(16, 16)
    )
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    return path


def write_scaled_int16(
    path: Path, physical: np.ndarray, bscale: float, bzero: float, blank: int | None = None
) -> Path:
    """An int16 image whose physical values are ``raw * bscale + bzero`` (BLANK -> NaN)."""
    raw = np.round(np.nan_to_num((physical - bzero) / bscale)).astype(np.int16)
    if blank is not None:
        raw[np.isnan(physical)] = blank
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BSCALE"] = bscale
    hdu.header["BZERO"] = bzero
    if blank is not None:
        hdu.header["BLANK"] = blank
    hdu.writeto(path, overwrite=True, output_verify="silentfix")
    return path


class WeightedMeanScorer:
    """A deterministic stand-in for a model: a fixed weighted mean of each window's pixels.

    Every window gets a different score depending on exactly which pixels it holds, so the
    score map checks the tiling to the pixel. NaN pixels count as 0.
    """

    def __init__(
        self, bands: tuple[str, ...] = ("i",), input_size: int = 16, name: str = "fake"
    ) -> None:
        self.name = name
        self.sha256 = f"fake-{name}-{input_size}-{''.join(bands)}"
        self.bands = bands
        self.input_size = input_size
        self.pixel_scale = PIXEL_SCALE
        self.device = torch.device("cpu")
        rng = np.random.default_rng(42)
        self.weights = torch.from_numpy(
            rng.random((len(bands), input_size, input_size)).astype(np.float32)
        )
        self.calls = 0

    def score_tensor(self, images: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        values = torch.nan_to_num(images.float(), nan=0.0)
        return (values * self.weights).sum(dim=(1, 2, 3)) / self.weights.sum()

    def score_numpy(self, windows: np.ndarray) -> np.ndarray:
        """The same score computed with numpy on (N, C, S, S) windows."""
        values = np.nan_to_num(windows.astype(np.float64), nan=0.0)
        weights = self.weights.numpy().astype(np.float64)
        return (values * weights).sum(axis=(1, 2, 3)) / weights.sum()
