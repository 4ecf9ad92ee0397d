"""``lensscan adapt``: a finder adapted to a survey's own images by injected arcs."""

from __future__ import annotations

from pathlib import Path

import typer


def adapt(
    fields: list[Path] = typer.Argument(
        None,
        help="FITS fields whose preselected galaxies form the pool (as lensscan cutouts).",
        show_default=False,
    ),
    pool: list[str] = typer.Option(
        None, "--pool", help="Cutout store, folder or file of the survey's galaxies (repeat)."
    ),
    out: str = typer.Option(None, "--out", help="Weights folder to write, e.g. weights/MY-SURVEY."),
    init_model: str = typer.Option(
        None, "--init-model", help="Parent: a model name, weights folder or 'default' (default)."
    ),
    work: str = typer.Option(
        None, "--work", help="Folder of intermediate steps, reused on a rerun (.OUT.adapt-work)."
    ),
    catalog: str = typer.Option(
        None, "--catalog", help="Rescored pool catalog (default OUT/pool_candidates.ecsv)."
    ),
    background_bands: str = typer.Option(
        None, "--background-bands", help="Band names of pool cutouts that do not name them."
    ),
    pixel_scale: float = typer.Option(
        None, "--pixel-scale", help="Arcsec per pixel of pool cutouts that do not say."
    ),
    zero_point: float = typer.Option(
        None, "--zero-point", help="AB zero point of the pool's flux (theirs, else 27)."
    ),
    psf: str = typer.Option(None, "--psf", help="FITS PSF image(s) at the pool's pixel scale."),
    mag_limit: float = typer.Option(
        None, "--mag-limit", help="FITS fields: keep objects brighter than this i Kron mag (22.5)."
    ),
    n_injected: int = typer.Option(
        None, "--n-injected", help="Injected-set items (default twice the pool, >= 256)."
    ),
    lens_fraction: float = typer.Option(
        None, "--lens-fraction", help="Fraction of injected items with an arc (0.5)."
    ),
    val_fraction: float = typer.Option(
        None, "--val-fraction", help="Fraction of backgrounds held out to judge by (0.1)."
    ),
    family: str = typer.Option(
        None, "--family", help="Simulator family of the arcs' sources (hsc-train)."
    ),
    min_arc_snr: float = typer.Option(
        None, "--min-arc-snr", help="Smallest injected arc S/N; fainter ones are brightened (20)."
    ),
    max_arc_snr: float = typer.Option(
        None,
        "--max-arc-snr",
        help="Dim brighter arcs to an S/N drawn log-uniformly from --min-arc-snr to this.",
    ),
    max_host_mag: float = typer.Option(
        None, "--max-host-mag", help="Inject only into galaxies brighter than this (reddest band)."
    ),
    rehearsal_fraction: float = typer.Option(
        None, "--rehearsal-fraction", help="Share of the parent's own simulations mixed in (0.25)."
    ),
    rehearsal_domain: str = typer.Option(
        None, "--rehearsal-domain", help="Simulator family of the rehearsal items (hsc-train)."
    ),
    source_val_items: int = typer.Option(
        None, "--source-val-items", help="Rehearsal items kept as the parent's source val (2000)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Fine-tuning epochs (2)."),
    batch_size: int = typer.Option(None, "--batch-size", help="Items per step (64)."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (2e-4)."),
    label_free: str = typer.Option(
        None, "--label-free", help="After fine-tuning: none (default) or adabn on the pool."
    ),
    min_median_arc_snr: float = typer.Option(
        None, "--min-median-arc-snr", help="Refuse if the arcs' median S/N is lower (10)."
    ),
    min_separability: float = typer.Option(
        None, "--min-separability", help="Refuse if arcs are not separable at this AUROC (0.7)."
    ),
    min_gain: float = typer.Option(
        None, "--min-gain", help="Keep the child only if its AUROC gain's 95% low end is above (0)."
    ),
    max_source_loss: float = typer.Option(
        None,
        "--max-source-loss",
        help="... and its source-val AUROC loss's 95% high end at most (0.01).",
    ),
    grades: str = typer.Option(
        None, "--grades", help="Grade database of lensscan inspect: graded candidates as labels."
    ),
    cutouts: str = typer.Option(
        None, "--cutouts", help="Store whose item k is row k of the graded catalog (stamps)."
    ),
    grade_share: float = typer.Option(
        None, "--grade-share", help="Share of the training mixture the graded items make (0.1)."
    ),
    seed: int = typer.Option(None, "--seed", help="Seed of the run (0)."),
    device: str = typer.Option(None, "--device", help="cpu, cuda, cuda:N or mps (best)."),
    workers: int = typer.Option(
        None, "--workers", help="Processes simulating rehearsal items (CPUs)."
    ),
    config: Path = typer.Option(
        None, "--config", help="TOML file of settings; command-line options override it."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Adapt a finder to a survey's own images: arcs injected into its galaxies.

    Fine-tunes the parent (--init-model, default the shipped default) on arcs injected into
    the pool's galaxies with a share of the parent's own simulations, keeps the result only
    if it beats the parent on held-out injected backgrounds, and rescores the pool.
    """
    from lensscan.config import resolve_config
    from lensscan.errors import as_options
    from lensscan.scan.fieldlist import field_specs
    from lensscan.survey_adapt import AdaptConfig, run_adapt

    overrides = {
        "out": out,
        "pool": tuple(pool) if pool else None,
        "init_model": init_model,
        "work": work,
        "catalog": catalog,
        "background_bands": background_bands,
        "pixel_scale": pixel_scale,
        "zero_point": zero_point,
        "psf": psf,
        "mag_limit": mag_limit,
        "n_injected": n_injected,
        "lens_fraction": lens_fraction,
        "val_fraction": val_fraction,
        "family": family,
        "min_arc_snr": min_arc_snr,
        "max_arc_snr": max_arc_snr,
        "max_host_mag": max_host_mag,
        "rehearsal_fraction": rehearsal_fraction,
        "rehearsal_domain": rehearsal_domain,
        "source_val_items": source_val_items,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "label_free": label_free,
        "min_median_arc_snr": min_median_arc_snr,
        "min_separability": min_separability,
        "min_gain": min_gain,
        "max_source_loss": max_source_loss,
        "grades": grades,
        "cutouts": cutouts,
        "grade_share": grade_share,
        "seed": seed,
        "device": device,
        "workers": workers,
        "overwrite": overwrite or None,
    }
    settings = resolve_config(AdaptConfig, config, overrides, command="adapt")
    result = run_adapt(field_specs(fields or [], []), settings)
    for line in result.lines():
        typer.echo(as_options(line))
