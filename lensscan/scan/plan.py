"""Planning a field: what a scan knows about it, and what every field of a run shares.

:func:`plan_field` opens and checks a field, places its cutouts and makes its chunk job
through the run's mode, keys its work store by everything the scores depend on, and
prepares that store (or finds the field's catalog already complete). The field plan and
context it makes sit below the scanner (which asks for them), the scan modes
(:mod:`lensscan.scan.modes`, which read them to place cutouts and build catalog columns)
and the finalisation of a field (which reads them), so that none imports another.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lensscan.atomic import check_output_path
from lensscan.catalog.readers import SkyPositions
from lensscan.progress import logger
from lensscan.scan.chunks import GridJob, PositionsJob
from lensscan.scan.detections import DetectJob
from lensscan.scan.fits_io import OpenedField
from lensscan.scan.geometry import PositionPlan
from lensscan.scan.inputs import FieldSpec, InputHashes, open_for_scan, plane_identity
from lensscan.scan.lock import work_store_lock
from lensscan.scan.model_cache import ModelRef, Scorer
from lensscan.scan.outputs import work_store_path
from lensscan.scan.settings import ScanConfig
from lensscan.scan.workstore import SCORED, STORE_FORMAT, WorkStore, settings_key

if TYPE_CHECKING:
    from lensscan.scan.modes import Mode


class FieldStatus(StrEnum):
    """How a field of a run ended."""

    SCANNED = "scanned"
    UP_TO_DATE = "up to date"
    FAILED = "failed"


@dataclass
class FieldResult:
    """What happened to one field.

    Attributes:
        label: The field as the user gave it.
        status: How the field ended.
        catalog: The catalog written (or already there).
        n_candidates: Rows in the catalog.
        n_windows: Windows scanned (including skipped ones).
        n_skipped: Windows skipped as mostly masked.
        n_detected: Objects detected (detect mode; else None).
        error: One line saying why the field failed.
        n_known: Known lenses inside the field (with ``known``; else None).
        n_recovered: Those among the field's candidates.
    """

    label: str
    status: FieldStatus
    catalog: Path | None = None
    n_candidates: int = 0
    n_windows: int = 0
    n_skipped: int = 0
    n_detected: int | None = None
    error: str | None = None
    n_known: int | None = None
    n_recovered: int | None = None

    def _known(self) -> str:
        if self.n_known is None:
            return ""
        return f"; {self.n_recovered} of {self.n_known} known lenses in the field recovered"

    def line(self) -> str:
        """One summary line."""
        if self.status == FieldStatus.FAILED:
            return f"FAILED {self.error}"
        if self.status == FieldStatus.UP_TO_DATE:
            return f"up to date {self.label}: {self.catalog}"
        if self.n_detected is not None:
            return (
                f"scanned {self.label}: {self.n_detected} objects detected, {self.n_windows} "
                f"preselected and scored ({self.n_skipped} skipped as masked), "
                f"{self.n_candidates} candidates{self._known()} -> {self.catalog}"
            )
        return (
            f"scanned {self.label}: {self.n_windows} windows ({self.n_skipped} skipped as masked), "
            f"{self.n_candidates} candidates{self._known()} -> {self.catalog}"
        )


ScanJob = GridJob | PositionsJob | DetectJob
"""A field's chunk job, whichever the mode."""


@dataclass
class FieldPlan:
    """Everything the client knows about a field it is scanning."""

    spec: FieldSpec
    opened: OpenedField
    job: ScanJob
    catalog: Path
    run_key: str
    catalog_key: str
    inputs: list[dict[str, str]]
    positions: PositionPlan | None
    pending: list[int]
    resumed: bool


