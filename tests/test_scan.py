"""The scanner end to end: tiling equals a naive sliding window, resume, Dask, CLI, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from scan_helpers import WeightedMeanScorer, tan_wcs, write_calexp, write_plain

from lensscan.cli import app
from lensscan.config import resolve_config
from lensscan.scan import runner
from lensscan.scan.inputs import FieldSpec
from lensscan.scan.scanner import scan
from lensscan.scan.settings import ScanConfig
from lensscan.scan.tiling import window_starts
from lensscan.scan.workstore import WorkStore

ODD_SHAPE = (301, 257)


def _config(tmp_path: Path, **changes) -> ScanConfig:
    settings = {
        "workers": 0,
        "out": str(tmp_path / "out"),
        "threshold": 0.0,
        "chunk_size": 96,
        "min_separation": 0.0,
        "mode": "grid",
    }
    settings.update(changes)
    return resolve_config(ScanConfig, overrides=settings)


@pytest.fixture
def odd_field(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """An odd-sized calexp with a NaN corner and a NO_DATA corner: (path, image, bad)."""
    rng = np.random.default_rng(3)
    image = rng.normal(size=ODD_SHAPE).astype(np.float32)
    image[:70, :80] = np.nan
    mask = np.zeros(ODD_SHAPE, np.int32)
    mask[200:, 200:] = 1 << 8  # NO_DATA
    path = write_calexp(tmp_path / "odd.fits", image, tan_wcs(ODD_SHAPE), mask)
    return path, image, np.isnan(image) | (mask != 0)


def _naive_maps(
    image: np.ndarray, bad: np.ndarray, scorer: WeightedMeanScorer, stride: int, max_fraction: float
):
    """Score map and mask fractions by a plain loop over every window position."""
    size = scorer.input_size
    starts_y = window_starts(image.shape[0], size, stride)
    starts_x = window_starts(image.shape[1], size, stride)
    scores = np.full((len(starts_y), len(starts_x)), np.nan)
    fractions = np.zeros_like(scores)
    for i, y in enumerate(starts_y):
        for j, x in enumerate(starts_x):
            fractions[i, j] = bad[y : y + size, x : x + size].mean()
            if fractions[i, j] <= max_fraction:
                scores[i, j] = scorer.score_numpy(image[None, None, y : y + size, x : x + size])[0]
    return scores, fractions


def test_dask_tiling_equals_a_naive_sliding_window(tmp_path: Path, odd_field) -> None:
    path, image, bad = odd_field
    scorer = WeightedMeanScorer(("i",), input_size=64)
    report = scan([FieldSpec(path=path)], _config(tmp_path, max_mask_fraction=0.3), scorer=scorer)
    assert not report.failed
    store = WorkStore(tmp_path / "out" / ".work" / "odd.zarr", mode="r")
    expected_scores, expected_fractions = _naive_maps(image, bad, scorer, 32, 0.3)
    assert expected_scores.shape == (9, 8)  # 301 rows: 8 regular + 1 flush; 257 columns: 7 + 1
    np.testing.assert_allclose(store.read("mask_fraction"), expected_fractions, atol=1e-6)
    np.testing.assert_allclose(store.read("score"), expected_scores, rtol=1e-5, atol=1e-6)
    skipped = int((expected_fractions > 0.3).sum())
    assert skipped > 0 and report.results[0].n_skipped == skipped
    assert report.results[0].n_windows == 9 * 8
    assert not (tmp_path / "out" / ".work" / "odd.zarr" / "tiles").exists()


def test_in_process_chunks_are_read_and_prepared_on_the_helper_thread(
    tmp_path: Path, odd_field, monkeypatch
) -> None:
    import threading

    from lensscan.scan.chunks import GridJob

    path, image, bad = odd_field
    threads: list[str] = []
    real_prepare = GridJob.prepare

    def recording_prepare(job, index):
        threads.append(threading.current_thread().name)
        return real_prepare(job, index)

    monkeypatch.setattr(GridJob, "prepare", recording_prepare)
    scorer = WeightedMeanScorer(("i",), input_size=64)
    report = scan([FieldSpec(path=path)], _config(tmp_path), scorer=scorer)
    assert not report.failed
    # Every chunk's reading and bad-pixel fractions ran beside the model, not before it.
    store = WorkStore(tmp_path / "out" / ".work" / "odd.zarr", mode="r")
    assert len(threads) == len(store.status()) > 1
    assert all(name.startswith("lensscan-stage") for name in threads)
    expected_scores, _ = _naive_maps(image, bad, scorer, 32, 0.5)
    np.testing.assert_allclose(store.read("score"), expected_scores, rtol=1e-5, atol=1e-6)


def test_interrupted_scan_resumes_to_the_same_catalog(
    tmp_path: Path, odd_field, monkeypatch
) -> None:
    from lensscan.scan import fits_io

    path, _, _ = odd_field
    scorer = WeightedMeanScorer(("i",), input_size=64)
    scan([FieldSpec(path=path)], _config(tmp_path / "ref", top=20), scorer=scorer)
    reads = []
    original_read = fits_io.FieldInputs.read_region

    def counting_read(self, region):
        reads.append(region)
        return original_read(self, region)

    monkeypatch.setattr(fits_io.FieldInputs, "read_region", counting_read)
    calls = {"n": 0}
    real_score = runner.score_chunk

    def dying_score(job, index, staged=None, prepared=None):
        calls["n"] += 1
        if calls["n"] == 4:  # killed after staging chunk 4, before scoring it
            raise WorkerKilledError("killed")
        return real_score(job, index, staged, prepared)

    monkeypatch.setattr(runner, "score_chunk", dying_score)
    first = scan([FieldSpec(path=path)], _config(tmp_path / "run", top=20), scorer=scorer)
    assert first.failed and "killed" in first.failed[0].error
    assert not (tmp_path / "run" / "out" / "odd.ecsv").exists()
    store = WorkStore(tmp_path / "run" / "out" / ".work" / "odd.zarr", mode="r")
    assert list(store.status()[:4]) == [2, 2, 2, 1]
    monkeypatch.setattr(runner, "score_chunk", real_score)
    second = scan([FieldSpec(path=path)], _config(tmp_path / "run", top=20), scorer=scorer)
    assert not second.failed
    # Every chunk's region was read from the FITS file exactly once over both runs.
    assert len(reads) == len(set(reads)) == 9
    resumed = Table.read(tmp_path / "run" / "out" / "odd.ecsv")
    expected = Table.read(tmp_path / "ref" / "out" / "odd.ecsv")
    for name in ("id", "ra", "dec", "x", "y", "score", "mask_fraction"):
        np.testing.assert_array_equal(resumed[name], expected[name])
    again = scan([FieldSpec(path=path)], _config(tmp_path / "run", top=20), scorer=scorer)
    assert again.results[0].status == "up to date"


class WorkerKilledError(Exception):
    """Stands for a worker killed mid-scan."""


def test_changed_input_starts_afresh(tmp_path: Path, odd_field) -> None:
    path, image, _ = odd_field
    scorer = WeightedMeanScorer(("i",), input_size=64)
    work = tmp_path / "work"
    scan([FieldSpec(path=path)], _config(tmp_path / "a", top=5, work_dir=str(work)), scorer=scorer)
    old_key = WorkStore(work / "odd.zarr", mode="r").attrs["run_key"]
    write_calexp(path, np.nan_to_num(image) + 1.0, tan_wcs(ODD_SHAPE))
    # Same work store, new catalog: the store's key no longer matches, so nothing is reused.
    scan([FieldSpec(path=path)], _config(tmp_path / "b", top=5, work_dir=str(work)), scorer=scorer)
    assert WorkStore(work / "odd.zarr", mode="r").attrs["run_key"] != old_key
    before = Table.read(tmp_path / "a" / "out" / "odd.ecsv")
    after = Table.read(tmp_path / "b" / "out" / "odd.ecsv")
    assert after["score"][0] == pytest.approx(before["score"][0] + 1.0, rel=1e-5)


def test_scheduler_with_a_local_cluster_matches_in_process(tmp_path: Path, odd_field) -> None:
    from distributed import Client, LocalCluster

    path, _, _ = odd_field
    scorer = WeightedMeanScorer(("i",), input_size=64)
    scan([FieldSpec(path=path)], _config(tmp_path / "a", top=10), scorer=scorer)
    second = write_plain(
        tmp_path / "second.fits",
        np.random.default_rng(5).normal(size=(150, 170)),
        tan_wcs((150, 170)),
    )
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        report = scan(
            [FieldSpec(path=path), FieldSpec(path=second)],
            _config(tmp_path / "b", top=10, scheduler=cluster.scheduler_address),
            scorer=scorer,
        )
    assert not report.failed
    assert "2 of 2 fields done (2 scanned, 0 up to date, 0 failed), 20 candidates" in (
        report.lines()
    )
    on_dask = Table.read(tmp_path / "b" / "out" / "odd.ecsv")
    in_process = Table.read(tmp_path / "a" / "out" / "odd.ecsv")
    np.testing.assert_array_equal(on_dask["score"], in_process["score"])
    np.testing.assert_array_equal(on_dask["ra"], in_process["ra"])
    assert len(Table.read(tmp_path / "b" / "out" / "second.ecsv")) == 10


def test_positions_mode_scores_cutouts_centred_on_objects(tmp_path: Path) -> None:
    shape = (200, 240)
    wcs = tan_wcs(shape)
    # Offset from zero so every window's weighted mean is above the lowest threshold, 0.
    image = np.random.default_rng(7).normal(3.0, 1.0, size=shape).astype(np.float32)
    path = write_plain(tmp_path / "f.fits", image, wcs)
    # Away from half-pixel centres, where rounding would depend on the last bit of the WCS.
    xy = np.array([[100.3, 80.2], [40.2, 150.7], [5.0, 5.0], [300.0, 20.0]])  # last two: outside
    ra, dec = wcs.pixel_to_world_values(xy[:, 0], xy[:, 1])
    (tmp_path / "objects.csv").write_text(
        "name,RA,Dec\n"
        + "".join(f"o{i},{r:.9f},{d:.9f}\n" for i, (r, d) in enumerate(zip(ra, dec, strict=True)))
    )
    scorer = WeightedMeanScorer(("i",), input_size=32)
    report = scan(
        [FieldSpec(path=path)],
        _config(tmp_path, positions=str(tmp_path / "objects.csv")),
        scorer=scorer,
    )
    assert not report.failed
    table = Table.read(tmp_path / "out" / "f.ecsv")
    assert sorted(table["input_row"]) == [0, 1]
    assert table.meta["mode"] == "positions", "--positions wins over --mode grid"
    assert table.meta["n_positions_outside"] == 2
    for row in table:
        x, y = xy[row["input_row"]]
        x0, y0 = int(np.floor(x - 15.5 + 0.5)), int(np.floor(y - 15.5 + 0.5))
        expected = scorer.score_numpy(image[None, None, y0 : y0 + 32, x0 : x0 + 32])[0]
        assert row["score"] == pytest.approx(expected, rel=1e-5)
        assert row["x"] == pytest.approx(x, abs=1e-4) and row["y"] == pytest.approx(y, abs=1e-4)
        assert row["ra"] == pytest.approx(ra[row["input_row"]])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained, fast 1-band model saved to disk (CLI tests load models by path)."""
    from lensscan.models import create_lens_finder, save_model

    folder = tmp_path_factory.mktemp("models") / "tiny-i"
    finder = create_lens_finder(bands=("i",), input_size=32, widths=(4, 4, 4, 4))
    return save_model(finder, folder, name="tiny-i")


