"""The parts of the lensscan documentation generated from the code itself.

- ``docs/commands/``: one page per command (and per subcommand of a group), written when the
  build starts from the Typer app's command tree; each page's ``{lensscan-command}``
  directive renders the command's help, usage and options from the command itself. A new
  command gets its page without anyone writing one; the folder is generated (git ignores it).
  (sphinx-click cannot be used: Typer >= 0.26 vendors its own click, whose commands
  sphinx-click refuses.)
- ``{model-cards}``: the shipped models' cards (``weights/*/model.json``) as two tables, what
  each model is and every figure recorded under ``metrics.evaluations``.
- ``{api-package} lensscan.scan``: the package and each of its modules through autodoc, so a
  module added to (or removed from) a package needs no edit here.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
from pathlib import Path
from typing import Any

import typer.core
import typer.main
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from typer import _click as click

from lensscan.cli import app

DOCS = Path(__file__).resolve().parent.parent
REPO = DOCS.parent
COMMANDS_DIR = DOCS / "commands"
WEIGHTS_DIR = REPO / "weights"

#: The root click command of the Typer app (what ``lensscan`` runs).
cli = typer.main.get_command(app)


def commands() -> dict[str, click.Command]:
    """Every command as ``"scan"`` or ``"models list"`` -> its click command, in CLI order."""
    found: dict[str, click.Command] = {}
    assert isinstance(cli, typer.core.TyperGroup)
    for name, command in cli.commands.items():
        if command.hidden:
            continue
        found[name] = command
        if isinstance(command, typer.core.TyperGroup):
            for sub_name, sub in command.commands.items():
                if not sub.hidden:
                    found[f"{name} {sub_name}"] = sub
    return found


def _page_name(path: str) -> str:
    return path.replace(" ", "-")


#: The page that explains a command, where it is not ``guide/<command>.md``.
GUIDE_PAGES = {
    "simulate-field": "guide/simulate",
    "import": "guide/stores",
    "cutouts": "guide/stores",
    "recipe": "guide/train",
    "benchmark": "methods/benchmark",
    "download": "guide/models",
    "grades": "guide/inspect",
}


def _command_page(path: str, command: click.Command) -> str:
    lines = []
    top = path.split()[0]
    guide = DOCS / f"{GUIDE_PAGES.get(top, f'guide/{top}')}.md"
    if isinstance(command, typer.core.TyperGroup):
        subs = [p for p in commands() if p.startswith(f"{path} ")]
        body = ", ".join(f"[`lensscan {p}`]({_page_name(p)}.md)" for p in subs)
        lines.append(f"Subcommands: {body}.")
    if guide.is_file():
        lines.append(f"How to use it: [](../{guide.relative_to(DOCS).as_posix()}).")
    head = f"# lensscan {path}\n\n```{{lensscan-command}} {path}\n```\n"
    return head + "".join(f"\n{line}\n" for line in lines)


def _commands_index() -> str:
    rows = ["| command | what it does |", "|---|---|"]
    for path, command in commands().items():
        summary = (command.get_short_help_str(limit=120) or "").replace("|", "\\|")
        rows.append(f"| [`lensscan {path}`]({_page_name(path)}.md) | {summary} |")
    toctree = ["```{toctree}", ":hidden:", ""] + [_page_name(p) for p in commands()] + ["```"]
    return (
        "# Commands\n\n"
        "One page per command, generated from the command line itself when the documentation "
        "is built (the same text as `lensscan COMMAND --help`). Every command takes "
        "`--help`; the [user guide](../guide/index.md) explains what they do together.\n\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(toctree)
        + "\n"
    )


def _write_if_changed(path: Path, text: str) -> None:
    # Rewriting an unchanged page would make Sphinx read it again on every build.
    if not path.is_file() or path.read_text() != text:
        # A name of this process's own: two builds at once (two test runs) may both write.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(path)


def generate_command_pages(app_: Sphinx) -> None:
    """Write ``docs/commands/*.md`` from the CLI; remove pages of commands that are gone."""
    COMMANDS_DIR.mkdir(exist_ok=True)
    wanted = {"index.md": _commands_index()}
    for path, command in commands().items():
        wanted[f"{_page_name(path)}.md"] = _command_page(path, command)
    for name, text in wanted.items():
        _write_if_changed(COMMANDS_DIR / name, text)
    for stale in COMMANDS_DIR.glob("*.md"):
        if stale.name not in wanted:
            stale.unlink(missing_ok=True)


def _help_paragraphs(text: str | None) -> list[str]:
    text = (text or "").replace("\b\n", "")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _table_node(header: list[str], rows: list[list[nodes.Node]], widths: list[int]) -> nodes.table:
    table = nodes.table(classes=["lensscan-options"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for title in header:
        row += nodes.entry("", nodes.paragraph(text=title))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", cell)
        body += row
    return table


class LensscanCommand(SphinxDirective):
    """``{lensscan-command} scan``: a command's help, usage and options, from the CLI."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = False

    def run(self) -> list[nodes.Node]:
        """The command's help paragraphs, usage line and option table."""
        path = self.arguments[0]
        command = commands().get(path)
        if command is None:
            raise self.error(f"no command 'lensscan {path}'")
        ctx = click.Context(command, info_name=f"lensscan {path}")
        result: list[nodes.Node] = [
            nodes.paragraph(text=paragraph) for paragraph in _help_paragraphs(command.help)
        ]
        usage = command.get_usage(ctx).strip()
        result.append(nodes.literal_block(usage, usage, language="text"))
        if isinstance(command, typer.core.TyperGroup):
            return result
        rows = []
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or param.hidden:
                continue
            names, help_text = record
            names_cell = nodes.paragraph()
            names_cell += nodes.literal(names, names)
            if getattr(param, "required", False):
                names_cell += nodes.Text(" (required)")
            rows.append([names_cell, nodes.paragraph(text=" ".join(help_text.split()))])
        if rows:
            result.append(_table_node(["option", "meaning"], rows, [35, 65]))
        return result


# --- model cards ---------------------------------------------------------------------------


def _cards() -> list[dict[str, Any]]:
    cards = []
    for card_file in sorted(WEIGHTS_DIR.glob("*/model.json")):
        cards.append(json.loads(card_file.read_text()))
    return cards


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _with_interval(evaluation: dict[str, Any], key: str) -> str:
    value = evaluation.get(key)
    low, high = (evaluation.get("ci95", {}).get(key) or [None, None])[:2]
    if value is None:
        return "–"
    if low is None or high is None:
        return _fmt(value)
    return f"{_fmt(value)} ({_fmt(low)}-{_fmt(high)})"


