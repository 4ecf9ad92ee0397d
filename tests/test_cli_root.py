"""The root command: help, version and ``python -m lensscan``."""

from __future__ import annotations

import subprocess
import sys

from lensscan import __version__
from lensscan.cli import app


def test_help_lists_every_command(runner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "simulate-field", "import"):
        assert command in result.output


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
