"""``lensscan scan``: plan each field, run its chunks on Dask, write its candidate catalog.

A scan scores cutouts centred on detected, preselected galaxies (detect mode, the default),
on a catalog's positions (``positions``, which wins), or on a dense grid (grid mode). For
each field the client takes the catalog's lock, opens the inputs (headers only), checks
them against the model, hashes them, and prepares a Zarr work store keyed by those hashes,
the model's SHA-256 and the settings. Chunks not yet scored in that store are run on Dask
(or in this process), and each field's catalog is written as soon as its chunks are done.
A field that fails is reported and the others go on; the run fails at the end if any
field did.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import check_output_path
from lensscan.catalog.readers import read_sky_positions
from lensscan.catalog.writers import DEFAULT_FORMAT, SUFFIXES, check_format, format_of_path
from lensscan.config import ScanConfig, config_to_dict, parse_adapt
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.provenance import sha256_file
from lensscan.scan.cluster import ClusterSpec, connect
from lensscan.scan.cluster import validate as validate_cluster
from lensscan.scan.combine import combine_catalogs
from lensscan.scan.detect import ZERO_POINT
from lensscan.scan.domain import PIXEL_SCALE_TOLERANCE, check_domain
from lensscan.scan.finalize import write_field_outputs
from lensscan.scan.fits_io import (
    OpenedField,
    open_band_files,
    open_field,
)
from lensscan.scan.lock import output_lock, work_store_lock
from lensscan.scan.model_cache import (
    AUTO_DEVICES,
    ModelRef,
    Scorer,
    model_identity,
    register_model,
)
from lensscan.scan.modes import mode_of, parse_color_cut
from lensscan.scan.plan import (
    FieldPlan,
    FieldResult,
    FieldSpec,
    FieldStatus,
    ScanContext,
)
from lensscan.scan.runner import run_in_process, run_on_dask
from lensscan.scan.summary import ScanReport, summary_path, write_summary
from lensscan.scan.workstore import SCORED, STORE_FORMAT, WorkStore

COMBINED_NAME = "combined"
"""Stem of a multi-field run's combined catalog in the catalog folder."""


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _load_scorer(config: ScanConfig) -> tuple[Scorer, ModelRef]:
    from lensscan.models import load_model, resolve_model_path

    folder = resolve_model_path(config.model)
    scorer = load_model(folder, device=config.device)
    return scorer, ModelRef(str(folder.resolve()), model_identity(scorer), config.device)


def _catalog_paths(names: Sequence[str], config: ScanConfig, fmt: str) -> list[Path]:
    """Catalog path of each field: ``out`` itself for one field, else ``<folder>/<name>``."""
    if not names:  # every field failed before planning (say, a pattern that matched nothing)
        return []
    out_format = format_of_path(config.out) if config.out else None
    if out_format is not None:
        if len(names) > 1:
            raise UserError(f"`out` {config.out}: several fields need a folder, not a file name")
        if out_format != fmt:
            raise UserError(f"`out` {config.out}: suffix does not match `format` {fmt}")
        return [Path(config.out)]
    folder = Path(config.out) if config.out else Path("catalogs")
    return [folder / f"{name}{SUFFIXES[fmt]}" for name in names]


def _work_store_path(catalog: Path, name: str, config: ScanConfig) -> Path:
    folder = Path(config.work_dir) if config.work_dir else catalog.parent / ".work"
    return folder / f"{name}.zarr"


class _Hashes:
    """SHA-256 of input files, each computed once per run."""

    def __init__(self) -> None:
        self._known: dict[Path, str] = {}

    def record(self, path: Path) -> dict[str, str]:
        resolved = path.resolve()
        if resolved not in self._known:
            self._known[resolved] = sha256_file(resolved)
        return {"path": str(resolved), "sha256": self._known[resolved]}


