"""Settings files: every value is type-checked against its setting, in one place."""

from __future__ import annotations

import pytest

from lensscan.cli import app
from lensscan.config import EvaluateConfig, ScanConfig, TrainConfig, resolve_config
from lensscan.errors import UserError


@pytest.mark.parametrize(
    ("cls", "text", "message"),
    [
        (ScanConfig, 'chunk_size = "1024"\n', "setting chunk_size: '1024' does not fit"),
        (EvaluateConfig, 'bootstrap = "many"\n', "setting bootstrap: 'many' does not fit"),
        (EvaluateConfig, "threshold = true\n", "setting threshold: True does not fit"),
        (ScanConfig, "bands = 3\n", "setting bands: 3 does not fit"),
    ],
)
def test_a_wrong_type_in_a_file_names_the_file_and_setting(tmp_path, cls, text, message) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as raised:
        resolve_config(cls, path)
    assert str(path) in str(raised.value)


def test_valid_files_resolve_with_lists_as_tuples(tmp_path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('chunk_size = 512\nbands = ["g", "r"]\nthreshold = 1\n')
    config = resolve_config(ScanConfig, path)
    assert config.chunk_size == 512 and config.bands == ("g", "r") and config.threshold == 1
    path.write_text('out = "w"\nlr = 1\n[method_options]\ntau = 0.9\n')
    assert resolve_config(TrainConfig, path).method_options == {"tau": 0.9}


def test_the_cli_turns_a_wrong_type_into_one_line(runner, tmp_path) -> None:
    path = tmp_path / "evaluate.toml"
    path.write_text('bootstrap = "many"\n')
    result = runner.invoke(app, ["evaluate", "--config", str(path), "--data", str(tmp_path)])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "setting bootstrap" in result.output
