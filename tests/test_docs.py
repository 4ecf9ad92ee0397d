"""The documentation site builds with warnings as errors, and the files around it agree.

The build runs Sphinx in a subprocess into a temporary folder (the generated command pages
are written into ``docs/commands/``, which git ignores); it takes about 25 s on two cores.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest
import typer.core
import typer.main
import yaml
from conftest import REPO_ROOT

from lensscan import __version__
from lensscan.cli import app

DOCS = REPO_ROOT / "docs"


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    for module in ("sphinx", "myst_parser", "pydata_sphinx_theme"):
        pytest.importorskip(module, reason="the docs extra is not installed (pip install .[docs])")
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"),
            *("-d", str(out / ".doctrees"), str(DOCS), str(out / "html")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "html"


def test_the_site_builds_with_warnings_as_errors(built_site) -> None:
    for page in ("index", "getting-started", "conventions", "performance", "contributing"):
        assert (built_site / f"{page}.html").is_file(), page


def test_every_command_has_a_generated_page(built_site) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    for name, command in root.commands.items():
        page = (built_site / "commands" / f"{name}.html").read_text()
        assert f"lensscan {name}" in page
        if isinstance(command, typer.core.TyperGroup):
            for sub in command.commands:
                assert (built_site / "commands" / f"{name}-{sub}.html").is_file(), (name, sub)
        else:
            for param in command.params:
                for opt in param.opts:
                    if opt.startswith("--"):
                        assert opt in page, (name, opt)


def test_the_model_cards_table_comes_from_the_cards(built_site) -> None:
    page = (built_site / "models" / "index.html").read_text()
    for card_file in sorted((REPO_ROOT / "weights").glob("*/model.json")):
        card = json.loads(card_file.read_text())
        assert card["name"] in page
        assert card["weights_sha256"][:12] in page
        headline = card["metrics"]["headline"]
        assert f"{headline['auroc']:.3f}" in page


def test_the_api_reference_documents_the_three_packages(built_site) -> None:
    for package, name in (("models", "load_model"), ("scan", "tiling"), ("catalog", "schema")):
        page = (built_site / "api" / f"{package}.html").read_text()
        assert name in page, (package, name)
        # autodoc's reStructuredText was parsed as such, not shown as Markdown text.
        assert ".. py:" not in page and ":param " not in page, package
        assert 'class="sig sig-object py"' in page, package


def test_the_readme_images_are_in_the_docs_folder() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (REPO_ROOT / image).is_file(), image


def test_the_license_is_what_pyproject_says() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"]["text"] == "BSD-3-Clause"
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "the lensscan developers" in text


def test_the_citation_file_names_this_version() -> None:
    citation = yaml.safe_load((REPO_ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "version"} <= set(citation)
    assert str(citation["version"]) == __version__
    assert citation["license"] == "BSD-3-Clause"


def test_the_changelog_starts_with_this_version() -> None:
    versions = re.findall(r"^## \[([^\]]+)\]", (REPO_ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    assert versions, "no '## [version]' heading"
    assert versions[0] in (__version__, "Unreleased")
    assert __version__ in versions[:2]
