"""``lensscan demo``: simulate a small HSC-like field, scan it, evaluate against the truth."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from lensscan.demo import DEMO_SIZE


def demo(
    out: Path = typer.Option(Path("demo"), "--out", help="Demo folder to write."),
    model: str = typer.Option(
        None, "--model", help="Model name or weights folder (default: the default model)."
    ),
    size: int = typer.Option(DEMO_SIZE, "--size", help="Side of the simulated field in pixels."),
    seed: int = typer.Option(0, "--seed", help="Seed of the field."),
    workers: int = typer.Option(
        1, "--workers", help="Local Dask worker processes of the scan (0 = run in this process)."
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: best)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing demo folder."),
) -> None:
    """Simulate an HSC-like field with lenses, scan it, and evaluate the catalog vs the truth."""
    from rich.console import Console

    from lensscan.demo import run_demo

    outcome = run_demo(
        out,
        model=model,
        size=size,
        seed=seed,
        workers=workers,
        device=device,
        overwrite=overwrite,
    )
    typer.echo(outcome.field_summary)
    for line in outcome.scan_lines:
        typer.echo(line)
    # Off a terminal (logs, pipes) rich would assume 80 columns and squeeze the table.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(outcome.table)
    typer.echo(f"catalog {outcome.catalog}")
    typer.echo(f"gallery {outcome.gallery}")
    typer.echo(f"evaluation {outcome.evaluation_dir}")
