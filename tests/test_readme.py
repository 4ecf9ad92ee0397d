"""The README, the documentation pages and what runs: CI runs the README's test command
verbatim, and the examples are real.

Every ``lensscan ...`` example of the README (its shell blocks and the example column of its
commands table) and of the documentation's Markdown pages (their shell blocks) parses with
the CLI as written (names, option values, required options), names models that exist or that
another example makes, and the cheap ones run as written. The README has an example of every
command, and its links to files of the repository lead somewhere.
"""

from __future__ import annotations

import itertools
import re
import shlex

import pytest
import typer.core
import typer.main
from conftest import REPO_ROOT

from lensscan.cli import app
from lensscan.models.manifest import load_manifest
from lensscan.models.weights import WEIGHTS_ENV

ROOT = typer.main.get_command(app)


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


# --- every `lensscan ...` example of the README and of the documentation ---

#: A model the README names only to illustrate an option (grid mode needs a model trained on
#: off-centre windows, which no example trains).
ILLUSTRATIVE_MODELS = {"weights/my-grid-finder"}

#: Examples cheap enough to run as written, in an empty folder, in this order.
RUN_AS_WRITTEN = [
    "lensscan models list",
    "lensscan models list --json",
    "lensscan models list --verify",
    "lensscan simulate-field --out data/small --size 1024 --bands i --n-lenses 5 --ra 30 --dec -4",
]


#: The documentation's Markdown pages whose shell blocks are checked: every page but the
#: generated ones (docs/commands/, written by the build) and the build output.
DOCS_PAGES = sorted(
    path
    for path in (REPO_ROOT / "docs").rglob("*.md")
    if not {"commands", "_build"} & set(path.relative_to(REPO_ROOT / "docs").parts[:1])
)


#: Fences read as shell: the README's blocks marked bash or sh, or not marked; the docs pages'
#: marked bash, sh or console (their unmarked blocks show output).
README_SHELL = ("bash", "sh", "")
DOCS_SHELL = ("bash", "sh", "console")

#: Shell lines that do not split into words (an unclosed quote), as "page: line".
UNSPLITTABLE: list[str] = []


def _examples(
    markdown: str, page: str, languages: tuple[str, ...], table_section: str | None = None
) -> list[list[str]]:
    """The argument lists (``lensscan`` dropped) of a page's shell examples.

    With ``table_section``, the ``lensscan ...`` code spans of the tables under that heading
    count too (the README's commands table gives one example per command).
    """
    lines = []
    for body in _shell_blocks(markdown, languages):
        lines += body.replace("\\\n", " ").splitlines()
    if table_section is not None:
        section = markdown.split(f"\n## {table_section}\n", 1)[1].split("\n## ", 1)[0]
        for row in section.splitlines():
            if row.startswith("|"):
                lines += re.findall(r"`(lensscan [^`]+)`", row)
    examples = []
    for line in lines:
        try:
            commands = _shell_commands(line)
        except ValueError:
            UNSPLITTABLE.append(f"{page}: {line}")
            continue
        for words in commands:
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]
            if words and words[0] == "lensscan":
                examples.append(words[1:])
    return examples


def _shell_blocks(markdown: str, languages: tuple[str, ...] = README_SHELL) -> list[str]:
    """The bodies of the fenced code blocks marked with one of ``languages``."""
    blocks, language, body = [], None, []
    for line in markdown.splitlines():
        if line.startswith("```"):
            if language is None:
                language, body = line[3:].strip(), []
            else:
                if language in languages:
                    blocks.append("\n".join(body) + "\n")
                language = None
        elif language is not None:
            body.append(line)
    return blocks


