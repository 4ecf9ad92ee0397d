"""Library messages name settings, not flags; the command line shows them as options.

Errors and log records below ``lensscan/`` (outside ``cli/``) name a setting in backticks
(```overwrite```), and the CLI turns that into ``--overwrite``; a flag written into the
library would be wrong for its Python callers. Genuine command lines the library writes
(a batch script's directives, the ``lensscan`` command a benchmark runs) are listed here
with the reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import typer.main

import lensscan
from lensscan.cli import app
from lensscan.errors import option_name, setting_references

PACKAGE = Path(lensscan.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")

# (module, flag): why the library writes this flag.
COMMAND_LINES: dict[tuple[str, str], str] = {
    ("training/report.py", "--config"): (
        "the header comment of a run's config.toml says how to reuse the file on the "
        "command line; the file is recorded output and stays as it was"
    ),
    ("scan/cluster.py", "--gres"): "the Slurm job directive that requests GPUs (sbatch's option)",
    ("models/weights.py", "--out"): (
        "the shell command that trains the missing default model (`lensscan train ... --out "
        "weights/NAME`), the same whether lensscan was called from Python or the command line"
    ),
}


def _library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts)


def _docstrings(tree: ast.AST) -> set[int]:
    """Bare string expressions: docstrings of modules, classes, functions and attributes."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def _strings(path: Path) -> list[str]:
    """The string constants of a module (f-string parts included), docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = _docstrings(tree)
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def _cli_options() -> set[str]:
    options: set[str] = set()

    def walk(command: click.Command) -> None:
        for param in command.params:
            options.update(o for o in param.opts if o.startswith("--"))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return options


def test_library_messages_mention_no_flag() -> None:
    found = []
    for path in _library_modules():
        module = str(path.relative_to(PACKAGE))
        for text in _strings(path):
            for flag in FLAG.findall(text):
                if (module, flag) not in COMMAND_LINES:
                    found.append(f"{module}: {flag} in {text!r}")
    assert not found, "\n".join(found)


def _setting_error_names(path: Path) -> list[str]:
    """Settings named literally by ``SettingError(name, ...)`` and ``check_ranges`` entries."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        called = getattr(node.func, "id", getattr(node.func, "attr", None))
        if called == "SettingError" and node.args and isinstance(node.args[0], ast.Constant):
            names.append(node.args[0].value)
        elif called == "check_ranges" and node.args and isinstance(node.args[0], ast.List):
            for check in node.args[0].elts:
                if isinstance(check, ast.Tuple) and isinstance(check.elts[0], ast.Constant):
                    names.append(check.elts[0].value)
    return names


# Settings that only Python callers can get wrong: the command line cannot give them.
PYTHON_ONLY_SETTINGS = {"method_options": "train's options table, type-checked from the CLI"}


def test_every_setting_a_message_names_is_an_option() -> None:
    options = _cli_options()
    unknown = []
    for path in _library_modules():
        module = path.relative_to(PACKAGE)
        named = [(setting, text) for text in _strings(path) for setting in setting_references(text)]
        named += [(setting, "SettingError/check_ranges") for setting in _setting_error_names(path)]
        for setting, where in named:
            if option_name(setting) not in options and setting not in PYTHON_ONLY_SETTINGS:
                unknown.append(f"{module}: `{setting}` in {where!r}")
    assert not unknown, "\n".join(unknown)
