"""``lensscan evaluate``: metrics with bootstrap intervals, plots and a report folder."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def evaluate(
    model: list[str] = typer.Option(
        None,
        "--model",
        help="Model name or weights folder; repeat to compare models (default: the default model).",
    ),
    data: Path = typer.Option(
        None, "--data", help="Cutout store (.zarr) or labelled folder (DIR/test_lenses, ...)."
    ),
    split: str = typer.Option(None, "--split", help="Split to evaluate (default test)."),
    bands: str = typer.Option(
        None, "--bands", help="Band names of a folder's channels, e.g. g,r,i (default g,r,i or i)."
    ),
    report_dir: Path = typer.Option(
        None, "--report-dir", help="Report folder to write (default reports/evaluate-<UTC time>)."
    ),
    threshold: float = typer.Option(
        None, "--threshold", help="Score at or above which a cutout is a predicted lens (0.5)."
    ),
    bootstrap: int = typer.Option(
        None, "--bootstrap", help="Bootstrap replicates for 95% intervals (1000; 0 for none)."
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the bootstrap (0)."),
    batch_size: int = typer.Option(None, "--batch-size", help="Cutouts per forward pass (256)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (default: best)."),
    montage_size: int = typer.Option(
        None, "--montage-size", help="Cutouts per montage of worst-ranked items (16; 0 for none)."
    ),
    catalog: Path = typer.Option(
        None, "--catalog", help="Candidate catalog (ECSV from lensscan scan) to evaluate."
    ),
    truth: Path = typer.Option(
        None, "--truth", help="Truth catalog (ECSV from lensscan simulate-field) for --catalog."
    ),
    match_radius: float = typer.Option(
        None, "--match-radius", help="Largest candidate-truth separation of a match, arcsec (1.0)."
    ),
    area_deg2: float = typer.Option(
        None, "--area-deg2", help="Field area for false positives per deg2 (default: metadata)."
    ),
    record_as: str = typer.Option(
        None,
        "--record-as",
        help="Also write each model's metrics into its card under this label, e.g. 'hsc test'.",
    ),
    headline: bool = typer.Option(
        False, "--headline", help="Make the recorded metrics the ones `models list` shows."
    ),
    rescale: str = typer.Option(
        None,
        "--rescale",
        help="Rescale cutouts before scoring: none (default) or minmax (each band to [0, 1]).",
    ),
    config: Path = typer.Option(None, "--config", help="TOML file of settings (options win)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report folder."),
) -> None:
    """Evaluate lens finders on labelled cutouts, or a candidate catalog against truth."""
    from rich.console import Console

    from lensscan.bands import parse_band_names
    from lensscan.config import resolve_config
    from lensscan.evaluate.run import run_evaluation
    from lensscan.evaluate.settings import EvaluateConfig

    settings = resolve_config(
        EvaluateConfig,
        config,
        {
            "models": tuple(model) if model else None,
            "data": str(data) if data is not None else None,
            "split": split,
            "bands": parse_band_names(bands),
            "report_dir": str(report_dir) if report_dir is not None else None,
            "threshold": threshold,
            "bootstrap": bootstrap,
            "seed": seed,
            "batch_size": batch_size,
            "device": device,
            "montage_size": montage_size,
            "catalog": str(catalog) if catalog is not None else None,
            "truth": str(truth) if truth is not None else None,
            "match_radius": match_radius,
            "area_deg2": area_deg2,
            "record_as": record_as,
            "headline": headline or None,
            "rescale": rescale,
            "overwrite": overwrite or None,
        },
        command="evaluate",
    )
    outcome = run_evaluation(settings)
    # Off a terminal (logs, pipes) rich would assume 80 columns and squeeze the table.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(outcome.table)
    for note in outcome.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"wrote {outcome.report_dir}")
