"""The package's layers: no import cycle, and lower layers never import higher ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "lensscan"

#: No file under lensscan/ is longer: past this a module holds more than one idea.
MAX_LINES = 500

#: Sub-packages each layer may not import (at module level or inside functions).
FORBIDDEN = {
    "lensscan.data": ("lensscan.scan", "lensscan.training", "lensscan.cli", "lensscan.inspect"),
    "lensscan.simulate": ("lensscan.scan", "lensscan.training", "lensscan.cli"),
    # Inside simulate, each sub-package builds on the ones before it: physics, populations,
    # domains; then the three products (cutouts, fields, inject) on top.
    "lensscan.simulate.physics": (
        "lensscan.simulate.populations",
        "lensscan.simulate.domains",
        "lensscan.simulate.cutouts",
        "lensscan.simulate.fields",
        "lensscan.simulate.inject",
    ),
    "lensscan.simulate.populations": (
        "lensscan.simulate.domains",
        "lensscan.simulate.cutouts",
        "lensscan.simulate.fields",
        "lensscan.simulate.inject",
    ),
    "lensscan.simulate.domains": (
        "lensscan.simulate.cutouts",
        "lensscan.simulate.fields",
        "lensscan.simulate.inject",
    ),
    "lensscan.simulate.cutouts": ("lensscan.simulate.fields", "lensscan.simulate.inject"),
    "lensscan.simulate.fields": ("lensscan.simulate.cutouts", "lensscan.simulate.inject"),
    "lensscan.models": ("lensscan.scan", "lensscan.training", "lensscan.cli"),
    "lensscan.bands": ("lensscan.data", "lensscan.simulate", "lensscan.scan", "lensscan.cli"),
    "lensscan.pixels": ("lensscan.data", "lensscan.simulate", "lensscan.scan", "lensscan.cli"),
    "lensscan.robust": ("lensscan.data", "lensscan.simulate", "lensscan.scan", "lensscan.cli"),
    "lensscan.catalog": ("lensscan.scan", "lensscan.training", "lensscan.cli"),
    "lensscan.evaluate": ("lensscan.scan", "lensscan.training", "lensscan.cli"),
    "lensscan.scan": ("lensscan.training", "lensscan.cli"),
    "lensscan.training": ("lensscan.scan", "lensscan.cli"),
    # The merge of defaults, settings file, variables and options knows no command: each
    # command's settings live beside its package and build on it.
    "lensscan.config": (
        "lensscan.adaptation_benchmark",
        "lensscan.cli",
        "lensscan.demo",
        "lensscan.evaluate",
        "lensscan.scan",
        "lensscan.simulate",
        "lensscan.survey_adapt",
        "lensscan.training",
    ),
}

#: The scan's stage modules, in the order a field goes through them: each may import the
#: stages before it, never one after it (``scanner`` orchestrates them all).
SCAN_STAGES = (
    "geometry",
    "inputs",
    "scoring",
    "detections",
    "chunks",
    "plan",
    "modes",
    "finalize",
    "cutouts",
    "scanner",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module_level_only: bool) -> set[str]:
    """lensscan modules a file imports (``TYPE_CHECKING`` blocks left out)."""
    found: set[str] = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lensscan"):
            # ``from lensscan.pkg import submodule`` imports the submodule too.
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lensscan"))
        elif not module_level_only:
            pending.extend(ast.iter_child_nodes(node))
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def module_graph() -> dict[str, set[str]]:
    """Each lensscan module -> the lensscan modules it imports, at module level or in functions.

    ``TYPE_CHECKING`` imports are left out (annotations only); a package's own ``__init__``
    importing its submodules is not an edge back.
    """
    graph = {}
    for name, path in MODULES.items():
        targets = {t for t in _imports(path, module_level_only=False) if t in MODULES}
        graph[name] = {t for t in targets if t != name and not name.startswith(f"{t}.")}
    return graph


def test_no_import_cycle() -> None:
    """No circle, counting imports inside functions (they only hide a circle, never break it)."""
    graph = module_graph()
    state: dict[str, int] = {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                cycle = [*trail[trail.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                walk(target, [*trail, target])
        state[node] = 2

    for name in graph:
        if name not in state:
            walk(name, [name])


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_never_import_higher_ones(layer: str) -> None:
    for name, path in MODULES.items():
        if name != layer and not name.startswith(f"{layer}."):
            continue
        for target in _imports(path, module_level_only=False):
            assert not target.startswith(FORBIDDEN[layer]), f"{name} imports {target}"


def test_scan_stages_import_only_earlier_stages() -> None:
    for k, stage in enumerate(SCAN_STAGES):
        later = {f"lensscan.scan.{name}" for name in SCAN_STAGES[k + 1 :]}
        imported = _imports(MODULES[f"lensscan.scan.{stage}"], module_level_only=False)
        assert not imported & later, f"lensscan.scan.{stage} imports {sorted(imported & later)}"


def test_no_file_is_longer_than_max_lines() -> None:
    lengths = {}
    for path in sorted(PACKAGE.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        try:
            lengths[path.relative_to(REPO_ROOT)] = len(path.read_text().splitlines())
        except UnicodeDecodeError:  # an image or other binary file has no lines to count
            continue
    too_long = [f"{path} ({n} lines)" for path, n in lengths.items() if n > MAX_LINES]
    assert not too_long, f"over {MAX_LINES} lines, split by concept: {', '.join(too_long)}"


def test_only_the_cli_imports_the_cli() -> None:
    for name, path in MODULES.items():
        if name.startswith("lensscan.cli") or name == "lensscan.__main__":
            continue
        imported = _imports(path, module_level_only=False)
        assert not any(t.startswith("lensscan.cli") for t in imported), name


def test_only_the_cli_sets_up_logging() -> None:
    for name, path in MODULES.items():
        if name.startswith("lensscan.cli") or name == "lensscan.progress":
            continue
        assert "configure_logging(" not in path.read_text(), name


if __name__ == "__main__":  # python3 tests/test_layers.py: print the module graph
    for module, targets in sorted(module_graph().items()):
        print(f"{module} -> {', '.join(sorted(targets)) or '-'}")
