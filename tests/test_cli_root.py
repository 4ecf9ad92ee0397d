"""The root command: help, version and ``python -m lensscan``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer.core
import typer.main

from lensscan import __version__
from lensscan.cli import app

ROOT = typer.main.get_command(app)

#: Wide enough that no option name or type is wrapped in the help table.
WIDE = {"COLUMNS": "200"}


def _command_paths(group: typer.core.TyperGroup, prefix: tuple[str, ...] = ()) -> list:
    """Every command and sub-group below ``group``, as argument tuples."""
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, typer.core.TyperGroup):
            paths += _command_paths(command, (*prefix, name))
    return paths


COMMAND_PATHS = _command_paths(ROOT)


def _command(path: tuple[str, ...]):
    command = ROOT
    for name in path:
        command = command.commands[name]
    return command


def test_help_lists_every_command(runner) -> None:
    result = runner.invoke(app, ["--help"], env=WIDE)
    assert result.exit_code == 0
    rows = {line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")}
    assert set(ROOT.commands) <= rows
    assert {"simulate", "simulate-field", "import", "scan", "models", "grades"} <= rows
    for path in COMMAND_PATHS:
        command = _command(path)
        if isinstance(command, typer.core.TyperGroup):
            result = runner.invoke(app, [*path, "--help"], env=WIDE)
            rows = {line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")}
            assert set(command.commands) <= rows, path


@pytest.mark.parametrize("path", [(), *COMMAND_PATHS], ids=lambda p: " ".join(p) or "root")
def test_help_shows_flags_without_a_value_type(runner, path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    flags = ["--help"] + [
        name
        for param in _command(path).params
        if isinstance(param, typer.core.TyperOption) and param.is_flag
        for name in param.opts
        if name.startswith("--")
    ]
    for flag in flags:
        # The row is "│ [*] --flag  [<type>]  help"; a flag has no type.
        row = re.search(rf"│[ *]*{re.escape(flag)}(?=\s)(.*)", result.output)
        assert row is not None, (flag, result.output)
        assert not row.group(1).lstrip().startswith("<"), row.group(0)


def test_options_that_take_a_value_still_show_its_type(runner) -> None:
    result = runner.invoke(app, ["scan", "--help"], env=WIDE)
    assert re.search(r"--threshold +<float>", result.output)
    assert re.search(r"--tta +Average", result.output)


def test_version(runner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lensscan", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"lensscan {__version__}"
