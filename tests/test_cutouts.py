"""``lensscan cutouts``: detected or catalogued objects of fields into a cutout store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from scan_helpers import WeightedMeanScorer, tan_wcs, write_calexp

from lensscan.cli import app
from lensscan.config import resolve_config
from lensscan.data.store import UNLABELLED, CutoutStore
from lensscan.scan.inputs import FieldSpec
from lensscan.scan.scanner import scan
from lensscan.scan.settings import ScanConfig

SHAPE = (160, 200)
GALAXIES = [(50.3, 40.6, 4000.0), (140.2, 110.4, 3000.0), (100.7, 80.2, 3500.0)]
EDGE_GALAXY = (5.0, 150.0, 4000.0)  # its cutout would leave the field


@pytest.fixture(scope="module")
def field(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cutout-field")
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    for band in "GRI":
        image = rng.normal(0.0, 1.0, SHAPE)
        for x, y, flux in [*GALAXIES, EDGE_GALAXY]:
            r2 = ((xx - x) / 6.0) ** 2 + ((yy - y) / 4.5) ** 2
            image += flux * np.exp(-r2 / 2) / (2 * np.pi * 6.0 * 4.5)
        write_calexp(folder / f"calexp-HSC-{band}-9813-4,4.fits", image, tan_wcs(SHAPE))
    return folder / "calexp-HSC-I-9813-4,4.fits"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from lensscan.models import create_lens_finder, save_model

    finder = create_lens_finder(bands=("g", "r", "i"), input_size=32, widths=(4, 4, 4, 4))
    return save_model(finder, tmp_path_factory.mktemp("models") / "gri32", name="gri32")


def _field_pixels(path: Path) -> np.ndarray:
    return np.stack(
        [fits.getdata(path.with_name(f"calexp-HSC-{b}-9813-4,4.fits"), "IMAGE") for b in "GRI"]
    )


def test_detected_cutouts_round_trip(field: Path, model: Path, runner, tmp_path: Path) -> None:
    out = tmp_path / "pool.zarr"
    result = runner.invoke(app, ["cutouts", str(field), "--out", str(out), "--model", str(model)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert f"wrote {out}: 3 cutouts of 1 field(s), 32 px in gri" in result.stdout
    store = CutoutStore.open(out)
    assert store.bands == ("g", "r", "i") and store.image_shape == (3, 32, 32)
    assert (store.labels == UNLABELLED).all() and store.split_names == ["pool"]
    params = store.params()
    pixels, images = _field_pixels(field), store.read_images()
    for k in range(len(store)):
        x0 = int(np.floor(params["x"][k] - 15.5 + 0.5))
        y0 = int(np.floor(params["y"][k] - 15.5 + 0.5))
        np.testing.assert_array_equal(images[k], pixels[:, y0 : y0 + 32, x0 : x0 + 32])
    found = sorted(zip(np.round(params["x"]), np.round(params["y"]), strict=True))
    assert found == sorted((round(x), round(y)) for x, y, _ in GALAXIES)
    assert np.isfinite(params["mag_i"]).all() and (params["kron_radius"] > 0.8).all()
    # The same objects, ids and sky positions as the scan's catalog of the field.
    scan(
        [FieldSpec(path=field)],
        resolve_config(
            ScanConfig,
            overrides={"workers": 0, "threshold": 0.0, "out": str(tmp_path / "cat.ecsv")},
        ),
        WeightedMeanScorer(("g", "r", "i"), input_size=32),
    )
    catalog = Table.read(tmp_path / "cat.ecsv")
    assert sorted(catalog["detection_id"]) == sorted(params["detection_id"])
    order = np.argsort(params["detection_id"])
    np.testing.assert_allclose(np.sort(catalog["ra"]), np.sort(params["ra"][order]))
    assert store.attrs["mode"] == "detect" and store.attrs["fields"] == ["calexp-HSC-I-9813-4,4"]
    assert not list(tmp_path.glob(".pool.zarr*")), "the work store is removed"


def test_cutouts_open_a_field_as_the_scan_does(
    field: Path, model: Path, tmp_path: Path, caplog
) -> None:
    import shutil

    from lensscan.scan.cutouts import make_cutouts
    from lensscan.scan.settings import CutoutsConfig

    for band in "GRI":
        copy = tmp_path / f"calexp-HSC-{band}-9813-4,4.fits"
        shutil.copy(field.with_name(copy.name), copy)
        with fits.open(copy, mode="update") as hdus:
            hdus["VARIANCE"].data[...] = 0
    spec = FieldSpec(path=tmp_path / "calexp-HSC-I-9813-4,4.fits")
    out = tmp_path / "pool.zarr"
    make_cutouts([spec], CutoutsConfig(out=str(out), model=str(model)))
    scan(
        [spec],
        resolve_config(
            ScanConfig,
            overrides={"workers": 0, "threshold": 0.0, "out": str(tmp_path / "cat.ecsv")},
        ),
        WeightedMeanScorer(("g", "r", "i"), input_size=32),
    )
    # Both drop the empty VARIANCE planes (the noise then comes from the image), so both
    # find the same objects.
    warned = [r for r in caplog.records if "holds no positive value" in r.getMessage()]
    assert len(warned) == 2
    ids = CutoutStore.open(out).params()["detection_id"]
    assert len(ids) and sorted(Table.read(tmp_path / "cat.ecsv")["detection_id"]) == sorted(ids)


def test_positions_cutouts_keep_the_catalog_row(
    field: Path, model: Path, runner, tmp_path: Path
) -> None:
    wcs = tan_wcs(SHAPE)
    xy = [(60.2, 70.3), (3.0, 3.0)]  # the second one's cutout would leave the field
    ra, dec = wcs.pixel_to_world_values([p[0] for p in xy], [p[1] for p in xy])
    catalog = tmp_path / "objects.csv"
    catalog.write_text(
        "ra,dec\n" + "".join(f"{r:.9f},{d:.9f}\n" for r, d in zip(ra, dec, strict=True))
    )
    out = tmp_path / "pos.zarr"
    args = ["cutouts", str(field), "--out", str(out), "--model", str(model)]
    result = runner.invoke(app, [*args, "--positions", str(catalog)])
    assert result.exit_code == 0, result.stdout + result.stderr
    store = CutoutStore.open(out)
    params = store.params()
    assert len(store) == 1 and params["input_row"].tolist() == [0]
    np.testing.assert_allclose(params["ra"], ra[:1])
    np.testing.assert_array_equal(store.read_images()[0], _field_pixels(field)[:, 55:87, 45:77])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--detect-threshold", "-1"], "--detect-threshold -1.0: out of range"),
        (["--color-cut", "g-q>1"], "band(s) q not among the model's g,r,i"),
        (["--mag-limit", "10"], "no object of any field has a cutout inside its field"),
    ],
)
def test_cutouts_bad_input_is_one_line_and_exit_2(
    field: Path, model: Path, runner, tmp_path: Path, options, message
) -> None:
    args = ["cutouts", str(field), "--out", str(tmp_path / "p.zarr"), "--model", str(model)]
    result = runner.invoke(app, [*args, *options])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("lensscan:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert not (tmp_path / "p.zarr").exists()


def test_cutouts_help(runner) -> None:
    result = runner.invoke(app, ["cutouts", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--positions", "--mag-limit", "--min-kron-radius", "--color-cut"):
        assert option in result.stdout
