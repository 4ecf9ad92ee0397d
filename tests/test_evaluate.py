"""``lensscan evaluate`` on labelled cutouts: data loading, the report folder, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.io import fits

from lensscan.cli import app
from lensscan.data.store import write_store
from lensscan.errors import UserError
from lensscan.evaluate.data import load_evaluation_set
from lensscan.models import DEFAULT_MODEL, create_lens_finder, load_model, save_model

REPORTED = (
    "auroc",
    "ap",
    "tpr0",
    "tpr10",
    "tpr_at_fpr_1e-2",
    "tpr_at_fpr_1e-3",
    "fpr_at_tpr_0.75",
    "n_lenses",
    "n_nonlenses",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "confusion_matrix",
    "threshold",
    "ci95",
)
FAST = ["--bootstrap", "50", "--montage-size", "4"]


def _cutouts(rng, count, size=64, channels=3):
    return rng.normal(0, 1, (count, channels, size, size)).astype(np.float32)


@pytest.fixture
def deeplense_folder(tmp_path):
    """A tiny DeepLense-layout folder: test split 4 lenses / 6 non-lenses, train 2 / 2."""
    root = tmp_path / "deeplense"
    rng = np.random.default_rng(0)
    for split, counts in (("test", (4, 6)), ("train", (2, 2))):
        for kind, count in zip(("lenses", "nonlenses"), counts, strict=True):
            folder = root / f"{split}_{kind}"
            folder.mkdir(parents=True)
            for k, image in enumerate(_cutouts(rng, count)):
                np.save(folder / f"{k + 1}.npy", image)
    fits.PrimaryHDU(_cutouts(rng, 1)[0]).writeto(root / "test_lenses" / "5.fits")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two untrained models (gri and i-band) saved to disk."""
    folder = tmp_path_factory.mktemp("weights")
    gri = save_model(create_lens_finder(bands=("g", "r", "i"), seed=0), folder / "gri")
    i_band = save_model(create_lens_finder(bands=("i",), seed=1), folder / "ionly", name="i-only")
    return {"gri": gri, "i": i_band}


def _store(path, labels, bands=("g", "r", "i"), size=64, params=None):
    rng = np.random.default_rng(1)
    n = len(labels)
    write_store(
        path,
        images=_cutouts(rng, n, size, len(bands)),
        labels=np.asarray(labels, np.int8),
        split=np.r_[np.zeros(n - 2), np.ones(2)].astype(np.int8),
        split_names=["test", "train"],
        bands=bands,
        pixel_scale=0.168,
        attrs={},
        params=params,
    )
    return path


def test_folder_loading_defaults_and_band_selection(deeplense_folder) -> None:
    data = load_evaluation_set(deeplense_folder, "test")
    assert data.images.shape == (11, 3, 64, 64)
    assert (data.n_lenses, data.n_nonlenses) == (5, 6)
    assert data.bands == ("g", "r", "i")
    assert data.names[0] == "test_lenses/1.npy"
    i_band = data.select_bands(("i",))
    np.testing.assert_array_equal(i_band.images[:, 0], data.images[:, 2])
    assert load_evaluation_set(deeplense_folder, "test", bands=("r", "i", "z")).bands[-1] == "z"
    with pytest.raises(UserError, match="have 3 channels"):
        load_evaluation_set(deeplense_folder, "test", bands=("i",))


def test_store_unlabelled_items_are_left_out(tmp_path) -> None:
    labels = [1, 0, -1, -1, 1, 0, 0, -1, 1, 0]
    true_label = np.array([1, 0, 1, 0, 1, 0, 0, 1, 1, 0], np.int8)
    path = _store(tmp_path / "pool.zarr", labels, params={"true_label": true_label})
    data = load_evaluation_set(path, "test")
    assert data.labels.tolist() == [1, 0, 1, 0, 0]
    assert "3 unlabelled items" in data.notes[0]
    assert "true_label" in data.notes[0]
    assert data.names[0] == "pool.zarr[0]"
    with pytest.raises(UserError, match="records its bands as g,r,i"):
        load_evaluation_set(path, "test", bands=("i",))
    pool = _store(tmp_path / "all_unlabelled.zarr", [-1] * 8 + [1, 0])
    with pytest.raises(UserError, match="0 lenses and 0 non-lenses \\(8 unlabelled"):
        load_evaluation_set(pool, "test").require_both_classes()


def test_evaluate_help(runner) -> None:
    result = runner.invoke(app, ["evaluate", "--help"])
    assert result.exit_code == 0
    for option in ("--model", "--data", "--split", "--bootstrap", "--catalog", "--match-radius"):
        assert option in result.output


