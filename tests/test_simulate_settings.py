"""simulate and simulate-field settings: validated on construction, one default each, TOML too."""

from __future__ import annotations

import pytest

from lensscan.cli import app
from lensscan.data.store import CutoutStore
from lensscan.errors import UserError
from lensscan.simulate.cutouts.request import CutoutRequest
from lensscan.simulate.fields.request import FieldRequest


def test_requests_validate_themselves_on_construction() -> None:
    with pytest.raises(UserError, match=r"^`n` 0: "):
        CutoutRequest(n=0)
    with pytest.raises(UserError, match=r"^`patch` '4': "):
        FieldRequest(patch="4")
    request = CutoutRequest(n=10, domain="hsc-train", bands="g,r", splits="train=0.5,val=0.5")
    assert request.bands == ("g", "r") and request.lens_fraction == 0.5
    assert request.splits == (("train", 0.5), ("val", 0.5))


def test_one_scheduler_default_whatever_builds_the_request() -> None:
    assert CutoutRequest(n=5, workers=2).scheduler == "processes"
    assert CutoutRequest(n=5, workers=1).scheduler == "synchronous"


def test_simulate_reads_a_toml_file_and_options_win(runner, tmp_path) -> None:
    settings = tmp_path / "sim.toml"
    settings.write_text('n = 6\nbands = "i"\nseed = 4\nworkers = 1\n')
    out = tmp_path / "a.zarr"
    result = runner.invoke(
        app, ["simulate", "--config", str(settings), "--seed", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert len(store) == 6 and store.bands == ("i",)
    assert store.attrs["seed"] == 5


@pytest.mark.parametrize(
    ("command", "text", "message"),
    [
        ("simulate", 'n = "ten"\n', "n"),
        ("simulate", "n = 5\nlens_fraction = 2.0\n", "--lens-fraction 2"),
        ("simulate-field", 'size = "big"\n', "size"),
    ],
)
def test_a_bad_setting_in_a_file_is_one_line(runner, tmp_path, command, text, message) -> None:
    settings = tmp_path / "bad.toml"
    settings.write_text(text)
    result = runner.invoke(app, [command, "--config", str(settings), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "x").exists()


def test_a_missing_required_setting_names_its_option(runner, tmp_path) -> None:
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x.zarr")])
    assert result.exit_code == 2 and "--n: required" in result.output


def test_environment_settings_sit_between_the_file_and_the_options(runner, tmp_path) -> None:
    settings = tmp_path / "sim.toml"
    settings.write_text('n = 6\nbands = "i"\nseed = 4\nworkers = 1\n')
    env = {"LENSSCAN_SIMULATE_SEED": "7", "LENSSCAN_SIMULATE_BANDS": "gr"}
    out = tmp_path / "a.zarr"
    result = runner.invoke(app, ["simulate", "--config", str(settings), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert store.attrs["seed"] == 7 and store.bands == ("g", "r")
    out = tmp_path / "b.zarr"
    args = ["simulate", "--config", str(settings), "--seed", "9", "--out", str(out)]
    assert runner.invoke(app, args, env=env).exit_code == 0
    assert CutoutStore.open(out).attrs["seed"] == 9
    # simulate-field's variables are not simulate's.
    out = tmp_path / "c.zarr"
    args = ["simulate", "--config", str(settings), "--out", str(out)]
    assert runner.invoke(app, args, env={"LENSSCAN_SIMULATE_FIELD_SIZE": "64"}).exit_code == 0


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LENSSCAN_SIMULATE_N", "many", "LENSSCAN_SIMULATE_N='many': does not fit setting n"),
        ("LENSSCAN_SIMULATE_NN", "5", "LENSSCAN_SIMULATE_NN: unknown setting nn"),
    ],
)
def test_a_bad_environment_setting_is_one_line(runner, tmp_path, variable, value, message):
    out = tmp_path / "x.zarr"
    result = runner.invoke(app, ["simulate", "--n", "4", "--out", str(out)], env={variable: value})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not out.exists()
