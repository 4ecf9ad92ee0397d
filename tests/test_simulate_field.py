"""Tests of ``lensscan simulate-field``: HSC-like calexp patches with injected lenses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lensscan.cli import app
from lensscan.simulate.fields.calexp import MASK_PLANES, calexp_name, mask_bit
from lensscan.simulate.fields.request import FieldRequest
from lensscan.simulate.fields.truth import PIXEL_CONVENTION
from lensscan.simulate.physics.photometry import FLUXMAG0


def simulate_field(runner, *args: str):
    return runner.invoke(app, ["simulate-field", *args])


@pytest.fixture(scope="module")
def field(tmp_path_factory) -> Path:
    """A 256 x 256 gri patch with three lenses."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("fields") / "patch"
    result = CliRunner().invoke(
        app,
        [
            "simulate-field",
            "--out",
            str(out),
            "--size",
            "256",
            "--n-lenses",
            "3",
            "--seed",
            "5",
            "--ra",
            "30.5",
            "--dec",
            "-4.25",
            "--tract",
            "9000",
            "--patch",
            "2,3",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_files_are_laid_out_like_hsc_calexps(field: Path) -> None:
    from astropy.io import fits

    names = sorted(p.name for p in field.iterdir())
    assert names == sorted(
        [calexp_name(band, 9000, (2, 3)) for band in "gri"] + ["objects.ecsv", "truth.ecsv"]
    )
    assert calexp_name("i", 9813, (4, 4)) == "calexp-HSC-I-9813-4,4.fits"
    with fits.open(field / calexp_name("i", 9000, (2, 3))) as hdus:
        assert [hdu.name for hdu in hdus] == ["PRIMARY", "IMAGE", "MASK", "VARIANCE", "PSF"]
        assert hdus[0].data is None
        assert hdus[0].header["FLUXMAG0"] == pytest.approx(FLUXMAG0)
        assert hdus[0].header["FILTER"] == "HSC-I"
        assert hdus["IMAGE"].data.dtype == np.dtype(">f4") and hdus["IMAGE"].data.shape == (
            256,
            256,
        )
        assert hdus["MASK"].data.dtype == np.dtype(">i4")
        assert hdus["VARIANCE"].data.dtype == np.dtype(">f4")
        for plane in ("BAD", "SAT", "INTRP", "CR", "EDGE", "DETECTED", "NO_DATA", "BRIGHT_OBJECT"):
            assert hdus["MASK"].header[f"MP_{plane}"] == MASK_PLANES[plane]
        psf = hdus["PSF"].data
        assert psf.shape[0] % 2 == 1 and psf.sum() == pytest.approx(1.0, rel=1e-4)
        assert np.unravel_index(psf.argmax(), psf.shape) == (psf.shape[0] // 2,) * 2


def test_wcs_is_tan_at_hsc_pixel_scale(field: Path) -> None:
    from astropy.io import fits
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales

    header = fits.getheader(field / calexp_name("g", 9000, (2, 3)), "IMAGE")
    wcs = WCS(header)
    assert wcs.wcs.ctype[0] == "RA---TAN"
    np.testing.assert_allclose(proj_plane_pixel_scales(wcs) * 3600, [0.168, 0.168])
    centre = wcs.pixel_to_world(127.5, 127.5)
    assert centre.ra.deg == pytest.approx(30.5) and centre.dec.deg == pytest.approx(-4.25)


def test_truth_positions_go_through_the_wcs_to_the_lens_centres(field: Path) -> None:
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.table import Table
    from astropy.wcs import WCS
    from scipy import ndimage

    truth = Table.read(field / "truth.ecsv")
    assert len(truth) == 3
    assert truth.meta["pixel_convention"] == PIXEL_CONVENTION
    assert truth.meta["seed"] == 5 and truth.meta["provenance"]["lensscan_version"]
    assert 0.75 * (256 * 0.168 / 3600) ** 2 < truth.meta["area_deg2"] < (256 * 0.168 / 3600) ** 2
    assert truth["ra"].unit == "deg" and truth["einstein_radius_arcsec"].unit == "arcsec"
    image = fits.getdata(field / calexp_name("i", 9000, (2, 3)), "IMAGE").astype(float)
    wcs = WCS(fits.getheader(field / calexp_name("i", 9000, (2, 3)), "IMAGE"))
    x, y = wcs.world_to_pixel(SkyCoord(truth["ra"], truth["dec"], unit="deg"))
    np.testing.assert_allclose(x, truth["x"], atol=0.5)
    np.testing.assert_allclose(y, truth["y"], atol=0.5)
    smoothed = ndimage.gaussian_filter(image, 1.0)
    for col, row in zip(x, y, strict=True):
        c, r = round(float(col)), round(float(row))
        window = smoothed[r - 4 : r + 5, c - 4 : c + 5]
        peak_row, peak_col = np.unravel_index(window.argmax(), window.shape)
        assert np.hypot(peak_col - 4 + c - col, peak_row - 4 + r - row) <= 1.5  # the lens galaxy
    assert np.all(
        (truth["einstein_radius_arcsec"] >= 0.6) & (truth["einstein_radius_arcsec"] <= 2.8)
    )
    assert np.all(truth["mag_arc_g"] < truth["mag_source_g"])  # magnified


def test_no_data_pixels_are_zero_and_flagged(field: Path) -> None:
    from astropy.io import fits

    with fits.open(field / calexp_name("r", 9000, (2, 3))) as hdus:
        image, mask, variance = (hdus[name].data for name in ("IMAGE", "MASK", "VARIANCE"))
        no_data = (mask & mask_bit("NO_DATA")) != 0
        assert no_data.any()
        assert np.all(image[no_data] == 0)
        assert np.all(np.isinf(variance[no_data]))
        assert np.all(variance[~no_data] > 0)
        assert ((mask & mask_bit("DETECTED")) != 0).mean() > 0.01
        assert ((mask & mask_bit("EDGE")) != 0).any()


def test_objects_catalog_lists_galaxies_stars_and_lenses(field: Path) -> None:
    from astropy.table import Table

    objects = Table.read(field / "objects.ecsv")
    kinds = set(objects["kind"])
    assert {"galaxy", "lens"} <= kinds
    assert (objects["kind"] == "lens").sum() == 3
    assert len(objects) > 20  # ~40 galaxies expected in 256 x 256 px


def test_same_seed_same_field_and_default_lens_count(runner, tmp_path) -> None:
    from astropy.io import fits

    images = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert (
            simulate_field(
                runner, "--out", str(out), "--size", "128", "--bands", "i", "--seed", "2"
            ).exit_code
            == 0
        )
        images.append(fits.getdata(out / calexp_name("i", 9813, (4, 4)), "IMAGE"))
    assert images[0].tobytes() == images[1].tobytes()
    assert FieldRequest(size=4200).n_lenses == 50
    assert FieldRequest(size=128).n_lenses == 1


def test_overwrite_and_atomic_output(runner, tmp_path, monkeypatch) -> None:
    out = tmp_path / "patch"
    assert simulate_field(runner, "--out", str(out), "--size", "128", "--bands", "i").exit_code == 0
    again = simulate_field(runner, "--out", str(out), "--size", "128", "--bands", "i")
    assert again.exit_code == 2 and "already exists" in again.output

    from lensscan.simulate.fields import run as field_run

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(field_run, "write_calexp", broken)
    fresh = tmp_path / "fresh"
    assert (
        simulate_field(runner, "--out", str(fresh), "--size", "128", "--bands", "i").exit_code != 0
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patch"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "10"], "--size 10"),
        (["--bands", "gx"], "unknown band 'x'"),
        (["--patch", "a,b"], "--patch 'a,b'"),
        (["--n-lenses", "-1"], "--n-lenses -1"),
        (["--size", "128", "--n-lenses", "40"], "too many lenses"),
        (["--dec", "95"], "--dec 95"),
        (["--ra", "-1"], "--ra -1"),
        (["--family", "sdss"], "--family 'sdss': choose one of hsc, hsc-train, hsc-heldout"),
    ],
)
def test_bad_options_fail_with_one_line(runner, tmp_path, args, message) -> None:
    result = simulate_field(runner, "--out", str(tmp_path / "f"), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "f").exists()


def test_help(runner) -> None:
    result = runner.invoke(app, ["simulate-field", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--size", "--bands", "--n-lenses", "--ra", "--dec", "--seed"):
        assert option in result.output


def test_held_out_family_field_has_its_own_psf_family(runner, tmp_path) -> None:
    from lensscan.simulate.fields.scene import draw_field

    held = draw_field(FieldRequest(size=256, n_lenses=1, family="hsc-heldout"))
    base = draw_field(FieldRequest(size=256, n_lenses=1))
    assert all(psf.halo_fraction > 0 and psf.beta is None for psf in held.conditions.psfs)
    assert all(psf.beta is not None for psf in base.conditions.psfs)
    result = simulate_field(
        runner, "--out", str(tmp_path / "f"), "--size", "256", "--family", "hsc-heldout"
    )
    assert result.exit_code == 0, result.output
