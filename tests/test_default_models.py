"""The shipped models: present, intact, published in the manifest, and as good as their cards."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO_ROOT

from lensscan.cli import app
from lensscan.evaluate.data import load_evaluation_set
from lensscan.evaluate.metrics import auroc
from lensscan.models import DEFAULT_MODEL, load_model
from lensscan.models.manifest import build_manifest
from lensscan.recipes import (
    IN_FAMILY_LABEL,
    INDEPENDENT_LABEL,
    MINMAX_SUFFIX,
    OUT_OF_FAMILY_LABEL,
    REAL_DEV_LABEL,
    REAL_HSC_LABEL,
)

WEIGHTS = REPO_ROOT / "weights"
MANIFEST = REPO_ROOT / "lensscan" / "models" / "manifest.json"
SHIPPED = {
    DEFAULT_MODEL: ("g", "r", "i"),
    "hsc-gri-ecnn-v3": ("g", "r", "i"),
    "hsc-gri-v3": ("g", "r", "i"),
    "hsc-gri-ecnn-v2": ("g", "r", "i"),
    "hsc-gri-v2": ("g", "r", "i"),
    "hsc-i-v2": ("i",),
}
#: The weights folder stays small enough for git.
MAX_WEIGHTS_BYTES = 30 * 2**20


@pytest.mark.parametrize(("name", "bands"), SHIPPED.items())
def test_shipped_model_loads_with_its_card_metrics(name: str, bands: tuple[str, ...]) -> None:
    finder = load_model(WEIGHTS / name)  # checks the weights' SHA-256 against the card
    assert finder.bands == bands
    metrics = finder.card.metrics
    # The headline is the out-of-family figure: a generator the model never saw.
    assert metrics["headline"]["split"] == OUT_OF_FAMILY_LABEL
    evaluations = metrics["evaluations"]
    for label in (IN_FAMILY_LABEL, OUT_OF_FAMILY_LABEL):
        test = evaluations[label]
        assert test["n_lenses"] >= 200 and test["n_nonlenses"] >= 20_000
        assert 0.5 < test["auroc"] <= 1.0
        # Min-max-normalised copies score alike: the normalisation is affine-invariant.
        assert abs(evaluations[label + MINMAX_SUFFIX]["auroc"] - test["auroc"]) < 0.005
    assert metrics["headline"]["auroc"] == evaluations[OUT_OF_FAMILY_LABEL]["auroc"]
    assert REAL_HSC_LABEL in evaluations
    # Judged on a family from another code base and on real lenses of other surveys too.
    assert evaluations[INDEPENDENT_LABEL]["n_nonlenses"] >= 20_000
    assert evaluations[REAL_DEV_LABEL]["n_lenses"] == 135
    # Trained on the hsc-train family only (every network of an ensemble of ensembles).
    for training in _network_trainings(finder.card.training):
        assert "train-" in training["stores"]["source"]["path"]


def _network_trainings(training: dict) -> list[dict]:
    """The training records of every single network of a model, members of members too."""
    members = training.get("members")
    if not members:
        return [training]
    return [found for member in members for found in _network_trainings(member["training"])]


def test_default_model_is_found_without_a_name() -> None:
    assert load_model(None).name == DEFAULT_MODEL


def test_manifest_publishes_exactly_the_shipped_models() -> None:
    shipped = json.loads(MANIFEST.read_text())
    built = build_manifest(WEIGHTS, shipped["base_url"]).to_dict()
    assert sorted(entry["name"] for entry in shipped["models"]) == sorted(SHIPPED)
    assert shipped["models"] == built["models"], "regenerate with lensscan models manifest"


def test_weights_folder_is_small() -> None:
    size = sum(path.stat().st_size for path in WEIGHTS.rglob("*") if path.is_file())
    assert size < MAX_WEIGHTS_BYTES


def test_default_model_ranks_fresh_hsc_like_lenses_above_non_lenses(runner, tmp_path) -> None:
    """A guard that the shipped weights are a trained lens finder, on data it never saw."""
    store = tmp_path / "fresh.zarr"
    args = ["simulate", "--domain", "hsc-heldout", "--n", "240", "--lens-fraction", "0.5"]
    result = runner.invoke(
        app, [*args, "--seed", "20261128", "--workers", "1", "--out", str(store)]
    )
    assert result.exit_code == 0, result.output
    data = load_evaluation_set(store, "train", None)
    finder = load_model(None)
    assert auroc(data.labels, finder.score(data.images)) > 0.8


def test_card_real_sample_metrics_reproduce(realdata) -> None:
    folder = realdata / "hsc_gri_sample40"
    for name in SHIPPED:
        finder = load_model(WEIGHTS / name)
        data = load_evaluation_set(folder, "test", None).select_bands(finder.bands)
        recorded = finder.card.metrics["evaluations"][REAL_HSC_LABEL]
        measured = auroc(data.labels, finder.score(data.images))
        assert measured == pytest.approx(recorded["auroc"], abs=1e-6)
        assert (recorded["n_lenses"], recorded["n_nonlenses"]) == (
            int(np.sum(data.labels == 1)),
            int(np.sum(data.labels == 0)),
        )