def _shell_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line (split at ``&&``, ``|``, ``;``), comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {"&&", "||", "|", ";"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return commands


README_EXAMPLES = _examples(
    (REPO_ROOT / "README.md").read_text(), "README.md", README_SHELL, table_section="Commands"
)
DOCS_EXAMPLES = {
    page: _examples(path.read_text(), page, DOCS_SHELL)
    for path in DOCS_PAGES
    for page in [str(path.relative_to(REPO_ROOT))]
}
EXAMPLES = README_EXAMPLES + [args for found in DOCS_EXAMPLES.values() for args in found]
LABELLED = [("README.md", args) for args in README_EXAMPLES] + [
    (page, args) for page, found in DOCS_EXAMPLES.items() for args in found
]


def _resolve(args: list[str]) -> tuple[typer.core.TyperCommand, list[str], list[str]]:
    """The command an example runs, its name words, and the arguments left for it."""
    command, path = ROOT, []
    while isinstance(command, typer.core.TyperGroup) and args and args[0] in command.commands:
        path.append(args[0])
        command, args = command.commands[args[0]], args[1:]
    return command, path, args


def test_the_readme_has_examples_of_every_command() -> None:
    assert len(README_EXAMPLES) >= len(ROOT.commands)
    assert len(EXAMPLES) > 50
    used = {tuple(_resolve(args)[1]) for args in README_EXAMPLES}
    for name, command in ROOT.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            assert any(path[:1] == (name,) and len(path) == 2 for path in used), name
        else:
            assert (name,) in used, name


def test_shell_examples_split_into_words() -> None:
    assert not UNSPLITTABLE, "unclosed quotes in shell examples:\n" + "\n".join(UNSPLITTABLE)


def test_the_documentation_has_pages_with_examples() -> None:
    pages = {str(path.relative_to(REPO_ROOT / "docs")) for path in DOCS_PAGES}
    assert {"index.md", "getting-started.md", "conventions.md"} <= pages
    assert sum(len(found) for found in DOCS_EXAMPLES.values()) > 50


@pytest.mark.parametrize(
    ("page", "args"), LABELLED, ids=[f"{page}: {' '.join(args)}" for page, args in LABELLED]
)
def test_example_parses_as_written(page: str, args: list[str]) -> None:
    command, path, rest = _resolve(args)
    assert not isinstance(command, typer.core.TyperGroup), (
        f"{page}: lensscan {' '.join(args)}: no such command"
    )
    if "..." in rest:
        # An outline ("lensscan train ... --val graded.zarr"): its options must still exist.
        known = {opt for param in command.params for opt in param.opts} | {"--help"}
        named = {word.split("=", 1)[0] for word in rest if word.startswith("--")}
        assert named <= known, f"lensscan {' '.join(path)}: no option {named - known}"
        return
    # Parsing checks names, values and required options without running the command.
    command.make_context(f"lensscan {' '.join(path)}", rest)


def test_readme_examples_name_models_that_exist_or_that_an_example_makes() -> None:
    made = {
        value
        for args in EXAMPLES
        for option, value in itertools.pairwise(args)
        if option in ("--out", "--work")
    }
    shipped = set(load_manifest().models) | {"default"}
    for args in EXAMPLES:
        for option, value in itertools.pairwise(args):
            if option not in ("--model", "--init-model"):
                continue
            name = value.removeprefix("weights/")
            ok = name in shipped or value in made or any(value.startswith(f"{m}/") for m in made)
            assert ok or value in ILLUSTRATIVE_MODELS, f"{option} {value}: {' '.join(args)}"


def test_cheap_readme_examples_run_as_written(runner, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    for example in RUN_AS_WRITTEN:
        args = shlex.split(example)[1:]
        assert args in EXAMPLES, f"{example!r} is no longer in the README or the docs"
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (example, result.output)
    assert (tmp_path / "data" / "small" / "calexp-HSC-I-9813-4,4.fits").is_file()


def test_the_readme_links_to_files_that_exist() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"^[a-z]+://", t)]
    assert local, "the README links to no documentation page"
    generated = ("docs/commands/",)  # written when the documentation is built
    for target in local:
        if not target.startswith(generated):
            assert (REPO_ROOT / target).exists(), f"README links to {target}, which does not exist"