@dataclass(frozen=True)
class ScanContext:
    """What every field of a run shares.

    Attributes:
        config: The run's settings, resolved against the model: ``stride``,
            ``output.format`` and ``candidates.min_separation`` are the values used, never
            ``None``.
        scorer: The model.
        model_ref: How workers get the model.
        positions: The catalogued positions of a positions scan, else ``None``.
        known: The known lenses to cross-match, else ``None``.
        extra_inputs: Provenance of the positions and known-lens files.
        mode: The run's mode: positions (``positions`` given), else the configured one.
    """

    config: ScanConfig
    scorer: Scorer
    model_ref: ModelRef
    positions: SkyPositions | None
    known: SkyPositions | None
    extra_inputs: tuple[dict[str, str], ...]
    mode: Mode


def plan_field(
    spec: FieldSpec,
    catalog: Path,
    context: ScanContext,
    hashes: InputHashes,
    locks: contextlib.ExitStack,
) -> FieldPlan | FieldResult:
    """Open a field, make its job and prepare its work store; or find it up to date.

    The work store is keyed by everything its scores depend on (the run key: inputs,
    planes, model, mode and scoring settings), and the catalog by the run key and what the
    catalog adds (threshold, known lenses, side outputs ...): a store with another run key
    starts afresh, and a catalog whose store records its key is complete.

    Args:
        spec: The field.
        catalog: Its catalog's path.
        context: What every field of the run shares.
        hashes: The run's input hashes.
        locks: Where the field's work-store lock is held until the run ends.

    Returns:
        The field's plan, or its result when its catalog is already complete.

    Raises:
        UserError: If the field cannot be scanned (unreadable, out of domain, catalog in
            the way ...).
    """
    config, scorer = context.config, context.scorer
    candidates, output = config.candidates, config.output
    opened = open_for_scan(spec, scorer, config.bands, config.force_bands, config.force_domain)
    inputs = [hashes.record(p) for p in opened.inputs.files]
    positions = context.mode.place(opened, context, spec.label)
    store = str(work_store_path(catalog, opened.inputs.name, output))
    job = context.mode.make_job(opened, store, context, positions)
    score_settings = {
        "work_store": STORE_FORMAT,
        "mode": context.mode.name.value,
        "detect": context.mode.score_settings(job),
        "tta": config.tta,
        "inputs": [i["sha256"] for i in inputs],
        "planes": plane_identity(opened.inputs),
        "model": context.model_ref.identity,
        "size": scorer.input_size,
        "stride": config.stride,
        "chunk_size": config.chunk_size,
        "max_mask_fraction": config.max_mask_fraction,
        "positions": [e["sha256"] for e in context.extra_inputs if e["role"] == "positions"],
    }
    run_key = settings_key(score_settings)
    catalog_key = settings_key(
        {
            "run_key": run_key,
            "catalog": str(catalog.resolve()),
            "format": output.format,
            "threshold": candidates.threshold,
            "top": candidates.top,
            "min_separation": candidates.min_separation,
            "known": [e["sha256"] for e in context.extra_inputs if e["role"] == "known"],
            "match_radius": candidates.match_radius,
            "regions": output.regions,
            "gallery": output.gallery,
        }
    )
    store_path = Path(job.store)
    # The store is named by its field alone, so another scan of this field into the same
    # folder (another catalog, maybe other settings) would use it too: hold it until our
    # catalog is written, before reading or replacing it.
    locks.enter_context(work_store_lock(store_path, spec.label))
    if catalog.exists() and not output.overwrite and store_path.exists():
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
    check_output_path(catalog, overwrite=output.overwrite)
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
        work_store, resumed = WorkStore.prepare(
            store_path, run_key, job.layout(), attrs, fresh=output.overwrite
        )
        pending = [int(i) for i in np.flatnonzero(work_store.status() != SCORED)]
        if resumed:
            logger.info(
                "%s: resuming, %d of %d chunks left", opened.inputs.name, len(pending), job.n_chunks
            )
    return FieldPlan(
        spec,
        opened,
        job,
        catalog,
        run_key,
        catalog_key,
        inputs,
        positions,
        pending,
        resumed,
    )
