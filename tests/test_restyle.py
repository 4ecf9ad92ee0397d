"""Display restyling of training items: 8-bit, per-band [0, 1], seeded, used by train."""

from __future__ import annotations

import numpy as np
import pytest

from lensscan.data.restyle import LEVELS, restyle
from lensscan.errors import UserError
from lensscan.training.settings import TrainConfig


def _flux(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.05, (6, 3, 16, 16))
    images[:, :, 6:10, 6:10] += rng.uniform(1.0, 20.0, (6, 3, 1, 1))
    return images.astype(np.float32)


def test_restyled_images_are_8_bit_per_band_unit_range() -> None:
    out = restyle(_flux(), np.random.default_rng(1))
    assert out.shape == (6, 3, 16, 16) and out.dtype == np.float32
    assert np.allclose(out.min(axis=(2, 3)), 0.0)
    assert np.allclose(out.max(axis=(2, 3)), 1.0)
    for band in out.reshape(-1, 256):
        assert len(np.unique(band)) <= LEVELS + 1


def test_restyle_is_seeded_and_blind_to_flux_units() -> None:
    images = _flux()
    first = restyle(images, np.random.default_rng(3))
    assert np.array_equal(first, restyle(images, np.random.default_rng(3)))
    # A zero point or gain change rescales the flux; the display image is the same.
    rescaled = restyle(images * 37.0 + 2.0, np.random.default_rng(3))
    assert np.abs(rescaled - first).max() <= 1.0 / LEVELS + 1e-6
    assert not np.array_equal(first, restyle(images, np.random.default_rng(4)))


def test_restyle_share_is_checked() -> None:
    with pytest.raises(UserError, match="restyle"):
        TrainConfig(out="x", source="s.zarr", restyle=1.5)
    assert TrainConfig(out="x", source="s.zarr", restyle=0.25).restyle == 0.25


def test_training_data_restyles_the_share_asked(tmp_path) -> None:
    import torch

    from lensscan.data.normalize import RobustAsinh
    from lensscan.data.store import write_store
    from lensscan.training.data import load_training_data

    images = np.concatenate([_flux(k) for k in range(10)])
    labels = np.array([0, 1] * 30, np.int8)
    store = tmp_path / "s.zarr"
    write_store(
        store,
        images=images,
        labels=labels,
        split=np.zeros(len(labels), np.int8),
        split_names=["train"],
        bands=("g", "r", "i"),
        pixel_scale=0.168,
        attrs={},
    )
    norm = RobustAsinh()
    plain = load_training_data(
        TrainConfig(out="a", source=str(store), encoder="small_cnn"), norm, torch.device("cpu")
    )
    styled = load_training_data(
        TrainConfig(out="a", source=str(store), encoder="small_cnn", restyle=0.5),
        norm,
        torch.device("cpu"),
    )
    changed = (plain.source.images - styled.source.images).abs().amax(dim=(1, 2, 3)) > 1e-4
    assert 15 <= int(changed.sum()) <= 45
    assert torch.equal(plain.source.labels, styled.source.labels)
