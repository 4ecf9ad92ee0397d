"""Turn a field's finished work store into its outputs: catalog, regions, gallery.

Side outputs (DS9 regions, gallery) are written first and the catalog last, each
atomically, and the work store records the catalog's key only after it is in place: an
existing catalog with a matching record therefore means the field is complete.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lensscan.catalog.crossmatch import add_known_columns
from lensscan.catalog.gallery import write_gallery
from lensscan.catalog.schema import (
    CANDIDATE_COLUMNS,
    DETECTION_COLUMNS,
    POSITION_COLUMNS,
    TTA_COLUMNS,
    magnitude_columns,
    make_table,
)
from lensscan.catalog.writers import write_catalog, write_regions
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.scan.candidates import (
    Peaks,
    grid_peaks,
    group_detections,
    icrs_to_pixel,
    pixel_to_icrs,
)
from lensscan.scan.domain import domain_mismatches
from lensscan.scan.plan import FieldPlan, FieldResult, ScanContext, side_outputs
from lensscan.scan.workstore import WorkStore

if TYPE_CHECKING:
    from lensscan.scan.detect_job import DetectJob

REGION_RADIUS_ARCSEC = 2.0


def _separation_pixels(plan: FieldPlan, context: ScanContext) -> float:
    """``min_separation`` in pixels (from the field's WCS, else the model's pixel scale)."""
    scale = plan.opened.pixel_scale or context.scorer.pixel_scale or 1.0
    return context.min_separation / scale


def _grid_columns(
    plan: FieldPlan, context: ScanContext, store: WorkStore
) -> tuple[dict[str, Any], int, int]:
    scores, fractions = store.read("score"), store.read("mask_fraction")
    config = context.config
    peaks: Peaks = grid_peaks(
        scores,
        fractions,
        plan.job.grid,
        config.threshold,
        _separation_pixels(plan, context),
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


def _position_columns(
    plan: FieldPlan, context: ScanContext, store: WorkStore | None
) -> tuple[dict[str, Any], int, int]:
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


def _detect_columns(
    plan: FieldPlan, context: ScanContext, store: WorkStore
) -> tuple[dict[str, Any], dict[str, int]]:
    config = context.config
    objects = field_detections(plan.job, plan.spec.label, store)
    scores = objects["score"]
    listed = np.flatnonzero(np.nan_to_num(scores, nan=-np.inf) >= config.threshold)
    groups = group_detections(
        objects["x"][listed],
        objects["y"][listed],
        scores[listed],
        objects["core"][listed],
        _separation_pixels(plan, context),
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


def field_source(plan: FieldPlan, context: ScanContext) -> dict[str, Any]:
    """How to open the field again, as the scan did (what ``inspect`` reads to cut stamps).

    A field read from one file records that file and the band names given for its planes
    (``bands``, when the header did not say); any other field (one file per band, or an
    HSC calexp with its sibling bands) records the file of each band.
    """
    inputs = plan.opened.inputs
    if plan.spec.path is not None and len(inputs.files) == 1:
        bands = context.config.bands
        return {"file": str(inputs.files[0].resolve()), "bands": list(bands) if bands else None}
    return {"band_files": {b.band: str(Path(b.data.path).resolve()) for b in inputs.bands}}


def _domain(plan: FieldPlan, context: ScanContext) -> dict[str, Any]:
    """How the field compares with the model's domain (a field with mismatches was forced)."""
    scorer = context.scorer
    mismatches = domain_mismatches(plan.opened, scorer.bands, scorer.pixel_scale)
    return {
        "model_pixel_scale": scorer.pixel_scale,
        "field_pixel_scale": plan.opened.pixel_scale,
        "filters": dict(plan.opened.filters),
        "mismatches": mismatches,
        "forced": bool(mismatches),
    }


def _metadata(
    plan: FieldPlan, context: ScanContext, settings: dict[str, Any], counts: dict[str, int]
) -> dict[str, Any]:
    scorer = context.scorer
    record = provenance(command="scan", settings=settings)
    record["inputs"] = [*plan.inputs, *[dict(e) for e in context.extra_inputs]]
    height, width = plan.opened.inputs.shape
    scale = plan.opened.pixel_scale
    card = getattr(scorer, "card", None)
    return record | {
        "field": plan.opened.inputs.name,
        "field_sources": {plan.opened.inputs.name: field_source(plan, context)},
        "bands": list(plan.opened.inputs.band_names),
        "mode": plan.mode,
        "model": {
            "name": scorer.name,
            "sha256": scorer.sha256,
            "bands": list(scorer.bands),
            "input_size": scorer.input_size,
            "pixel_scale": scorer.pixel_scale,
            "encoder": getattr(card, "encoder", None),
            "method": getattr(card, "method", None),
        },
        "image_shape": [height, width],
        "pixel_scale_arcsec": scale,
        "area_deg2": None if scale is None else height * width * (scale / 3600.0) ** 2,
        "celestial_wcs": plan.opened.wcs is not None,
        "coordinates": "ra/dec ICRS degrees; x/y 0-based numpy pixels (FITS/DS9 = +1)",
        "window": plan.job.size,
        "stride": plan.job.stride if plan.mode == "grid" else None,
        "min_separation_arcsec": context.min_separation,
        "detection": (
            {**asdict(plan.job.settings), "halo": plan.job.halo} if plan.mode == "detect" else None
        ),
        "domain": _domain(plan, context),
        "zero_points": {
            band: dict(zip(("value", "source"), plan.opened.zero_point(band), strict=True))
            for band in plan.opened.inputs.band_names
        },
        "run_key": plan.run_key,
        "notes": [*plan.opened.notes, *plan.opened.assumptions],
        **counts,
    }


