"""Scan modes as objects: how a scan chooses the cutouts it scores, and what it writes.

A mode is one of three interchangeable objects behind the :class:`Mode` protocol:
:class:`DetectMode` (cutouts centred on detected, preselected galaxies),
:class:`GridMode` (a dense sliding window) and :class:`PositionsMode` (a user catalog's
positions). Each checks the settings it depends on, places its cutouts, makes the field's
chunk job, says what of its settings the scores depend on, and builds its catalog columns
and metadata; the scanner and the finalisation of a field ask the run's mode instead of
branching on its name. The modes hold no state: what a run gives them (its positions, its
colour cut) travels in the :class:`~lensscan.scan.plan.ScanContext`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from lensscan.catalog.readers import SkyPositions
from lensscan.catalog.schema import (
    CANDIDATE_COLUMNS,
    DETECTION_COLUMNS,
    POSITION_COLUMNS,
    TTA_COLUMNS,
    ColumnSpec,
    magnitude_columns,
)
from lensscan.config import ScanConfig
from lensscan.errors import UserError
from lensscan.scan.candidates import (
    Peaks,
    grid_peaks,
    group_detections,
    icrs_to_pixel,
    pixel_to_icrs,
)
from lensscan.scan.chunks import FieldJob
from lensscan.scan.detect import ColorCut, DetectSettings
from lensscan.scan.detect_job import DetectJob
from lensscan.scan.fits_io import OpenedField
from lensscan.scan.plan import FieldPlan, PositionPlan, ScanContext
from lensscan.scan.tiling import centred_window_start
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

    def check(self, config: ScanConfig, stride: int) -> None:
        """Refuse settings the mode cannot run with.

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
    ) -> FieldJob | DetectJob:
        """The field's chunk job, writing to the work store at ``store``."""

    def score_settings(self, job: FieldJob | DetectJob) -> dict[str, Any] | None:
        """The mode's own settings the scores depend on (part of the work store's key)."""

    def catalog(
        self, plan: FieldPlan, context: ScanContext, store: WorkStore | None
    ) -> ModeCatalog:
        """The field's candidate columns from its finished work store."""

    def metadata(self, job: FieldJob | DetectJob) -> dict[str, Any]:
        """The catalog metadata the mode fills: ``stride`` and ``detection``."""


class _ModeBase:
    """What most modes share: no own checks or settings, half a cutout is one object."""

    name: ScanMode

    def check(self, config: ScanConfig, stride: int) -> None:
        return None

    def default_separation(self, size: int, pixel_scale: float | None) -> float:
        # Windows, or detections, closer than half a cutout see the same scene: one object,
        # or one lens system split by the deblender.
        return size / 2 * (pixel_scale or 1.0)

    def place(self, opened: OpenedField, context: ScanContext, label: str) -> PositionPlan | None:
        return None

    def make_job(
        self,
        opened: OpenedField,
        store: str,
        context: ScanContext,
        positions: PositionPlan | None,
    ) -> FieldJob | DetectJob:
        """Windows of the model's size on a grid, or centred on ``positions`` when given."""
        size = context.scorer.input_size
        position_starts = None
        if positions is not None:
            position_starts = (
                centred_window_start(positions.y, size),
                centred_window_start(positions.x, size),
            )
        config = context.config
        return FieldJob(
            inputs=opened.inputs,
            store=store,
            model=context.model_ref,
            size=size,
            stride=context.stride,
            chunk_size=config.chunk_size,
            max_mask_fraction=config.max_mask_fraction,
            batch_size=config.batch_size,
            tta=config.tta,
            position_starts=position_starts,
        )

    def score_settings(self, job: FieldJob | DetectJob) -> dict[str, Any] | None:
        return None

    def metadata(self, job: FieldJob | DetectJob) -> dict[str, Any]:
        return {"stride": None, "detection": None}


class GridMode(_ModeBase):
    """A dense sliding window over the whole field; peaks of the score map are candidates."""

    name = ScanMode.GRID

    def check(self, config: ScanConfig, stride: int) -> None:
        """Chunks must hold whole strides, so windows tile the field alike in every chunk.

        Raises:
            UserError: If the chunk size is not a multiple of the stride.
        """
        if config.chunk_size % stride or config.chunk_size < stride:
            raise UserError(
                f"`chunk_size` {config.chunk_size}: must be a multiple of the stride {stride}"
            )

    def catalog(
        self, plan: FieldPlan, context: ScanContext, store: WorkStore | None
    ) -> ModeCatalog:
        """One row per peak of the score map."""
        columns, n_windows, n_skipped = grid_columns(plan, context, store)
        counts = {"n_windows": n_windows, "n_skipped_masked": n_skipped}
        return ModeCatalog(columns, CANDIDATE_COLUMNS, counts)

    def metadata(self, job: FieldJob | DetectJob) -> dict[str, Any]:
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
        return place_positions(opened, context.positions, context.scorer.input_size, label)

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
    ) -> FieldJob | DetectJob:
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
            settings=detect_settings(config, opened, scorer.pixel_scale, context.color_cut),
            tta=config.tta,
        )

    def score_settings(self, job: FieldJob | DetectJob) -> dict[str, Any] | None:
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

    def metadata(self, job: FieldJob | DetectJob) -> dict[str, Any]:
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


