"""Turn a field's finished work store into its outputs: catalog, regions, gallery.

Side outputs (DS9 regions, gallery) are written first and the catalog last, each
atomically, and the work store records the catalog's key only after it is in place: an
existing catalog with a matching record therefore means the field is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lensscan.catalog.crossmatch import add_known_columns
from lensscan.catalog.gallery import write_gallery
from lensscan.catalog.schema import make_table
from lensscan.catalog.writers import write_catalog, write_regions
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.scan.domain import domain_mismatches
from lensscan.scan.geometry import icrs_to_pixel, pixels_inside
from lensscan.scan.outputs import side_outputs
from lensscan.scan.plan import FieldPlan, FieldResult, FieldStatus, ScanContext
from lensscan.scan.workstore import WorkStore

REGION_RADIUS_ARCSEC = 2.0


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
    mode_metadata = context.mode.metadata(plan.job)
    return record | {
        "field": plan.opened.inputs.name,
        "field_sources": {plan.opened.inputs.name: field_source(plan, context)},
        "bands": list(plan.opened.inputs.band_names),
        "mode": context.mode.name.value,
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
        "stride": mode_metadata["stride"],
        "min_separation_arcsec": context.config.candidates.min_separation,
        "detection": mode_metadata["detection"],
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
    part = context.mode.catalog(plan, context, store)
    columns, counts = part.columns, part.counts
    n_windows, n_skipped = counts["n_windows"], counts["n_skipped_masked"]
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
    table = make_table(columns, part.specs, _metadata(plan, context, settings, counts))
    n_known = n_recovered = None
    if context.known is not None:
        table = add_known_columns(table, context.known, config.candidates.match_radius)
        n_known, n_recovered = _known_counts(plan, context, table)
        table.meta["known_lenses"] |= {"in_footprint": n_known, "recovered": n_recovered}
        logger.info(
            "%s: %s known lenses in the field, %d recovered among the candidates",
            plan.spec.label,
            "?" if n_known is None else n_known,
            n_recovered,
        )
    outputs = side_outputs(plan.catalog, config.output)
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
        top = table[: config.output.gallery]
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
    write_catalog(table, plan.catalog, config.output.format)
    if store is not None:
        store.update_attrs(
            {"catalog": {"path": str(plan.catalog), "key": plan.catalog_key, "rows": n}}
        )
        store.drop_tiles()
    return FieldResult(
        plan.spec.label,
        FieldStatus.SCANNED,
        catalog=plan.catalog,
        n_candidates=n,
        n_windows=n_windows,
        n_skipped=n_skipped,
        n_detected=counts.get("n_detected"),
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
    return int(pixels_inside(x, y, plan.opened.inputs.shape).sum()), recovered
