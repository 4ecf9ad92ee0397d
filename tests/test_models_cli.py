"""``lensscan models list`` and ``lensscan models manifest``."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import HEADLINE, REPO_ROOT

from lensscan.cli import app
from lensscan.models import create_lens_finder, save_model
from lensscan.models import download as download_module
from lensscan.models.download import model_statuses
from lensscan.models.manifest import (
    MANIFEST_FORMAT,
    MIRROR_ENV,
    build_manifest,
    headline_metrics,
    load_manifest,
)
from lensscan.models.weights import WEIGHTS_ENV


@pytest.fixture(scope="module")
def manifest_file(published: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifest of ``published``."""
    path = tmp_path_factory.mktemp("manifest") / "manifest.json"
    path.write_text(build_manifest(published, published.as_uri()).to_json())
    return path


@pytest.fixture
def weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, published: Path) -> Path:
    """./weights with tiny-a installed and a local model ``mine``; tiny-b is not installed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    # Only this test's models: the shipped ones stay out of the listing.
    monkeypatch.setattr("lensscan.models.weights.PACKAGE_WEIGHTS", tmp_path / "package")
    folder = tmp_path / "weights"
    shutil.copytree(published / "tiny-a", folder / "tiny-a")
    save_model(
        create_lens_finder("small_cnn", bands=("i",), seed=3),
        folder / "mine",
        method="adda",
        metrics={"epochs": [{"auroc": 0.5}], "selected": {"epoch": 3, "auroc": 0.8, "tpr10": 0.2}},
    )
    # A download in progress: hidden, so it never looks installed.
    shutil.copytree(published / "tiny-b", folder / ".tiny-b.tmp-0001")
    return folder


def _list_json(runner, manifest_file: Path, *args: str) -> dict[str, dict]:
    result = runner.invoke(
        app, ["models", "list", "--json", "--manifest", str(manifest_file), *args]
    )
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.stdout)["models"]}


def _row(output: str, name: str) -> str:
    lines = [line for line in output.splitlines() if f" {name} " in line]
    assert len(lines) == 1, output
    return lines[0]


def test_list_table_shows_installed_and_not_installed(
    runner, manifest_file: Path, weights: Path
) -> None:
    result = runner.invoke(app, ["models", "list", "--manifest", str(manifest_file)])
    assert result.exit_code == 0, result.output
    for column in ("encoder", "method", "bands", "AUROC", "TPR10", "size", "status"):
        assert column in result.stdout
    row_a = _row(result.stdout, "tiny-a")
    assert "installed" in row_a and "not installed" not in row_a
    assert str(weights / "tiny-a") in row_a
    assert "0.912" in row_a and "0.400" in row_a
    assert "g,r,i" in row_a
    assert "not installed" in _row(result.stdout, "tiny-b")
    row_mine = _row(result.stdout, "mine")
    assert "installed (local)" in row_mine
    assert "adda" in row_mine and "0.800" in row_mine


def test_list_json_is_machine_readable(runner, manifest_file: Path, weights: Path) -> None:
    rows = _list_json(runner, manifest_file)
    assert list(rows)[:3] == ["tiny-a", "tiny-b", "mine"]
    assert rows["tiny-a"]["state"] == "installed"
    assert rows["tiny-a"]["path"] == str(weights / "tiny-a")
    assert rows["tiny-a"]["metrics"] == HEADLINE
    assert rows["tiny-a"]["published"] is True
    assert rows["tiny-b"]["installed"] is False
    assert rows["tiny-b"]["path"] is None
    assert rows["tiny-b"]["size"] == load_manifest(manifest_file).models["tiny-b"].size
    assert rows["mine"]["published"] is False
    assert rows["mine"]["bands"] == ["i"]
    # The selected epoch, not the per-epoch list, gives a local card's headline metrics.
    assert rows["mine"]["metrics"] == {"auroc": 0.8, "tpr10": 0.2}


def test_verify_finds_modified_and_corrupt_files(
    runner, manifest_file: Path, weights: Path
) -> None:
    for name in ("tiny-a", "mine"):
        path = weights / name / "model.safetensors"
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF  # same size: only a hash comparison notices
        path.write_bytes(bytes(data))
    (weights / "broken").mkdir()
    (weights / "broken" / "model.json").write_text("{}")
    quick = _list_json(runner, manifest_file)
    assert quick["tiny-a"]["state"] == "installed"
    assert quick["broken"]["state"] == "invalid"
    assert "card format" in quick["broken"]["problem"]
    verified = _list_json(runner, manifest_file, "--verify")
    assert verified["tiny-a"]["state"] == "differs"
    assert "sha256" in verified["tiny-a"]["problem"]
    assert verified["mine"]["state"] == "corrupt"


def test_dir_and_weights_variable_are_searched(
    runner, manifest_file: Path, weights: Path, published: Path, tmp_path: Path, monkeypatch
) -> None:
    extra = tmp_path / "extra"
    shutil.copytree(published / "tiny-b", extra / "tiny-b")
    rows = _list_json(runner, manifest_file, "--dir", str(extra))
    assert rows["tiny-b"]["path"] == str(extra / "tiny-b")
    env_folder = tmp_path / "env"
    shutil.copytree(published / "tiny-b", env_folder / "tiny-b")
    monkeypatch.setenv(WEIGHTS_ENV, str(env_folder))
    rows = _list_json(runner, manifest_file)
    assert rows["tiny-b"]["path"] == str(env_folder / "tiny-b")


def test_list_with_nothing_anywhere(runner, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(download_module, "weights_search_path", lambda: [tmp_path / "weights"])
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"format": MANIFEST_FORMAT, "base_url": None, "models": []}))
    assert model_statuses(load_manifest(empty)) == []
    result = runner.invoke(app, ["models", "list", "--manifest", str(empty)])
    assert result.exit_code == 0
    assert "no models" in result.stdout


def test_packaged_manifest_agrees_with_committed_weights(runner, monkeypatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["manifest"].endswith("manifest.json")
    assert all(row["state"] != "differs" for row in report["models"] if row["published"])


def test_manifest_command_writes_keeps_descriptions_and_refuses_overwrite(
    runner, published: Path, tmp_path: Path
) -> None:
    out = tmp_path / "manifest.json"
    args = ["models", "manifest", str(published), "--out", str(out), "--base-url", "../w/"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 models" in result.stdout
    data = json.loads(out.read_text())
    assert data["base_url"] == "../w/"
    data["models"][1]["description"] = "supervised baseline"
    out.write_text(json.dumps(data))
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "--overwrite" in refused.stderr
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert load_manifest(out).models["tiny-b"].description == "supervised baseline"


def test_manifest_command_prints_without_out(runner, published: Path) -> None:
    result = runner.invoke(app, ["models", "manifest", str(published)])
    assert result.exit_code == 0, result.output
    assert [m["name"] for m in json.loads(result.stdout)["models"]] == ["tiny-a", "tiny-b"]


def test_manifest_command_missing_folder(runner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "manifest", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such folder" in result.stderr


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"auroc": 0.9, "loss": 0.1}, {"auroc": 0.9}),
        (
            {"headline": {"split": "test", "tpr10": 0.3}, "auroc": 0.5},
            {"split": "test", "tpr10": 0.3},
        ),
        ({"val": {"target": {"auroc": 0.7, "tpr0": 0.1}}}, {"auroc": 0.7, "tpr0": 0.1}),
        ({"loss": [0.3, 0.2]}, {}),
    ],
)
def test_headline_metrics(metrics: dict, expected: dict) -> None:
    assert headline_metrics(metrics) == expected


@pytest.mark.parametrize("args", [["models"], ["models", "list"], ["models", "manifest"]])
def test_models_help(runner, args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    assert ("list" in result.output) if args == ["models"] else ("--" in result.output)


def test_root_help_lists_download_and_models(runner) -> None:
    result = runner.invoke(app, ["--help"])
    assert "download" in result.output
    assert "models" in result.output


def test_wheel_carries_exactly_the_published_models() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    names = sorted(load_manifest().models)
    assert mapping == {f"weights/{name}": f"lensscan/_weights/{name}" for name in names}
