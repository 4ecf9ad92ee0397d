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
            "family, balanced), 'hsc-heldout' (held-out family for honest tests), "
            "'hsc-galsim' (independent test family rendered by GalSim; never for training) or "
            "'inject' (simulated arcs painted onto the real cutouts of --backgrounds)."
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
        "1/101 hsc, hsc-heldout and hsc-galsim).",
    ),
    splits: str = typer.Option(
        None,
        "--splits",
        help="Split fractions, e.g. 'train=0.8,val=0.1,test=0.1' (default: all train).",
    ),
    unlabelled: bool = typer.Option(
        False,
        "--unlabelled",
        help="Store labels as -1 (a target pool); true labels stay in params/true_label.",
    ),
    seed: int = typer.Option(
        None, "--seed", help="Seed of the run (default 0); the same seed gives the same images."
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        help="Parallel worker processes (default: the number of CPUs; inject runs in one).",
    ),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler: 'processes' (default), 'threads' or 'synchronous'.",
    ),
    config: Path = typer.Option(
        None,
        "--config",
        help="TOML file of settings (the fields of the domain's request; options win).",
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
        None,
        "--family",
        help="inject: simulator family of the sources and Einstein radii (default hsc-train).",
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
        None,
        "--psf-beta",
        help="inject: Moffat index of --psf-fwhm PSFs (default 3).",
        rich_help_panel=_INJECT,
    ),
    gain: str = typer.Option(
        None,
        "--gain",
        help="inject: counts per background flux unit for the arcs' Poisson noise, one or "
        "BAND=GAIN pairs (default: HSC Wide's effective gain).",
        rich_help_panel=_INJECT,
    ),
    min_arc_snr: float = typer.Option(
        None,
        "--min-arc-snr",
        help="inject: smallest matched-filter arc signal-to-noise against the sky (default 20).",
        rich_help_panel=_INJECT,
    ),
    max_arc_snr: float = typer.Option(
        None,
        "--max-arc-snr",
        help="inject: dim arcs brighter than this to an S/N drawn log-uniformly from "
        "--min-arc-snr to it (default: no dimming).",
        rich_help_panel=_INJECT,
    ),
    min_magnification: float = typer.Option(
        None,
        "--min-magnification",
        help="inject: smallest arc magnification (default 2).",
        rich_help_panel=_INJECT,
    ),
    min_einstein_radius: float = typer.Option(
        None,
        "--min-einstein-radius",
        help="inject: smallest Einstein radius in arcsec (default 0.75).",
        rich_help_panel=_INJECT,
    ),
    max_host_mag: float = typer.Option(
        None,
        "--max-host-mag",
        help="inject: use only backgrounds whose central galaxy is brighter than this (AB, "
        'reddest band, 1.5" radius), for lenses and non-lenses alike.',
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
    from lensscan.config import resolve_config
    from lensscan.errors import UserError

    common = {
        "n": n,
        "bands": bands,
        "lens_fraction": lens_fraction,
        "splits": splits,
        "unlabelled": unlabelled or None,
        "seed": seed,
    }
    if domain == "inject":
        from lensscan.simulate.inject.request import InjectionRequest
        from lensscan.simulate.inject.run import inject_arcs

        injection = {
            "backgrounds": tuple(backgrounds) if backgrounds else None,
            "background_bands": background_bands,
            "size": size,
            "family": family,
            "pixel_scale": pixel_scale,
            "zero_point": zero_point,
            "psf": psf,
            "psf_fwhm": psf_fwhm,
            "psf_beta": psf_beta,
            "gain": gain,
            "min_arc_snr": min_arc_snr,
            "max_arc_snr": max_arc_snr,
            "min_magnification": min_magnification,
            "min_einstein_radius": min_einstein_radius,
            "max_host_mag": max_host_mag,
            "rotations": rotations or None,
        }
        request = resolve_config(InjectionRequest, config, common | injection, command="simulate")
        typer.echo(inject_arcs(request, out, overwrite=overwrite))
        return
    if backgrounds:
        raise UserError(f"--backgrounds: only with --domain inject (not {domain!r})")
    from lensscan.simulate.cutouts.request import CutoutRequest
    from lensscan.simulate.cutouts.run import simulate_cutouts

    options = {"domain": domain, "workers": workers, "scheduler": scheduler}
    request = resolve_config(CutoutRequest, config, common | options, command="simulate")
    typer.echo(simulate_cutouts(request, out, overwrite=overwrite))
