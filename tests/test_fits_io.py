"""FITS inputs: layouts, bands, masks, scaling, WCS, and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scan_helpers import (
    tan_wcs,
    write_calexp,
    write_compressed,
    write_plain,
    write_scaled_int16,
)

from lensscan.bands import normalise_band
from lensscan.errors import UserError
from lensscan.pixels import FITS_PIXEL_ORIGIN, to_fits_pixel
from lensscan.scan.fits_io import open_band_files, open_field

SHAPE = (70, 90)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)


def test_band_names_are_normalised() -> None:
    assert normalise_band("HSC-I2") == "i"
    assert normalise_band("HSC-G") == "g"
    assert normalise_band("z DECam SDSS c0004 9260.0 1520.0") == "z"
    assert normalise_band("R") == "r"
    assert normalise_band("NB0921") is None
    assert to_fits_pixel(0) == FITS_PIXEL_ORIGIN == 1


def test_calexp_image_mask_and_wcs(tmp_path: Path, image: np.ndarray) -> None:
    mask = np.zeros(SHAPE, np.int32)
    mask[5, 6] = 1 << 8  # NO_DATA
    mask[7, 8] = 1 << 5  # DETECTED: not a bad pixel
    mask[9, 10] = 1 << 4  # EDGE
    path = write_calexp(tmp_path / "calexp-HSC-I-9813-4,4.fits", image, tan_wcs(SHAPE), mask)
    opened = open_field(path, ("i",), 16)
    assert opened.inputs.band_names == ("i",)
    assert opened.inputs.shape == SHAPE
    assert opened.pixel_scale == pytest.approx(0.168)
    assert opened.wcs.wcs.ctype[0] == "RA---TAN"
    data, bad = opened.inputs.read_region((2, 40, 3, 50))
    np.testing.assert_array_equal(data[0], image[2:40, 3:50])
    assert bad[5 - 2, 6 - 3] and bad[9 - 2, 10 - 3] and not bad[7 - 2, 8 - 3]
    assert bad.sum() == 2


def test_hsc_siblings_are_found_in_model_order(tmp_path: Path, image: np.ndarray) -> None:
    wcs = tan_wcs(SHAPE)
    for i, band in enumerate("GRI"):
        write_calexp(tmp_path / f"calexp-HSC-{band}-9813-4,4.fits", image + i, wcs)
    write_calexp(tmp_path / "calexp-HSC-Z-9813-4,5.fits", image, wcs)  # another patch
    opened = open_field(tmp_path / "calexp-HSC-R-9813-4,4.fits", ("g", "r", "i"), 16)
    assert opened.inputs.band_names == ("g", "r", "i")
    assert [p.name for p in opened.inputs.files] == [f"calexp-HSC-{b}-9813-4,4.fits" for b in "GRI"]
    assert any("sibling" in note and "g=calexp-HSC-G" in note for note in opened.notes)
    data, _ = opened.inputs.read_region((0, 10, 0, 10))
    np.testing.assert_allclose(data[:, 0, 0], image[0, 0] + np.arange(3))


def test_missing_sibling_band_is_refused(tmp_path: Path, image: np.ndarray) -> None:
    path = write_calexp(tmp_path / "calexp-HSC-I-9813-4,4.fits", image, tan_wcs(SHAPE))
    with pytest.raises(
        UserError,
        match=r"calexp-HSC-I-9813-4,4.fits: provides band\(s\) i but the model needs g,r,i",
    ):
        open_field(path, ("g", "r", "i"), 16)


def test_plain_image_band_from_header_or_assumed(tmp_path: Path, image: np.ndarray) -> None:
    named = write_plain(tmp_path / "named.fits", image, tan_wcs(SHAPE), FILTER="r DECam SDSS")
    assert open_field(named, ("r",), 16).inputs.band_names == ("r",)
    with pytest.raises(UserError, match=r"named.fits: provides band\(s\) r but the model needs i"):
        open_field(named, ("i",), 16)
    anonymous = write_plain(tmp_path / "anonymous.fits", image)
    opened = open_field(anonymous, ("i",), 16)
    assert opened.inputs.band_names == ("i",)
    assert any("assuming" in note for note in opened.assumptions)
    assert opened.wcs is None and opened.pixel_scale is None


def test_cube_supplies_its_bands(tmp_path: Path) -> None:
    cube = np.arange(5 * 40 * 30, dtype=np.float64).reshape(5, 40, 30)
    path = write_plain(tmp_path / "cube.fits", cube, tan_wcs((40, 30)), BANDS="g,r,i,z,y")
    opened = open_field(path, ("g", "r", "i"), 16)
    data, _ = opened.inputs.read_region((1, 5, 2, 7))
    np.testing.assert_array_equal(data, cube[:3, 1:5, 2:7])
    assert opened.wcs is not None
    riz = open_field(path, ("r", "i", "z"), 16).inputs.read_region((0, 2, 0, 2))[0]
    np.testing.assert_array_equal(riz, cube[1:4, :2, :2])


def test_cube_without_band_names_needs_bands_option(tmp_path: Path) -> None:
    cube = np.ones((5, 40, 30), np.float32)
    path = write_plain(tmp_path / "cube.fits", cube, tan_wcs((40, 30)))
    with pytest.raises(UserError, match=r"cube.fits: cannot tell which band\(s\).*`bands`"):
        open_field(path, ("g", "r", "i"), 16)
    opened = open_field(path, ("g", "r", "i"), 16, bands_hint=["g", "r", "i", "z", "y"])
    assert opened.inputs.band_names == ("g", "r", "i")
    with pytest.raises(UserError, match=r"`bands` g,r: .* has 5 plane"):
        open_field(path, ("g", "r", "i"), 16, bands_hint=["g", "r"])


def test_tile_compressed_hdu_is_read_by_section(tmp_path: Path) -> None:
    values = np.random.default_rng(1).integers(-500, 500, SHAPE).astype(np.int32)
    path = write_compressed(tmp_path / "comp.fits", values, tan_wcs(SHAPE))
    opened = open_field(path, ("i",), 16)
    assert opened.inputs.bands[0].data.compressed
    data, _ = opened.inputs.read_region((10, 60, 20, 85))
    np.testing.assert_array_equal(data[0], values[10:60, 20:85])


def test_bscale_integer_image_and_blank(tmp_path: Path) -> None:
    physical = np.random.default_rng(2).uniform(3000, 9000, SHAPE)
    physical[3, 4] = np.nan
    path = write_scaled_int16(
        tmp_path / "int16.fits", physical, bscale=2.5, bzero=3700.0, blank=-32768
    )
    opened = open_field(path, ("i",), 16)
    data, bad = opened.inputs.read_region((0, 20, 0, 20))
    finite = np.isfinite(physical[:20, :20])
    np.testing.assert_allclose(data[0][finite], physical[:20, :20][finite], atol=1.3)
    assert np.isnan(data[0, 3, 4]) and bad[3, 4] and bad.sum() == 1


def test_read_stamp_pads_outside_with_nan(tmp_path: Path, image: np.ndarray) -> None:
    opened = open_field(write_plain(tmp_path / "p.fits", image), ("i",), 16)
    stamp = opened.inputs.read_stamp(0.0, 0.0, 16)
    assert stamp.shape == (1, 16, 16)
    assert np.isnan(stamp[0, :7, :]).all()
    np.testing.assert_array_equal(stamp[0, 7:, 7:], image[:9, :9])


def test_band_files_on_one_grid(tmp_path: Path, image: np.ndarray) -> None:
    wcs = tan_wcs(SHAPE)
    paths = {
        b: write_plain(tmp_path / f"{b}.fits", image * (i + 1), wcs) for i, b in enumerate("gri")
    }
    opened = open_band_files(
        {"i": paths["i"], "g": paths["g"], "r": paths["r"]}, ("g", "r", "i"), 16
    )
    assert opened.inputs.band_names == ("g", "r", "i")
    assert opened.inputs.name == "g"
    data, _ = opened.inputs.read_region((0, 1, 0, 1))
    np.testing.assert_allclose(data[:, 0, 0], image[0, 0] * np.arange(1, 4))


def test_band_files_on_different_grids_are_refused(tmp_path: Path, image: np.ndarray) -> None:
    g = write_plain(tmp_path / "g.fits", image, tan_wcs(SHAPE))
    shifted = write_plain(tmp_path / "r.fits", image, tan_wcs(SHAPE, ra=150.01))
    with pytest.raises(UserError, match=r"r\.fits: not on the pixel grid of band g: WCS differs"):
        open_band_files({"g": g, "r": shifted}, ("g", "r"), 16)
    cropped = write_plain(tmp_path / "r2.fits", image[:60], tan_wcs((60, 90)))
    with pytest.raises(UserError, match=r"r2.fits: not on the pixel grid of band g: shape"):
        open_band_files({"g": g, "r": cropped}, ("g", "r"), 16)
    with pytest.raises(UserError, match=r"`band`: the model needs band\(s\) g,r,i; missing i"):
        open_band_files({"g": g, "r": g}, ("g", "r", "i"), 16)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.fits", "missing.fits: no such file"),
        (lambda d: _text(d / "notes.fits"), "notes.fits: not a readable FITS file"),
        (lambda d: _truncated(d / "cut.fits"), "cut.fits: truncated FITS file"),
        (
            lambda d: _table(d / "table.fits"),
            "table.fits: HDU 1 is a BinTableHDU .*expected an image",
        ),
        (
            lambda d: write_plain(d / "small.fits", np.ones((40, 90))),
            "small.fits: image is 90x40 px, smaller than the model's 64 px cutout",
        ),
        (lambda d: d, "is a directory"),
    ],
)
def test_bad_inputs_give_one_line_naming_the_file(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(UserError, match=message) as info:
        open_field(path, ("i",), 64)
    assert "\n" not in str(info.value)


def _text(path: Path) -> Path:
    path.write_text("this is not a FITS file\n" * 20)
    return path


def _truncated(path: Path) -> Path:
    write_plain(path, np.ones((200, 200), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _table(path: Path) -> Path:
    table = Table({"ra": [1.0, 2.0], "dec": [3.0, 4.0]})
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU(table)]).writeto(path)
    return path
