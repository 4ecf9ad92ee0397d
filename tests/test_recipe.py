"""``lensscan recipe``: the shipped models' recipe, end to end at a tiny size."""

from __future__ import annotations

import json

import pytest
from conftest import REALDATA

from lensscan.cli import app
from lensscan.recipes import (
    IN_FAMILY_LABEL,
    INDEPENDENT_LABEL,
    OUT_OF_FAMILY_LABEL,
    REAL_DEV_LABEL,
    RECIPES,
    get_recipe,
)
from lensscan.simulate.domains.families import FAMILIES


def test_recipe_end_to_end_at_tiny_size(runner, tmp_path) -> None:
    out = tmp_path / "weights" / "tiny-gri"
    work = tmp_path / "work"
    arguments = ["recipe", "hsc-gri", "--scale", "0.004", "--epochs", "1", "--work", str(work)]
    real_dev = REALDATA / "real_xsurvey_dev"
    real = ["--real-dev", str(real_dev)] if real_dev.is_dir() else []
    result = runner.invoke(app, [*arguments, "--out", str(out), "--device", "cpu", *real])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.json").read_text())
    # Three members, each trained on the balanced hsc-train store and selected in-family.
    assert card["members"] == 3 and card["name"] == "tiny-gri"
    for member in card["training"]["members"]:
        stores = member["training"]["stores"]
        assert "train-gri-s" in stores["source"]["path"]
        assert stores["source"]["lenses"] == stores["source"]["non_lenses"]
        assert member["selection"]["rule"] == "val_auroc"
    evaluations = card["metrics"]["evaluations"]
    for label in (IN_FAMILY_LABEL, OUT_OF_FAMILY_LABEL, INDEPENDENT_LABEL):
        assert 0 <= evaluations[label]["auroc"] <= 1
        assert 0 <= evaluations[label + " min-max"]["auroc"] <= 1
        assert evaluations[label]["n_lenses"] >= 1 and "test-gri.zarr" in evaluations[label]["data"]
    assert "galsim-test-gri.zarr" in evaluations[INDEPENDENT_LABEL]["data"]
    if real:
        # The real dev set is scored and recorded apart, never trained on.
        assert evaluations[REAL_DEV_LABEL]["n_lenses"] == 135
        assert evaluations[REAL_DEV_LABEL]["n_nonlenses"] == 235
        assert "real_xsurvey_dev" not in json.dumps(card["training"])
    assert card["metrics"]["headline"]["split"] == OUT_OF_FAMILY_LABEL
    assert OUT_OF_FAMILY_LABEL in result.output
    # A rerun reuses the data and members and refuses to replace --out silently.
    again = runner.invoke(app, [*arguments, "--out", str(out)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_recipes_test_on_the_held_out_family_only_seen_in_tests() -> None:
    for recipe in RECIPES.values():
        seeds = {
            recipe.train_seed,
            recipe.in_family_seed,
            recipe.out_of_family_seed,
            recipe.independent_seed,
        }
        assert len(seeds) == 4
    assert set(FAMILIES) >= {"hsc-train", "hsc-heldout"}


def test_unknown_recipe_and_bad_scale_give_one_line(runner, tmp_path) -> None:
    result = runner.invoke(app, ["recipe", "nope", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "recipe 'nope': unknown" in result.output
    result = runner.invoke(app, ["recipe", "hsc-gri", "--scale", "2", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "--scale 2: must be in (0, 1]" in result.output
    result = runner.invoke(
        app, ["recipe", "hsc-gri", "--real-dev", str(tmp_path / "none"), "--out", str(tmp_path)]
    )
    assert (
        result.exit_code == 2
        and "--real-dev" in result.output
        and "no such folder" in result.output
    )
    with pytest.raises(Exception, match="unknown"):
        get_recipe("hsc-z")


def test_a_recipe_with_a_parent_fine_tunes_it_on_a_scaled_subset() -> None:
    recipe = get_recipe("hsc-gri-ecnn-restyled")
    assert recipe.parent == "hsc-gri-ecnn-v2" and recipe.encoder == "ecnn"
    assert 0 < recipe.restyle < 1 and recipe.max_source == 9000
    scaled = recipe.scaled(0.01)
    assert scaled.max_source == 90 and scaled.parent == recipe.parent
    assert get_recipe("hsc-gri").scaled(0.01).max_source is None


def test_a_combining_recipe_ensembles_shipped_models_without_training(runner, tmp_path) -> None:
    recipe = get_recipe("hsc-gri-mixed")
    assert recipe.combine == ("hsc-gri-ecnn-v3", "hsc-gri-v3")
    out, work = tmp_path / "weights" / "tiny-mixed", tmp_path / "work"
    arguments = ["recipe", "hsc-gri-mixed", "--scale", "0.01", "--work", str(work)]
    result = runner.invoke(app, [*arguments, "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model.json").read_text())
    assert card["encoder"] == "mixed" and card["members"] == 2
    assert [m["name"] for m in card["training"]["members"]] == list(recipe.combine)
    assert [c["encoder"] for c in card["components"]] == ["ecnn", "small_cnn"]
    assert 0 <= card["metrics"]["evaluations"][OUT_OF_FAMILY_LABEL]["auroc"] <= 1
    # Nothing was simulated or trained for it but the test stores.
    assert not list((work / "data").glob("train-gri*.zarr")) and not (work / "members").exists()