def _cli(runner, args):
    result = runner.invoke(app, ["scan", *map(str, args)])
    return result, result.stdout + result.stderr


def test_cli_help(runner) -> None:
    result = runner.invoke(app, ["scan", "--help"])
    assert result.exit_code == 0
    for option in (
        "--band",
        "--positions",
        "--scheduler",
        "--workers",
        "--min-separation",
        "--known",
        "--mode",
        "--tta",
        "--mag-limit",
        "--min-kron-radius",
        "--color-cut",
    ):
        assert option in result.stdout


def test_scan_and_evaluate_share_one_match_radius() -> None:
    from lensscan.catalog.crossmatch import MATCH_RADIUS_ARCSEC
    from lensscan.evaluate.settings import EvaluateConfig

    evaluate = EvaluateConfig(data="cutouts.zarr")  # an evaluation needs something to evaluate
    assert ScanConfig().candidates.match_radius == evaluate.match_radius == MATCH_RADIUS_ARCSEC


def test_cli_scans_and_writes_each_format(tmp_path: Path, runner, tiny_model: Path) -> None:
    image = np.random.default_rng(0).normal(size=(100, 90)).astype(np.float32)
    path = write_plain(tmp_path / "field.fits", image, tan_wcs((100, 90)), FILTER="i")
    for fmt, reader in (("ecsv", "ascii.ecsv"), ("fits", "fits"), ("csv", "ascii.csv")):
        out = tmp_path / f"cat.{fmt}"
        result, text = _cli(
            runner,
            [
                path,
                "--model",
                tiny_model,
                "--workers",
                "0",
                "--out",
                out,
                "--threshold",
                "0",
                "--top",
                "3",
                "--mode",
                "grid",
            ],
        )
        assert result.exit_code == 0, text
        assert f"-> {out}" in result.stdout
        table = Table.read(out, format=reader)
        assert len(table) == 3 and list(table.colnames[:3]) == ["id", "ra", "dec"]
    assert (tmp_path / "cat.csv.meta.json").exists()
    result, text = _cli(
        runner, [path, "--model", tiny_model, "--workers", "0", "--out", tmp_path / "cat.ecsv"]
    )
    assert result.exit_code == 2 and "already exists" in text


