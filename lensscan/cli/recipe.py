"""``lensscan recipe``: make a shipped model from its recipe, with its figures in its card."""

from __future__ import annotations

from pathlib import Path

import typer

from lensscan.recipes import RECIPES


def recipe(
    name: str = typer.Argument(..., help=f"Recipe: {', '.join(RECIPES)}."),
    out: Path = typer.Option(..., "--out", help="Model folder to write, e.g. weights/hsc-gri-v2."),
    work: Path = typer.Option(
        Path("recipes-work"),
        "--work",
        help="Folder of the data sets, member models and reports (reused when rerun).",
    ),
    scale: float = typer.Option(
        1.0, "--scale", help="Multiply every data size by this (0-1]; e.g. 0.01 for a quick look."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Training epochs of every member."),
    workers: int = typer.Option(1, "--workers", help="Simulation processes."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
    real_dev: Path = typer.Option(
        None,
        "--real-dev",
        help="Labelled folder of real cutouts recorded as 'real cross-survey dev', e.g. "
        "../shared/realdata/real_xsurvey_dev.",
    ),
    real_hsc: Path = typer.Option(
        None,
        "--real-hsc",
        help="Labelled folder of real HSC cutouts recorded as 'real HSC sample40 test', e.g. "
        "../shared/realdata/hsc_gri_sample40.",
    ),
) -> None:
    """Simulate, train, ensemble and evaluate one shipped model exactly as it was made."""
    import dataclasses

    from lensscan.errors import UserError
    from lensscan.recipes import REAL_DEV_LABEL, REAL_HSC_LABEL, get_recipe, run_recipe

    chosen = get_recipe(name).scaled(scale)
    if epochs is not None:
        if epochs < 1:
            raise UserError(f"--epochs {epochs}: must be at least 1")
        chosen = dataclasses.replace(chosen, epochs=epochs)
    if workers < 1:
        raise UserError(f"--workers {workers}: must be at least 1")
    real_sets = {}
    for option, label, folder in (
        ("--real-dev", REAL_DEV_LABEL, real_dev),
        ("--real-hsc", REAL_HSC_LABEL, real_hsc),
    ):
        if folder is not None:
            if not folder.is_dir():
                raise UserError(f"{option} {folder}: no such folder")
            real_sets[label] = folder
    figures = run_recipe(
        chosen,
        work,
        out,
        workers=workers,
        device=device,
        overwrite=overwrite,
        real_sets=real_sets,
    )
    typer.echo(f"wrote {out}")
    for label, values in figures.items():
        shown = ", ".join(f"{key} {value:.3f}" for key, value in values.items())
        typer.echo(f"  {label}: {shown}")