def _normalisation(card: dict[str, Any]) -> str:
    norm = dict(card.get("normalisation") or {})
    kind = norm.pop("kind", "?")
    return f"{kind} ({', '.join(f'{k}={v}' for k, v in norm.items())})" if norm else kind


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def model_cards_markdown() -> str:
    """The cards of ``weights/*/model.json`` as two Markdown tables."""
    cards = _cards()
    about = []
    for card in cards:
        size = (WEIGHTS_DIR / card["name"] / "model.safetensors").stat().st_size
        selection = card.get("selection") or {}
        members = card.get("members", 1)
        about.append(
            [
                f"`{card['name']}`",
                card["encoder"] + (f" x {members}" if members > 1 else ""),
                card["method"],
                "".join(card["bands"]),
                f'{card["input_size"]} px, {card["pixel_scale"]}"/px',
                (
                    "per member"
                    if members > 1
                    else str(selection.get("rule", "–"))
                    + (f", epoch {selection['epoch']}" if "epoch" in selection else "")
                ),
                f"{size / 1e3:,.0f} kB, `{(card.get('weights_sha256') or '')[:12]}`",
            ]
        )
    normalisations = sorted({_normalisation(card) for card in cards})
    figures = []
    for card in cards:
        headline = (card.get("metrics") or {}).get("headline", {}).get("split")
        evaluations = (card.get("metrics") or {}).get("evaluations", {})
        for label, ev in evaluations.items():
            figures.append(
                [
                    f"`{card['name']}`",
                    f"**{label}**" if label == headline else label,
                    f"{ev.get('n_lenses', 0):,} + {ev.get('n_nonlenses', 0):,}",
                    _with_interval(ev, "auroc"),
                    _with_interval(ev, "tpr0"),
                    _with_interval(ev, "tpr10"),
                    _with_interval(ev, "tpr_at_fpr_1e-2"),
                    _fmt(ev.get("fpr_at_tpr_0.75")),
                    str(ev.get("evaluated_utc", "–"))[:10],
                ]
            )
    return (
        _table(
            ["model", "encoder", "method", "bands", "input", "selection", "weights, SHA-256"],
            about,
        )
        + "\n\nNormalisation (part of the model, applied to every cutout it scores): "
        + "; ".join(f"`{n}`" for n in normalisations)
        + ".\n\n"
        + "Every evaluation recorded in the cards (`metrics.evaluations`; lenses + non-lenses, "
        "95% bootstrap intervals; the headline test of each model, the one "
        "`lensscan models list` shows, in bold):\n\n"
        + _table(
            [
                "model",
                "test",
                "items",
                "AUROC",
                "TPR0",
                "TPR10",
                "TPR at FPR 1e-2",
                "FPR at TPR 0.75",
                "evaluated",
            ],
            figures,
        )
        + "\n"
    )


