from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lensscan.data.store import write_store
from lensscan.errors import UserError
from lensscan.models import load_model
from lensscan.training import train
from lensscan.training.settings import SELECTION_RULES, TrainConfig


def toy_images(n: int, size: int, seed: int, shift: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Toy gri cutouts in flux units: a galaxy, plus an Einstein ring for lenses.

    ``shift=True`` makes a second domain: brighter sky, more noise, wider seeing.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(yy, xx)
    labels = (rng.random(n) < 0.5).astype(np.int8)
    seeing = 1.8 if shift else 1.0
    noise = 1.6 if shift else 1.0
    sky = 30.0 if shift else 0.0
    images = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        galaxy = rng.uniform(10, 30) * np.exp(-(r**2) / (2 * (1.5 * seeing) ** 2))
        radius = rng.uniform(0.2, 0.3) * size
        ring = labels[i] * rng.uniform(4, 8) * np.exp(-((r - radius) ** 2) / (2 * seeing**2))
        colours = np.array([0.6, 1.0, 1.3])[:, None, None]
        ring_colours = np.array([1.3, 1.0, 0.7])[:, None, None]
        images[i] = (
            sky + colours * galaxy + ring_colours * ring + rng.normal(0, noise, (3, size, size))
        )
    return images, labels


def make_store(
    path: Path, n: int = 48, size: int = 32, seed: int = 0, shift: bool = False, **kwargs
) -> Path:
    images, labels = toy_images(n, size, seed, shift)
    split = np.zeros(n, np.int8)
    split[int(0.75 * n) :] = 1
    options = {
        "images": images,
        "labels": labels,
        "split": split,
        "split_names": ["train", "val"],
        "bands": ["g", "r", "i"],
        "pixel_scale": 0.168,
        "attrs": {"domain": "toy-hsc" if shift else "toy-sim"},
    }
    options.update(kwargs)
    write_store(path, **options)
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stores")
    return {
        "source": make_store(root / "source.zarr", n=64, seed=0),
        "target": make_store(root / "target.zarr", n=64, seed=1, shift=True),
    }


def _config(stores, out: Path, **changes) -> TrainConfig:
    settings = {
        "source": str(stores["source"]),
        "target": str(stores["target"]),
        "val": str(stores["target"]),
        "out": str(out),
        "epochs": 2,
        "batch_size": 16,
        "device": "cpu",
    }
    settings.update(changes)
    return TrainConfig(**settings)


def test_tiny_supervised_run_writes_a_complete_weights_folder(stores, tmp_path) -> None:
    out = train(_config(stores, tmp_path / "weights" / "tiny", epochs=3, lr=3e-3))
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "config.json",
        "config.toml",
        "curves.png",
        "model.json",
        "model.safetensors",
        "train.jsonl",
    ]
    assert not (tmp_path / "weights" / ".tiny.partial").exists()
    finder = load_model(out, device="cpu")
    card = finder.card
    assert (card.encoder, card.method, card.bands, card.input_size) == (
        "small_cnn",
        "supervised",
        ("g", "r", "i"),
        32,
    )
    assert card.normalisation["kind"] == "robust_asinh"
    assert card.selection["rule"] == "val_auroc" and 1 <= card.selection["epoch"] <= 3
    assert card.imbalance["strategy"] == "pos_weight" and card.imbalance["pos_weight"] > 0
    assert set(card.training["stores"]) == {"source", "target", "val", "source_val"}
    assert all(len(s["sha256"]) == 64 for s in card.training["stores"].values())
    assert card.provenance["command"] == "train" and card.provenance["seed"] == 0
    log = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert {"loss/classification", "val_auroc", "target_entropy", "source_val_auroc"} <= set(log[0])
    assert card.metrics["selected"]["val_auroc"] == max(r["val_auroc"] for r in log)
    # The toy lenses are easy: even a 3-epoch run separates them on held-out source items.
    assert log[-1]["source_val_auroc"] > 0.8
    images, labels = toy_images(40, 32, seed=7)
    scores = finder.score(images)
    assert scores[labels == 1].mean() > scores[labels == 0].mean()


def test_val_items_are_not_in_the_target_pool(stores, tmp_path) -> None:
    out = train(_config(stores, tmp_path / "m", epochs=1))
    card = load_model(out).card
    target, val = card.training["stores"]["target"], card.training["stores"]["val"]
    assert val["split"] == "val" and val["items"] == 16
    assert target["items"] == 64 - 16


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "model.safetensors"))


