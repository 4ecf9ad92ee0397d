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