def _open(spec: FieldSpec, context: ScanContext) -> OpenedField:
    scorer = context.scorer
    if spec.path is not None:
        opened = open_field(spec.path, scorer.bands, scorer.input_size, context.config.bands)
    else:
        opened = open_band_files(
            spec.band_paths or {}, scorer.bands, scorer.input_size, context.config.force_bands
        )
    check = getattr(scorer, "check_input", None)
    if check is not None:
        check(
            opened.inputs.band_names,
            (len(scorer.bands), scorer.input_size, scorer.input_size),
            spec.label,
        )
    # Refused before anything else is said about the field: nothing else would matter.
    mismatches = check_domain(
        opened, scorer.bands, scorer.pixel_scale, spec.label, context.config.force_domain
    )
    no_variance = opened.inputs.unusable_variance_bands()
    if no_variance:
        logger.warning(
            "%s: the VARIANCE plane of band(s) %s holds no positive value; the noise is "
            "estimated from the image instead",
            spec.label,
            ",".join(no_variance),
        )
        opened = replace(opened, inputs=opened.inputs.without_variance(no_variance))
    empty = opened.inputs.zero_bands()
    if empty:
        logger.warning(
            "%s: band(s) %s hold only zeros; treated as no data",
            spec.label,
            ",".join(empty),
        )
        opened = replace(opened, inputs=replace(opened.inputs, no_data_bands=empty))
    for note in opened.notes:
        logger.info("%s: %s", opened.inputs.name, note)
    declared = [
        f"{band}={value:.3f} ({card})"
        for band, (value, card) in opened.zero_points.items()
        if abs(value - ZERO_POINT) > 1e-3
    ]
    if declared:
        logger.info(
            "%s: magnitudes at the header's zero point(s) %s", spec.label, ", ".join(declared)
        )
    for assumption in opened.assumptions:
        logger.warning("%s: %s", opened.inputs.name, assumption)
    if opened.wcs is None:
        logger.warning(
            "%s: no celestial WCS; scanning in pixel coordinates (ra/dec will be NaN)",
            spec.label,
        )
    elif (
        scorer.pixel_scale
        and abs(opened.pixel_scale / scorer.pixel_scale - 1) > PIXEL_SCALE_TOLERANCE
        and not mismatches  # a scale far off is said once, below
    ):
        logger.warning(
            '%s: pixel scale %.3f" differs from the model\'s %.3f"',
            spec.label,
            opened.pixel_scale,
            scorer.pixel_scale,
        )
    for mismatch in mismatches:
        logger.warning("%s: %s; scanned anyway (`force_domain`)", spec.label, mismatch)
    return opened


