"""``lensscan cutouts``: a cutout store of real objects from fields (detected or catalogued).

The objects are found exactly as ``lensscan scan`` finds them, without scoring: detect
mode (the default) runs the same chunked detection and preselection
(:class:`~lensscan.scan.detect_job.DetectJob`, resumable through a work store beside the
output), and ``--positions`` takes a catalog's objects. Each object inside its field (its
whole cutout on the image, at most ``max_mask_fraction`` of it bad) becomes one cutout,
centred as the scan centres it, in the model's bands and size. The store has the format of
every lensscan cutout store (:mod:`lensscan.data.store`): labels -1 (unlabelled), one split
``pool``, and the object's catalog row as params, so it is the unlabelled target pool of
``lensscan train --target`` and the input of visual inspection. Stamps are read from the
fields and written one Zarr chunk at a time, so memory does not grow with the pool.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path, remove_path
from lensscan.catalog.readers import SkyPositions, read_sky_positions
from lensscan.config import CutoutsConfig, config_to_dict
from lensscan.data.store import UNLABELLED, ImageBlocks, write_store
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.provenance import provenance, sha256_file
from lensscan.scan.candidates import icrs_to_pixel, pixel_to_icrs
from lensscan.scan.detect_job import DetectJob
from lensscan.scan.fits_io import OpenedField, open_band_files, open_field
from lensscan.scan.modes import ScanMode, detect_settings, field_detections, parse_color_cut
from lensscan.scan.plan import FieldSpec
from lensscan.scan.runner import run_in_process
from lensscan.scan.tiling import centred_window_start
from lensscan.scan.workstore import SCORED, WorkStore

POOL_SPLIT = "pool"


@dataclass(frozen=True)
class _Geometry:
    """The cutouts' bands, size and the pixel scale to assume without a WCS."""

    bands: tuple[str, ...]
    size: int
    pixel_scale: float | None


def _geometry(model: str | None) -> _Geometry:
    from lensscan.models.weights import read_card, resolve_model_path

    card = read_card(resolve_model_path(model))
    return _Geometry(tuple(card.bands), int(card.input_size), card.pixel_scale)


def _open(spec: FieldSpec, geometry: _Geometry, config: CutoutsConfig) -> OpenedField:
    if spec.path is not None:
        return open_field(spec.path, geometry.bands, geometry.size, config.bands)
    return open_band_files(spec.band_paths or {}, geometry.bands, geometry.size)


def _positions_rows(
    opened: OpenedField, positions: SkyPositions, label: str
) -> dict[str, np.ndarray]:
    if opened.wcs is None:
        raise UserError(f"{label}: no celestial WCS, so `positions` cannot be placed on it")
    x, y = icrs_to_pixel(opened.wcs, positions.ra, positions.dec)
    return {
        "input_row": np.arange(len(x)),
        "ra": np.asarray(positions.ra, np.float64),
        "dec": np.asarray(positions.dec, np.float64),
        "x": x,
        "y": y,
    }


