"""Detect mode: sep detection and preselection, chunk ownership, the detect-mode catalog."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table
from scan_helpers import PIXEL_SCALE, WeightedMeanScorer, tan_wcs, write_calexp, write_plain

from lensscan.cli import app
from lensscan.config import resolve_config
from lensscan.scan.detect import ColorCut, DetectSettings, detect_objects, magnitudes, preselect
from lensscan.scan.inputs import FieldSpec
from lensscan.scan.scanner import scan
from lensscan.scan.settings import ScanConfig
from lensscan.scan.tiling import core_chunks

SHAPE = (256, 256)
NO_DATA = 1 << 8


def _galaxy(shape: tuple[int, int], x: float, y: float, flux: float, sigma: float, q: float = 0.7):
    """An elliptical Gaussian of total ``flux`` centred on (x, y), axis ratio ``q``."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r2 = ((xx - x) / sigma) ** 2 + ((yy - y) / (sigma * q)) ** 2
    return flux * np.exp(-r2 / 2) / (2 * np.pi * sigma * sigma * q)


# Galaxies (x, y, flux, sigma px): isolated, bright, extended; one sits on the 128 px chunk
# boundary in x and one on it in y.
GALAXIES = np.array(
    [
        [40.3, 50.6, 4000.0, 6.0],
        [200.2, 60.1, 3000.0, 5.5],
        [127.7, 150.4, 3500.0, 6.0],
        [70.8, 127.6, 3000.0, 5.5],
        [190.6, 200.3, 5000.0, 7.0],
        [60.4, 215.8, 2500.0, 5.5],
    ]
)
STAR = (150.2, 40.7, 3000.0, 1.3)
FAINT = (110.5, 90.2, 60.0, 4.0)
MASKED = (225.0, 130.0, 4000.0, 5.0)  # inside the NO_DATA block
NAN_REGION = (slice(0, 30), slice(210, 256))


@pytest.fixture(scope="module")
def field(tmp_path_factory) -> dict:
    """A gri calexp triplet with six galaxies, a star, a faint galaxy, masked and NaN areas."""
    folder = tmp_path_factory.mktemp("detect-field")
    rng = np.random.default_rng(11)
    wcs = tan_wcs(SHAPE)
    mask = np.zeros(SHAPE, np.int32)
    mask[100:170, 205:256] = NO_DATA
    paths = {}
    for band, colour in zip("GRI", (0.5, 0.8, 1.0), strict=True):
        image = rng.normal(0.0, 1.0, SHAPE)
        for x, y, flux, sigma in [*GALAXIES, STAR, FAINT, MASKED]:
            image += colour * _galaxy(SHAPE, x, y, flux, sigma, q=1.0 if sigma < 2 else 0.7)
        image[NAN_REGION] = np.nan
        paths[band.lower()] = write_calexp(
            folder / f"calexp-HSC-{band}-9813-4,4.fits", image, wcs, mask
        )
    return {"paths": paths, "wcs": wcs, "mask": mask}


def _config(tmp_path: Path, **changes) -> ScanConfig:
    settings = {
        "workers": 0,
        "out": str(tmp_path / "out" / "cat.ecsv"),
        "threshold": 0.0,
        "chunk_size": 128,
        "mag_limit": 22.5,
        "min_kron_radius": 0.8,
    }
    settings.update(changes)
    return resolve_config(ScanConfig, overrides=settings)


def _scan(field: dict, tmp_path: Path, scorer=None, **changes) -> Table:
    scorer = scorer or WeightedMeanScorer(("g", "r", "i"), input_size=16)
    report = scan([FieldSpec(path=field["paths"]["i"])], _config(tmp_path, **changes), scorer)
    assert not report.failed, report.lines()
    return Table.read(tmp_path / "out" / "cat.ecsv")


