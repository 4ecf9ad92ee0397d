"""``lensscan simulate``: labelled 64x64 cutouts of a simulated domain, into a cutout store."""

from __future__ import annotations

from pathlib import Path

import typer


def simulate(
    domain: str = typer.Option(
        "hsc",
        "--domain",
        help=(
            "'sim' (simple sims), 'hsc' (HSC Wide-like), 'hsc-train' (randomised training "
            "family, balanced) or 'hsc-heldout' (held-out family for honest tests)."
        ),
    ),
    n: int = typer.Option(..., "--n", help="Number of cutouts to make."),
    out: Path = typer.Option(..., "--out", help="Cutout store to write (.zarr)."),
    bands: str = typer.Option(
        None, "--bands", help="Bands from grizy, e.g. 'gri', 'g,r,i' or 'i' (default gri)."
    ),
    lens_fraction: float = typer.Option(
        None,
        "--lens-fraction",
        help="Lens fraction in [0,1] (default 1/3 sim, 1/2 hsc-train, 1/101 hsc and hsc-heldout).",
    ),
    splits: str = typer.Option(
        "train=1", "--splits", help="Split fractions, e.g. 'train=0.8,val=0.1,test=0.1'."
    ),
    unlabelled: bool = typer.Option(
        False,
        "--unlabelled",
        help="Store labels as -1 (a target pool); true labels stay in params/true_label.",
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the run; the same seed gives the same images."
    ),
    workers: int = typer.Option(
        None, "--workers", help="Parallel worker processes (default: the number of CPUs)."
    ),
    scheduler: str = typer.Option(
        "processes", "--scheduler", help="Dask scheduler: 'processes', 'threads' or 'synchronous'."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
) -> None:
    """Simulate labelled lens / non-lens cutouts (sim or HSC-like domain) into a store."""
    from lensscan.simulate.cutouts import CutoutRequest, simulate_cutouts

    request = CutoutRequest.from_options(
        domain=domain,
        n=n,
        bands=bands,
        lens_fraction=lens_fraction,
        splits=splits,
        unlabelled=unlabelled,
        seed=seed,
        workers=workers,
        scheduler=scheduler,
    )
    summary = simulate_cutouts(request, out, overwrite=overwrite)
    typer.echo(summary)