class ModelCards(SphinxDirective):
    """``{model-cards}``: the tables of :func:`model_cards_markdown`, read at build time."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        """The tables, parsed as Markdown; the cards are dependencies of the page."""
        for card_file in sorted(WEIGHTS_DIR.glob("*/model.json")):
            self.env.note_dependency(str(card_file))
        return self.parse_text_to_nodes(model_cards_markdown())


def escape_bars(
    app_: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Keep a docstring's ``|G|`` (the order of a group, lensscan.models.ecnn) as written.

    reStructuredText reads ``|word|`` as a substitution reference, which the docstrings never
    mean; escaping the bars shows them as typed.
    """
    for k, line in enumerate(lines):
        lines[k] = re.sub(r"(?<![`\\])\|(\w+)\|", r"\\|\1\\|", line)


class ApiPackage(SphinxDirective):
    """``{api-package} lensscan.scan``: autodoc of a package and of each of its modules."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        """An ``automodule`` of the package (no members) and one section per module."""
        name = self.arguments[0]
        package = importlib.import_module(name)
        # autodoc writes reStructuredText, so its directives sit in eval-rst blocks.
        text = [f"```{{eval-rst}}\n.. automodule:: {name}\n   :no-members:\n```\n"]
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            module = f"{name}.{info.name}"
            text.append(f"## `{module}`\n\n```{{eval-rst}}\n.. automodule:: {module}\n```\n")
        return self.parse_text_to_nodes("\n".join(text), allow_section_headings=True)


#: Section pages whose toctree ends in ``*``: the rest of their folder, in name order.
GLOB_SECTIONS = ("guide/index", "methods/index", "models/index")


def drop_empty_globs(app_: Sphinx, docname: str, source: list[str]) -> None:
    """Remove a section's closing ``*`` glob while its folder has no page it does not list.

    The sections end their toctree in ``*`` so that a page added to the folder appears
    without an edit; Sphinx warns about a glob that matches nothing (and that warning cannot
    be suppressed), which the build's warnings-as-errors would turn into a failure.
    """
    if docname not in GLOB_SECTIONS:
        return
    folder = Path(app_.srcdir) / Path(docname).parent
    text = source[0]
    listed = set(re.findall(r"^([\w-]+)$", text, flags=re.M))
    unlisted = [p for p in folder.glob("*.md") if p.stem not in listed and p.stem != "index"]
    if not unlisted:
        source[0] = re.sub(r"^\*\n(?=```)", "", text, flags=re.M)


def setup(app_: Sphinx) -> dict[str, Any]:
    """Register the generators with Sphinx."""
    app_.connect("builder-inited", generate_command_pages)
    app_.connect("source-read", drop_empty_globs)
    app_.connect("autodoc-process-docstring", escape_bars)
    app_.add_directive("lensscan-command", LensscanCommand)
    app_.add_directive("model-cards", ModelCards)
    app_.add_directive("api-package", ApiPackage)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
