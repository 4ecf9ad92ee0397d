"""``lensscan adapt``: injected arcs on a survey's own galaxies, rehearsal, safety, grades.

Every run here is tiny: a 32 px three-band network of a few thousand weights, pools of a
few dozen cutouts, one epoch of a few steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from inspect_helpers import make_graded_field

from lensscan.cli import app
from lensscan.data.store import LENS, NONLENS, UNLABELLED, CutoutStore, write_store
from lensscan.errors import UserError
from lensscan.inspect.candidates import read_candidate_catalog
from lensscan.inspect.graded_set import repeats_for_share
from lensscan.models import create_lens_finder, load_model, save_model
from lensscan.pixels import centre_crop
from lensscan.provenance import content_key
from lensscan.survey_adapt import AdaptConfig, safety

#: Settings that keep every run small: few items, a tiny rehearsal set, one epoch.
SMALL = [
    "--n-injected", "96", "--epochs", "1", "--batch-size", "16", "--val-fraction", "0.3",
    "--source-val-items", "16", "--workers", "1", "--device", "cpu",
]  # fmt: skip


def _pool(path: Path, n: int, size: int, sigma: float, galaxies: bool, seed: int = 0) -> Path:
    """An unlabelled gri store: sky noise, and (optionally) a Gaussian galaxy near the centre."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, sigma, (n, 3, size, size)).astype(np.float32)
    if galaxies:
        yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
        for k in range(n):
            dx, dy = rng.uniform(-1, 1, 2)
            width = rng.uniform(2.0, 3.5)
            profile = np.exp(-((xx - dx) ** 2 + (yy - dy) ** 2) / (2 * width**2))
            profile /= profile.sum()
            flux = 10 ** (-0.4 * (rng.uniform(19.5, 21.5) - 27.0))
            for band, colour in enumerate((0.5, 0.8, 1.0)):
                images[k, band] += (flux * colour * profile).astype(np.float32)
    write_store(
        path,
        images=images,
        labels=np.full(n, UNLABELLED, np.int8),
        split=np.zeros(n, np.int8),
        split_names=["pool"],
        bands=("g", "r", "i"),
        pixel_scale=0.168,
        attrs={"domain": "test-pool"},
    )
    return path


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    finder = create_lens_finder(bands=("g", "r", "i"), input_size=32, widths=(4, 4, 4, 4), seed=3)
    return save_model(finder, tmp_path_factory.mktemp("parent") / "tiny-parent")


@pytest.fixture(scope="module")
def galaxy_pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _pool(tmp_path_factory.mktemp("pool") / "pool.zarr", 24, 40, 0.05, galaxies=True)


def _run(runner, *args: str):
    result = runner.invoke(app, ["adapt", *args])
    return result, result.stdout + result.stderr


def _errors(result) -> list[str]:
    """The error lines on stderr (log records go there too)."""
    return [line for line in result.stderr.splitlines() if line.startswith("lensscan: error")]


def test_help_lists_the_options(runner) -> None:
    result = runner.invoke(app, ["adapt", "--help"])
    assert result.exit_code == 0
    for option in ("--pool", "--init-model", "--grades", "--max-source-loss", "--config"):
        assert option in result.stdout


def test_adapt_from_a_store_writes_card_and_catalog_then_resumes(
    runner, parent: Path, galaxy_pool: Path, tmp_path: Path, monkeypatch
) -> None:
    out, work = tmp_path / "weights" / "my-survey", tmp_path / "work"
    args = ["--pool", str(galaxy_pool), "--init-model", str(parent), "--out", str(out),
            "--work", str(work), *SMALL]  # fmt: skip

    # An interrupted run (here: at the safety step) leaves its finished steps behind.
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(safety, "decide", interrupted)
    result, _ = _run(runner, *args)
    assert result.exit_code != 0 and not out.exists()
    assert list(work.glob("inject-*.zarr")) and list(work.glob("adapted-*/model.json"))
    monkeypatch.undo()

    result, text = _run(runner, *args)
    assert result.exit_code == 0, text
    for step in ("injected store", "rehearsal store", "training mixture", "fine-tuned model"):
        assert f"{step} " in text and "exists, kept" in text, step
    assert "kept the " in result.stdout and f"wrote {out}" in result.stdout

    card = load_model(out).card
    record = card.training["adapt"]
    parent_card = load_model(parent).card
    assert record["parent"]["name"] == "tiny-parent"
    assert record["parent"]["weights_sha256"] == parent_card.weights_sha256
    assert record["pool"]["size"] == 24 and len(record["pool"]["sha256"]) == 64
    assert record["pool"]["paths"] == [str(galaxy_pool.resolve())]
    assert 0 < record["pool"]["estimated_lens_fraction"] < 1
    assert record["injection"]["n"] == 96 and record["injection"]["rotations"]
    assert record["injection"]["lenses"] == 48
    for model in ("parent", "adapted"):
        figures = record["figures"][model]
        assert set(figures) == {"injected_val", "source_val"}
        assert set(figures["injected_val"]) == {"auroc", "tpr0", "tpr10"}
    assert record["decision"]["kept"] in ("adapted", "parent")
    assert set(record["timings_s"]) >= {"pool", "inject", "check", "fine-tune", "safety"}
    assert json.loads((out / "adapt.json").read_text())["decision"] == record["decision"]
    if record["decision"]["kept"] == "parent":
        assert card.weights_sha256 == parent_card.weights_sha256

    catalog = read_candidate_catalog(out / "pool_candidates.ecsv")
    assert len(catalog) == 24
    assert sorted(catalog.table["rank"]) == list(range(1, 25))
    assert catalog.table["score"][catalog.order[0]] == max(catalog.table["score"])
    assert catalog.meta["model"]["weights_sha256"] == card.weights_sha256


