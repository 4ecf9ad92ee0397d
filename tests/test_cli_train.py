from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from inspect_helpers import make_graded_field
from test_training import make_store

from lensscan.cli import app
from lensscan.data.store import LENS, NONLENS
from lensscan.inspect.candidates import open_stamps
from lensscan.training.data import load_training_data
from lensscan.training.settings import TrainConfig


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-stores")
    return make_store(root / "source.zarr", n=32, seed=0), make_store(
        root / "target.zarr", n=32, seed=1, shift=True
    )


def test_help_lists_the_options(runner) -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for option in (
        "--source",
        "--target",
        "--val",
        "--encoder",
        "--method",
        "--resume",
        "--config",
    ):
        assert option in result.output


def test_train_with_config_file_and_overrides(runner, stores, tmp_path) -> None:
    source, target = stores
    config = tmp_path / "run.toml"
    config.write_text(
        f'source = "{source}"\ntarget = "{target}"\nepochs = 5\nbatch_size = 8\n'
        'method = "adamatch"\ndevice = "cpu"\n\n[method_options]\ntau = 0.8\n'
    )
    out = tmp_path / "weights" / "cli"
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(config),
            "--epochs",
            "1",
            "--max-source",
            "16",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "selected by last" in result.output
    card = json.loads((out / "model.json").read_text())
    assert card["method"] == "adamatch" and card["training"]["epochs"] == 1
    assert card["training"]["method_options"]["tau"] == 0.8
    saved = (out / "config.toml").read_text()
    assert "epochs = 1" in saved and "tau = 0.8" in saved
    # The saved settings reproduce the run's settings when fed back as --config.
    again = tmp_path / "weights" / "again"
    result = runner.invoke(
        app, ["train", "--config", str(out / "config.toml"), "--out", str(again)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((again / "model.json").read_text())["training"]["settings"] == {
        **card["training"]["settings"],
        "out": str(again),
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--encoder", "vgg"], "--encoder 'vgg': unknown encoder; choose one of small_cnn"),
        (["--method", "fixmatch"], "--method 'fixmatch': unknown method; choose one of supervised"),
        (["--option", "tau"], "expected KEY=VALUE"),
        (["--method", "adda", "--option", "tau=0.9"], "not an option of adda"),
        (["--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(runner, stores, tmp_path, arguments, message) -> None:
    source, target = stores
    out = tmp_path / "weights" / "bad"
    result = runner.invoke(
        app,
        ["train", "--source", str(source), "--target", str(target), "--out", str(out), *arguments],
    )
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_missing_and_empty_inputs(runner, stores, tmp_path) -> None:
    source, _ = stores
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "missing --source" in result.output
    result = runner.invoke(
        app, ["train", "--source", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2 and "nope.zarr: no such file or directory" in result.output
    config = tmp_path / "bad.toml"
    config.write_text('source = "x"\nout = "y"\nwarp_speed = 9\n')
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2 and "unknown setting(s) warp_speed" in result.output
    config.write_text(f'source = "{source}"\nout = "{tmp_path / "m"}"\nepochs = "many"\n')
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2 and "setting epochs: 'many'" in result.output
    assert not (tmp_path / "m").exists()


def test_resume_and_overwrite_through_the_cli(runner, stores, tmp_path) -> None:
    source, _ = stores
    out = tmp_path / "w"
    common = [
        "train",
        "--source",
        str(source),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--device",
        "cpu",
    ]
    assert runner.invoke(app, common).exit_code == 0
    result = runner.invoke(app, common)
    assert result.exit_code == 2 and "already exists (pass --overwrite" in result.output
    result = runner.invoke(app, [*common, "--overwrite"])
    assert result.exit_code == 0, result.output
    # --resume with nothing to resume simply trains.
    other = tmp_path / "fresh"
    result = runner.invoke(
        app, ["train", "--source", str(source), "--out", str(other), "--epochs", "1", "--resume"]
    )
    assert result.exit_code == 0, result.output


def test_normalisation_settings_are_recorded_in_the_card(runner, stores, tmp_path) -> None:
    source, _ = stores
    out = tmp_path / "model"
    result = runner.invoke(
        app,
        ["train", "--source", str(source), "--epochs", "1", "--batch-size", "8",
         "--normalisation", "relative_floor=1e-6", "--normalisation", "noise=differences",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.json").read_text())
    assert card["normalisation"]["relative_floor"] == 1e-6
    assert card["normalisation"]["noise"] == "differences"
    bad = runner.invoke(
        app,
        ["train", "--source", str(source), "--epochs", "1", "--normalisation", "floor=1",
         "--out", str(tmp_path / "bad")],
    )  # fmt: skip
    assert bad.exit_code == 2 and bad.output.startswith("lensscan: error: --normalisation")
    assert not (tmp_path / "bad").exists()


def test_grades_join_the_source_items(runner, tmp_path) -> None:
    graded = make_graded_field(tmp_path)
    catalog, db_path, lenses, zeros = graded.catalog, graded.database, graded.lenses, graded.zeros
    source = make_store(tmp_path / "source.zarr", n=32, seed=0)
    out = tmp_path / "weights" / "graded"
    args = ["--source", str(source), "--grades", str(db_path), "--max-source", "24"]
    result = runner.invoke(
        app,
        [
            "train",
            *args,
            "--epochs",
            "1",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    training = json.loads((out / "model.json").read_text())["training"]
    grades = training["stores"]["grades"]
    assert (grades["lenses"], grades["non_lenses"]) == (2, 4)
    assert grades["graders"] == ["ann", "bo"] and grades["stamps"] == "FITS fields"
    # 10% of 24 source items: one copy of the six graded items; the steps count them.
    assert grades["repeats"] == 1 and grades["share"] == 0.1
    assert training["steps_per_epoch"] == (24 + 6) // 8
    assert training["stores"]["source"]["items"] == 24

    # The graded items are the field's stamps of those candidates, with their consensus labels.
    config = TrainConfig(
        out=str(tmp_path / "x"), source=str(source), grades=str(db_path), encoder="small_cnn"
    )
    data = load_training_data(config, lambda images: images, torch.device("cpu"))
    stamps = open_stamps(catalog)
    expected = {int(row): stamps.stamp(int(row)) for row in (*lenses, *zeros)}
    found = data.graded.images.numpy()
    for row, label in [(r, LENS) for r in lenses] + [(r, NONLENS) for r in zeros]:
        matches = [k for k in range(len(found)) if np.array_equal(found[k], expected[int(row)])]
        assert len(matches) == 1 and data.graded.labels[matches[0]] == label
    _, labels = data.labelled
    assert len(labels) == len(data.source) + 6 and int((labels == LENS).sum()) > 2


def test_grade_cutouts_need_grades(runner, tmp_path) -> None:
    source = make_store(tmp_path / "source.zarr", n=16, seed=0)
    result = runner.invoke(
        app,
        [
            "train",
            "--source",
            str(source),
            "--grade-cutouts",
            "c.zarr",
            "--out",
            str(tmp_path / "w"),
        ],
    )
    assert result.exit_code == 2
    assert result.output == (
        "lensscan: error: --grade-cutouts: holds the stamps of graded candidates; "
        "give --grades too\n"
    )