def _settings(**changes) -> DetectSettings:
    values = {
        "bands": (),
        "threshold": 1.5,
        "min_area": 5,
        "mag_band": "i",
        "mag_limit": 22.5,
        "min_kron_radius": 0.8,
        "color_cut": None,
        "pixel_scale": PIXEL_SCALE,
    }
    values.update(changes)
    return DetectSettings(**values)


def test_detection_recovers_injected_galaxies_within_0_3_arcsec(field, tmp_path: Path) -> None:
    table = _scan(field, tmp_path)
    found = SkyCoord(table["ra"], table["dec"], unit="deg")
    ra, dec = field["wcs"].pixel_to_world_values(GALAXIES[:, 0], GALAXIES[:, 1])
    _, separation, _ = SkyCoord(ra, dec, unit="deg").match_to_catalog_sky(found)
    assert separation.arcsec.max() < 0.3, separation.arcsec
    # The star (point-like) and the faint galaxy are detected but not preselected.
    assert len(table) == len(GALAXIES)
    assert table.meta["n_detected"] >= len(GALAXIES) + 2
    assert table.meta["n_preselected"] == len(GALAXIES)
    # Kron magnitudes of i: flux 1.0 x the injected total, within the 2.5 Kron radii.
    expected = magnitudes(GALAXIES[:, 2])
    nearest, _, _ = found.match_to_catalog_sky(SkyCoord(ra, dec, unit="deg"))
    np.testing.assert_allclose(table["mag_i"], expected[nearest], atol=0.1)
    colours = table["mag_g"] - table["mag_i"]
    np.testing.assert_allclose(colours, -2.5 * np.log10(0.5), atol=0.05)
    assert (table["kron_radius"] > 0.8).all() and (table["ellipticity"] > 0.15).all()
    assert table["kron_radius"].unit == "arcsec" and table["score"].dtype == np.float64
    assert list(table["id"]) == list(range(1, len(table) + 1))
    assert (np.diff(table["score"]) <= 0).all()
    assert table.meta["mode"] == "detect"


def test_masked_and_no_data_regions_give_no_detections(field) -> None:
    from astropy.io import fits

    image = np.stack([fits.getdata(field["paths"][b], "IMAGE") for b in "gri"]).astype(np.float32)
    variance = np.ones_like(image)
    bad = (field["mask"] != 0) | ~np.isfinite(image).all(axis=0)
    columns = detect_objects(image, variance, bad, ("g", "r", "i"), _settings())
    x, y = columns["x"], columns["y"]
    assert not ((x > 204) & (y > 99) & (y < 170)).any()  # the NO_DATA block
    assert not ((x > 209) & (y < 30)).any()  # the NaN corner
    assert np.hypot(x - MASKED[0], y - MASKED[1]).min() > 20
    assert len(x) >= len(GALAXIES)


def test_preselection_limits_and_colour_cut() -> None:
    columns = {
        "x": np.array([5.0, 6.0, 7.0, 8.0]),
        "y": np.array([5.0, 5.0, 5.0, 5.0]),
        "kron_radius": np.array([10.0, 2.0, 10.0, 10.0]),  # px; 2 px = 0.34"
        "mag_g": np.array([21.0, 21.0, 21.0, 20.1]),
        "mag_i": np.array([20.0, 20.0, 23.0, 20.0]),
    }
    bad = np.zeros((12, 12), bool)
    assert preselect(columns, bad, _settings()).tolist() == [True, False, False, True]
    cut = ColorCut.parse("g-i>0.5")
    assert str(cut) == "g-i>0.5"
    keep = preselect(columns, bad, _settings(color_cut="g-i>0.5"))
    assert keep.tolist() == [True, False, False, False]
    bad[5, 5] = True
    assert preselect(columns, bad, _settings()).tolist() == [False, False, False, True]