def test_pure_noise_backgrounds_are_refused_before_training(runner, tmp_path: Path) -> None:
    # Bright arcs on blank sky: visible, but with no galaxy to lens a model trained on them
    # learns that any arc on empty sky is a lens. Nothing is trained or written.
    pool = _pool(tmp_path / "noise.zarr", 16, 64, 0.05, galaxies=False)
    out, work = tmp_path / "noise-model", tmp_path / "work"
    result, _ = _run(
        runner, "--pool", str(pool), "--out", str(out), "--work", str(work),
        "--rehearsal-fraction", "0", *SMALL,
    )  # fmt: skip
    assert result.exit_code == 2
    lines = _errors(result)
    assert len(lines) == 1 and "no galaxy to lens" in lines[0] and "0%" in lines[0]
    assert not out.exists() and not list(work.glob("adapted-*"))


def test_invisible_arcs_are_refused_before_training(runner, parent: Path, tmp_path: Path) -> None:
    # Sky noise a thousand times HSC's: arcs only reach the S/N they are brightened to.
    pool = _pool(tmp_path / "deep-noise.zarr", 24, 40, 50.0, galaxies=False)
    out, work = tmp_path / "faint", tmp_path / "work"
    result, _ = _run(
        runner, "--pool", str(pool), "--init-model", str(parent), "--out", str(out),
        "--work", str(work), "--min-arc-snr", "1", *SMALL,
    )  # fmt: skip
    assert result.exit_code == 2
    lines = _errors(result)
    assert len(lines) == 1 and "too faint" in lines[0] and "--min-median-arc-snr" in lines[0]
    assert not out.exists() and not list(work.glob("adapted-*"))


def test_grades_become_labels_from_fits_fields(runner, parent: Path, tmp_path: Path) -> None:
    graded = make_graded_field(tmp_path)
    field, db_path, lenses, zeros = graded.field, graded.database, graded.lenses, graded.zeros
    out, work = tmp_path / "graded-model", tmp_path / "work"
    result, text = _run(
        runner, str(field.files["g"]), "--init-model", str(parent), "--out", str(out),
        "--work", str(work), "--grades", str(db_path), "--mag-limit", "30",
        "--rehearsal-fraction", "0", *SMALL,
    )  # fmt: skip
    assert result.exit_code == 0, text

    record = load_model(out).card.training["adapt"]
    grades = record["grades"]
    assert (grades["lenses"], grades["non_lenses"]) == (2, 4)
    assert grades["graders"] == ["ann", "bo"] and "mean grade >= 1.5" in grades["consensus_rule"]
    assert grades["repeats"] >= 1 and grades["stamps"] == "FITS fields"
    assert record["pool"]["field_files"] and record["pool"]["size"] >= 2

    # The graded candidates are in the training mixture with their consensus labels.
    mixture = CutoutStore.open(next(work.glob("mixture-*.zarr")))
    roles = [part["role"] for part in mixture.attrs["parts"]]
    graded = mixture.params()["part"] == roles.index("graded")
    assert graded.sum() == 6 * grades["repeats"]
    labels = mixture.labels[graded]
    assert (labels == LENS).sum() == 2 * grades["repeats"]
    assert (labels == NONLENS).sum() == 4 * grades["repeats"]
    # ... and their pixels are the field's stamps of those candidates.
    graded_store = CutoutStore.open(next(work.glob("graded-*.zarr")))
    rows = graded_store.params()["catalog_row"][graded_store.labels != UNLABELLED]
    assert set(rows) == {int(r) for r in (*lenses, *zeros)}
    assert "field" in read_candidate_catalog(out / "pool_candidates.ecsv").table.colnames


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--pool", "missing.zarr"], "--pool missing.zarr: no such file or directory"),
        ([], "no pool: give FIELD files or --pool"),
        (["--pool", "x.zarr", "--label-free", "dann"], "--label-free 'dann': choose one of"),
        (["--pool", "x.zarr", "--rehearsal-fraction", "1"], "--rehearsal-fraction 1.0: out of"),
        (["--pool", "x.zarr", "--cutouts", "c.zarr"], "--cutouts: holds the stamps"),
        (["--pool", "x.zarr", "--init-model", "nope"], "--init-model nope:"),
    ],
)
def test_bad_inputs_are_one_line(runner, tmp_path: Path, args: list[str], expected: str) -> None:
    result = runner.invoke(app, ["adapt", "--out", str(tmp_path / "m"), *args])
    assert result.exit_code == 2
    lines = _errors(result)
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_config_file_settings_and_origin(runner, tmp_path: Path) -> None:
    config = tmp_path / "adapt.toml"
    config.write_text('out = "m"\npool = ["x.zarr"]\nmin_gain = 2.0\n')
    result = runner.invoke(app, ["adapt", "--config", str(config)])
    assert result.exit_code == 2
    assert f"--config {config}: --min-gain 2.0: out of range" in result.stderr


