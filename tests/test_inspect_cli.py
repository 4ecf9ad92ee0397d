"""``lensscan inspect`` and ``lensscan grades`` through the CLI: help, errors, export, summary."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from inspect_helpers import make_scanned_field

from lensscan.cli import app
from lensscan.data.store import CutoutStore
from lensscan.inspect.candidates import read_candidate_catalog
from lensscan.inspect.session import open_bound_db

GRADES = {"ann": [3, 2, 0, 1, 0], "bob": [3, 1, 0, 0, 2]}


@pytest.fixture(scope="module")
def field(tmp_path_factory: pytest.TempPathFactory):
    return make_scanned_field(tmp_path_factory.mktemp("field"), n_objects=8)


@pytest.fixture
def graded_db(field, tmp_path: Path) -> Path:
    path = tmp_path / "grades.sqlite"
    catalog = read_candidate_catalog(field.catalog)
    with open_bound_db(catalog, path, create=True) as db:
        for grader, grades in GRADES.items():
            for rank, grade in enumerate(grades, start=1):
                db.record_grade(grader, int(catalog.order[rank - 1]), grade)
    return path


@pytest.mark.parametrize(
    "command", [["inspect"], ["grades"], ["grades", "export"], ["grades", "summary"]]
)
def test_help(runner, command) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_inspect_serves_on_loopback(runner, field, tmp_path: Path, monkeypatch) -> None:
    from lensscan.inspect import server

    served = {}

    def fake_serve(web_app, listener) -> None:
        served["address"] = listener.getsockname()
        served["app"] = web_app

    monkeypatch.setattr(server, "serve", fake_serve)
    db = tmp_path / "g.sqlite"
    result = runner.invoke(
        app, ["inspect", str(field.catalog), "--db", str(db), "--grader", "ann", "--port", "0"]
    )
    assert result.exit_code == 0, result.output
    host, port = served["address"][:2]
    assert host == "127.0.0.1"
    assert f"open http://127.0.0.1:{port}/" in result.output
    assert "grading 8 candidates" in result.output and "warning" not in result.output
    assert db.is_file()


def test_inspect_warns_when_listening_beyond_loopback(
    runner, field, tmp_path: Path, monkeypatch
) -> None:
    from lensscan.inspect import server

    monkeypatch.setattr(server, "serve", lambda web_app, listener: None)
    args = ["inspect", str(field.catalog), "--db", str(tmp_path / "g.sqlite"), "--grader", "ann"]
    result = runner.invoke(app, [*args, "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "warning: listening on 0.0.0.0" in result.output


def test_inspect_port_in_use_is_one_line(runner, field, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = runner.invoke(
            app,
            [
                *("inspect", str(field.catalog), "--db", str(tmp_path / "g.sqlite")),
                *("--grader", "ann", "--port", str(port)),
            ],
        )
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"lensscan: error: --port {port}: already in use on 127.0.0.1 (another server? "
        "choose another --port)"
    )


def test_inspect_bad_inputs_are_one_line(
    runner, field, tmp_path: Path, graded_db, monkeypatch
) -> None:
    from lensscan.inspect import server

    monkeypatch.setattr(server, "serve", lambda web_app, listener: pytest.fail("served"))
    plain = tmp_path / "plain.csv"
    plain.write_text("ra,dec\n150.0,2.0\n")
    other = make_scanned_field(tmp_path / "other", n_objects=3, seed=5, shape=(150, 180))
    renamed = tmp_path / "calexp-HSC-G-1-1,1.fits"
    renamed.write_bytes(other.files["g"].read_bytes())
    cases = [
        ([str(plain)], "missing column(s) id, x, y, score"),
        ([str(other.catalog), "--grader", "ann", "--db", str(graded_db)], "holds grades of"),
        ([str(field.catalog), "--grader", " ", "--db", str(tmp_path / "x.sqlite")], "--grader"),
        ([str(field.catalog), str(renamed)], "not a field of CATALOG"),
        ([str(field.catalog), str(other.files["g"])], "was scanned from a 160x200 image"),
        ([str(tmp_path / "none.ecsv")], "no such file"),
    ]
    for args, message in cases:
        full = ["inspect", *args]
        if "--grader" not in full:
            full += ["--grader", "ann"]
        if "--db" not in full:
            full += ["--db", str(tmp_path / "z.sqlite")]
        result = runner.invoke(app, full)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("lensscan: error:") and message in result.output
        assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".ecsv", ".fits", ".csv"])
def test_export_combines_graders(runner, field, graded_db, tmp_path: Path, suffix) -> None:
    out = tmp_path / f"graded{suffix}"
    result = runner.invoke(
        app,
        ["grades", "export", str(graded_db), "--catalog", str(field.catalog), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (8 candidates, 5 graded)" in result.output
    table = Table.read(out, format="ascii.csv" if suffix == ".csv" else None)
    assert list(table["id"]) == list(range(1, 9))
    np.testing.assert_allclose(table["mean_grade"][:5], [3.0, 1.5, 0.0, 0.5, 1.0])
    assert list(table["grade_class"][:5]) == ["A", "B", "N", "C", "C"]
    assert list(table["grade_label"][:5]) == [1, 1, 0, -1, -1]
    assert list(table["n_graders"]) == [2, 2, 2, 2, 2, 0, 0, 0]
    assert list(table["grade_ann"][:6]) == [3, 2, 0, 1, 0, -1]
    assert list(table["grade_bob"][:5]) == GRADES["bob"]
    np.testing.assert_allclose(table["grade_spread"][1], 0.5)


def test_export_writes_a_labelled_cutout_store(runner, field, graded_db, tmp_path: Path) -> None:
    store_path = tmp_path / "graded.zarr"
    result = runner.invoke(
        app,
        [
            *("grades", "export", str(graded_db), "--catalog", str(field.catalog)),
            *("--out", str(tmp_path / "g.ecsv"), "--cutouts", str(store_path)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(2 lenses, 1 non-lenses, 2 unlabelled)" in result.output
    store = CutoutStore.open(store_path)
    assert store.bands == ("g", "r", "i")
    assert store.image_shape == (3, 32, 32)
    assert list(store.labels) == [1, 1, 0, -1, -1]
    assert list(store.split_indices("labelled")) == [0, 1, 2]
    assert list(store.split_indices("unlabelled")) == [3, 4]
    params = store.params()
    assert list(params["rank"]) == [1, 2, 3, 4, 5]
    catalog = read_candidate_catalog(field.catalog)
    stamp = np.asarray(store.images[0])
    assert np.isfinite(stamp).all() and stamp.max() > 1.0  # a galaxy at the centre
    assert int(params["catalog_id"][0]) == int(catalog.table["id"][catalog.order[0]])


def test_export_errors(runner, field, graded_db, tmp_path: Path) -> None:
    base = ["grades", "export", str(graded_db), "--catalog", str(field.catalog)]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "g.txt")])
    assert result.exit_code == 2 and "give a .ecsv, .fits or .csv" in result.output
    other = make_scanned_field(tmp_path / "other", n_objects=3, seed=5)
    result = runner.invoke(
        app,
        [
            *("grades", "export", str(graded_db), "--catalog", str(other.catalog)),
            *("--out", str(tmp_path / "g.ecsv")),
        ],
    )
    assert result.exit_code == 2 and "holds grades of" in result.output
    # DB is an argument here, so the messages name it in words, never as a --db option.
    assert "use another grade database" in result.output and "--db" not in result.output
    missing = ["grades", "export", str(tmp_path / "none.sqlite"), "--catalog", str(field.catalog)]
    result = runner.invoke(app, [*missing, "--out", str(tmp_path / "g.ecsv")])
    assert result.exit_code == 2 and "grade database" in result.output
    assert "no such file" in result.output and "--db" not in result.output


def test_summary_text_and_json(runner, graded_db) -> None:
    result = runner.invoke(app, ["grades", "summary", str(graded_db)])
    assert result.exit_code == 0, result.output
    assert "8 candidates, 5 graded by at least one of 2 grader(s)" in result.output
    assert "A 1  B 1  C 2  N 1  - 3" in result.output
    assert "ann / bob" in result.output
    record = json.loads(runner.invoke(app, ["grades", "summary", str(graded_db), "--json"]).output)
    assert record["class_counts"] == {"A": 1, "B": 1, "C": 2, "N": 1, "-": 3}
    assert record["agreement"][0]["n_common"] == 5
    assert record["agreement"][0]["exact"] == pytest.approx(0.4)


def test_importing_the_cli_leaves_the_web_stack_out() -> None:
    code = (
        "import sys, lensscan.cli; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
