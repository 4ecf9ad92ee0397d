"""Survey-scale runs: many fields in one run, the combined catalog, lists and patterns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from scan_helpers import WeightedMeanScorer, tan_wcs, write_calexp, write_plain

from lensscan.cli import app
from lensscan.config import resolve_config
from lensscan.errors import UserError
from lensscan.scan.combine import overlap_duplicates
from lensscan.scan.fieldlist import FieldSources, expand_fields
from lensscan.scan.inputs import FieldSpec
from lensscan.scan.scanner import scan
from lensscan.scan.settings import ScanConfig

SKY_SHAPE = (160, 300)
OFFSET = 128  # patch B starts this many columns into the sky; 64 px overlap with patch A
WIDTH_A, WIDTH_B = 192, 172


def _cut(path: Path, image: np.ndarray, x0: int, width: int) -> Path:
    """A patch of the sky image: columns x0 .. x0 + width, with its own shifted TAN WCS."""
    wcs = tan_wcs(SKY_SHAPE)
    wcs.wcs.crpix[0] -= x0
    return write_plain(path, image[:, x0 : x0 + width], wcs, FILTER="i")


@pytest.fixture
def overlapping_patches(tmp_path: Path) -> tuple[Path, Path]:
    """Two patches of one simulated sky overlapping by 64 px, as HSC patches overlap.

    The second patch's pixels carry a little extra noise, as two coadds of one sky do, so a
    object seen in both gets two slightly different scores.
    """
    rng = np.random.default_rng(11)
    sky = rng.normal(3.0, 1.0, size=SKY_SHAPE).astype(np.float32)
    a = _cut(tmp_path / "patch-a.fits", sky, 0, WIDTH_A)
    noisier = sky + rng.normal(0.0, 0.3, size=SKY_SHAPE).astype(np.float32)
    b = _cut(tmp_path / "patch-b.fits", noisier, OFFSET, WIDTH_B)
    return a, b


def _config(out: Path, **changes) -> ScanConfig:
    settings = {
        "workers": 0,
        "out": str(out),
        "threshold": 0.0,
        "chunk_size": 96,
        "min_separation": 0.0,
        "mode": "grid",
    }
    return resolve_config(ScanConfig, overrides=settings | changes)


def test_overlap_duplicates_are_removed_keeping_the_higher_score(
    tmp_path: Path, overlapping_patches
) -> None:
    a, b = overlapping_patches
    wcs = tan_wcs(SKY_SHAPE)
    only_a = [(40.2, 50.3), (90.4, 110.2)]
    both = [(150.2, 40.1), (160.3, 80.4), (170.1, 120.2)]  # sky x in the 64 px overlap
    only_b = [(230.3, 60.2), (270.4, 100.1)]
    xy = np.array(only_a + both + only_b)
    ra, dec = wcs.pixel_to_world_values(xy[:, 0], xy[:, 1])
    positions = tmp_path / "objects.csv"
    positions.write_text(
        "ra,dec\n" + "".join(f"{r:.10f},{d:.10f}\n" for r, d in zip(ra, dec, strict=True))
    )
    out = tmp_path / "cats"
    report = scan(
        [FieldSpec(path=a), FieldSpec(path=b)],
        _config(out, positions=str(positions)),
        scorer=WeightedMeanScorer(("i",), input_size=32),
    )
    assert not report.failed
    cat_a, cat_b = Table.read(out / "patch-a.ecsv"), Table.read(out / "patch-b.ecsv")
    assert len(cat_a) == len(cat_b) == 5  # each patch scores the three overlap objects too
    combined = Table.read(out / "combined.ecsv")
    assert len(combined) == 7 and report.combined.n_duplicates == 3
    assert list(combined["id"]) == list(range(1, 8))
    assert np.all(np.diff(combined["score"]) <= 0)
    assert combined.meta["duplicate_radius_arcsec"] == 1.0
    assert combined.meta["n_duplicates_removed"] == 3
    assert [i["role"] for i in combined.meta["inputs"]] == ["field catalog"] * 2
    for row in (len(only_a) + k for k in range(len(both))):
        in_a = cat_a[cat_a["input_row"] == row][0]
        in_b = cat_b[cat_b["input_row"] == row][0]
        assert in_a["score"] != in_b["score"]
        [kept] = combined[combined["input_row"] == row]
        best = in_a if in_a["score"] > in_b["score"] else in_b
        assert kept["field"] == best["field"] and kept["score"] == best["score"]
        assert kept["field_id"] == best["id"]
    summary = json.loads((out / "combined.summary.json").read_text())
    assert summary["counts"] == {
        "fields": 2,
        "scanned": 2,
        "up_to_date": 0,
        "failed": 0,
        "candidates": 10,
        "combined_candidates": 7,
        "duplicates_removed": 3,
    }
    assert summary["lensscan_version"]
    assert summary["settings"]["candidates"]["duplicate_radius"] == 1.0
    assert [f["field"] for f in summary["fields"]] == [str(a), str(b)]


def _naive_union_less_duplicates(tables: list[Table], radius_arcsec: float) -> set[tuple]:
    """The union of the catalogs, in decreasing score, less every candidate closer than the
    radius to an already kept candidate of another field (pairwise, by brute force)."""
    from astropy.coordinates import angular_separation

    rows = sorted(
        ((str(t["field"][i]), float(t["ra"][i]), float(t["dec"][i]), float(t["score"][i]))
         for t in tables for i in range(len(t))),
        key=lambda r: -r[3],
    )  # fmt: skip
    kept: list[tuple] = []
    for field, ra, dec, score in rows:
        others = [k for k in kept if k[0] != field]
        if others:
            ras, decs = np.radians([k[1] for k in others]), np.radians([k[2] for k in others])
            separation = (
                np.degrees(angular_separation(np.radians(ra), np.radians(dec), ras, decs)) * 3600
            )
            if (separation < radius_arcsec).any():
                continue
        kept.append((field, ra, dec, score))
    return {(f, s) for f, _, _, s in kept}


def test_multi_field_run_on_a_local_cluster_is_the_union_less_duplicates(
    tmp_path: Path, overlapping_patches
) -> None:
    from distributed import Client, LocalCluster

    a, b = overlapping_patches
    c = write_plain(
        tmp_path / "other.fits",
        np.random.default_rng(3).normal(3.0, 1.0, size=(120, 130)),
        tan_wcs((120, 130), ra=151.0),
        FILTER="i",
    )
    scorer = WeightedMeanScorer(("i",), input_size=32)
    singles = []
    for path in (a, b, c):
        out = tmp_path / f"single-{path.stem}"
        scan([FieldSpec(path=path)], _config(out, stride=16), scorer=scorer)
        singles.append(Table.read(out / f"{path.stem}.ecsv"))
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        report = scan(
            [FieldSpec(path=p) for p in (a, b, c)],
            _config(tmp_path / "multi", stride=16, scheduler=cluster.scheduler_address),
            scorer=scorer,
        )
    assert not report.failed
    for path, single in zip((a, b, c), singles, strict=True):
        multi = Table.read(tmp_path / "multi" / f"{path.stem}.ecsv")
        np.testing.assert_array_equal(multi["score"], single["score"])
        np.testing.assert_array_equal(multi["ra"], single["ra"])
    combined = Table.read(tmp_path / "multi" / "combined.ecsv")
    expected = _naive_union_less_duplicates(singles, 1.0)
    assert {(f, float(s)) for f, s in zip(combined["field"], combined["score"], strict=True)} == (
        expected
    )
    assert len(combined) == len(expected) < sum(len(t) for t in singles)
    assert report.combined.n_duplicates == sum(len(t) for t in singles) - len(expected)


def test_overlap_duplicates_chain_and_fields_without_a_wcs() -> None:
    # Three views of one object in fields a, b, c, and one row without a sky position.
    ra = np.array([10.0, 10.0 + 0.5 / 3600, 10.0 + 1.6 / 3600, np.nan, 10.0])
    dec = np.array([0.0, 0.0, 0.0, np.nan, 0.0])
    score = np.array([0.5, 0.9, 0.7, 0.95, 0.2])
    field = np.array(["a", "b", "c", "d", "a"])
    removed = overlap_duplicates(ra, dec, score, field, 1.0)
    # b (0.9) removes a (0.5, 0.5" away) but not c (1.1" away); the second row of a is a's own
    # object, which b removes too (0.5" away, another field); d has no position.
    assert list(removed) == [True, False, False, False, True]


def _tiny_model(folder: Path) -> Path:
    from lensscan.models import create_lens_finder, save_model

    finder = create_lens_finder(bands=("i",), input_size=32, widths=(4, 4, 4, 4))
    return save_model(finder, folder / "tiny-i", name="tiny-i")


def _plain(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    return write_plain(path, rng.normal(size=(70, 70)), tan_wcs((70, 70)), FILTER="i")


def test_cli_patterns_and_lists_with_bad_entries(tmp_path: Path, runner, monkeypatch) -> None:
    model = _tiny_model(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    _plain(data / "f1.fits", 1)
    _plain(data / "f2.fits", 2)
    listing = data / "fields.txt"
    listing.write_text("# two fields, one missing\n\nf2.fits\nmissing.fits\n")
    monkeypatch.chdir(tmp_path)
    args = ["scan", "data/f*.fits", f"@{listing}", "data/none-*.fits", "--model", str(model)]
    args += ["--workers", "0", "--mode", "grid", "--threshold", "0", "--out", "cats"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    out = result.stdout
    assert f"FAILED {data / 'missing.fits'}" in out
    assert "FAILED data/none-*.fits: no file matches the pattern" in out
    assert out.count("FAILED") == 2  # f2 came from the pattern and the list: scanned once
    assert "2 of 4 fields done (2 scanned, 0 up to date, 2 failed)" in out
    assert "lensscan: error: 2 of 4 fields failed" in result.stderr
    f1, f2 = Table.read(tmp_path / "cats" / "f1.ecsv"), Table.read(tmp_path / "cats" / "f2.ecsv")
    combined = Table.read(tmp_path / "cats" / "combined.ecsv")
    # The two fields cover the same sky; their candidates at one position are duplicates.
    assert 0 < len(combined) < len(f1) + len(f2)
    summary = json.loads((tmp_path / "cats" / "combined.summary.json").read_text())
    assert summary["counts"]["failed"] == 2 and summary["counts"]["scanned"] == 2
    errors = [f["error"] for f in summary["fields"] if f["status"] == "failed"]
    assert any("missing.fits" in e for e in errors) and any("none-*" in e for e in errors)
    assert summary["inputs"][0]["path"] == str(listing.resolve())
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert again.stdout.count("up to date") == 3  # two field lines and the summary line
    assert (
        json.loads((tmp_path / "cats" / "combined.summary.json").read_text())["counts"][
            "up_to_date"
        ]
        == 2
    )


def test_cli_refuses_batch_options_for_a_local_cluster(tmp_path: Path, runner) -> None:
    field = _plain(tmp_path / "f.fits", 1)
    result = runner.invoke(app, ["scan", str(field), "--jobs", "2", "--workers", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "lensscan: error: --jobs: only for a batch --cluster (slurm, pbs, sge, lsf); "
        "a local cluster takes --workers"
    ]
    result = runner.invoke(app, ["scan", "--field-list", str(tmp_path / "none.txt")])
    assert result.exit_code == 2
    assert f"--field-list {tmp_path / 'none.txt'}: no such file" in result.stderr


def test_hsc_patch_lists_in_flat_and_coadd_layouts(tmp_path: Path) -> None:
    image = np.zeros((40, 40), np.float32)
    for band in ("G", "I"):
        write_calexp(tmp_path / f"calexp-HSC-{band}-9813-4,4.fits", image, tan_wcs(image.shape))
        deep = tmp_path / f"HSC-{band}" / "9813" / "5,4"
        deep.mkdir(parents=True)
        write_calexp(deep / f"calexp-HSC-{band}-9813-5,4.fits", image, tan_wcs(image.shape))
    patches = tmp_path / "patches.txt"
    patches.write_text("# tract patch\n9813 4,4\n9813,5,4\n9813 6,6\n")
    specs = expand_fields(FieldSources(hsc_patches=[str(patches)], hsc_root=str(tmp_path)))
    assert [s.label for s in specs] == [
        "tract 9813 patch 4,4",
        "tract 9813 patch 5,4",
        "tract 9813 patch 6,6",
    ]
    assert specs[0].band_paths == {
        "g": tmp_path / "calexp-HSC-G-9813-4,4.fits",
        "i": tmp_path / "calexp-HSC-I-9813-4,4.fits",
    }
    assert specs[1].band_paths["i"] == tmp_path / "HSC-I/9813/5,4/calexp-HSC-I-9813-5,4.fits"
    assert (
        specs[2].problem
        == f"{patches}:4: tract 9813 6,6: no calexp-HSC-*-9813-6,6.fits under {tmp_path}"
    )
    patches.write_text("9813 four\n")
    with pytest.raises(UserError, match=r"^`hsc_patches` .*:1: '9813 four' is not 'TRACT PATCH'"):
        expand_fields(FieldSources(hsc_patches=[str(patches)], hsc_root=str(tmp_path)))


def test_cli_help_lists_the_survey_options(runner) -> None:
    result = runner.invoke(app, ["scan", "--help"])
    assert result.exit_code == 0
    for option in (
        "--field-list",
        "--hsc-patches",
        "--combined",
        "--duplicate-radius",
        "--cluster",
        "--cluster-config",
        "--jobs",
        "--adapt",
        "--queue",
        "--walltime",
        "--cores",
        "--memory",
        "--gpus-per-job",
        "--job-prologue",
        "--retries",
    ):
        assert option in result.stdout
