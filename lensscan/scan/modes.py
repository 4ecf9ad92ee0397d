"""Scan modes as objects: how a scan chooses the cutouts it scores, and what it writes.

A mode is one of three interchangeable objects behind the :class:`Mode` protocol:
:class:`DetectMode` (cutouts centred on detected, preselected galaxies),
:class:`GridMode` (a dense sliding window) and :class:`PositionsMode` (a user catalog's
positions). Each checks the settings it depends on, places its cutouts, makes the field's
chunk job, says what of its settings the scores depend on, and builds its catalog columns
and metadata; the scanner and the finalisation of a field ask the run's mode instead of
branching on its name. The modes hold no state: what a run gives them (its positions, its
settings resolved against the model) travels in the :class:`~lensscan.scan.plan.ScanContext`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from lensscan.catalog.schema import (
    CANDIDATE_COLUMNS,
    DETECTION_COLUMNS,
    POSITION_COLUMNS,
    TTA_COLUMNS,
    ColumnSpec,
    magnitude_columns,
)
from lensscan.errors import UserError
from lensscan.scan.candidates import Peaks, grid_peaks, group_detections
from lensscan.scan.chunks import GridJob, PositionsJob
from lensscan.scan.detections import DetectJob, detect_settings, field_detections
from lensscan.scan.fits_io import OpenedField
from lensscan.scan.geometry import (
    PositionPlan,
    centred_window_start,
    pixel_to_icrs,
    place_positions,
)
from lensscan.scan.plan import FieldPlan, ScanContext, ScanJob
from lensscan.scan.settings import ScanConfig
from lensscan.scan.workstore import WorkStore


class ScanMode(StrEnum):
    """The name of a scan mode, as settings, work stores and catalogs record it."""

    DETECT = "detect"
    GRID = "grid"
    POSITIONS = "positions"


@dataclass(frozen=True)
class ModeCatalog:
    """A mode's part of a field's catalog.

    Attributes:
        columns: Column name -> values, in rank order (``id``, ``field``, ``bands`` are added
            by the caller).
        specs: The catalog's columns, in order.
        counts: Figures recorded in the catalog's metadata (``n_windows`` and
            ``n_skipped_masked`` always; detect mode adds ``n_detected`` and others).
    """

    columns: dict[str, Any]
    specs: tuple[ColumnSpec, ...]
    counts: dict[str, int]


class Mode(Protocol):
    """How a scan chooses the cutouts it scores, and what it writes about them."""

    name: ScanMode

    def check(self, config: ScanConfig) -> None:
        """Refuse settings (resolved: ``stride`` set) the mode cannot run with.

        Raises:
            UserError: If a setting does not fit the mode.
        """

    def default_separation(self, size: int, pixel_scale: float | None) -> float:
        """``min_separation`` in arcsec when the settings leave it out."""

    def place(self, opened: OpenedField, context: ScanContext, label: str) -> PositionPlan | None:
        """The catalogued positions inside the field (positions mode), else ``None``."""

    def make_job(
        self,
        opened: OpenedField,
        store: str,
        context: ScanContext,
        positions: PositionPlan | None,
    ) -> ScanJob:
        """The field's chunk job, writing to the work store at ``store``."""

    def score_settings(self, job: ScanJob) -> dict[str, Any] | None:
        """The mode's own settings the scores depend on (part of the work store's key)."""

    def catalog(
        self, plan: FieldPlan, context: ScanContext, store: WorkStore | None
    ) -> ModeCatalog:
        """The field's candidate columns from its finished work store."""

    def metadata(self, job: ScanJob) -> dict[str, Any]:
        """The catalog metadata the mode fills: ``stride`` and ``detection``."""


class _ModeBase:
    """What most modes share: no own checks or settings, half a cutout is one object."""

    name: ScanMode

    def check(self, config: ScanConfig) -> None:
        return None

    def default_separation(self, size: int, pixel_scale: float | None) -> float:
        # Windows, or detections, closer than half a cutout see the same scene: one object,
        # or one lens system split by the deblender.
        return size / 2 * (pixel_scale or 1.0)

    def place(self, opened: OpenedField, context: ScanContext, label: str) -> PositionPlan | None:
        return None

    def score_settings(self, job: ScanJob) -> dict[str, Any] | None:
        return None

    def metadata(self, job: ScanJob) -> dict[str, Any]:
        return {"stride": None, "detection": None}


def _window_job_settings(opened: OpenedField, store: str, context: ScanContext) -> dict[str, Any]:
    """What the grid and positions jobs of a field share."""
    config = context.config
    return {
        "inputs": opened.inputs,
        "store": store,
        "model": context.model_ref,
        "size": context.scorer.input_size,
        "chunk_size": config.chunk_size,
        "max_mask_fraction": config.max_mask_fraction,
        "batch_size": config.batch_size,
        "tta": config.tta,
    }