def write_field_outputs(
    plan: FieldPlan, context: ScanContext, settings: dict[str, Any]
) -> FieldResult:
    """Build the field's catalog from its work store and write every output.

    Args:
        plan: The field's plan (all chunks scored).
        context: The run's shared settings and model.
        settings: The resolved settings to record.

    Returns:
        The field's result.
    """
    config = context.config
    store_path = plan.job.store
    # A positions scan with no position inside the field never made a store.
    store = WorkStore(store_path) if Path(store_path).exists() else None
    n_detected = None
    if plan.mode == "positions":
        columns, n_windows, n_skipped = _position_columns(plan, context, store)
        specs = CANDIDATE_COLUMNS + POSITION_COLUMNS
        counts = {"n_windows": n_windows, "n_skipped_masked": n_skipped}
    elif plan.mode == "detect":
        columns, counts = _detect_columns(plan, context, store)
        n_windows, n_skipped = counts["n_windows"], counts["n_skipped_masked"]
        n_detected = counts["n_detected"]
        specs = (
            CANDIDATE_COLUMNS
            + DETECTION_COLUMNS
            + magnitude_columns(plan.opened.inputs.band_names)
            + (TTA_COLUMNS if has_spread(context) else ())
        )
    else:
        columns, n_windows, n_skipped = _grid_columns(plan, context, store)
        specs = CANDIDATE_COLUMNS
        counts = {"n_windows": n_windows, "n_skipped_masked": n_skipped}
    if n_windows and n_skipped == n_windows:
        raise UserError(
            f"{plan.spec.label}: every window is masked or has no data (NaN, zeros or MASK "
            "bits); nothing to scan"
        )
    n = len(columns["score"])
    columns |= {
        "id": np.arange(1, n + 1),
        "field": np.full(n, plan.opened.inputs.name),
        "bands": np.full(n, "".join(plan.opened.inputs.band_names)),
    }
    if plan.positions is not None:
        counts["n_positions_outside"] = plan.positions.n_outside
    table = make_table(columns, specs, _metadata(plan, context, settings, counts))
    n_known = n_recovered = None
    if context.known is not None:
        table = add_known_columns(table, context.known, config.match_radius)
        n_known, n_recovered = _known_counts(plan, context, table)
        table.meta["known_lenses"] |= {"in_footprint": n_known, "recovered": n_recovered}
        logger.info(
            "%s: %s known lenses in the field, %d recovered among the candidates",
            plan.spec.label,
            "?" if n_known is None else n_known,
            n_recovered,
        )
    outputs = side_outputs(plan.catalog, config)
    if "regions" in outputs:
        scale = plan.opened.pixel_scale or context.scorer.pixel_scale or 1.0
        write_regions(
            table,
            outputs["regions"],
            REGION_RADIUS_ARCSEC,
            REGION_RADIUS_ARCSEC / scale,
            plan.opened.wcs is not None,
        )
    if "gallery" in outputs:
        top = table[: config.gallery]
        size = plan.job.size
        stamps = (
            np.stack(
                [plan.opened.inputs.read_stamp(float(r["y"]), float(r["x"]), size) for r in top]
            )
            if len(top)
            else np.zeros((0, len(plan.opened.inputs.bands), size, size), np.float32)
        )
        write_gallery(
            outputs["gallery"],
            top,
            stamps,
            plan.opened.inputs.band_names,
            plan.opened.inputs.name,
            pixel_scale=plan.opened.pixel_scale,
        )
    write_catalog(table, plan.catalog, plan.fmt)
    if store is not None:
        store.update_attrs(
            {"catalog": {"path": str(plan.catalog), "key": plan.catalog_key, "rows": n}}
        )
        store.drop_tiles()
    return FieldResult(
        plan.spec.label,
        "scanned",
        catalog=plan.catalog,
        n_candidates=n,
        n_windows=n_windows,
        n_skipped=n_skipped,
        n_detected=n_detected,
        n_known=n_known,
        n_recovered=n_recovered,
    )


def _known_counts(plan: FieldPlan, context: ScanContext, table: Any) -> tuple[int | None, int]:
    """Known lenses inside the field (None without a celestial WCS), and those recovered.

    A known lens is recovered when a candidate of the catalog (after the threshold and
    ``top``) lies within the match radius of it.
    """
    known = context.known
    recovered = len(set(np.asarray(table["known_name"])[np.asarray(table["known_lens"])]))
    if plan.opened.wcs is None:
        return None, recovered
    x, y = icrs_to_pixel(plan.opened.wcs, known.ra, known.dec)
    height, width = plan.opened.inputs.shape
    with np.errstate(invalid="ignore"):
        inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    return int(inside.sum()), recovered