@pytest.mark.parametrize("method", ["adda", "self_ensembling"])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(stores, tmp_path, method) -> None:
    settings = {
        "epochs": 3,
        "method": method,
        "selection": "last",
        "max_source": 32,
        "max_target": 32,
    }
    reference = train(_config(stores, tmp_path / "a", **settings))

    def interrupt(epoch: int, record) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_config(stores, tmp_path / "b", **settings), on_epoch_end=interrupt)
    assert not (tmp_path / "b").exists()
    assert (tmp_path / ".b.partial" / "checkpoint.pt").is_file()
    with pytest.raises(UserError, match="pass `resume`"):
        train(_config(stores, tmp_path / "b", **settings))
    with pytest.raises(UserError, match=r"other settings .*lr"):
        train(_config(stores, tmp_path / "b", resume=True, lr=0.5, **settings))
    resumed = train(_config(stores, tmp_path / "b", resume=True, **settings))
    a, b = _weights(reference), _weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    log = [json.loads(line) for line in (resumed / "train.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]


def test_same_seed_same_weights_other_seed_other_weights(stores, tmp_path) -> None:
    settings = {"epochs": 1, "max_source": 16}
    a = _weights(train(_config(stores, tmp_path / "a", **settings)))
    b = _weights(train(_config(stores, tmp_path / "b", **settings)))
    c = _weights(train(_config(stores, tmp_path / "c", seed=1, **settings)))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_leaves_the_callers_random_state_alone(stores, tmp_path) -> None:
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    train(_config(stores, tmp_path / "m", epochs=1, max_source=16))
    assert torch.equal(torch.rand(3), expected)
    assert not torch.are_deterministic_algorithms_enabled()


def test_selection_without_labels_is_recorded(stores, tmp_path) -> None:
    out = train(
        _config(
            stores,
            tmp_path / "m",
            val=None,
            epochs=2,
            selection="min_target_entropy",
            max_source=32,
        )
    )
    card = load_model(out).card
    entropies = [r["target_entropy"] for r in card.metrics["epochs"]]
    assert card.selection["rule"] == "min_target_entropy"
    assert card.selection["value"] == min(entropies)
    assert card.selection["epoch"] == 1 + int(np.argmin(entropies))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"encoder": "vgg"}, "unknown encoder; choose one of small_cnn"),
        ({"method": "mixup"}, "unknown method; choose one of supervised, adabn, adda"),
        ({"method": "adda", "target": None, "val": None}, "needs an unlabelled target store"),
        ({"method_options": {"tau": 0.5}}, "not an option of supervised"),
        ({"selection": "val_auroc", "val": None}, "needs labelled target-validation"),
        ({"selection": "best"}, "unknown rule"),
        ({"source": "/nonexistent/x.zarr"}, "`source` /nonexistent/x.zarr: no such file"),
        ({"val_split": "test"}, "no split 'test'"),
        ({"batch_size": 1}, "at least 2"),
    ],
)
def test_bad_settings_fail_with_one_line_and_write_nothing(
    stores, tmp_path, changes, message
) -> None:
    with pytest.raises(UserError, match=message) as info:
        train(_config(stores, tmp_path / "weights" / "m", **changes))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "weights" / "m").exists()
    assert not (tmp_path / "weights" / ".m.partial").exists()


def test_the_settings_accept_the_selection_rules_there_are() -> None:
    from lensscan.training.selection import RULES

    assert tuple(RULES) == SELECTION_RULES


def test_incompatible_stores_are_refused(tmp_path, stores) -> None:
    small = make_store(tmp_path / "small.zarr", n=16, size=16)
    with pytest.raises(UserError, match=r"`target` .*cutouts"):
        train(_config(stores, tmp_path / "m", target=str(small), val=None))
    other = make_store(tmp_path / "iz.zarr", n=16, bands=["i", "z", "y"])
    with pytest.raises(UserError, match="bands i,z,y differ"):
        train(_config(stores, tmp_path / "m", val=str(other)))
    unlabelled = make_store(tmp_path / "u.zarr", n=16, labels=np.full(16, -1, np.int8))
    with pytest.raises(UserError, match="unlabelled; labels are needed"):
        train(_config(stores, tmp_path / "m", source=str(unlabelled)))
    tiny = make_store(tmp_path / "tiny.zarr", n=16, size=16)
    with pytest.raises(UserError, match="too small for encoder 'resnet34'"):
        train(
            _config(
                stores, tmp_path / "m", source=str(tiny), target=None, val=None, encoder="resnet34"
            )
        )


def test_existing_output_needs_overwrite(stores, tmp_path) -> None:
    out = tmp_path / "m"
    out.mkdir()
    with pytest.raises(UserError, match="already exists"):
        train(_config(stores, out, epochs=1))
    train(_config(stores, out, epochs=1, max_source=16, overwrite=True))
    assert (out / "model.json").is_file()


def test_init_checkpoint_initialises_the_encoder_and_is_recorded(stores, tmp_path) -> None:
    from safetensors.torch import save_file

    from lensscan.models import create_encoder

    torch.manual_seed(3)
    encoder = create_encoder("small_cnn", 3)
    checkpoint = tmp_path / "init.safetensors"
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(checkpoint))
    out = train(
        _config(stores, tmp_path / "m", epochs=1, max_source=16, init_checkpoint=str(checkpoint))
    )
    inputs = load_model(out).card.provenance["inputs"]
    assert any(record["path"] == str(checkpoint.resolve()) for record in inputs)
    with pytest.raises(UserError, match=r"`init_checkpoint` .*no such file"):
        train(_config(stores, tmp_path / "n", epochs=1, init_checkpoint=str(tmp_path / "absent")))


def test_step_progress_logs_off_a_terminal_at_most_once_an_interval(monkeypatch, caplog) -> None:
    import logging

    from lensscan.training import report

    clock = iter([0.0, 10.0, 61.0, 62.0, 130.0, 131.0])
    monkeypatch.setattr(report.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(report, "is_terminal", lambda: False)
    with (
        caplog.at_level(logging.INFO, logger="lensscan"),
        report.step_progress(10, "epoch 1/2") as advance,
    ):
        for _ in range(5):
            advance({"loss/classification": 0.5})
    lines = [r.getMessage() for r in caplog.records if "steps/s" in r.getMessage()]
    assert lines == [
        "epoch 1/2: step 2/10 (0.0 steps/s) loss/classification=0.5",
        "epoch 1/2: step 4/10 (0.0 steps/s) loss/classification=0.5",
    ]
