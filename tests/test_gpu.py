"""CUDA paths: scoring and a mixed-precision training step agree with the CPU.

Marked ``gpu`` and skipped where no CUDA device is present (CI has none).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lensscan.data.store import write_store
from lensscan.models import create_lens_finder, load_model, save_model
from lensscan.training import train
from lensscan.training.settings import TrainConfig

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_cuda_scores_match_cpu(tmp_path) -> None:
    path = save_model(create_lens_finder("small_cnn", seed=3), tmp_path / "m")
    images = np.random.default_rng(0).normal(size=(64, 3, 64, 64)).astype(np.float32)
    cpu = load_model(path, device="cpu").score(images)
    gpu = load_model(path, device="cuda").score(images)
    assert gpu.shape == cpu.shape
    # AMP on CUDA: half-precision logits, so compare probabilities loosely.
    np.testing.assert_allclose(gpu, cpu, atol=2e-2)


def test_cuda_training_with_amp_writes_a_model(tmp_path) -> None:
    rng = np.random.default_rng(1)
    n = 64
    labels = (np.arange(n) % 2).astype(np.int8)
    images = rng.normal(size=(n, 3, 64, 64)).astype(np.float32)
    images[labels == 1, :, 28:36, 28:36] += 5.0
    for name in ("source.zarr", "target.zarr"):
        write_store(
            tmp_path / name,
            images=images,
            labels=labels,
            split=np.zeros(n, np.int8),
            split_names=["train"],
            bands=["g", "r", "i"],
            pixel_scale=0.168,
            attrs={"domain": "unit"},
        )
    out = train(
        TrainConfig(
            source=str(tmp_path / "source.zarr"),
            target=str(tmp_path / "target.zarr"),
            out=str(tmp_path / "weights" / "gpu"),
            method="dann",
            epochs=2,
            batch_size=16,
            device="cuda",
        )
    )
    finder = load_model(out, device="cuda")
    scores = finder.score(images)
    assert np.isfinite(scores).all()
    assert finder.card.method == "dann"
