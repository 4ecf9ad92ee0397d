"""The README quick start and CI must agree: CI runs the README's test command verbatim."""

from __future__ import annotations

import re

from conftest import REPO_ROOT


def _quick_start_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2, commands
    assert "install.sh" in commands[0] and "lensscan demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci_lines = [
        line.strip()
        for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    test_command = _quick_start_commands()[1]
    assert test_command in ci_lines


def test_dockerfile_installs_with_the_shared_script() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "bash .ci/install.sh" in dockerfile
    assert 'ENTRYPOINT ["lensscan"]' in dockerfile


def test_readme_scan_examples_use_only_real_options() -> None:
    import shlex

    import typer

    from lensscan.cli import app

    command = typer.main.get_command(app).commands["scan"]
    options = {name for param in command.params for name in param.opts}
    # Fences alternate open / close, so every other piece between them is code.
    code = (REPO_ROOT / "README.md").read_text().split("\n```")[1::2]
    examples = [
        line.split(" #")[0]
        for block in code
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("lensscan scan")
    ]
    assert len(examples) >= 10
    for example in examples:
        used = {word.split("=")[0] for word in shlex.split(example) if word.startswith("--")}
        assert used <= options, (example, used - options)
