"""``lensscan train --init-model``: adapting a trained model to a survey's own images."""

from __future__ import annotations

import json

import pytest
import torch
from test_training import make_store

from lensscan.cli import app
from lensscan.models import load_model
from lensscan.models.weights import DEFAULT_MODEL, PACKAGE_WEIGHTS


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    """A tiny trained parent model and the stores around it."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("init-model")
    source = make_store(root / "source.zarr", n=32, seed=0)
    target = make_store(root / "target.zarr", n=32, seed=1, shift=True)
    out = root / "weights" / "parent"
    result = CliRunner().invoke(
        app,
        ["train", "--source", str(source), "--out", str(out), "--epochs", "1", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    return {"folder": out, "source": source, "target": target}


def _state(folder):
    return {k: v.clone() for k, v in load_model(folder, device="cpu").network.state_dict().items()}


def test_adabn_without_source_changes_only_batchnorm_statistics(runner, parent, tmp_path) -> None:
    out = tmp_path / "weights" / "adapted"
    result = runner.invoke(
        app,
        [
            "train",
            "--init-model",
            str(parent["folder"]),
            "--target",
            str(parent["target"]),
            "--method",
            "adabn",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no training" in result.output
    before, after = _state(parent["folder"]), _state(out)
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # Only BatchNorm running statistics move; every trained weight is the parent's.
    assert changed and all(k.endswith(("running_mean", "running_var")) for k in changed)
    parent_card = json.loads((parent["folder"] / "model.json").read_text())
    card = json.loads((out / "model.json").read_text())
    assert card["method"] == "adabn"
    assert card["normalisation"] == parent_card["normalisation"]
    assert card["bands"] == parent_card["bands"] and card["encoder"] == parent_card["encoder"]
    assert card["training"]["parent"]["weights_sha256"] == parent_card["weights_sha256"]
    assert card["training"]["parent"]["name"] == "parent"
    target = card["training"]["stores"]["target"]
    assert target["path"] == str(parent["target"].resolve()) and len(target["sha256"]) == 64
    assert 0 < card["metrics"]["after_adaptation"]["target_prior_em"] < 1


def test_init_model_with_source_starts_from_the_parent_weights(runner, parent, tmp_path) -> None:
    out = tmp_path / "weights" / "tuned"
    result = runner.invoke(
        app,
        [
            "train",
            "--init-model",
            str(parent["folder"]),
            "--source",
            str(parent["source"]),
            "--target",
            str(parent["target"]),
            "--method",
            "dann",
            "--epochs",
            "1",
            "--lr",
            "1e-12",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    before, after = _state(parent["folder"]), _state(out)
    # With a vanishing learning rate the trained weights stay the parent's.
    for key, value in before.items():
        if "running" not in key and "num_batches" not in key:
            assert torch.allclose(value, after[key], atol=1e-6), key
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["parent"]["path"] == str(parent["folder"].resolve())


def test_hyphenated_method_names_are_accepted(runner, parent, tmp_path) -> None:
    out = tmp_path / "weights" / "se"
    result = runner.invoke(
        app,
        [
            "train",
            "--source",
            str(parent["source"]),
            "--target",
            str(parent["target"]),
            "--method",
            "self-ensembling",
            "--encoder",
            "small-cnn",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.json").read_text())
    assert card["method"] == "self_ensembling" and card["encoder"] == "small_cnn"


@pytest.mark.skipif(
    not (PACKAGE_WEIGHTS / DEFAULT_MODEL / "model.json").is_file(), reason="no shipped model"
)
def test_default_resolves_to_the_shipped_default_model(runner, tmp_path) -> None:
    from lensscan.training.parent import parent_folder

    assert parent_folder("default").resolve() == (PACKAGE_WEIGHTS / DEFAULT_MODEL).resolve()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--method", "adda"], "missing --source"),
        (["--method", "adabn", "--encoder", "ecnn"], "is a small_cnn model"),
        (["--method", "adabn", "--init-model", "no-such-model"], "--init-model no-such-model"),
    ],
)
def test_bad_init_model_runs_give_one_line(runner, parent, tmp_path, arguments, message) -> None:
    out = tmp_path / "weights" / "bad"
    result = runner.invoke(
        app,
        [
            "train",
            "--init-model",
            str(parent["folder"]),
            "--target",
            str(parent["target"]),
            "--out",
            str(out),
            *arguments,
        ],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and result.output.count("\n") == 1
    assert not out.exists()


def test_an_ensemble_parent_is_adapted_member_by_member(runner, parent, tmp_path) -> None:
    from lensscan.models.ensemble import make_ensemble

    second = tmp_path / "weights" / "second"
    result = runner.invoke(
        app,
        [
            "train",
            "--source",
            str(parent["source"]),
            "--out",
            str(second),
            "--epochs",
            "1",
            "--seed",
            "1",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    ensemble = tmp_path / "weights" / "pair"
    make_ensemble([str(parent["folder"]), str(second)], ensemble)
    out = tmp_path / "weights" / "pair-dann"
    result = runner.invoke(
        app,
        [
            "train",
            "--init-model",
            str(ensemble),
            "--source",
            str(parent["source"]),
            "--target",
            str(parent["target"]),
            "--method",
            "dann",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "the 2 members of pair, each adapted" in result.output
    card = json.loads((out / "model.json").read_text())
    assert card["members"] == 2 and card["method"] == "dann"
    assert card["training"]["parent"]["name"] == "pair"
    assert [m["training"]["parent"]["name"] for m in card["training"]["members"]] == [
        "pair-member0",
        "pair-member1",
    ]
    assert not (out.parent / ".pair-dann.partial").exists()


def test_a_mixed_parent_keeps_its_components_when_adapted(runner, parent, tmp_path) -> None:
    """Each component trains with its own encoder; an ensemble component member by member."""
    from lensscan.models import create_lens_finder, save_model
    from lensscan.models.ensemble import make_ensemble

    narrow = save_model(
        create_lens_finder(input_size=32, widths=(4, 4, 4, 4), seed=2), tmp_path / "narrow"
    )
    second = save_model(create_lens_finder(input_size=32, seed=3), tmp_path / "second")
    pair = tmp_path / "pair"
    make_ensemble([str(parent["folder"]), str(second)], pair)
    mixed = tmp_path / "mixed"
    make_ensemble([str(pair), str(narrow)], mixed)
    out = tmp_path / "weights" / "mixed-tuned"
    args = ["--init-model", str(mixed), "--source", str(parent["source"]), "--out", str(out)]
    result = runner.invoke(app, ["train", *args, "--epochs", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output

    tuned = load_model(out, device="cpu").card
    assert tuned.encoder == "mixed" and tuned.components == load_model(mixed).card.components
    assert tuned.training["parent"]["name"] == "mixed"
    before, after = _state(mixed), _state(out)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
