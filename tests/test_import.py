"""Labelled folders in the DeepLense layout and ``lensscan import``."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from lensscan.cli import app
from lensscan.data.folders import read_labelled_folder
from lensscan.data.store import CutoutStore
from lensscan.errors import UserError


@pytest.fixture
def labelled_folder(tmp_path):
    root = tmp_path / "cutouts"
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for kind, count in (("lenses", 2), ("nonlenses", 3)):
            folder = root / f"{split}_{kind}"
            folder.mkdir(parents=True)
            for k in range(1, count + 1):
                np.save(folder / f"{k}.npy", rng.random((3, 16, 16), dtype=np.float32))
    fits.PrimaryHDU(rng.random((3, 16, 16), dtype=np.float32)).writeto(
        root / "test_lenses" / "10.fits"
    )
    return root


def test_read_folder_split_and_order(labelled_folder) -> None:
    data = read_labelled_folder(labelled_folder, split="test")
    assert data.images.shape == (6, 3, 16, 16)
    assert data.labels.tolist() == [1, 1, 1, 0, 0, 0]
    assert [p.rsplit("/", 1)[1] for p in data.files[:3]] == ["1.npy", "2.npy", "10.fits"]
    assert set(data.splits) == {"test"}


def test_single_band_arrays_gain_a_channel_axis(tmp_path) -> None:
    for kind in ("lenses", "nonlenses"):
        (tmp_path / kind).mkdir()
        np.save(tmp_path / kind / "a.npy", np.ones((16, 16), np.float32))
    data = read_labelled_folder(tmp_path)
    assert data.images.shape == (2, 1, 16, 16)
    assert set(data.splits) == {"all"}


def test_unknown_split_and_mixed_shapes(labelled_folder) -> None:
    with pytest.raises(UserError, match="splits present: test, train"):
        read_labelled_folder(labelled_folder, split="val")
    np.save(labelled_folder / "train_lenses" / "odd.npy", np.ones((3, 8, 8), np.float32))
    with pytest.raises(UserError, match="differ in shape"):
        read_labelled_folder(labelled_folder)


def test_import_cli_round_trip(runner, labelled_folder, tmp_path) -> None:
    out = tmp_path / "store.zarr"
    result = runner.invoke(app, ["import", str(labelled_folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert store.splits_present() == ["train", "test"]
    assert store.bands == ("g", "r", "i")
    assert int(store.labels.sum()) == 5
    assert store.attrs["provenance"]["command"] == "import"
    again = runner.invoke(app, ["import", str(labelled_folder), "--out", str(out)])
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_import_cli_rejects_wrong_band_count(runner, labelled_folder, tmp_path) -> None:
    result = runner.invoke(
        app, ["import", str(labelled_folder), "--out", str(tmp_path / "x.zarr"), "--bands", "i"]
    )
    assert result.exit_code == 2
    assert "3 channels" in result.output
    assert not (tmp_path / "x.zarr").exists()


def test_import_help(runner) -> None:
    result = runner.invoke(app, ["import", "--help"])
    assert result.exit_code == 0
    assert "--out" in result.output


@pytest.mark.realdata
def test_import_real_hsc_sample(runner, realdata, tmp_path) -> None:
    out = tmp_path / "hsc40.zarr"
    source = realdata / "hsc_gri_sample40"
    result = runner.invoke(
        app, ["import", str(source), "--out", str(out), "--pixel-scale", "0.168"]
    )
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert len(store) == 40
    assert store.image_shape == (3, 64, 64)
    test = store.split_indices("test")
    assert int((store.labels[test] == 1).sum()) == 10
    images = store.read_images(test)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
