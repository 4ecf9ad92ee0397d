"""``lensscan scan``: plan each field, run its chunks on Dask, write its candidate catalog.

A scan scores cutouts centred on detected, preselected galaxies (detect mode, the default),
on a catalog's positions (``positions``, which wins), or on a dense grid (grid mode). This
module only orchestrates the stages, each in its own module: the run's context (model,
mode, shared inputs) is made here; for each field, under its catalog's lock,
:func:`~lensscan.scan.plan.plan_field` opens and checks the inputs
(:mod:`~lensscan.scan.inputs`, headers only), places the cutouts
(:mod:`~lensscan.scan.geometry`) and prepares a Zarr work store keyed by the inputs'
hashes, the model's SHA-256 and the settings. Chunks not yet scored in that store are run
on Dask or in this process (:mod:`~lensscan.scan.runner`: detections and scoring), and each
field's catalog is written as soon as its chunks are done
(:mod:`~lensscan.scan.finalize`); several fields are combined at the end
(:mod:`~lensscan.scan.combine`). A field that fails is reported and the others go on; the
run fails at the end if any field did.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lensscan.catalog.readers import read_sky_positions
from lensscan.config import config_to_dict
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.scan.cluster import connect, local_gpus
from lensscan.scan.cluster import validate as validate_cluster
from lensscan.scan.combine import combine_catalogs
from lensscan.scan.finalize import write_field_outputs
from lensscan.scan.inputs import FieldSpec, InputHashes, auxiliary_input
from lensscan.scan.lock import output_lock
from lensscan.scan.model_cache import ModelRef, Scorer, model_identity, register_model
from lensscan.scan.modes import mode_of
from lensscan.scan.outputs import catalog_format, catalog_paths, combined_path
from lensscan.scan.plan import FieldPlan, FieldResult, FieldStatus, ScanContext, plan_field
from lensscan.scan.runner import run_in_process, run_on_dask
from lensscan.scan.settings import ClusterSettings, ScanConfig
from lensscan.scan.summary import ScanReport, summary_path, write_summary


def _load_scorer(config: ScanConfig) -> tuple[Scorer, ModelRef]:
    from lensscan.models import load_model, resolve_model_path

    folder = resolve_model_path(config.model)
    scorer = load_model(folder, device=config.device)
    return scorer, ModelRef(str(folder.resolve()), model_identity(scorer), config.device)


def _context(config: ScanConfig, scorer: Scorer | None) -> ScanContext:
    """What every field shares: the model, the mode, the catalogues, the settings resolved.

    The settings left to the model or the mode (``stride``, ``output.format``,
    ``candidates.min_separation``) are resolved into the context's config, so every stage
    reads the values used from one place.
    """
    fmt = catalog_format(config.output)
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
    separation = config.candidates.min_separation
    if separation is None:
        separation = mode.default_separation(size, scorer.pixel_scale)
    config = replace(
        config,
        stride=stride,
        candidates=replace(config.candidates, min_separation=separation),
        output=replace(config.output, format=fmt),
    )
    mode.check(config)
    config.detect.check_bands(scorer.bands)
    extra: list[dict[str, str]] = []
    positions = known = None
    if config.positions:
        positions = read_sky_positions(config.positions, "positions")
        extra.append(auxiliary_input("positions", config.positions))
    if config.candidates.known:
        known = read_sky_positions(config.candidates.known, "known")
        extra.append(auxiliary_input("known", config.candidates.known))
    return ScanContext(config, scorer, ref, positions, known, tuple(extra), mode)


def scan(
    fields: Sequence[FieldSpec],
    config: ScanConfig,
    scorer: Scorer | None = None,
    list_files: Sequence[str] = (),
) -> ScanReport:
    """Scan fields for lens candidates and write one catalog per field.

    With several fields (or ``config.output.combined``) it also writes the combined catalog of
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
    config = context.config
    validate_cluster(config.cluster)
    usable = [spec for spec in fields if spec.problem is None]
    names = [spec.name(context.scorer.bands) for spec in usable]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UserError(
            f"several fields share the name {duplicates[0]!r} (their catalogs and work stores "
            "would collide); scan them in separate runs with different `out`"
        )
    catalogs = catalog_paths(names, config.output)
    combined = combined_path(config.output, len(fields), catalogs)
    with contextlib.ExitStack() as locks:
        if combined is not None:
            locks.enter_context(output_lock(combined))
        scanned = iter(_scan_fields(usable, catalogs, context, locks))
        report = ScanReport(
            [
                FieldResult(spec.label, FieldStatus.FAILED, error=spec.problem)
                if spec.problem is not None
                else next(scanned)
                for spec in fields
            ]
        )
        if combined is not None:
            _write_run_outputs(report, combined, context, list_files)
    return report


def _write_run_outputs(
    report: ScanReport, combined: Path, context: ScanContext, list_files: Sequence[str]
) -> None:
    """Write the combined catalog of the fields done, then the run summary beside it."""
    settings = _settings(context)
    config = context.config
    done = [r.catalog for r in report.results if r.status != FieldStatus.FAILED and r.catalog]
    if done:
        report.combined = combine_catalogs(
            done, config.output.format, combined, config.candidates.duplicate_radius, settings
        )
    report.summary = write_summary(summary_path(combined), report, settings, list_files)


def _settings(context: ScanContext) -> dict[str, Any]:
    """The resolved settings every output of the run records."""
    return config_to_dict(context.config) | {"window": context.scorer.input_size}


def _scan_fields(
    fields: Sequence[FieldSpec],
    catalogs: Sequence[Path],
    context: ScanContext,
    locks: contextlib.ExitStack,
) -> list[FieldResult]:
    """Plan, run and write the fields, each under its catalog's lock (held by ``locks``)."""
    config = context.config
    results: dict[int, FieldResult] = {}
    plans: dict[int, FieldPlan] = {}
    hashes = InputHashes()
    for f, (spec, catalog) in enumerate(zip(fields, catalogs, strict=True)):
        try:
            locks.enter_context(output_lock(catalog))
            planned = plan_field(spec, catalog, context, hashes, locks)
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
    cluster = config.cluster if any(pending.values()) else ClusterSettings(workers=0)
    with connect(cluster, local_gpus(config.device, context.scorer)) as client:
        outcomes = (
            run_in_process(jobs, pending)
            if client is None
            else run_on_dask(client, jobs, pending, cluster.retries)
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