class GridMode(_ModeBase):
    """A dense sliding window over the whole field; peaks of the score map are candidates."""

    name = ScanMode.GRID

    def check(self, config: ScanConfig) -> None:
        """Chunks must hold whole strides, so windows tile the field alike in every chunk.

        Raises:
            UserError: If the chunk size is not a multiple of the stride.
        """
        stride = config.stride
        if config.chunk_size % stride or config.chunk_size < stride:
            raise UserError(
                f"`chunk_size` {config.chunk_size}: must be a multiple of the stride {stride}"
            )

    def make_job(
        self,
        opened: OpenedField,
        store: str,
        context: ScanContext,
        positions: PositionPlan | None,
    ) -> ScanJob:
        """Windows of the model's size on a grid over the whole field."""
        stride = context.config.stride
        return GridJob(**_window_job_settings(opened, store, context), stride=stride)

    def catalog(
        self, plan: FieldPlan, context: ScanContext, store: WorkStore | None
    ) -> ModeCatalog:
        """One row per peak of the score map."""
        columns, n_windows, n_skipped = grid_columns(plan, context, store)
        counts = {"n_windows": n_windows, "n_skipped_masked": n_skipped}
        return ModeCatalog(columns, CANDIDATE_COLUMNS, counts)

    def metadata(self, job: ScanJob) -> dict[str, Any]:
        """The window grid's stride."""
        return {"stride": job.stride, "detection": None}


class PositionsMode(_ModeBase):
    """Cutouts centred on a catalog's positions, each its own candidate (never merged)."""

    name = ScanMode.POSITIONS

    def default_separation(self, size: int, pixel_scale: float | None) -> float:
        """Catalogued positions are each their own object: 0."""
        return 0.0

    def place(self, opened: OpenedField, context: ScanContext, label: str) -> PositionPlan | None:
        """The run's positions whose cutout lies inside the field."""
        size = context.scorer.input_size
        return place_positions(opened.wcs, opened.inputs.shape, context.positions, size, label)

    def make_job(
        self,
        opened: OpenedField,
        store: str,
        context: ScanContext,
        positions: PositionPlan | None,
    ) -> ScanJob:
        """Windows of the model's size centred on the field's ``positions``."""
        assert positions is not None  # place() gives every positions-mode field its own
        size = context.scorer.input_size
        starts = (centred_window_start(positions.y, size), centred_window_start(positions.x, size))
        return PositionsJob(**_window_job_settings(opened, store, context), starts=starts)

    def catalog(
        self, plan: FieldPlan, context: ScanContext, store: WorkStore | None
    ) -> ModeCatalog:
        """One row per position above the threshold, with its row in the positions file."""
        columns, n_windows, n_skipped = position_columns(plan, context, store)
        counts = {"n_windows": n_windows, "n_skipped_masked": n_skipped}
        return ModeCatalog(columns, CANDIDATE_COLUMNS + POSITION_COLUMNS, counts)


class DetectMode(_ModeBase):
    """Cutouts centred on detected, preselected galaxies; lens systems listed once."""

    name = ScanMode.DETECT

    def make_job(
        self,
        opened: OpenedField,
        store: str,
        context: ScanContext,
        positions: PositionPlan | None,
    ) -> ScanJob:
        """Detect, preselect and score the field's galaxies chunk by chunk."""
        config, scorer = context.config, context.scorer
        return DetectJob(
            inputs=opened.inputs,
            store=store,
            model=context.model_ref,
            size=scorer.input_size,
            chunk_size=config.chunk_size,
            max_mask_fraction=config.max_mask_fraction,
            batch_size=config.batch_size,
            settings=detect_settings(config.detect, opened, scorer.pixel_scale),
            tta=config.tta,
        )

    def score_settings(self, job: ScanJob) -> dict[str, Any] | None:
        """The detection and preselection settings."""
        return asdict(job.settings)

    def catalog(
        self, plan: FieldPlan, context: ScanContext, store: WorkStore | None
    ) -> ModeCatalog:
        """One row per lens system, with its photometry."""
        columns, counts = detect_columns(plan, context, store)
        specs = (
            CANDIDATE_COLUMNS
            + DETECTION_COLUMNS
            + magnitude_columns(plan.opened.inputs.band_names)
            + (TTA_COLUMNS if has_spread(context) else ())
        )
        return ModeCatalog(columns, specs, counts)

    def metadata(self, job: ScanJob) -> dict[str, Any]:
        """The detection settings and the chunks' halo."""
        return {"stride": None, "detection": {**asdict(job.settings), "halo": job.halo}}


MODES: dict[ScanMode, Mode] = {
    ScanMode.DETECT: DetectMode(),
    ScanMode.GRID: GridMode(),
    ScanMode.POSITIONS: PositionsMode(),
}
"""Each mode's object."""


