"""``lensscan models ensemble``: members combined into one model that averages their logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lensscan.cli import app
from lensscan.models import create_lens_finder, load_model, save_model


@pytest.fixture
def members(tmp_path: Path) -> list[Path]:
    """Three small gri models (different seeds, two methods) and an i-band one."""
    folders = [
        save_model(create_lens_finder(seed=seed), tmp_path / f"m{seed}", method=method)
        for seed, method in ((1, "dann"), (2, "dann"), (3, "adabn"))
    ]
    save_model(create_lens_finder(bands=("i",), seed=4), tmp_path / "i-band")
    return folders


def _logits(folder: Path, images: np.ndarray) -> np.ndarray:
    finder = load_model(folder, device="cpu")
    with torch.no_grad():
        x = finder.normalisation(torch.from_numpy(images))
        return finder.network(x).numpy()


def test_ensemble_scores_are_the_sigmoid_of_the_mean_member_logit(
    runner, members: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "weights" / "trio"
    result = runner.invoke(app, ["models", "ensemble", *map(str, members), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "ensemble: dann x2, adabn x1" in result.stdout

    images = np.random.default_rng(0).normal(size=(5, 3, 64, 64)).astype(np.float32)
    expected = 1 / (1 + np.exp(-np.mean([_logits(m, images) for m in members], axis=0)))
    ensemble = load_model(out, device="cpu")
    np.testing.assert_allclose(ensemble.score(images), expected, rtol=1e-5, atol=1e-6)

    card = ensemble.card
    assert card.members == 3 and card.name == "trio" and card.encoder == "small_cnn"
    recorded = [m["weights_sha256"] for m in card.training["members"]]
    assert recorded == [load_model(m).sha256 for m in members]
    assert card.provenance["command"] == "models ensemble"


@pytest.mark.parametrize(
    ("pick", "message"),
    [
        (lambda m, d: [m[0]], "at least two models"),
        (lambda m, d: [m[0], m[0]], "given twice"),
        (lambda m, d: [m[0], d / "i-band"], "bands"),
        (lambda m, d: [m[0], d / "missing"], "missing"),
    ],
)
def test_bad_members_are_one_line_and_write_nothing(
    runner, members: list[Path], tmp_path: Path, pick, message: str
) -> None:
    out = tmp_path / "bad"
    chosen = [str(p) for p in pick(members, tmp_path)]
    result = runner.invoke(app, ["models", "ensemble", *chosen, "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()


def test_members_of_different_encoders_make_a_mixed_ensemble(
    runner, members: list[Path], tmp_path: Path
) -> None:
    """An ensemble member counts once, with its own mean logit, beside a single network."""
    pair = tmp_path / "pair"
    made = runner.invoke(app, ["models", "ensemble", *map(str, members[:2]), "--out", str(pair)])
    assert made.exit_code == 0, made.output
    narrow = save_model(create_lens_finder(widths=(4, 4, 4, 4), seed=5), tmp_path / "narrow")
    out = tmp_path / "mixed"
    result = runner.invoke(app, ["models", "ensemble", str(pair), str(narrow), "--out", str(out)])
    assert result.exit_code == 0, result.output

    mixed = load_model(out, device="cpu")
    card = mixed.card
    assert card.encoder == "mixed" and card.members == 2
    assert card.components == [
        {"encoder": "small_cnn", "encoder_options": {}, "members": 2},
        {"encoder": "small_cnn", "encoder_options": {"widths": [4, 4, 4, 4]}, "members": 1},
    ]
    images = np.random.default_rng(1).normal(size=(4, 3, 64, 64)).astype(np.float32)
    pair_logit = np.mean([_logits(m, images) for m in members[:2]], axis=0)
    expected = 1 / (1 + np.exp(-(pair_logit + _logits(narrow, images)) / 2))
    np.testing.assert_allclose(mixed.score(images), expected, rtol=1e-5, atol=1e-6)

    refused = runner.invoke(
        app, ["models", "ensemble", str(out), str(members[2]), "--out", str(tmp_path / "x")]
    )
    assert refused.exit_code == 2
    assert "is itself an ensemble of different encoders" in refused.stderr
