"""``lensscan simulate``: labelled cutouts of a simulated domain, or injected real ones.

``--domain inject`` paints simulated arcs onto the real cutouts of ``--backgrounds``.
"""

from __future__ import annotations

from pathlib import Path

import typer

_INJECT = "Injection (--domain inject)"


def simulate(
    domain: str = typer.Option(
        "hsc",
        "--domain",
        help=(
            "'sim' (simple sims), 'hsc' (HSC Wide-like), 'hsc-train' (randomised training "
            "family, balanced), 'hsc-heldout' (held-out family for honest tests) or 'inject' "
            "(simulated arcs painted onto the real cutouts of --backgrounds)."
        ),
    ),
    n: int = typer.Option(
        None, "--n", help="Number of cutouts to make (inject: default one per background)."
    ),
    out: Path = typer.Option(..., "--out", help="Cutout store to write (.zarr)."),
    bands: str = typer.Option(
        None, "--bands", help="Bands from grizy, e.g. 'gri', 'g,r,i' or 'i' (default gri)."
    ),
    lens_fraction: float = typer.Option(
        None,
        "--lens-fraction",
        help="Lens fraction in [0,1] (default 1/3 sim, 1/2 hsc-train and inject, "
        "1/101 hsc and hsc-heldout).",
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
    backgrounds: list[str] = typer.Option(
        None,
        "--backgrounds",
        help="inject: real cutouts to paint arcs on: a cutout store (e.g. from `lensscan "
        "cutouts`), a cutout folder or .npy/.fits cutout files (repeat for several).",
        rich_help_panel=_INJECT,
    ),
    background_bands: str = typer.Option(
        None,
        "--background-bands",
        help="inject: band names of the planes of backgrounds that do not name them, e.g. gri.",
        rich_help_panel=_INJECT,
    ),
    family: str = typer.Option(
        "hsc-train",
        "--family",
        help="inject: simulator family of the sources and Einstein radii.",
        rich_help_panel=_INJECT,
    ),
    size: int = typer.Option(
        None,
        "--size",
        help="inject: cutout side in pixels (default: the backgrounds'; larger ones are "
        "centre-cropped).",
        rich_help_panel=_INJECT,
    ),
    pixel_scale: float = typer.Option(
        None,
        "--pixel-scale",
        help="inject: arcsec per pixel when the backgrounds do not say (no store attribute "
        "or WCS).",
        rich_help_panel=_INJECT,
    ),
    zero_point: str = typer.Option(
        None,
        "--zero-point",
        help="inject: AB zero point, one or BAND=ZP pairs (default: the backgrounds', else 27).",
        rich_help_panel=_INJECT,
    ),
    psf: str = typer.Option(
        None,
        "--psf",
        help="inject: FITS PSF image(s) at the backgrounds' pixel scale: a (planes,k,k) cube, "
        "one HDU per plane, or one image for all.",
        rich_help_panel=_INJECT,
    ),
    psf_fwhm: str = typer.Option(
        None,
        "--psf-fwhm",
        help="inject: Moffat PSF FWHM in arcsec, one or BAND=FWHM pairs (default: the "
        "backgrounds', else HSC Wide's median seeing).",
        rich_help_panel=_INJECT,
    ),
    psf_beta: float = typer.Option(
        3.0, "--psf-beta", help="inject: Moffat index of --psf-fwhm PSFs.", rich_help_panel=_INJECT
    ),
    gain: str = typer.Option(
        None,
        "--gain",
        help="inject: counts per background flux unit for the arcs' Poisson noise, one or "
        "BAND=GAIN pairs (default: HSC Wide's effective gain).",
        rich_help_panel=_INJECT,
    ),
    min_arc_snr: float = typer.Option(
        20.0,
        "--min-arc-snr",
        help="inject: smallest matched-filter arc signal-to-noise against the sky.",
        rich_help_panel=_INJECT,
    ),
    min_magnification: float = typer.Option(
        2.0,
        "--min-magnification",
        help="inject: smallest arc magnification.",
        rich_help_panel=_INJECT,
    ),
    min_einstein_radius: float = typer.Option(
        0.75,
        "--min-einstein-radius",
        help="inject: smallest Einstein radius in arcsec.",
        rich_help_panel=_INJECT,
    ),
    rotations: bool = typer.Option(
        False,
        "--rotations",
        help="inject: reuse backgrounds under the 8 flips and 90-degree rotations (up to 8 "
        "items per background).",
        rich_help_panel=_INJECT,
    ),
) -> None:
    """Simulate labelled lens / non-lens cutouts, or inject arcs into real ones, into a store."""
    from lensscan.errors import UserError

    if domain == "inject":
        from lensscan.bands import parse_band_names
        from lensscan.simulate.cutouts import parse_splits
        from lensscan.simulate.inject import InjectionRequest, inject_arcs
        from lensscan.simulate.presets import HSC_WIDE, parse_bands

        request = InjectionRequest(
            backgrounds=tuple(backgrounds or ()),
            n=n,
            bands=parse_bands(bands, HSC_WIDE) if bands else None,
            background_bands=parse_band_names(background_bands, "--background-bands"),
            size=size,
            lens_fraction=0.5 if lens_fraction is None else lens_fraction,
            splits=parse_splits(splits),
            unlabelled=unlabelled,
            seed=seed,
            family=family,
            pixel_scale=pixel_scale,
            zero_point=zero_point,
            psf=psf,
            psf_fwhm=psf_fwhm,
            psf_beta=psf_beta,
            gain=gain,
            min_arc_snr=min_arc_snr,
            min_magnification=min_magnification,
            min_einstein_radius=min_einstein_radius,
            rotations=rotations,
        )
        typer.echo(inject_arcs(request, out, overwrite=overwrite))
        return
    if backgrounds:
        raise UserError(f"--backgrounds: only with --domain inject (not {domain!r})")
    if n is None:
        raise UserError(f"--n: required for --domain {domain}")
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