def _paired(parent_shift: float, adapted_shift: float, n: int = 300) -> safety.PairedScores:
    """Both models' scores of the same items: each class separated by its shift."""
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(n, int), np.zeros(n, int)]
    base = rng.normal(size=2 * n)
    return safety.PairedScores(labels, base + parent_shift * labels, base + adapted_shift * labels)


def test_safety_rule() -> None:
    source = _paired(2.5, 2.5)
    better = safety.decide(_paired(1.0, 2.0), source, 0.0, 0.01)
    assert better.keep_adapted and better.reason.startswith("kept the adapted model")
    assert better.changes["injected_val"]["ci95"][0] > 0
    forgetful = safety.decide(_paired(1.0, 2.0), _paired(2.5, 1.5), 0.0, 0.01)
    assert not forgetful.keep_adapted and "source validation" in forgetful.reason
    same = safety.decide(_paired(1.0, 1.0), source, 0.0, 0.01)
    assert not same.keep_adapted and same.reason.startswith("kept the parent")
    assert not safety.decide(_paired(1.0, 2.0), source, 0.2, 0.01).keep_adapted
    assert safety.decide(_paired(1.0, 2.0), None, 0.0, 0.01).keep_adapted


def test_safety_rule_reads_the_interval_not_the_point() -> None:
    # A gain of about 0.005 AUROC on 80 items is within the noise of their draw: the
    # point beats the parent, the interval's lower end does not.
    rng = np.random.default_rng(1)
    labels = np.r_[np.ones(40, int), np.zeros(40, int)]
    parent = rng.normal(size=80) + 1.0 * labels
    adapted = parent + rng.normal(scale=0.3, size=80) + 0.05 * labels
    injected = safety.PairedScores(labels, parent, adapted)
    change = injected.auroc_change()
    low, high = change["ci95"]
    assert change["change"] > 0 and low < 0 < high
    decision = safety.decide(injected, None, 0.0, 0.01)
    assert not decision.keep_adapted and "does not surely beat" in decision.reason


def test_visibility_check_and_probe() -> None:
    config = AdaptConfig(out="m")
    record = safety.check_visibility(np.full(5, 30.0), {"parent": 0.6, "probe": 0.9}, config)
    assert record["median_arc_snr"] == 30.0
    with pytest.raises(safety.InvisibleArcsError, match="not separable"):
        safety.check_visibility(np.full(5, 30.0), {"parent": 0.55, "probe": 0.6}, config)
    # The probe tells rings of extra light from none, and noise from noise not at all.
    rng = np.random.default_rng(0)
    labels = np.tile([0, 1], 100)
    features = rng.normal(size=(200, 4))
    features[:, 2] += 2.0 * labels
    assert safety.probe_separability((features, labels), (features, labels)) > 0.9
    noise = rng.normal(size=(200, 4))
    chance = safety.probe_separability((noise[:100], labels[:100]), (noise[100:], labels[100:]))
    assert abs(chance - 0.5) < 0.2


def test_step_keys_and_repeats() -> None:
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})
    assert repeats_for_share(30, 900, 0.1) == 4  # 120 of 1,020 items
    assert repeats_for_share(0, 900, 0.1) == 0
    with pytest.raises(UserError, match="smaller than the model's 64 px"):
        centre_crop(np.zeros((1, 3, 32, 32)), 64)