def _plan(
    spec: FieldSpec,
    catalog: Path,
    context: ScanContext,
    hashes: _Hashes,
    locks: contextlib.ExitStack,
) -> FieldPlan | FieldResult:
    config, scorer = context.config, context.scorer
    opened = _open(spec, context)
    inputs = [hashes.record(p) for p in opened.inputs.files]
    size = scorer.input_size
    positions = context.mode.place(opened, context, spec.label)
    store = str(_work_store_path(catalog, opened.inputs.name, config))
    job = context.mode.make_job(opened, store, context, positions)
    score_settings = {
        "work_store": STORE_FORMAT,
        "mode": context.mode.name.value,
        "detect": context.mode.score_settings(job),
        "tta": config.tta,
        "inputs": [i["sha256"] for i in inputs],
        "planes": [(b.band, b.data.hdu, b.plane) for b in opened.inputs.bands],
        "model": context.model_ref.identity,
        "size": size,
        "stride": context.stride,
        "chunk_size": config.chunk_size,
        "max_mask_fraction": config.max_mask_fraction,
        "positions": [e["sha256"] for e in context.extra_inputs if e["role"] == "positions"],
    }
    run_key = _digest(score_settings)
    catalog_key = _digest(
        {
            "run_key": run_key,
            "catalog": str(catalog.resolve()),
            "format": context.fmt,
            "threshold": config.threshold,
            "top": config.top,
            "min_separation": context.min_separation,
            "known": [e["sha256"] for e in context.extra_inputs if e["role"] == "known"],
            "match_radius": config.match_radius,
            "regions": config.regions,
            "gallery": config.gallery,
        }
    )
    store_path = Path(job.store)
    # The store is named by its field alone, so another scan of this field into the same
    # folder (another catalog, maybe other settings) would use it too: hold it until our
    # catalog is written, before reading or replacing it.
    locks.enter_context(work_store_lock(store_path, spec.label))
    if catalog.exists() and not config.overwrite and store_path.exists():
        record = WorkStore(store_path, mode="r").attrs.get("catalog", {})
        if record.get("key") == catalog_key:
            return FieldResult(
                spec.label,
                FieldStatus.UP_TO_DATE,
                catalog=catalog,
                n_candidates=record.get("rows", 0),
            )
    # Only the catalog is checked: regions and gallery belong to it and are replaced with it
    # (they may be left over from a run killed before its catalog was written).
    check_output_path(catalog, overwrite=config.overwrite)
    if positions is not None and len(positions.rows) == 0:
        logger.warning("%s: none of the `positions` fall inside the field", spec.label)
        pending, resumed = [], False
    else:
        attrs = {
            "field": opened.inputs.name,
            "bands": list(opened.inputs.band_names),
            "files": [str(p) for p in opened.inputs.files],
            "score_settings": score_settings,
        }
        store, resumed = WorkStore.prepare(
            store_path, run_key, job.layout(), attrs, fresh=config.overwrite
        )
        pending = [int(i) for i in np.flatnonzero(store.status() != SCORED)]
        if resumed:
            logger.info(
                "%s: resuming, %d of %d chunks left", opened.inputs.name, len(pending), job.n_chunks
            )
    return FieldPlan(
        spec,
        opened,
        job,
        catalog,
        context.fmt,
        run_key,
        catalog_key,
        inputs,
        positions,
        pending,
        resumed,
    )


def _input_record(role: str, path: str) -> dict[str, str]:
    """Provenance of an auxiliary input file: its role, absolute path and SHA-256."""
    return {"role": role, "path": str(Path(path).resolve()), "sha256": sha256_file(path)}


