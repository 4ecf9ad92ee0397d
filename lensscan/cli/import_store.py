"""``lensscan import``: a labelled cutout folder to a cutout store."""

from __future__ import annotations

from pathlib import Path

import typer


def import_store(
    source: Path = typer.Argument(..., help="Folder with <split>_lenses/ and <split>_nonlenses/."),
    out: Path = typer.Option(..., "--out", help="Cutout store to write (.zarr)."),
    bands: str = typer.Option(
        None, "--bands", help="Band names, one per channel, e.g. gri or g,r,i (default gri or i)."
    ),
    pixel_scale: float = typer.Option(None, "--pixel-scale", help="Pixel scale in arcsec."),
    domain: str = typer.Option("imported", "--domain", help="Domain name recorded in the store."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
) -> None:
    """Import labelled cutouts (.npy or FITS, DeepLense folder layout) into a store."""
    from lensscan.bands import parse_band_names
    from lensscan.data.importer import import_folder
    from lensscan.data.store import CutoutStore

    band_list = parse_band_names(bands)
    path = import_folder(
        source, out, bands=band_list, pixel_scale=pixel_scale, domain=domain, overwrite=overwrite
    )
    store = CutoutStore.open(path)
    counts = ", ".join(
        f"{name}: {int((store.labels[store.split_indices(name)] == 1).sum())} lenses / "
        f"{int((store.labels[store.split_indices(name)] == 0).sum())} non-lenses"
        for name in store.splits_present()
    )
    typer.echo(f"wrote {path} ({len(store)} cutouts, bands {','.join(store.bands)}; {counts})")
