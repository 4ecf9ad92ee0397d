"""``lensscan demo``: a simulated field scanned and evaluated end to end, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from lensscan import demo as demo_module
from lensscan.cli import app
from lensscan.demo import DemoConfig
from lensscan.errors import UserError

FIELD_SIZE = 384


def _demo(runner, published: Path, out: Path, *extra: str):
    args = ["demo", "--out", str(out), "--model", str(published / "tiny-a")]
    args += ["--size", str(FIELD_SIZE), "--workers", "0", *extra]
    return runner.invoke(app, args)


def test_demo_simulates_scans_and_evaluates(tmp_path: Path, runner, published: Path) -> None:
    out = tmp_path / "demo"
    result = _demo(runner, published, out, "--seed", "3")
    assert result.exit_code == 0, result.output

    truth = Table.read(out / "field" / "truth.ecsv")
    assert len(truth) >= 1
    assert sorted(p.name for p in (out / "field").glob("calexp-HSC-*.fits")) == [
        "calexp-HSC-G-9813-4,4.fits",
        "calexp-HSC-I-9813-4,4.fits",
        "calexp-HSC-R-9813-4,4.fits",
    ]
    catalog = Table.read(out / "catalog" / "calexp-HSC-G-9813-4,4.ecsv")
    assert catalog.meta["mode"] == "detect", "the demo detects the galaxies itself"
    assert 0 < len(catalog) <= catalog.meta["n_preselected"] < catalog.meta["n_detected"]
    assert not [i for i in catalog.meta["inputs"] if "objects" in i["path"]]
    assert np.all(np.diff(np.asarray(catalog["score"])) <= 0), "catalog is ranked by score"
    assert catalog.meta["model"]["sha256"]
    assert any((out / "catalog" / "calexp-HSC-G-9813-4,4-gallery").iterdir())

    report = json.loads((out / "evaluation" / "report.json").read_text())
    assert report["summary"]["n_truth"] == len(truth)
    assert report["summary"]["n_candidates"] == len(catalog)
    assert 0 <= report["summary"]["n_matched"] <= len(truth)
    assert (out / "evaluation" / "completeness_rank.png").stat().st_size > 0
    for line in ("wrote ", "scanned ", "field evaluation", "catalog ", "evaluation "):
        assert line in result.stdout
    assert not list(tmp_path.glob(".*tmp*")), "no temporary leftovers"


def test_demo_is_reproducible_from_its_seed(tmp_path: Path, runner, published: Path) -> None:
    catalogs = []
    for name in ("a", "b"):
        assert _demo(runner, published, tmp_path / name, "--seed", "5").exit_code == 0
        catalogs.append(Table.read(tmp_path / name / "catalog" / "calexp-HSC-G-9813-4,4.ecsv"))
    assert np.array_equal(catalogs[0]["score"], catalogs[1]["score"])
    assert np.array_equal(catalogs[0]["ra"], catalogs[1]["ra"])


def test_existing_folder_needs_overwrite(tmp_path: Path, runner, published: Path) -> None:
    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = _demo(runner, published, out)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--out" in result.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_missing_model_is_one_line_and_writes_nothing(tmp_path: Path, runner) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--model", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.stderr.startswith("lensscan: error: model ") and result.stderr.count("\n") == 1
    assert not out.exists()


def test_bad_size_is_refused_before_anything_is_written(
    tmp_path: Path, runner, published: Path
) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(
        app, ["demo", "--out", str(out), "--model", str(published / "tiny-a"), "--size", "10"]
    )
    assert result.exit_code == 2 and "--size 10" in result.stderr
    assert not out.exists()


def test_failed_step_leaves_nothing_behind(
    tmp_path: Path, runner, published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_evaluation(config):
        raise OSError("disk full")

    monkeypatch.setattr("lensscan.evaluate.run.run_evaluation", failing_evaluation)
    out = tmp_path / "demo"
    with pytest.raises(OSError, match="disk full"):
        demo_module.run_demo(
            DemoConfig(out=str(out), model=str(published / "tiny-a"), size=FIELD_SIZE, workers=0)
        )
    assert not out.exists()


def test_settings_come_from_a_config_file_and_the_environment(
    tmp_path: Path, runner, published: Path, monkeypatch
) -> None:
    out = tmp_path / "demo"
    config = tmp_path / "demo.toml"
    config.write_text(
        f'out = "{out}"\nmodel = "{published / "tiny-a"}"\nsize = {FIELD_SIZE}\nseed = 3\n'
    )
    monkeypatch.setenv("LENSSCAN_DEMO_WORKERS", "0")
    result = runner.invoke(app, ["demo", "--config", str(config)])
    assert result.exit_code == 0, result.output
    meta = Table.read(next((out / "catalog").glob("*.ecsv"))).meta
    assert meta["settings"]["cluster"]["workers"] == 0
    assert Table.read(out / "field" / "truth.ecsv").meta["seed"] == 3


def test_a_wrong_type_in_the_config_file_is_one_line(tmp_path: Path, runner) -> None:
    config = tmp_path / "demo.toml"
    config.write_text('size = "big"\n')
    result = runner.invoke(app, ["demo", "--config", str(config), "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "size" in result.stderr
    assert not (tmp_path / "d").exists()


def test_negative_workers_is_refused_by_the_settings() -> None:
    with pytest.raises(UserError, match=r"^`workers` -1: out of range$"):
        DemoConfig(workers=-1)
