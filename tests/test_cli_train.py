from __future__ import annotations

import json

import pytest
from test_training import make_store

from lensscan.cli import app


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
