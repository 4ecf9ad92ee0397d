"""Method and encoder names: ``-`` and ``_`` alike, in options and in config files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lensscan.adaptation_benchmark.plan import make_plan
from lensscan.adaptation_benchmark.settings import BenchmarkConfig
from lensscan.config import resolve_config
from lensscan.errors import UserError
from lensscan.naming import canonical_name
from lensscan.training.loop import validate
from lensscan.training.settings import TrainConfig


def test_canonical_name() -> None:
    assert canonical_name(" self-ensembling ") == "self_ensembling"
    assert canonical_name("efficientnet_b2") == "efficientnet_b2"


def test_train_config_file_accepts_hyphenated_method_and_encoder(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text(
        'out = "w/se"\nsource = "s.zarr"\ntarget = "t.zarr"\n'
        'method = "self-ensembling"\nencoder = "small-cnn"\n'
    )
    settings = validate(resolve_config(TrainConfig, toml))
    assert (settings.method, settings.encoder) == ("self_ensembling", "small_cnn")
    same = validate(resolve_config(TrainConfig, toml, {"method": "self_ensembling"}))
    assert (same.method, same.encoder) == ("self_ensembling", "small_cnn")


def test_benchmark_config_file_accepts_hyphenated_names(tmp_path: Path) -> None:
    toml = tmp_path / "bench.toml"
    toml.write_text('methods = ["self-ensembling", "adabn"]\nencoders = ["small-cnn"]\n')
    plan = make_plan(resolve_config(BenchmarkConfig, toml))
    assert plan.methods == ("self_ensembling", "adabn")
    assert plan.encoders == ("small_cnn",)


def test_an_unknown_name_is_still_refused(tmp_path: Path) -> None:
    toml = tmp_path / "train.toml"
    toml.write_text('out = "w/x"\nsource = "s.zarr"\nmethod = "self-assembling"\n')
    with pytest.raises(UserError, match="unknown method"):
        validate(resolve_config(TrainConfig, toml))