def _detected_rows(
    opened: OpenedField,
    geometry: _Geometry,
    config: CutoutsConfig,
    store_path: Path,
    label: str,
) -> dict[str, np.ndarray]:
    color_cut = parse_color_cut(config, geometry.bands)
    settings = detect_settings(config, opened, geometry.pixel_scale, color_cut)
    job = DetectJob(
        inputs=opened.inputs,
        store=str(store_path),
        model=None,
        size=geometry.size,
        chunk_size=config.chunk_size,
        max_mask_fraction=config.max_mask_fraction,
        batch_size=1,
        settings=settings,
        scored=False,
    )
    run_key = hashlib.sha256(
        json.dumps(
            {
                "inputs": [sha256_file(p) for p in opened.inputs.files],
                "planes": [(b.band, b.data.hdu, b.plane) for b in opened.inputs.bands],
                "size": geometry.size,
                "chunk_size": config.chunk_size,
                "detect": asdict(settings),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    store, resumed = WorkStore.prepare(store_path, run_key, job.layout(), {}, fresh=False)
    pending = [int(i) for i in np.flatnonzero(store.status() != SCORED)]
    if resumed:
        logger.info("%s: resuming, %d of %d chunks left", label, len(pending), job.n_chunks)
    for _, error in run_in_process([job], {0: pending}):
        if error is not None:
            raise error
    objects = field_detections(job, label, store)
    keep = objects["selected"]
    ra, dec = pixel_to_icrs(opened.wcs, objects["x"][keep], objects["y"][keep])
    rows = {
        "detection_id": objects["detection_id"][keep],
        "ra": ra,
        "dec": dec,
        "x": objects["x"][keep],
        "y": objects["y"][keep],
        "kron_radius": objects["kron_radius"][keep] * settings.pixel_scale,
        "ellipticity": objects["ellipticity"][keep],
        "flags": objects["flags"][keep],
    }
    return rows | {f"mag_{b}": objects[f"mag_{b}"][keep] for b in opened.inputs.band_names}


@dataclass(frozen=True)
class _FieldCutouts:
    """The cutouts of one field: where their windows start and their params rows."""

    opened: OpenedField
    starts_y: np.ndarray
    starts_x: np.ndarray
    columns: dict[str, np.ndarray]


def _select(
    opened: OpenedField, rows: dict[str, np.ndarray], size: int, max_mask_fraction: float
) -> _FieldCutouts:
    """The rows whose window lies inside the field with at most ``max_mask_fraction`` bad."""
    height, width = opened.inputs.shape
    x, y = rows["x"], rows["y"]
    finite = np.isfinite(x) & np.isfinite(y)
    start_x = centred_window_start(np.where(finite, x, -size), size)
    start_y = centred_window_start(np.where(finite, y, -size), size)
    inside = (
        finite
        & (start_x >= 0)
        & (start_y >= 0)
        & (start_x + size <= width)
        & (start_y + size <= height)
    )
    kept, fractions = [], []
    for i in np.flatnonzero(inside):
        _, bad = opened.inputs.read_region(_window(start_y[i], start_x[i], size))
        fraction = float(bad.mean())
        if fraction <= max_mask_fraction:
            kept.append(i)
            fractions.append(fraction)
    index = np.asarray(kept, dtype=np.int64)
    columns = {name: values[index] for name, values in rows.items()}
    columns["mask_fraction"] = np.asarray(fractions, np.float32)
    return _FieldCutouts(opened, start_y[index], start_x[index], columns)


def _window(start_y: int, start_x: int, size: int) -> tuple[int, int, int, int]:
    return int(start_y), int(start_y) + size, int(start_x), int(start_x) + size


def _image_blocks(fields: Sequence[_FieldCutouts], n_bands: int, size: int) -> ImageBlocks:
    """The stamps, read from the fields and written one Zarr chunk at a time.

    Only one chunk of stamps is ever in memory, however many objects the fields hold.
    """
    n = sum(len(f.starts_y) for f in fields)

    def write(array: Any) -> None:
        per_chunk = array.chunks[0]
        buffer: list[np.ndarray] = []
        start = 0
        for cut in fields:
            for y0, x0 in zip(cut.starts_y, cut.starts_x, strict=True):
                buffer.append(cut.opened.inputs.read_region(_window(y0, x0, size))[0])
                if len(buffer) == per_chunk:
                    array[start : start + per_chunk] = np.stack(buffer)
                    start, buffer = start + per_chunk, []
        if buffer:
            array[start : start + len(buffer)] = np.stack(buffer)

    return ImageBlocks(shape=(n, n_bands, size, size), write=write)


def make_cutouts(fields: Sequence[FieldSpec], config: CutoutsConfig) -> str:
    """Write a cutout store of the fields' detected (or catalogued) objects.

    Args:
        fields: The fields.
        config: The settings.

    Returns:
        A one-line summary.

    Raises:
        UserError: For a bad option, an unreadable field, or no object at all.
    """
    if not fields:
        raise UserError("no field given (pass field files or `band` BAND=PATH options)")
    # One store of all the fields: a field that cannot be found (a pattern matching
    # nothing) stops the run before any work, rather than leaving a store without it.
    for spec in fields:
        if spec.problem is not None:
            raise UserError(spec.problem)
    out = check_output_path(config.out, overwrite=config.overwrite)
    geometry = _geometry(config.model)
    positions = read_sky_positions(config.positions, "positions") if config.positions else None
    work = out.with_name(f".{out.name}.work")
    cuts: list[_FieldCutouts] = []
    inputs: list[dict[str, str]] = []
    names: list[str] = []
    for f, spec in enumerate(fields):
        opened = _open(spec, geometry, config)
        name = opened.inputs.name
        if name in names:
            raise UserError(f"several fields share the name {name!r}; cut them separately")
        names.append(name)
        inputs += [
            {"path": str(p.resolve()), "sha256": sha256_file(p)} for p in opened.inputs.files
        ]
        if positions is not None:
            rows = _positions_rows(opened, positions, spec.label)
        else:
            rows = _detected_rows(opened, geometry, config, work / f"{name}.zarr", spec.label)
        cut = _select(opened, rows, geometry.size, config.max_mask_fraction)
        cut.columns["field_index"] = np.full(len(cut.starts_y), f, np.int64)
        logger.info("%s: %d cutouts", spec.label, len(cut.starts_y))
        cuts.append(cut)
    n = sum(len(c.starts_y) for c in cuts)
    if n == 0:
        raise UserError("no object of any field has a cutout inside its field; nothing to write")
    params = {name: np.concatenate([c.columns[name] for c in cuts]) for name in cuts[0].columns}
    record = provenance(command="cutouts", settings=config_to_dict(config))
    if positions is not None:
        inputs.append({"role": "positions", "path": str(Path(config.positions).resolve())})
    record["inputs"] = inputs
    attrs: dict[str, Any] = {
        "domain": "field",
        "fields": names,
        "mode": (ScanMode.POSITIONS if positions is not None else ScanMode.DETECT).value,
        "provenance": record,
    }
    with atomic_output(out) as tmp:
        write_store(
            tmp,
            images=_image_blocks(cuts, len(geometry.bands), geometry.size),
            labels=np.full(n, UNLABELLED, np.int8),
            split=np.zeros(n, np.int8),
            split_names=[POOL_SPLIT],
            bands=geometry.bands,
            pixel_scale=geometry.pixel_scale,
            attrs=attrs,
            params=params,
        )
    remove_path(work)
    bands = "".join(geometry.bands)
    return f"wrote {out}: {n} cutouts of {len(fields)} field(s), {geometry.size} px in {bands}"
