"""``lensscan models``: list published and installed models; write a manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from lensscan.cli.help import Group

app = typer.Typer(
    name="models",
    help="List published and installed models; write a manifest; combine models.",
    no_args_is_help=True,
    cls=Group,
)

#: Width of the table when stdout is not a terminal, so piped output keeps whole rows.
PIPE_WIDTH = 200


def list_models(
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    directory: Path = typer.Option(
        None, "--dir", help="Extra weights folder, searched before the usual ones."
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Check SHA-256 hashes of installed files, not only sizes."
    ),
    manifest: Path = typer.Option(
        None, "--manifest", help="Manifest JSON to use instead of the one shipped with lensscan."
    ),
) -> None:
    """List published and installed models with their headline metrics."""
    from rich.console import Console
    from rich.table import Table

    from lensscan.models.download import format_size, model_statuses, search_roots
    from lensscan.models.manifest import HEADLINE_METRICS, load_manifest

    loaded = load_manifest(manifest)
    statuses = model_statuses(loaded, directory=directory, verify=verify)
    if json_output:
        report = {
            "manifest": loaded.source,
            "search_path": [str(root) for root in search_roots(directory)],
            "models": [status.to_dict() for status in statuses],
        }
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console(width=None if sys.stdout.isatty() else PIPE_WIDTH)
    if not statuses:
        searched = ", ".join(str(root) for root in search_roots(directory))
        console.print(f"no models: the manifest {loaded.source} lists none and none in {searched}")
        return
    table = Table(
        title="lensscan models",
        caption="AUROC, TPR0, TPR10: headline metrics from the manifest or model card "
        "(--json says on which data)",
    )
    for column in ("name", "encoder", "method", "bands", *HEADLINE_METRICS, "size", "status"):
        table.add_column(column.upper() if column in HEADLINE_METRICS else column, no_wrap=True)
    table.add_column("where", overflow="fold")
    for status in statuses:
        metrics = [_metric_text(status.metrics.get(key)) for key in HEADLINE_METRICS]
        table.add_row(
            status.name,
            status.encoder,
            status.method,
            ",".join(status.bands),
            *metrics,
            format_size(status.size),
            status.state if status.published else f"{status.state} (local)",
            str(status.folder) if status.folder is not None else "-",
        )
    console.print(table)
    for status in statuses:
        if status.problem:
            console.print(f"{status.name}: {status.state}: {status.problem}", highlight=False)


def write_manifest(
    weights_dir: Path = typer.Argument(..., help="Weights folder with one NAME/ folder per model."),
    out: Path = typer.Option(None, "--out", help="Manifest file to write (default: print it)."),
    base_url: str = typer.Option(
        None,
        "--base-url",
        help="Base URL to record: absolute, or relative to the manifest file's folder.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing manifest (its descriptions are kept)."
    ),
) -> None:
    """Write the manifest of a weights folder, for publishing its models or a mirror."""
    from lensscan.atomic import check_output_path, write_text_atomic
    from lensscan.models.manifest import build_manifest, load_manifest

    if out is not None:
        check_output_path(out, overwrite=overwrite)
    previous = load_manifest(out) if out is not None and out.is_file() else None
    built = build_manifest(weights_dir, base_url, previous)
    if out is None:
        typer.echo(built.to_json(), nl=False)
        return
    write_text_atomic(out, built.to_json())
    typer.echo(f"wrote {out} ({len(built.models)} models)")


def make_ensemble(
    members: list[str] = typer.Argument(..., help="Two or more model names or weights folders."),
    out: Path = typer.Option(..., "--out", help="Weights folder to write, e.g. weights/NAME."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Combine trained models of one encoder into one model that averages their logits."""
    from lensscan.atomic import check_output_path
    from lensscan.models.ensemble import make_ensemble as combine

    check_output_path(out, overwrite=overwrite)
    ensemble = combine(members, out)
    typer.echo(f"wrote {out} ({ensemble.card.method}; {ensemble.card.encoder})")


def _metric_text(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


#: The sub-commands, registered on :data:`app` by :mod:`lensscan.cli`.
COMMANDS = {"list": list_models, "manifest": write_manifest, "ensemble": make_ensemble}
