"""Library errors name settings as Python callers know them; the CLI names the options."""

from __future__ import annotations

import pytest

from lensscan.cli import app
from lensscan.errors import SettingError, UserError, as_options, check_ranges, setting_references
from lensscan.models.finder import select_device
from lensscan.simulate.inject.request import InjectionRequest


def test_a_setting_error_speaks_python_in_the_library() -> None:
    with pytest.raises(SettingError) as caught:
        select_device("tpu")
    assert str(caught.value).startswith("`device` 'tpu': not a device")
    assert caught.value.cli_message().startswith("--device 'tpu': not a device")
    with pytest.raises(SettingError, match=r"^`min_arc_snr` -1: out of range$"):
        InjectionRequest(backgrounds=("x",), min_arc_snr=-1)
    with pytest.raises(SettingError, match=r"^`chunk_size` 0: out of range$"):
        check_ranges([("chunk_size", 0, False)])


def test_the_cli_names_the_option(runner, tmp_path) -> None:
    result = runner.invoke(
        app, ["simulate", "--domain", "inject", "--backgrounds", "x", "--min-arc-snr", "-1",
              "--out", str(tmp_path / "a.zarr")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip() == "lensscan: error: --min-arc-snr -1.0: out of range"


def test_messages_name_settings_in_backticks_and_the_cli_shows_options() -> None:
    error = UserError("`jobs`/`adapt`: give one of them; pass `init_model` or `overwrite`")
    assert (
        error.cli_message() == "--jobs/--adapt: give one of them; pass --init-model or --overwrite"
    )
    assert setting_references(str(error)) == ["jobs", "adapt", "init_model", "overwrite"]
    # Only identifiers in backticks are settings; other text is left as it is.
    assert as_options("a `B` or ``c`` {'d': 1}") == "a `B` or ``c`` {'d': 1}"


def test_log_lines_show_options_but_tracebacks_stay_as_they_are() -> None:
    import logging
    import sys

    from lensscan.progress import _OptionsFormatter

    try:
        raise RuntimeError("bad `threshold`")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "lensscan", logging.ERROR, __file__, 1, "`threshold` %s", ("x",), exc_info
    )
    text = _OptionsFormatter("%(message)s").format(record)
    assert text.startswith("--threshold x\n") and text.endswith("RuntimeError: bad `threshold`")