def test_evaluate_folder_two_models(runner, deeplense_folder, models, tmp_path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(models["gri"]),
            "--model",
            str(models["i"]),
            "--data",
            str(deeplense_folder),
            "--split",
            "test",
            "--report-dir",
            str(out),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "AUROC" in result.output and "i-only" in result.output
    assert "note: tpr10: undefined, 6 non-lenses" in result.output
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {"gri", "i-only"}
    for entry in report["models"].values():
        assert set(REPORTED) <= set(entry)
        assert (entry["n_lenses"], entry["n_nonlenses"]) == (5, 6)
        assert 0.0 <= entry["auroc"] <= 1.0
        assert entry["tpr10"] is None and entry["ci95"]["tpr10"] == [None, None]
        low, high = entry["ci95"]["auroc"]
        assert 0.0 <= low <= high <= 1.0
        assert sum(entry["confusion_matrix"].values()) == 11
    provenance = report["provenance"]
    assert provenance["seed"] == 0
    assert provenance["inputs"][0]["sha256"]
    assert provenance["settings"]["split"] == "test"
    assert all(len(m["sha256"]) == 64 for m in provenance["models"].values())
    assert report["data"]["bands"] == ["g", "r", "i"]
    figures = set(report["figures"].values())
    assert {"roc.png", "roc_log.png", "precision_recall.png"} <= figures
    assert "top_nonlenses_i-only.png" in figures and "bottom_lenses_gri.png" in figures
    for name in figures | {"report.md", "scores.csv"}:
        assert (out / name).is_file(), name
    scores = (out / "scores.csv").read_text().splitlines()
    assert scores[0] == "item,label,score:gri,score:i-only"
    assert len(scores) == 12
    markdown = (out / "report.md").read_text()
    assert "| gri |" in markdown and "## Definitions" in markdown
    # An existing report folder is not replaced without --overwrite.
    again = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(models["gri"]),
            "--data",
            str(deeplense_folder),
            "--report-dir",
            str(out),
            *FAST,
        ],
    )
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_default_model_and_toml_config(
    runner, deeplense_folder, models, tmp_path, monkeypatch
) -> None:
    weights = tmp_path / "weights_home"
    save_model(
        create_lens_finder(bands=("g", "r", "i"), seed=2),
        weights / DEFAULT_MODEL,
        name=DEFAULT_MODEL,
    )
    monkeypatch.setenv("LENSSCAN_WEIGHTS", str(weights))
    config = tmp_path / "evaluate.toml"
    config.write_text(f'data = "{deeplense_folder}"\nbootstrap = 20\nmontage_size = 0\nseed = 5\n')
    out = tmp_path / "default"
    result = runner.invoke(app, ["evaluate", "--config", str(config), "--report-dir", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert list(report["models"]) == [DEFAULT_MODEL]
    assert report["settings"]["bootstrap"] == 20 and report["settings"]["seed"] == 5
    assert not any(name.startswith("top_nonlenses") for name in report["figures"].values())


def test_missing_default_model_is_one_clear_line(
    runner, deeplense_folder, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(
        "lensscan.models.weights.weights_search_path", lambda: [tmp_path / "nothing"]
    )
    result = runner.invoke(
        app,
        ["evaluate", "--data", str(deeplense_folder), *FAST, "--report-dir", str(tmp_path / "r")],
    )
    assert result.exit_code == 2
    assert "no default model" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_bad_input_is_one_line_and_nothing_written(
    runner, deeplense_folder, models, tmp_path
) -> None:
    gri = str(models["gri"])
    out = tmp_path / "never"
    single_class = tmp_path / "only_lenses"
    (single_class / "test_lenses").mkdir(parents=True)
    np.save(single_class / "test_lenses" / "1.npy", np.zeros((3, 64, 64), np.float32))
    small = _store(tmp_path / "small.zarr", [1, 0, 1, 0, 1, 0], size=32)
    riz = _store(tmp_path / "riz.zarr", [1, 0, 1, 0, 1, 0], bands=("r", "i", "z"))
    cases = {
        "splits present: test, train": ["--data", str(deeplense_folder), "--split", "val"],
        "AUROC and the ranking metrics are undefined": ["--data", str(single_class)],
        "do not fit model": ["--data", str(small)],
        "bands r,i,z do not match model": ["--data", str(riz)],
        "no such file or directory": ["--data", str(tmp_path / "missing")],
        "--bootstrap -1: out of range": ["--data", str(deeplense_folder), "--bootstrap", "-1"],
    }
    for expected, options in cases.items():
        result = runner.invoke(
            app, ["evaluate", "--model", gri, "--report-dir", str(out), *options]
        )
        assert result.exit_code == 2, (expected, result.output)
        assert expected in result.output, (expected, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert "Traceback" not in result.output
        assert not out.exists()


def test_i_band_model_on_a_store_uses_the_i_channel(runner, models, tmp_path) -> None:
    store = _store(tmp_path / "gri.zarr", [1, 0, 1, 0, 1, 0, 0, 1])
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(models["i"]),
            "--data",
            str(store),
            "--report-dir",
            str(out),
            "--bootstrap",
            "0",
            "--montage-size",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    entry = report["models"]["i-only"]
    assert (entry["n_lenses"], entry["n_nonlenses"]) == (3, 3)
    assert entry["ci95"] == {}


@pytest.mark.realdata
def test_evaluate_real_hsc_sample(runner, realdata, models, tmp_path) -> None:
    out = tmp_path / "hsc40"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(models["gri"]),
            "--data",
            str(realdata / "hsc_gri_sample40"),
            "--split",
            "test",
            "--report-dir",
            str(out),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "report.json").read_text())["models"]["gri"]
    assert entry["n_lenses"] == 10 and entry["n_nonlenses"] == 10
    for name in ("auroc", "ap", "tpr0", "tpr10", "fpr_at_tpr_0.75", "accuracy", "recall"):
        assert 0.0 <= entry[name] <= 1.0, name
    assert entry["tpr_at_fpr_1e-2"] is None  # ten non-lenses cannot resolve FPR 1e-2


def test_record_as_writes_metrics_into_the_card(runner, deeplense_folder, tmp_path) -> None:
    folder = save_model(create_lens_finder(bands=("g", "r", "i"), seed=4), tmp_path / "w" / "m")
    weights = (folder / "model.safetensors").read_bytes()
    args = ["evaluate", "--model", str(folder), "--data", str(deeplense_folder), *FAST]
    first = runner.invoke(
        app, [*args, "--report-dir", str(tmp_path / "r1"), "--record-as", "hsc test", "--headline"]
    )
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*args, "--report-dir", str(tmp_path / "r2"), "--record-as", "x"])
    assert second.exit_code == 0, second.output

    report = json.loads((tmp_path / "r1" / "report.json").read_text())
    measured = next(iter(report["models"].values()))
    card = load_model(folder).card
    recorded = card.metrics["evaluations"]["hsc test"]
    assert recorded["auroc"] == pytest.approx(measured["auroc"])
    assert recorded["tpr10"] == pytest.approx(measured["tpr10"])
    assert recorded["n_lenses"] == 5 and recorded["n_nonlenses"] == 6
    assert recorded["ci95"]["auroc"] == pytest.approx(measured["ci95"]["auroc"])
    assert set(card.metrics["evaluations"]) == {"hsc test", "x"}
    assert card.metrics["headline"] == {
        "split": "hsc test",
        "auroc": recorded["auroc"],
        "tpr0": recorded["tpr0"],
        "tpr10": recorded["tpr10"],
    }
    assert (folder / "model.safetensors").read_bytes() == weights, "weights untouched"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--headline"], "--headline: needs --record-as"),
        (["--record-as", "bad\nlabel"], "--record-as"),
    ],
)
def test_bad_record_options_are_refused(runner, deeplense_folder, models, tmp_path, extra, message):
    result = runner.invoke(
        app,
        ["evaluate", "--model", str(models["gri"]), "--data", str(deeplense_folder), *extra],
    )
    assert result.exit_code == 2 and message in result.stderr
    assert "evaluations" not in load_model(models["gri"]).card.metrics


def test_rescale_minmax_maps_each_band_of_each_cutout_to_unit_range() -> None:
    from pathlib import Path

    from lensscan.evaluate.data import EvaluationSet

    rng = np.random.default_rng(0)
    images = (rng.normal(0, 1, (4, 3, 8, 8)) * [[[[1.0]], [[5.0]], [[50.0]]]]).astype(np.float32)
    data = EvaluationSet(
        images,
        np.array([0, 1, 0, 1], np.int8),
        ("g", "r", "i"),
        np.array(list("abcd")),
        Path("x"),
        "test",
    )
    scaled = data.rescaled("minmax")
    assert scaled.images.min(axis=(2, 3)) == pytest.approx(0.0)
    assert scaled.images.max(axis=(2, 3)) == pytest.approx(1.0)
    assert "min-max" in scaled.notes[-1] and data.rescaled("none") is data
    with pytest.raises(UserError, match="`rescale` 'log'"):
        data.rescaled("log")
