"""``lensscan simulate-field``: an HSC-like coadd patch (calexp FITS per band) with lenses."""

from __future__ import annotations

from pathlib import Path

import typer


def simulate_field(
    out: Path = typer.Option(..., "--out", help="Folder to write (one calexp FITS per band)."),
    size: int = typer.Option(None, "--size", help="Patch size in pixels (square; 4200)."),
    bands: str = typer.Option(
        None, "--bands", help="Bands from grizy, e.g. 'gri' (default) or 'g,r,i'."
    ),
    n_lenses: int = typer.Option(
        None, "--n-lenses", help="Lenses to inject (default 50 per 4200x4200 px, by area)."
    ),
    ra: float = typer.Option(None, "--ra", help="RA of the patch centre (deg; 150)."),
    dec: float = typer.Option(None, "--dec", help="Dec of the patch centre (deg; 2.2)."),
    tract: int = typer.Option(None, "--tract", help="Tract number of the file names (9813)."),
    patch: str = typer.Option(None, "--patch", help="Patch 'x,y' of the file names ('4,4')."),
    seed: int = typer.Option(
        None, "--seed", help="Seed of the run (0); the same seed gives the same field."
    ),
    family: str = typer.Option(
        None,
        "--family",
        help="Simulator family of objects and conditions: hsc (default), hsc-train or hsc-heldout.",
    ),
    config: Path = typer.Option(
        None, "--config", help="TOML file of settings (FieldRequest fields; options win)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing folder."),
) -> None:
    """Simulate an HSC-like coadd patch with injected lenses and a truth catalog."""
    from lensscan.config import resolve_config
    from lensscan.simulate.fields.request import FieldRequest
    from lensscan.simulate.fields.run import simulate_field_patch

    options = {
        "size": size,
        "bands": bands,
        "n_lenses": n_lenses,
        "ra": ra,
        "dec": dec,
        "tract": tract,
        "patch": patch,
        "seed": seed,
        "family": family,
    }
    request = resolve_config(FieldRequest, config, options, command="simulate-field")
    typer.echo(simulate_field_patch(request, out, overwrite=overwrite))
