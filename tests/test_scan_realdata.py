"""Scanning real survey files from ../shared/realdata (skipped when absent)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from lensscan.cli import app
from lensscan.config import resolve_config
from lensscan.errors import UserError
from lensscan.scan.fits_io import open_field
from lensscan.scan.inputs import FieldSpec
from lensscan.scan.scanner import scan
from lensscan.scan.settings import ScanConfig

pytestmark = pytest.mark.realdata

DECAM = "legacypipe_decam_ccd"


@pytest.fixture(scope="module")
def finders():
    """Untrained, fast one-band models (the geometry does not depend on training)."""
    from lensscan.models import create_lens_finder

    return {
        band: create_lens_finder(bands=(band,), input_size=64, widths=(4, 4, 4, 4))
        for band in "zri"
    }


def _scan_one(path: Path, finder, tmp_path: Path, **changes) -> Table:
    settings = {
        "workers": 0,
        "out": str(tmp_path / "cat.ecsv"),
        "threshold": 0.0,
        "top": 5,
        "stride": 64,
        "chunk_size": 256,
        "mode": "grid",
        # DECam's 0.262" is more than 1.5x the models' 0.168": these tests check geometry.
        "force_domain": True,
    }
    settings.update(changes)
    report = scan(
        [FieldSpec(path=path)], resolve_config(ScanConfig, overrides=settings), scorer=finder
    )
    assert not report.failed, report.lines()
    return Table.read(tmp_path / "cat.ecsv")


def _astropy_icrs(header: fits.Header, x: np.ndarray, y: np.ndarray) -> SkyCoord:
    """Sky positions of 0-based pixels, straight from astropy (FITS pixel = numpy + 1)."""
    wcs = WCS(header, naxis=2)
    ra, dec = wcs.all_pix2world(np.asarray(x) + 1, np.asarray(y) + 1, 1)
    return SkyCoord(ra, dec, unit="deg", frame=wcs.celestial.wcs.radesys.lower() or "icrs").icrs


def test_decam_ccd_with_tpv_wcs(realdata: Path, finders, tmp_path: Path, caplog) -> None:
    path = realdata / DECAM / "c4d_170316_062107_ooi_z_ls9.N2.fits"
    table = _scan_one(path, finders["z"], tmp_path)
    assert len(table) == 5 and set(table["bands"]) == {"z"}
    header = fits.getheader(path, 1)
    expected = _astropy_icrs(header, table["x"], table["y"])
    found = SkyCoord(table["ra"], table["dec"], unit="deg")
    assert found.separation(expected).arcsec.max() < 1e-6
    assert table.meta["pixel_scale_arcsec"] == pytest.approx(0.262, abs=0.001)
    assert "is 1.56x off the model's" in caplog.text and "scanned anyway" in caplog.text


def test_decam_tile_compressed_ccd_read_by_section(realdata: Path, finders, tmp_path: Path) -> None:
    path = realdata / DECAM / "c4d_171113_060340_ooi_r_ls9.N6.fits"
    opened = open_field(path, ("r",), 64)
    assert opened.inputs.bands[0].data.compressed
    data, _ = opened.inputs.read_region((100, 180, 20, 90))
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(data[0], hdul[1].data[100:180, 20:90])
    table = _scan_one(path, finders["r"], tmp_path)
    expected = _astropy_icrs(fits.getheader(path, 1), table["x"], table["y"])
    assert SkyCoord(table["ra"], table["dec"], unit="deg").separation(expected).arcsec.max() < 1e-6


def test_known_pixel_through_the_wcs(realdata: Path) -> None:
    path = realdata / DECAM / "c4d_150411_035242_ooi_z_v1-N10.fits"
    opened = open_field(path, ("z",), 64)
    from lensscan.scan.geometry import pixel_to_icrs

    ra, dec = pixel_to_icrs(opened.wcs, np.array([0.0]), np.array([0.0]))
    ra_fits, dec_fits = WCS(fits.getheader(path, 1)).all_pix2world([[1.0, 1.0]], 1)[0]
    assert ra[0] == pytest.approx(ra_fits, abs=1e-10) and dec[0] == pytest.approx(
        dec_fits, abs=1e-10
    )


@pytest.mark.parametrize(
    "name", ["Cut_HSC.fits", "Cut_HSC1.fits", "hsc_ra=150.24071_dec=2.06514.fits"]
)
def test_hsc_cubes_smaller_than_a_cutout_are_refused(realdata: Path, name: str) -> None:
    path = realdata / "scarlet_hsc_cosmos" / name
    with pytest.raises(
        UserError, match=rf"{name}: image is 5\dx5\d px, smaller than the model's 64 px cutout"
    ):
        open_field(path, ("g", "r", "i"), 64)


def test_hsc_cube_bands_and_wcs_with_a_small_model(realdata: Path) -> None:
    path = realdata / "scarlet_hsc_cosmos" / "Cut_HSC.fits"
    opened = open_field(path, ("g", "r", "i"), 32, bands_hint=list("grizy"))
    data, _ = opened.inputs.read_region((0, 50, 0, 50))
    np.testing.assert_array_equal(data, fits.getdata(path)[:3].astype(np.float32))
    assert opened.pixel_scale == pytest.approx(0.168, abs=1e-3)


def test_int16_bscale_image_without_celestial_wcs(
    realdata: Path, finders, tmp_path: Path, caplog
) -> None:
    path = realdata / "misc_real_fits" / "sep_image.fits"
    opened = open_field(path, ("i",), 64)
    assert opened.wcs is None
    data, _ = opened.inputs.read_region((10, 40, 20, 60))
    with warnings.catch_warnings():
        # This 1993 file has non-standard header cards; astropy warns while parsing them.
        warnings.simplefilter("ignore")
        expected = fits.getdata(path)[10:40, 20:60]
    np.testing.assert_allclose(data[0], expected, rtol=1e-6)
    table = _scan_one(path, finders["i"], tmp_path)
    assert np.isnan(table["ra"]).all() and np.isfinite(table["x"]).all()
    assert "no celestial WCS" in caplog.text
    assert table.meta["area_deg2"] is None


def test_spitzer_galactic_wcs_converted_to_icrs(realdata: Path, finders, tmp_path: Path) -> None:
    path = realdata / "misc_real_fits" / "spitzer_example_image.fits"
    table = _scan_one(path, finders["i"], tmp_path, stride=64, top=3)
    header = fits.getheader(path)
    wcs = WCS(header)
    lon, lat = wcs.all_pix2world(table["x"] + 1, table["y"] + 1, 1)
    expected = SkyCoord(l=lon, b=lat, unit="deg", frame="galactic").icrs
    found = SkyCoord(table["ra"], table["dec"], unit="deg", frame="icrs")
    assert found.separation(expected).arcsec.max() < 1e-6
    assert not np.allclose(table["ra"], lon)  # really converted, not copied


def test_cli_refuses_the_small_hsc_cube(realdata: Path, runner, tmp_path: Path) -> None:
    from lensscan.models import create_lens_finder, save_model

    model = save_model(
        create_lens_finder(bands=("g", "r", "i"), widths=(4, 4, 4, 4)), tmp_path / "m"
    )
    path = realdata / "scarlet_hsc_cosmos" / "Cut_HSC.fits"
    result = runner.invoke(
        app,
        ["scan", str(path), "--model", str(model), "--workers", "0", "--out", str(tmp_path / "c")],
    )
    assert result.exit_code == 2
    assert "Cut_HSC.fits: image is 50x50 px, smaller than the model's 64 px cutout" in result.stderr


def _detections(path: Path, finder, tmp_path: Path, **changes) -> Table:
    """Every detection of a real image: no preselection limits, every score listed."""
    return _scan_one(
        path,
        finder,
        tmp_path,
        mode="detect",
        top=None,
        mag_limit=99.0,
        min_kron_radius=0.0,
        **changes,
    )


def test_decam_ccd_detections_lie_on_sources_through_the_wcs(
    realdata: Path, finders, tmp_path: Path
) -> None:
    path = realdata / DECAM / "c4d_170316_062107_ooi_z_ls9.N2.fits"
    table = _detections(path, finders["z"], tmp_path)
    header = fits.getheader(path, 1)
    data = fits.getdata(path, 1).astype(np.float64)
    assert table.meta["n_detected"] >= 10 and len(table) >= 5
    found = SkyCoord(table["ra"], table["dec"], unit="deg")
    assert found.separation(_astropy_icrs(header, table["x"], table["y"])).arcsec.max() < 1e-6
    # Detections sit on light: the pixel at a typical one is brighter than 9 in 10 pixels.
    peaks = data[np.round(table["y"]).astype(int), np.round(table["x"]).astype(int)]
    assert np.median(peaks) > np.percentile(data, 90)


def test_hsc_cosmos_cube_detects_the_galaxy_it_is_centred_on(
    realdata: Path, tmp_path: Path
) -> None:
    from lensscan.models import create_lens_finder

    finder = create_lens_finder(bands=("g", "r", "i"), input_size=32, widths=(4, 4, 4, 4))
    path = realdata / "scarlet_hsc_cosmos" / "hsc_ra=150.24071_dec=2.06514.fits"
    table = _detections(path, finder, tmp_path, bands=tuple("grizy"), chunk_size=32, stride=None)
    target = SkyCoord(150.24071, 2.06514, unit="deg")
    found = SkyCoord(table["ra"], table["dec"], unit="deg")
    assert found.separation(target).arcsec.min() < 1.0
    assert np.isfinite(table["mag_i"]).any() and (table["kron_radius"] > 0).all()