def _context(config: ScanConfig, scorer: Scorer | None) -> ScanContext:
    fmt = check_format(
        config.format or (format_of_path(config.out) if config.out else None) or DEFAULT_FORMAT
    )
    if scorer is None:
        scorer, ref = _load_scorer(config)
    else:
        ref = ModelRef(None, model_identity(scorer), config.device)
    register_model(ref, scorer)
    size = scorer.input_size
    mode = mode_of(config)
    stride = config.stride or max(size // 2, 1)
    if stride > size:
        raise UserError(f"`stride` {stride}: larger than the model's {size} px cutout")
    if config.chunk_size < size:
        # Each chunk reads a halo of at least a cutout around it: smaller chunks would read
        # the field many times over and make tens of thousands of tasks.
        raise UserError(
            f"`chunk_size` {config.chunk_size}: smaller than the model's {size} px cutout"
        )
    mode.check(config, stride)
    color_cut = parse_color_cut(config, scorer.bands)
    separation = config.min_separation
    if separation is None:
        separation = mode.default_separation(size, scorer.pixel_scale)
    extra: list[dict[str, str]] = []
    positions = known = None
    if config.positions:
        positions = read_sky_positions(config.positions, "positions")
        extra.append(_input_record("positions", config.positions))
    if config.known:
        known = read_sky_positions(config.known, "known")
        extra.append(_input_record("known", config.known))
    return ScanContext(
        config,
        scorer,
        ref,
        stride,
        fmt,
        positions,
        known,
        tuple(extra),
        mode,
        separation,
        color_cut,
    )


def cluster_spec(config: ScanConfig, scorer: Scorer) -> ClusterSpec:
    """Where the scan's tasks run, from the settings and the model's device here.

    A local cluster on a machine with several GPUs gives each worker one of them, unless
    the settings name one GPU (``cuda:N``).
    """
    local_gpus = 0
    device = getattr(scorer, "device", None)
    if getattr(device, "type", None) == "cuda":
        import torch

        local_gpus = torch.cuda.device_count() if config.device in AUTO_DEVICES else 1
    return ClusterSpec(
        kind=config.cluster,
        scheduler=config.scheduler,
        workers=config.workers,
        threads_per_worker=config.threads_per_worker,
        local_gpus=local_gpus,
        jobs=config.jobs,
        adapt=parse_adapt(config.adapt),
        queue=config.queue,
        walltime=config.walltime,
        cores=config.cores,
        memory=config.memory,
        gpus_per_job=config.gpus_per_job,
        prologue=tuple(config.job_prologue),
        config_file=config.cluster_config,
    )


def _combined_path(
    config: ScanConfig, fmt: str, n_fields: int, catalogs: Sequence[Path]
) -> Path | None:
    """The combined catalog: ``combined``, else ``combined.<fmt>`` beside several fields."""
    if config.combined:
        path = Path(config.combined)
        if format_of_path(path) != fmt:
            raise UserError(f"`combined` {path}: suffix does not match `format` {fmt}")
    elif n_fields > 1 and format_of_path(config.out or "") is None:
        path = Path(config.out or "catalogs") / f"{COMBINED_NAME}{SUFFIXES[fmt]}"
    else:
        return None
    if any(path.resolve() == c.resolve() for c in catalogs):
        raise UserError(
            f"`combined` {path}: is also a field's catalog; name the combined catalog "
            "with `combined`"
        )
    return path


def scan(
    fields: Sequence[FieldSpec],
    config: ScanConfig,
    scorer: Scorer | None = None,
    list_files: Sequence[str] = (),
) -> ScanReport:
    """Scan fields for lens candidates and write one catalog per field.

    With several fields (or ``config.combined``) it also writes the combined catalog of
    the fields done, less the duplicates of field overlaps, and a JSON run summary beside
    it.

    Args:
        fields: The fields to scan; those with a ``problem`` fail at once.
        config: The resolved settings.
        scorer: An already-loaded model (tests, notebooks); by default ``config.model`` is
            loaded. An in-memory model works with ``workers=0`` or a threads-only cluster.
        list_files: Files the fields were listed in, recorded in the run summary.

    Returns:
        What happened to each field; the caller decides how to report failures.

    Raises:
        UserError: For problems of the whole run (bad option, model not found, ...).
    """
    if not fields:
        raise UserError("no field given (pass field files or `band` BAND=PATH options)")
    context = _context(config, scorer)
    cluster = cluster_spec(config, context.scorer)
    validate_cluster(cluster)
    usable = [spec for spec in fields if spec.problem is None]
    names = [spec.name(context.scorer.bands) for spec in usable]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(
            f"several fields share the name {duplicates[0]!r} (their catalogs and work stores "
            "would collide); scan them in separate runs with different `out`"
        )
    catalogs = _catalog_paths(names, config, context.fmt)
    combined_path = _combined_path(config, context.fmt, len(fields), catalogs)
    with contextlib.ExitStack() as locks:
        if combined_path is not None:
            locks.enter_context(output_lock(combined_path))
        scanned = iter(_scan_fields(usable, catalogs, config, context, locks, cluster))
        report = ScanReport(
            [
                FieldResult(spec.label, FieldStatus.FAILED, error=spec.problem)
                if spec.problem is not None
                else next(scanned)
                for spec in fields
            ]
        )
        if combined_path is not None:
            _write_run_outputs(report, combined_path, context, list_files)
    return report


def _write_run_outputs(
    report: ScanReport, combined_path: Path, context: ScanContext, list_files: Sequence[str]
) -> None:
    """Write the combined catalog of the fields done, then the run summary beside it."""
    settings = _settings(context)
    done = [r.catalog for r in report.results if r.status != FieldStatus.FAILED and r.catalog]
    if done:
        report.combined = combine_catalogs(
            done, context.fmt, combined_path, context.config.duplicate_radius, settings
        )
    report.summary = write_summary(summary_path(combined_path), report, settings, list_files)


def _settings(context: ScanContext) -> dict[str, Any]:
    """The resolved settings every output of the run records."""
    return config_to_dict(context.config) | {
        "stride": context.stride,
        "window": context.scorer.input_size,
    }


def _scan_fields(
    fields: Sequence[FieldSpec],
    catalogs: Sequence[Path],
    config: ScanConfig,
    context: ScanContext,
    locks: contextlib.ExitStack,
    cluster: ClusterSpec,
) -> list[FieldResult]:
    """Plan, run and write the fields, each under its catalog's lock (held by ``locks``)."""
    results: dict[int, FieldResult] = {}
    plans: dict[int, FieldPlan] = {}
    hashes = _Hashes()
    for f, (spec, catalog) in enumerate(zip(fields, catalogs, strict=True)):
        try:
            locks.enter_context(output_lock(catalog))
            planned = _plan(spec, catalog, context, hashes, locks)
        except Exception as exc:  # one field's failure must not stop the others
            results[f] = _failure(spec.label, exc)
            continue
        if isinstance(planned, FieldResult):
            results[f] = planned
        else:
            plans[f] = planned
    order = list(plans)
    jobs = [plans[f].job for f in order]
    pending = {i: plans[f].pending for i, f in enumerate(order)}
    settings = _settings(context)
    # Without chunks to run (all fields failed, done or resumed to the end) no cluster is needed.
    if not any(pending.values()):
        cluster = ClusterSpec(workers=0)
    with connect(cluster) as client:
        outcomes = (
            run_in_process(jobs, pending)
            if client is None
            else run_on_dask(client, jobs, pending, config.retries)
        )
        for i, error in outcomes:
            f = order[i]
            plan = plans[f]
            if error is None:
                try:
                    results[f] = write_field_outputs(plan, context, settings)
                except UserError as exc:
                    error = exc
            if error is not None:
                results[f] = _failure(plan.spec.label, error)
    return [results[f] for f in range(len(fields))]


def _failure(label: str, error: BaseException) -> FieldResult:
    """Record a failed field; unexpected errors keep their traceback in the log."""
    text = " ".join(str(error).split())
    if not isinstance(error, UserError):
        logger.error("%s: unexpected error", label, exc_info=error)
        text = f"{label}: {type(error).__name__}: {text}"
    return FieldResult(label, FieldStatus.FAILED, error=text)


def parse_band_options(values: Sequence[str]) -> dict[str, Path]:
    """Parse ``band`` values (``g=PATH``) into band -> path.

    Raises:
        UserError: For a value without ``=`` or a band given twice.
    """
    bands: dict[str, Path] = {}
    for value in values:
        band, sep, path = value.partition("=")
        if not sep or not band or not path:
            raise UserError(f"`band` {value}: expected BAND=PATH, e.g. `band` g=calexp-HSC-G.fits")
        if band in bands:
            raise UserError(f"`band` {band}: given twice")
        bands[band] = Path(path)
    return bands


def field_specs(
    paths: Sequence[str | os.PathLike[str]], band_values: Sequence[str]
) -> list[FieldSpec]:
    """The fields of a command line: each FIELD file, plus one field from ``--band`` options."""
    specs = [FieldSpec(path=Path(p)) for p in paths]
    if band_values:
        specs.append(FieldSpec(band_paths=parse_band_options(band_values)))
    return specs
