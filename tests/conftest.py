"""Shared fixtures: the real-data folder beside the checkout, a CLI runner, tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lensscan.models import create_lens_finder, save_model

REPO_ROOT = Path(__file__).resolve().parents[1]
REALDATA = REPO_ROOT.parent / "shared" / "realdata"

#: Headline metrics written into the card of the ``published`` fixture's first model.
HEADLINE = {"split": "hsc test", "auroc": 0.912, "tpr0": 0.12, "tpr10": 0.4}


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The real survey data in ../shared/realdata; skips the test when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA


@pytest.fixture
def runner() -> CliRunner:
    """A Typer CLI runner."""
    return CliRunner()


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder of two tiny real models, as a server or mirror would hold it."""
    root = tmp_path_factory.mktemp("published")
    save_model(create_lens_finder("small_cnn", seed=1), root / "tiny-a", metrics=HEADLINE)
    save_model(create_lens_finder("small_cnn", seed=2), root / "tiny-b", method="supervised")
    return root