def test_cores_tile_the_field_and_each_position_has_one_owner() -> None:
    chunks = core_chunks(300, 257, 128, 40)
    rng = np.random.default_rng(0)
    y, x = rng.uniform(-0.5, 299.5, 5000), rng.uniform(-0.5, 256.5, 5000)
    y[:4], x[:4] = [127.5, 127.49, 255.5, -0.5], [127.5, 127.51, 256.4, 0.0]
    owners = np.sum([c.owns(y, x) for c in chunks], axis=0)
    assert (owners == 1).all()
    assert chunks[0].region == (0, 168, 0, 168) and chunks[4].region == (88, 256 + 40, 88, 257)


def test_object_on_a_chunk_boundary_is_detected_once(field, tmp_path: Path) -> None:
    table = _scan(field, tmp_path, chunk_size=128)
    for x, y, *_ in GALAXIES[2:4]:  # on the x = 127.5 and y = 127.5 boundaries
        distance = np.hypot(table["x"] - x, table["y"] - y)
        assert (distance < 3).sum() == 1


def test_same_catalog_whatever_the_chunk_size_and_workers(field, tmp_path: Path) -> None:
    def significant(table: Table) -> dict[int, tuple[float, float, float]]:
        return {
            int(r["detection_id"]): (round(r["x"], 1), round(r["y"], 1), round(r["mag_i"], 2))
            for r in table
        }

    scorer = WeightedMeanScorer(("g", "r", "i"), input_size=16)
    reference = _scan(field, tmp_path / "a", scorer, chunk_size=512)
    small = _scan(field, tmp_path / "b", scorer, chunk_size=64)
    assert significant(small) == significant(reference)
    np.testing.assert_allclose(small["score"], reference["score"], rtol=1e-4)
    assert small.meta["n_detected"] == reference.meta["n_detected"]
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        on_dask = _scan(
            field, tmp_path / "c", scorer, chunk_size=96, scheduler=cluster.scheduler_address
        )
    assert significant(on_dask) == significant(reference)


def test_detect_mode_resumes_from_its_work_store(field, tmp_path: Path, monkeypatch) -> None:
    from lensscan.scan import runner

    scorer = WeightedMeanScorer(("g", "r", "i"), input_size=16)
    real_score = runner.score_chunk
    calls = []

    def dying_score(job, index, staged=None, prepared=None):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(index)
        return real_score(job, index, staged, prepared)

    monkeypatch.setattr(runner, "score_chunk", dying_score)
    with pytest.raises(KeyboardInterrupt):
        _scan(field, tmp_path, scorer)
    monkeypatch.setattr(runner, "score_chunk", real_score)
    resumed = _scan(field, tmp_path, scorer)
    fresh = _scan(field, tmp_path / "fresh", scorer)
    assert list(resumed["detection_id"]) == list(fresh["detection_id"])
    np.testing.assert_array_equal(resumed["score"], fresh["score"])


def test_tta_scores_with_a_spread(field, tmp_path: Path) -> None:
    table = _scan(field, tmp_path, tta=True)
    assert "score_spread" in table.colnames
    assert (table["score_spread"] > 0).all()


@pytest.fixture(scope="module")
def gri_model(tmp_path_factory) -> Path:
    from lensscan.models import create_lens_finder, save_model

    folder = tmp_path_factory.mktemp("models") / "tiny-gri"
    finder = create_lens_finder(bands=("g", "r", "i"), input_size=32, widths=(4, 4, 4, 4))
    return save_model(finder, folder, name="tiny-gri")


