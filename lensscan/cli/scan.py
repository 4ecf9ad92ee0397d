"""``lensscan scan``: scan FITS fields for lens candidates with Dask; one catalog per field."""

from __future__ import annotations

from pathlib import Path

import typer

#: The shell's exit status of a process ended by SIGINT (128 + 2).
INTERRUPTED_EXIT_CODE = 130


def scan(
    fields: list[str] = typer.Argument(
        None,
        help="FITS fields: HSC calexp (finds sibling bands), plain image or (bands,y,x) cube; "
        "quoted glob patterns ('/data/*/calexp-HSC-I-*.fits') and @LIST files are expanded.",
        show_default=False,
    ),
    field_list: list[str] = typer.Option(
        None,
        "--field-list",
        help="Text file of field paths or patterns, one per line (# comments; repeatable).",
    ),
    hsc_patches: list[str] = typer.Option(
        None,
        "--hsc-patches",
        help="Text file of HSC 'TRACT PATCH' lines (e.g. 9813 4,4), found under --hsc-root.",
    ),
    hsc_root: str = typer.Option(
        ".",
        "--hsc-root",
        help="Folder of the --hsc-patches calexp files (flat, or HSC-I/TRACT/PATCH/ below).",
    ),
    band: list[str] = typer.Option(
        None,
        "--band",
        help="BAND=PATH: one file per band of one field (repeat: --band g=... --band r=...).",
    ),
    bands: str = typer.Option(
        None,
        "--bands",
        help="Band names of a file's planes (gri or g,r,i) when its header does not say.",
    ),
    mode: str = typer.Option(
        None,
        "--mode",
        help="detect (default): score cutouts centred on detected, preselected galaxies; "
        "grid: a dense sliding window. --positions overrides both.",
    ),
    model: str = typer.Option(
        None, "--model", help="Model name or weights folder (default: the default model)."
    ),
    out: str = typer.Option(
        None,
        "--out",
        help="Catalog file (one field) or folder (several). Default: catalogs/<field>.ecsv.",
    ),
    format_: str = typer.Option(
        None, "--format", help="Catalog format: ecsv (default), fits, csv, parquet."
    ),
    work_dir: str = typer.Option(
        None, "--work-dir", help="Folder of the Zarr work stores (default: <catalog folder>/.work)."
    ),
    threshold: float = typer.Option(
        None, "--threshold", help="Lowest score listed, 0 to 1 (default 0.5)."
    ),
    top: int = typer.Option(None, "--top", help="Keep at most N candidates per field."),
    min_separation: float = typer.Option(
        None,
        "--min-separation",
        help="Candidates closer than this (arcsec) are one: grid windows keep the best, "
        "detections form a lens system listed once (default: half a cutout; 0 turns it "
        "off; --positions are never merged).",
    ),
    max_mask_fraction: float = typer.Option(
        None,
        "--max-mask-fraction",
        help="Skip windows with a larger bad-pixel fraction (default 0.5).",
    ),
    stride: int = typer.Option(
        None, "--stride", help="Window step in pixels (default: half the cutout)."
    ),
    chunk_size: int = typer.Option(
        None, "--chunk-size", help="Spatial chunk side in pixels (default 1024)."
    ),
    batch_size: int = typer.Option(
        None, "--batch-size", help="Windows per forward pass (default 256)."
    ),
    device: str = typer.Option(
        None, "--device", help="cpu, cuda, cuda:N or mps (default: best available)."
    ),
    positions: str = typer.Option(
        None,
        "--positions",
        help="CSV/ECSV/FITS of ra, dec: score cutouts centred on these objects.",
    ),
    detect_bands: str = typer.Option(
        None,
        "--detect-bands",
        help="Bands of the detection image, e.g. ri (default: all the model's, "
        "inverse-variance weighted).",
    ),
    detect_threshold: float = typer.Option(
        None, "--detect-threshold", help="Detection threshold in noise sigmas (default 1.5)."
    ),
    min_area: int = typer.Option(
        None, "--min-area", help="Fewest connected pixels of a detection (default 5)."
    ),
    mag_limit: float = typer.Option(
        None, "--mag-limit", help="Preselect objects brighter than this i-band Kron mag (22.5)."
    ),
    min_kron_radius: float = typer.Option(
        None,
        "--min-kron-radius",
        help="Preselect objects with a Kron radius >= this, arcsec (0.8).",
    ),
    color_cut: str = typer.Option(
        None, "--color-cut", help="Optional colour preselection on Kron mags, e.g. 'g-i>1.0'."
    ),
    tta: bool = typer.Option(
        False, "--tta", help="Average each score over the 8 flips and 90-degree rotations."
    ),
    known: str = typer.Option(
        None, "--known", help="Known-lens catalog (RA/Dec columns) to cross-match."
    ),
    match_radius: float = typer.Option(
        None, "--match-radius", help="Known-lens match radius, arcsec (default 1)."
    ),
    regions: bool = typer.Option(
        False, "--regions", help="Also write a DS9 region file per catalog."
    ),
    gallery: int = typer.Option(
        None, "--gallery", help="Also write a PNG/HTML gallery of the top N candidates."
    ),
    workers: int = typer.Option(
        None, "--workers", help="Local Dask worker processes (default 1; 0 = run in this process)."
    ),
    threads_per_worker: int = typer.Option(
        None,
        "--threads-per-worker",
        help="Threads per local worker (default: CPU cores / workers).",
    ),
    scheduler: str = typer.Option(
        None,
        "--scheduler",
        help="Address of a running dask.distributed scheduler (e.g. tcp://host:8786).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace catalogs and start work stores afresh."
    ),
    combined: str = typer.Option(
        None,
        "--combined",
        help="Combined catalog of all fields (default with several fields: "
        "<catalog folder>/combined.ecsv); its run summary goes beside it.",
    ),
    duplicate_radius: float = typer.Option(
        None,
        "--duplicate-radius",
        help="Candidates of two fields closer than this (arcsec) are one object in the "
        "combined catalog; the higher score is kept (default 1).",
    ),
    cluster: str = typer.Option(
        None,
        "--cluster",
        help="local (default), or slurm, pbs, sge, lsf: Dask workers in batch jobs "
        "(dask-jobqueue).",
    ),
    cluster_config: str = typer.Option(
        None,
        "--cluster-config",
        help="Dask config YAML with the batch settings (dask-jobqueue's 'jobqueue:' layout).",
    ),
    jobs: int = typer.Option(None, "--jobs", help="Batch jobs to start (default 1)."),
    adapt: str = typer.Option(
        None, "--adapt", help="MIN:MAX batch jobs, scaled to the work (instead of --jobs)."
    ),
    queue: str = typer.Option(None, "--queue", help="Batch queue or partition."),
    walltime: str = typer.Option(None, "--walltime", help="Batch job walltime, e.g. 04:00:00."),
    cores: int = typer.Option(None, "--cores", help="Cores per batch job."),
    memory: str = typer.Option(None, "--memory", help="Memory per batch job, e.g. 32GB."),
    gpus_per_job: int = typer.Option(
        None, "--gpus-per-job", help="GPUs per batch job, one Dask worker each (default 0)."
    ),
    job_prologue: list[str] = typer.Option(
        None,
        "--job-prologue",
        help="Shell line each batch job runs before its worker, e.g. 'module load cuda' "
        "(repeatable).",
    ),
    retries: int = typer.Option(
        None,
        "--retries",
        help="Times a chunk task that failed is retried before its field fails (default 2).",
    ),
    force_bands: bool = typer.Option(
        False,
        "--force-bands",
        help="Take each --band file as the band given even when its name or FILTER header "
        "says another.",
    ),
    force_domain: bool = typer.Option(
        False,
        "--force-domain",
        help="Scan a field whose pixel scale or bands are far from the model's (the catalog "
        "records the mismatch).",
    ),
    config: Path = typer.Option(
        None, "--config", help="TOML file of settings (options override it)."
    ),
) -> None:
    """Scan FITS fields for lens candidates and write a ranked catalog per field."""
    from lensscan.bands import parse_band_names
    from lensscan.config import resolve_config
    from lensscan.errors import UserError, as_options
    from lensscan.scan.fieldlist import FieldSources, expand_fields, field_specs
    from lensscan.scan.scanner import scan as run_scan
    from lensscan.scan.settings import ScanConfig

    settings = resolve_config(
        ScanConfig,
        config,
        {
            "mode": mode,
            "model": model,
            "bands": parse_band_names(bands),
            "stride": stride,
            "chunk_size": chunk_size,
            "max_mask_fraction": max_mask_fraction,
            "batch_size": batch_size,
            "device": device,
            "threshold": threshold,
            "top": top,
            "min_separation": min_separation,
            "positions": positions,
            "detect_bands": parse_band_names(detect_bands, "detect_bands"),
            "detect_threshold": detect_threshold,
            "min_area": min_area,
            "mag_limit": mag_limit,
            "min_kron_radius": min_kron_radius,
            "color_cut": color_cut,
            "tta": tta or None,
            "out": out,
            "format": format_,
            "work_dir": work_dir,
            "regions": regions or None,
            "gallery": gallery,
            "known": known,
            "match_radius": match_radius,
            "workers": workers,
            "threads_per_worker": threads_per_worker,
            "scheduler": scheduler,
            "overwrite": overwrite or None,
            "combined": combined,
            "duplicate_radius": duplicate_radius,
            "cluster": cluster,
            "cluster_config": cluster_config,
            "jobs": jobs,
            "adapt": adapt,
            "queue": queue,
            "walltime": walltime,
            "cores": cores,
            "memory": memory,
            "gpus_per_job": gpus_per_job,
            "job_prologue": tuple(job_prologue) if job_prologue else None,
            "retries": retries,
            "force_bands": force_bands or None,
            "force_domain": force_domain or None,
        },
        command="scan",
    )
    sources = FieldSources(
        arguments=tuple(fields or ()),
        field_lists=tuple(field_list or ()),
        hsc_patches=tuple(hsc_patches or ()),
        hsc_root=hsc_root,
    )
    specs = expand_fields(sources) + field_specs([], band or [])
    try:
        report = run_scan(specs, settings, list_files=sources.files)
    except KeyboardInterrupt:
        # Chunks already scored stay in the work stores, and a rerun with the same
        # settings resumes them: say so instead of printing a traceback.
        stores = settings.output.work_dir or "the .work folder beside each catalog"
        typer.echo(
            f"lensscan: interrupted; the chunks done are kept in {stores}: run the same "
            "command again to resume",
            err=True,
        )
        raise typer.Exit(INTERRUPTED_EXIT_CODE) from None
    if len(report.results) == 1 and report.failed:
        raise UserError(report.failed[0].error)
    # A failed field's line carries the library's message, naming settings: show options.
    for line in report.lines():
        typer.echo(as_options(line))
    if report.failed:
        raise UserError(
            f"{len(report.failed)} of {len(report.results)} fields failed: "
            + ", ".join(r.label for r in report.failed)
        )
