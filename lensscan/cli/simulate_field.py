"""``lensscan simulate-field``: an HSC-like coadd patch (calexp FITS per band) with lenses."""

from __future__ import annotations

from pathlib import Path

import typer


def simulate_field(
    out: Path = typer.Option(..., "--out", help="Folder to write (one calexp FITS per band)."),
    size: int = typer.Option(4200, "--size", help="Patch size in pixels (square)."),
    bands: str = typer.Option("gri", "--bands", help="Bands from grizy, e.g. 'gri' or 'g,r,i'."),
    n_lenses: int = typer.Option(
        None, "--n-lenses", help="Lenses to inject (default 50 per 4200x4200 px, by area)."
    ),
    ra: float = typer.Option(150.0, "--ra", help="Right ascension of the patch centre (deg)."),
    dec: float = typer.Option(2.2, "--dec", help="Declination of the patch centre (deg)."),
    tract: int = typer.Option(9813, "--tract", help="Tract number used in the file names."),
    patch: str = typer.Option("4,4", "--patch", help="Patch 'x,y' used in the file names."),
    seed: int = typer.Option(
        0, "--seed", help="Seed of the run; the same seed gives the same field."
    ),
    family: str = typer.Option(
        "hsc",
        "--family",
        help="Simulator family of objects and conditions: hsc, hsc-train or hsc-heldout.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing folder."),
) -> None:
    """Simulate an HSC-like coadd patch with injected lenses and a truth catalog."""
    from lensscan.simulate.field import FieldRequest, simulate_field_patch

    request = FieldRequest.from_options(
        size=size,
        bands=bands,
        n_lenses=n_lenses,
        ra=ra,
        dec=dec,
        tract=tract,
        patch=patch,
        seed=seed,
        family=family,
    )
    summary = simulate_field_patch(request, out, overwrite=overwrite)
    typer.echo(summary)