def test_cli_detect_is_the_default(field, tmp_path: Path, runner, gri_model: Path) -> None:
    out = tmp_path / "cat.ecsv"
    args = [str(field["paths"]["i"]), "--model", str(gri_model), "--workers", "0"]
    result = runner.invoke(app, ["scan", *args, "--out", str(out), "--threshold", "0"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert re.search(r"\d+ objects detected, 6 preselected and scored", result.stdout)
    assert Table.read(out).meta["mode"] == "detect"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--threshold", "2"], "--threshold 2.0: out of range"),
        (["--threshold", "-1"], "--threshold -1.0: out of range"),
        (["--threshold", "nan"], "--threshold nan: out of range"),
        (["--mode", "sliding"], "--mode sliding: expected one of detect, grid"),
        (["--color-cut", "red"], "--color-cut red: expected BAND-BAND>VALUE"),
        (["--color-cut", "g-z>1"], r"band\(s\) z not among the model's g,r,i"),
        (["--detect-threshold", "0"], "--detect-threshold 0.0: out of range"),
        (["--min-kron-radius", "-1"], "--min-kron-radius -1.0: out of range"),
    ],
)
def test_cli_bad_detect_options_are_one_line_and_exit_2(
    field, tmp_path: Path, runner, gri_model: Path, options, message
) -> None:
    args = [str(field["paths"]["i"]), "--model", str(gri_model), "--workers", "0"]
    result = runner.invoke(app, ["scan", *args, "--out", str(tmp_path / "c"), *options])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("lensscan: error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), result.stderr


def test_all_masked_field_is_refused_in_detect_mode(tmp_path: Path) -> None:
    path = write_plain(tmp_path / "nan.fits", np.full((80, 80), np.nan, np.float32), FILTER="i")
    report = scan([FieldSpec(path=path)], _config(tmp_path), WeightedMeanScorer(("i",), 16))
    assert report.failed and "every pixel is masked or has no data" in report.failed[0].error


def test_an_ensemble_gives_the_spread_of_its_members(field, tmp_path: Path, runner) -> None:
    from lensscan.models import create_lens_finder, save_model
    from lensscan.models.ensemble import make_ensemble

    folders = []
    for seed in (0, 1):
        finder = create_lens_finder(
            bands=("g", "r", "i"), input_size=32, seed=seed, widths=(4, 4, 4, 4)
        )
        folders.append(save_model(finder, tmp_path / f"m{seed}", name=f"m{seed}"))
    pair = tmp_path / "pair"
    make_ensemble([str(f) for f in folders], pair)
    out = tmp_path / "cat.ecsv"
    args = [str(field["paths"]["i"]), "--model", str(pair), "--workers", "0", "--threshold", "0"]
    result = runner.invoke(app, ["scan", *args, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    table = Table.read(out)
    assert len(table) > 0 and (table["score_spread"] > 0).all()
    # A single network has no spread to report.
    single = tmp_path / "single.ecsv"
    args[2] = str(folders[0])
    result = runner.invoke(app, ["scan", *args, "--out", str(single)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "score_spread" not in Table.read(single).colnames


def test_core_is_measured_in_the_magnitude_band_where_a_lens_galaxy_outshines_its_arc() -> None:
    # A red galaxy and, 2" away, a compact blue knot (an arc's fragment) that is the brighter
    # of the two in g and in the sum of the bands.
    rng = np.random.default_rng(3)
    shape = (96, 96)
    galaxy, knot = (40.0, 48.0, 2000.0, 3.0), (52.0, 48.0, 2000.0, 1.8)
    colours = {"g": (0.2, 1.6), "r": (0.6, 1.0), "i": (1.0, 0.3)}
    image = np.stack(
        [
            rng.normal(0.0, 1.0, shape)
            + red * _galaxy(shape, *galaxy, q=1.0)
            + blue * _galaxy(shape, *knot, q=1.0)
            for red, blue in colours.values()
        ]
    ).astype(np.float32)
    columns = detect_objects(image, None, np.zeros(shape, bool), tuple(colours), _settings())
    found = {
        name: int(np.argmin(np.hypot(columns["x"] - x, columns["y"] - y)))
        for name, (x, y, *_) in {"galaxy": galaxy, "knot": knot}.items()
    }
    assert found["galaxy"] != found["knot"]
    summed = image.sum(axis=0)
    assert summed[48, 52] > summed[48, 40]  # the knot is the brighter peak of the bands' sum
    assert columns["core"][found["galaxy"]] > 1.5 * columns["core"][found["knot"]]