def place_positions(
    opened: OpenedField, positions: SkyPositions, size: int, label: str
) -> PositionPlan:
    """The catalogued positions whose centred cutout lies inside the field.

    Raises:
        UserError: If the field has no celestial WCS.
    """
    if opened.wcs is None:
        raise UserError(f"{label}: no celestial WCS, so `positions` cannot be placed on it")
    height, width = opened.inputs.shape
    x, y = icrs_to_pixel(opened.wcs, positions.ra, positions.dec)
    start_x, start_y = centred_window_start(x, size), centred_window_start(y, size)
    inside = (
        np.isfinite(x)
        & np.isfinite(y)
        & (start_x >= 0)
        & (start_y >= 0)
        & (start_x + size <= width)
        & (start_y + size <= height)
    )
    rows = np.flatnonzero(inside)
    return PositionPlan(
        rows=rows,
        x=x[rows],
        y=y[rows],
        ra=positions.ra[rows],
        dec=positions.dec[rows],
        n_outside=int(len(x) - len(rows)),
    )


def detect_settings(
    config: Any, opened: OpenedField, fallback_scale: float | None, color_cut: ColorCut | None
) -> DetectSettings:
    """The detection and preselection settings of a field (its bands and pixel scale).

    Args:
        config: Settings with ``detect_bands``, ``detect_threshold``, ``min_area``,
            ``mag_limit`` and ``min_kron_radius`` (scan's or cutouts').
        opened: The field.
        fallback_scale: Pixel scale to use when the field has no celestial WCS.
        color_cut: The parsed colour cut, if any.

    Raises:
        UserError: If the field's pixel scale is unknown.
    """
    bands = opened.inputs.band_names
    scale = opened.pixel_scale or fallback_scale
    if scale is None:
        raise UserError(
            f"{opened.inputs.name}: no pixel scale (no celestial WCS and none in the model "
            "card), so the Kron radius cut cannot be applied"
        )
    return DetectSettings(
        bands=tuple(config.detect_bands or ()),
        threshold=config.detect_threshold,
        min_area=config.min_area,
        mag_band="i" if "i" in bands else bands[-1],
        mag_limit=config.mag_limit,
        min_kron_radius=config.min_kron_radius,
        color_cut=color_cut,
        pixel_scale=scale,
        zero_points=tuple(opened.zero_point(band)[0] for band in bands),
        band_variances=opened.inputs.typical_variances(),
    )


def parse_color_cut(config: Any, bands: Sequence[str]) -> ColorCut | None:
    """The colour cut of the settings, checked with ``detect_bands`` against the bands.

    Raises:
        UserError: If the cut is malformed or names a band the cutouts do not have.
    """
    color_cut = ColorCut.parse(config.color_cut) if config.color_cut else None
    wanted = {*(config.detect_bands or ()), *((color_cut.blue, color_cut.red) if color_cut else ())}
    missing = sorted(wanted - set(bands))
    if missing:
        raise UserError(
            f"`detect_bands`/`color_cut`: band(s) {','.join(missing)} not among the model's "
            f"{','.join(bands)}"
        )
    return color_cut


def separation_pixels(plan: FieldPlan, context: ScanContext) -> float:
    """``min_separation`` in pixels (from the field's WCS, else the model's pixel scale)."""
    scale = plan.opened.pixel_scale or context.scorer.pixel_scale or 1.0
    return context.min_separation / scale


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
        config.threshold,
        separation_pixels(plan, context),
        config.top,
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
    kept = np.flatnonzero(np.nan_to_num(scores, nan=-np.inf) >= config.threshold)
    kept = kept[np.lexsort((kept, -scores[kept]))][: config.top]
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


def field_detections(job: DetectJob, label: str, store: WorkStore) -> dict[str, np.ndarray]:
    """Every object the field's chunks own, in (y, x) order, with ``detection_id`` 1..N.

    The order and so the ids depend only on the objects, not on the chunking.

    Raises:
        UserError: If every pixel of the field is masked or has no data.
    """
    parts, good = zip(*(store.read_detections(c.index) for c in job.chunks), strict=True)
    if sum(good) == 0:
        raise UserError(
            f"{label}: every pixel is masked or has no data (NaN, zeros or MASK "
            "bits); nothing to detect"
        )
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    order = np.lexsort((columns["x"], columns["y"]))
    columns = {name: values[order] for name, values in columns.items()}
    columns["detection_id"] = np.arange(1, len(order) + 1)
    return columns


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
    listed = np.flatnonzero(np.nan_to_num(scores, nan=-np.inf) >= config.threshold)
    groups = group_detections(
        objects["x"][listed],
        objects["y"][listed],
        scores[listed],
        objects["core"][listed],
        separation_pixels(plan, context),
        limit=config.top,
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
