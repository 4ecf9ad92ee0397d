"""``lensscan cutouts``: a cutout store of the detected (or catalogued) objects of fields."""

from __future__ import annotations

import typer


def cutouts(
    fields: list[str] = typer.Argument(
        None,
        help="FITS fields: HSC calexp (finds sibling bands), plain image or (bands,y,x) cube; "
        "quoted glob patterns and @LIST files are expanded, as scan does.",
        show_default=False,
    ),
    out: str = typer.Option(..., "--out", help="Cutout store to write (POOL.zarr)."),
    band: list[str] = typer.Option(
        None, "--band", help="BAND=PATH: one file per band of one field (repeat)."
    ),
    bands: str = typer.Option(
        None, "--bands", help="Band names of a file's planes, e.g. gri or g,r,i."
    ),
    model: str = typer.Option(
        None,
        "--model",
        help="Model whose bands and cutout size to cut (default: the default model).",
    ),
    positions: str = typer.Option(
        None, "--positions", help="CSV/ECSV/FITS of ra, dec: cut these objects, no detection."
    ),
    chunk_size: int = typer.Option(
        None, "--chunk-size", help="Detection chunk side in pixels (default 1024)."
    ),
    max_mask_fraction: float = typer.Option(
        None, "--max-mask-fraction", help="Leave out cutouts with more bad pixels (0.5)."
    ),
    detect_bands: str = typer.Option(
        None, "--detect-bands", help="Bands of the detection image, e.g. ri (all)."
    ),
    detect_threshold: float = typer.Option(
        None, "--detect-threshold", help="Detection threshold in noise sigmas (1.5)."
    ),
    min_area: int = typer.Option(None, "--min-area", help="Fewest pixels of a detection (5)."),
    mag_limit: float = typer.Option(
        None, "--mag-limit", help="Keep objects brighter than this i-band Kron mag (22.5)."
    ),
    min_kron_radius: float = typer.Option(
        None, "--min-kron-radius", help="Keep objects with a Kron radius >= this, arcsec (0.8)."
    ),
    color_cut: str = typer.Option(
        None, "--color-cut", help="Optional colour cut on Kron mags, e.g. 'g-i>1.0'."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
) -> None:
    """Cut the preselected galaxies (or --positions) of fields into an unlabelled cutout store."""
    from lensscan.bands import parse_band_names
    from lensscan.config import resolve_config
    from lensscan.scan.cutouts import make_cutouts
    from lensscan.scan.fieldlist import FieldSources, expand_fields, field_specs
    from lensscan.scan.settings import CutoutsConfig

    settings = resolve_config(
        CutoutsConfig,
        None,
        {
            "out": out,
            "model": model,
            "bands": parse_band_names(bands),
            "positions": positions,
            "chunk_size": chunk_size,
            "max_mask_fraction": max_mask_fraction,
            "detect_bands": parse_band_names(detect_bands, "detect_bands"),
            "detect_threshold": detect_threshold,
            "min_area": min_area,
            "mag_limit": mag_limit,
            "min_kron_radius": min_kron_radius,
            "color_cut": color_cut,
            "overwrite": overwrite or None,
        },
        command="cutouts",
    )
    specs = expand_fields(FieldSources(arguments=tuple(fields or ()))) + field_specs([], band or [])
    typer.echo(make_cutouts(specs, settings))
