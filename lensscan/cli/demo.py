"""``lensscan demo``: simulate a small HSC-like field, scan it, evaluate against the truth."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(None, "--out", help="Demo folder to write (default: demo)."),
    model: str = typer.Option(
        None, "--model", help="Model name or weights folder (default: the default model)."
    ),
    size: int = typer.Option(
        None, "--size", help="Side of the simulated field in pixels (default 2048)."
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the field (default 0)."),
    workers: int = typer.Option(
        None,
        "--workers",
        help="Local Dask worker processes of the scan (default 1; 0 = run in this process).",
    ),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: best)."),
    config: Path = typer.Option(
        None,
        "--config",
        help="TOML file of settings: out, model, size, seed, workers, device, overwrite "
        "(options win).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing demo folder."),
) -> None:
    """Simulate an HSC-like field with lenses, scan it, and evaluate the catalog vs the truth."""
    from rich.console import Console

    from lensscan.config import resolve_config
    from lensscan.demo import DemoConfig, run_demo

    settings = resolve_config(
        DemoConfig,
        config,
        {
            "out": str(out) if out is not None else None,
            "model": model,
            "size": size,
            "seed": seed,
            "workers": workers,
            "device": device,
            "overwrite": overwrite or None,
        },
        command="demo",
    )
    outcome = run_demo(settings)
    typer.echo(outcome.field_summary)
    for line in outcome.scan_lines:
        typer.echo(line)
    # Off a terminal (logs, pipes) rich would assume 80 columns and squeeze the table.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(outcome.table)
    typer.echo(f"catalog {outcome.catalog}")
    typer.echo(f"gallery {outcome.gallery}")
    typer.echo(f"evaluation {outcome.evaluation_dir}")
