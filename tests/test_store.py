"""The cutout store: round trip, splits, validation."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from lensscan.data.store import CutoutStore, write_store
from lensscan.errors import UserError


def _write(path, images, **extra):
    n = images.shape[0]
    write_store(
        path,
        images=images,
        labels=np.array([1, 0] * (n // 2), dtype=np.int8),
        split=np.array([0] * (n - 2) + [1, 1], dtype=np.int8),
        split_names=["train", "test"],
        bands=["g", "r", "i"],
        pixel_scale=0.168,
        attrs={"domain": "unit"},
        params={"einstein_radius": np.linspace(0.5, 2.5, n)},
        **extra,
    )


def test_round_trip_numpy_and_dask(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 3, 8, 8)).astype(np.float32)
    _write(tmp_path / "a.zarr", images, chunk_items=4)
    _write(tmp_path / "b.zarr", da.from_array(images, chunks=(2, 3, 8, 8)), chunk_items=4)
    for name in ("a.zarr", "b.zarr"):
        store = CutoutStore.open(tmp_path / name)
        assert len(store) == 6
        assert store.bands == ("g", "r", "i")
        assert store.pixel_scale == pytest.approx(0.168)
        assert store.image_shape == (3, 8, 8)
        np.testing.assert_array_equal(store.read_images(), images)
        np.testing.assert_array_equal(store.read_images(np.array([4, 1])), images[[4, 1]])
        np.testing.assert_array_equal(store.split_indices("test"), [4, 5])
        assert store.splits_present() == ["train", "test"]
        np.testing.assert_allclose(store.params()["einstein_radius"][-1], 2.5)
        assert store.attrs["domain"] == "unit"


def test_missing_split_names_the_present_ones(tmp_path) -> None:
    _write(tmp_path / "s.zarr", np.zeros((4, 3, 8, 8), np.float32))
    store = CutoutStore.open(tmp_path / "s.zarr")
    with pytest.raises(UserError, match="splits present: train, test"):
        store.split_indices("val")


def test_incomplete_store_is_refused(tmp_path) -> None:
    import zarr

    path = tmp_path / "half.zarr"
    _write(path, np.zeros((4, 3, 8, 8), np.float32))
    zarr.open_group(str(path), mode="r+").attrs["complete"] = False
    with pytest.raises(UserError, match="incomplete"):
        CutoutStore.open(path)


def test_not_a_store_is_refused(tmp_path) -> None:
    with pytest.raises(UserError, match="no such file"):
        CutoutStore.open(tmp_path / "missing.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match="not a"):
        CutoutStore.open(tmp_path / "plain")