def test_cli_parquet_needs_pyarrow(tmp_path: Path, runner, tiny_model: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        pytest.skip("pyarrow is installed")
    path = write_plain(tmp_path / "field.fits", np.ones((40, 40), np.float32), FILTER="i")
    result, text = _cli(
        runner, [path, "--model", tiny_model, "--workers", "0", "--format", "parquet"]
    )
    assert result.exit_code == 2
    assert "pip install pyarrow" in text


def _all_nan(d: Path) -> Path:
    return write_plain(d / "nan.fits", np.full((80, 80), np.nan, np.float32), FILTER="i")


def _gri_model(d: Path) -> Path:
    from lensscan.models import create_lens_finder, save_model

    return save_model(
        create_lens_finder(bands=("g", "r", "i"), input_size=32, widths=(4, 4, 4, 4)), d / "gri"
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: [d / "nope.fits"], "nope.fits: no such file"),
        (lambda d: [_write_text(d / "text.fits")], "text.fits: not a readable FITS file"),
        (
            lambda d: [write_plain(d / "tiny.fits", np.ones((20, 50), np.float32))],
            "tiny.fits: image is 50x20 px, smaller",
        ),
        (lambda d: [_all_nan(d)], "nan.fits: every pixel is masked"),
        (
            lambda d: [write_plain(d / "z.fits", np.ones((80, 80), np.float32), FILTER="z")],
            r"z.fits: provides band\(s\) z but the model needs i",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, runner, tiny_model: Path, make, message
) -> None:
    result, text = _cli(
        runner, [*make(tmp_path), "--model", tiny_model, "--workers", "0", "--out", tmp_path / "o"]
    )
    assert result.exit_code == 2
    error_lines = [
        line for line in result.stderr.splitlines() if line.startswith("lensscan: error:")
    ]
    assert len(error_lines) == 1
    assert re.search(message, error_lines[0]), text


def _write_text(path: Path) -> Path:
    path.write_text("SIMPLE = nonsense\n")
    return path


def test_cli_mismatched_band_grids_refused(tmp_path: Path, runner) -> None:
    model = _gri_model(tmp_path)
    image = np.ones((80, 80), np.float32)
    g = write_plain(tmp_path / "g.fits", image, tan_wcs((80, 80)))
    r = write_plain(tmp_path / "r.fits", image, tan_wcs((80, 80)))
    i = write_plain(tmp_path / "i.fits", image, tan_wcs((80, 80), dec=2.3))
    result, _ = _cli(
        runner,
        [
            "--band",
            f"g={g}",
            "--band",
            f"r={r}",
            "--band",
            f"i={i}",
            "--model",
            model,
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 2
    assert "i.fits: not on the pixel grid of band g: WCS differs" in result.stderr


def _noise_field(path: Path) -> Path:
    """A 70 x 70 i-band field of unit noise with a TAN WCS."""
    rng = np.random.default_rng(1)
    return write_plain(path, rng.normal(size=(70, 70)), tan_wcs((70, 70)), FILTER="i")


def test_cli_several_fields_one_bad_others_scanned(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    good = _noise_field(tmp_path / "good.fits")
    bad = _write_text(tmp_path / "bad.fits")
    result, _ = _cli(
        runner,
        [
            good,
            bad,
            "--model",
            tiny_model,
            "--workers",
            "0",
            "--out",
            tmp_path / "cats",
            "--threshold",
            "0",
        ],
    )
    assert result.exit_code == 2
    assert (tmp_path / "cats" / "good.ecsv").exists()
    assert "FAILED" in result.stdout and "bad.fits" in result.stdout
    assert "1 of 2 fields done (1 scanned, 0 up to date, 1 failed)" in result.stdout
    assert "1 of 2 fields failed" in result.stderr


def test_a_failed_field_names_options_on_the_command_line_and_settings_in_files(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    good = _noise_field(tmp_path / "good.fits")
    # Two planes and no band names: the field fails and its message names `bands`.
    cube = write_plain(tmp_path / "cube.fits", np.zeros((2, 70, 70)), tan_wcs((70, 70)))
    args = [good, cube, "--model", tiny_model, "--workers", "0", "--out", tmp_path / "cats"]
    result, _ = _cli(runner, [*args, "--threshold", "0"])
    assert result.exit_code == 2
    assert f"FAILED {cube}: cannot tell which band(s) its 2 plane(s) hold (pass --bands" in (
        result.stdout
    )
    summary = json.loads((tmp_path / "cats" / "combined.summary.json").read_text())
    (error,) = [f["error"] for f in summary["fields"] if f["status"] == "failed"]
    assert "(pass `bands`, e.g. `bands` g,r,i,z,y)" in error


def _simulate(out: Path, size: int, n_lenses: int, seed: int) -> Path:
    from lensscan.simulate.fields.request import FieldRequest
    from lensscan.simulate.fields.run import simulate_field_patch

    request = FieldRequest(size=size, n_lenses=n_lenses, seed=seed, ra=35.2, dec=-4.5)
    simulate_field_patch(request, out)
    return out


def _training_cutouts(folder: Path, size: int, rng: np.random.Generator):
    """Lens cutouts (shifted, rotated, flipped) at the truth positions of a simulated patch,
    and as many non-lens cutouts on other objects and random sky away from the lenses."""
    image = np.stack(
        [fits.getdata(folder / f"calexp-HSC-{b}-9813-4,4.fits", "IMAGE") for b in "GRI"]
    ).astype(np.float32)
    truth, objects = Table.read(folder / "truth.ecsv"), Table.read(folder / "objects.ecsv")
    height = image.shape[1]

    def cutout(y: float, x: float) -> np.ndarray | None:
        y0, x0 = round(y - (size - 1) / 2), round(x - (size - 1) / 2)
        inside = 0 <= y0 <= height - size and 0 <= x0 <= height - size
        return image[:, y0 : y0 + size, x0 : x0 + size] if inside else None

    lenses, off_centre = [], []
    for y, x in zip(truth["y"], truth["x"], strict=True):
        for k in range(8):
            stamp = cutout(y + rng.uniform(-2, 2), x + rng.uniform(-2, 2))
            if stamp is not None:
                stamp = np.rot90(stamp, k % 4, axes=(1, 2))
                lenses.append((stamp[:, :, ::-1] if k >= 4 else stamp).copy())
            # The same lens 6-10 px off centre counts as a non-lens: it teaches the model to
            # peak on the lens, which is what positions candidates to better than 1".
            shift = rng.uniform(6, 10) * np.array([np.cos(k), np.sin(k)])
            stamp = cutout(y + shift[0], x + shift[1])
            if stamp is not None and k % 2 == 0:
                off_centre.append(stamp)
    nonlenses = off_centre
    others = [(y, x) for y, x in zip(objects["y"], objects["x"], strict=True)]
    others += [tuple(rng.uniform(0, height, 2)) for _ in range(400)]
    for k in rng.permutation(len(others)):
        y, x = others[k]
        far = np.hypot(truth["x"] - x, truth["y"] - y).min() > 20
        stamp = cutout(y, x) if far else None
        if stamp is not None and len(nonlenses) < len(lenses):
            nonlenses.append(stamp)
    return np.stack(lenses + nonlenses), np.array([1] * len(lenses) + [0] * len(nonlenses), np.int8)


@pytest.fixture(scope="session")
def simulated(tmp_path_factory) -> dict[str, Path]:
    """A 256 px patch with 3 lenses to scan, and a small CNN trained for seconds on cutouts
    of another simulated patch (512 px, 12 lenses, different seed)."""
    from lensscan.data.store import write_store
    from lensscan.training import train
    from lensscan.training.settings import TrainConfig

    root = tmp_path_factory.mktemp("simulated")
    scanned = _simulate(root / "scan-patch", 256, 3, seed=5)
    training = _simulate(root / "train-patch", 512, 12, seed=6)
    rng = np.random.default_rng(0)
    images, labels = _training_cutouts(training, 32, rng)
    order = rng.permutation(len(labels))
    split = (np.arange(len(labels)) >= 0.8 * len(labels)).astype(np.int8)
    write_store(
        root / "train.zarr",
        images=images[order],
        labels=labels[order],
        split=split,
        split_names=["train", "val"],
        bands=["g", "r", "i"],
        pixel_scale=0.168,
        attrs={"domain": "hsc-sim"},
    )
    store = str(root / "train.zarr")
    model = root / "sim-lens-finder"
    config = TrainConfig(
        source=store, val=store, out=str(model), epochs=1, batch_size=16, lr=3e-3, device="cpu"
    )
    train(config)
    return {"patch": scanned, "model": model}


def test_injected_lenses_found_at_the_right_sky_position(tmp_path: Path, runner, simulated) -> None:
    patch = simulated["patch"]
    truth = Table.read(patch / "truth.ecsv")
    (tmp_path / "known.csv").write_text(
        "Name,RA [deg],DEC [deg]\n"
        + "".join(
            f"L{i},{r},{d}\n"
            for i, (r, d) in enumerate(zip(truth["ra"], truth["dec"], strict=True))
        )
    )
    # One calexp named: the model's other bands are found beside it.
    result, text = _cli(
        runner,
        [
            patch / "calexp-HSC-I-9813-4,4.fits",
            "--model", simulated["model"], "--workers", "0", "--stride", "8", "--chunk-size", "128",
            "--mode", "grid",
            "--threshold", "0.5", "--out", tmp_path / "cat.ecsv", "--known", tmp_path / "known.csv",
            "--match-radius", "1.0", "--regions", "--gallery", "4",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, text
    table = Table.read(tmp_path / "cat.ecsv")
    candidates = SkyCoord(table["ra"], table["dec"])
    lenses = SkyCoord(truth["ra"], truth["dec"])
    nearest, separation, _ = lenses.match_to_catalog_sky(candidates)
    assert (separation.arcsec < 1.0).all(), separation.arcsec
    assert table["known_lens"][0] and table["known_lens"][nearest].all()
    assert sorted(table["known_name"][nearest]) == ["L0", "L1", "L2"]
    assert table.meta["bands"] == ["g", "r", "i"]
    files = [Path(i["path"]).name for i in table.meta["inputs"]]
    assert files == [*(f"calexp-HSC-{b}-9813-4,4.fits" for b in "GRI"), "known.csv"]
    assert table.meta["model"]["sha256"] and len(table.meta["inputs"][0]["sha256"]) == 64
    assert table.meta["area_deg2"] == pytest.approx(256**2 * (0.168 / 3600) ** 2)
    assert (tmp_path / "cat.reg").read_text().count("circle(") == len(table)
    assert (tmp_path / "cat-gallery" / "montage.png").stat().st_size > 1000
    assert "found HSC sibling band files: g=calexp-HSC-G-9813-4,4.fits" in text


def test_default_local_cluster_with_worker_processes(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    path = write_plain(
        tmp_path / "field.fits",
        np.random.default_rng(0).normal(size=(100, 90)),
        tan_wcs((100, 90)),
        FILTER="i",
    )
    result, text = _cli(
        runner,
        [
            path,
            "--model",
            tiny_model,
            "--workers",
            "1",
            "--threads-per-worker",
            "1",
            "--out",
            tmp_path / "c.ecsv",
            "--threshold",
            "0",
            "--mode",
            "grid",
        ],
    )
    assert result.exit_code == 0, text
    assert len(Table.read(tmp_path / "c.ecsv")) > 0


def test_second_scan_into_the_same_catalog_refuses_in_one_line(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    from lensscan.scan.lock import lock_path, output_lock

    path = write_plain(
        tmp_path / "f.fits", np.random.default_rng(2).normal(size=(80, 80)), FILTER="i"
    )
    catalog = tmp_path / "cat.ecsv"
    args = [path, "--model", tiny_model, "--workers", "0", "--out", catalog, "--mode", "grid"]
    with output_lock(catalog):
        result, text = _cli(runner, args)
        assert result.exit_code == 2
        errors = [line for line in result.stderr.splitlines() if line.startswith("lensscan:")]
        assert len(errors) == 1 and "another lensscan scan (pid " in errors[0], text
        assert not catalog.exists()
    result, text = _cli(runner, args)
    assert result.exit_code == 0, text
    assert catalog.exists() and not lock_path(catalog).exists()


def test_gzipped_fits_is_refused_clearly(tmp_path: Path, runner, tiny_model: Path) -> None:
    import gzip

    plain = write_plain(tmp_path / "f.fits", np.ones((80, 80), np.float32), FILTER="i")
    packed = tmp_path / "f.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    result, _ = _cli(runner, [packed, "--model", tiny_model, "--workers", "0"])
    assert result.exit_code == 2
    assert "f.fits.gz: gzip-compressed FITS is not supported" in result.stderr
    assert "gunzip it" in result.stderr


def test_an_all_zero_band_is_warned_about_and_treated_as_no_data(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(4)
    wcs = tan_wcs((96, 96))
    paths = {
        band: write_plain(
            tmp_path / f"{band}.fits",
            np.zeros((96, 96), np.float32) if band == "r" else rng.normal(size=(96, 96)),
            wcs,
        )
        for band in "gri"
    }
    scorer = WeightedMeanScorer(("g", "r", "i"), input_size=32)
    for mode in ("grid", "detect"):
        report = scan(
            [FieldSpec(band_paths=paths)], _config(tmp_path / mode, mode=mode), scorer=scorer
        )
        assert report.failed and "is masked or has no data" in report.failed[0].error
    assert "band(s) r hold only zeros; treated as no data" in caplog.text


def test_staged_tiles_hold_no_infinities(tmp_path: Path) -> None:
    from lensscan.scan.workstore import StoreLayout

    layout = StoreLayout(
        n_bands=1, n_chunks=1, tile_size=4, score_shape=(1, 1), score_chunks=(1, 1)
    )
    store, _ = WorkStore.prepare(tmp_path / "w.zarr", "key", layout, {}, fresh=True)
    image = np.array([[[1.0, np.inf], [-np.inf, np.nan]]], dtype=np.float32)
    store.write_tile(0, image, np.zeros((2, 2), bool))
    tile, _ = store.read_tile(0, 2, 2)
    assert tile[0, 0, 0] == 1.0 and np.isnan(tile[0, 0, 1:]).all() and np.isnan(tile[0, 1]).all()