def mode_of(config: ScanConfig) -> Mode:
    """The run's mode: positions when the settings give them, else the configured mode."""
    return MODES[ScanMode.POSITIONS if config.positions else ScanMode(config.mode)]


def separation_pixels(plan: FieldPlan, context: ScanContext) -> float:
    """``min_separation`` in pixels (from the field's WCS, else the model's pixel scale)."""
    scale = plan.opened.pixel_scale or context.scorer.pixel_scale or 1.0
    return context.config.candidates.min_separation / scale


def grid_columns(
    plan: FieldPlan, context: ScanContext, store: WorkStore
) -> tuple[dict[str, Any], int, int]:
    """Grid mode's candidate columns (one per peak), windows scored and windows skipped."""
    scores, fractions = store.read("score"), store.read("mask_fraction")
    config = context.config
    peaks: Peaks = grid_peaks(
        scores,
        fractions,
        plan.job.grid,
        config.candidates.threshold,
        separation_pixels(plan, context),
        config.candidates.top,
    )
    ra, dec = pixel_to_icrs(plan.opened.wcs, peaks.x, peaks.y)
    columns = {
        "ra": ra,
        "dec": dec,
        "x": peaks.x,
        "y": peaks.y,
        "score": peaks.score,
        "mask_fraction": peaks.mask_fraction,
    }
    n_skipped = int((fractions > config.max_mask_fraction).sum())
    return columns, scores.size, n_skipped


def position_columns(
    plan: FieldPlan, context: ScanContext, store: WorkStore | None
) -> tuple[dict[str, Any], int, int]:
    """Positions mode's candidate columns, positions scored and positions skipped."""
    positions = plan.positions
    n = len(positions.rows)
    scores = np.full(n, np.nan, dtype=np.float64)
    fractions = np.full(n, np.nan, dtype=np.float32)
    if store is not None:
        stored_scores, stored_fractions = store.read("score"), store.read("mask_fraction")
        for chunk in plan.job.position_chunks:
            scores[chunk.members] = stored_scores[chunk.index, : len(chunk.members)]
            fractions[chunk.members] = stored_fractions[chunk.index, : len(chunk.members)]
    config = context.config
    kept = np.flatnonzero(np.nan_to_num(scores, nan=-np.inf) >= config.candidates.threshold)
    kept = kept[np.lexsort((kept, -scores[kept]))][: config.candidates.top]
    columns = {
        "ra": positions.ra[kept],
        "dec": positions.dec[kept],
        "x": positions.x[kept],
        "y": positions.y[kept],
        "score": scores[kept],
        "mask_fraction": fractions[kept],
        "input_row": positions.rows[kept],
    }
    return columns, n, int((fractions > config.max_mask_fraction).sum())


def has_spread(context: ScanContext) -> bool:
    """Whether a detect-mode catalog has ``score_spread``: with ``--tta`` or an ensemble."""
    return context.config.tta or getattr(context.scorer, "members", 1) > 1


def detect_columns(
    plan: FieldPlan, context: ScanContext, store: WorkStore
) -> tuple[dict[str, Any], dict[str, int]]:
    """Detect mode's candidate columns (one per lens system) and its counts."""
    config = context.config
    objects = field_detections(plan.job, plan.spec.label, store)
    scores = objects["score"]
    listed = np.flatnonzero(np.nan_to_num(scores, nan=-np.inf) >= config.candidates.threshold)
    groups = group_detections(
        objects["x"][listed],
        objects["y"][listed],
        scores[listed],
        objects["core"][listed],
        separation_pixels(plan, context),
        limit=config.candidates.top,
    )
    kept = listed[groups.index]
    ra, dec = pixel_to_icrs(plan.opened.wcs, objects["x"][kept], objects["y"][kept])
    bands = plan.opened.inputs.band_names
    columns = {
        "ra": ra,
        "dec": dec,
        "x": objects["x"][kept],
        "y": objects["y"][kept],
        "score": scores[kept],
        "mask_fraction": objects["mask_fraction"][kept],
        "detection_id": objects["detection_id"][kept],
        "kron_radius": objects["kron_radius"][kept] * plan.job.settings.pixel_scale,
        "ellipticity": objects["ellipticity"][kept],
        "flags": objects["flags"][kept],
        "group_size": groups.size,
        **{f"mag_{b}": objects[f"mag_{b}"][kept] for b in bands},
    }
    if has_spread(context):
        columns["score_spread"] = objects["score_spread"][kept]
    candidates = objects["selected"] & objects["inside"]
    counts = {
        "n_detected": len(scores),
        "n_preselected": int(objects["selected"].sum()),
        "n_windows": int(candidates.sum()),
        "n_skipped_masked": int((candidates & ~np.isfinite(scores)).sum()),
        "n_preselected_at_edge": int((objects["selected"] & ~objects["inside"]).sum()),
    }
    return columns, counts
