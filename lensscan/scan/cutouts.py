"""``lensscan cutouts``: a cutout store of real objects from fields (detected or catalogued).

The fields are opened (:mod:`~lensscan.scan.inputs`) and the objects found exactly as
``lensscan scan`` opens and finds them, without scoring and without the model's domain
check: detect mode (the default) runs the same chunked detection and preselection
(:class:`~lensscan.scan.detections.DetectJob`, resumable through a work store beside the
output), and ``positions`` takes a catalog's objects, placed as a positions scan places
them (:func:`~lensscan.scan.geometry.place_positions`). Each object inside its field (its
whole cutout on the image, at most ``max_mask_fraction`` of it bad) becomes one cutout,
centred as the scan centres it, in the model's bands and size. The store has the format of
every lensscan cutout store (:mod:`lensscan.data.store`): labels -1 (unlabelled), one split
``pool``, and the object's catalog row as params, so it is the unlabelled target pool of
``lensscan train --target`` and the input of visual inspection. Stamps are read from the
fields and written one Zarr chunk at a time, so memory does not grow with the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path, remove_path
from lensscan.catalog.readers import SkyPositions, read_sky_positions
from lensscan.config import config_to_dict
from lensscan.data.store import UNLABELLED, ImageBlocks, write_store
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.scan.detections import (
    DetectJob,
    detect_settings,
    field_detections,
)
from lensscan.scan.fits_io import OpenedField
from lensscan.scan.geometry import centred_windows, pixel_to_icrs, place_positions
from lensscan.scan.inputs import FieldSpec, InputHashes, open_for_cutouts, plane_identity
from lensscan.scan.modes import ScanMode
from lensscan.scan.runner import run_in_process
from lensscan.scan.settings import CutoutsConfig
from lensscan.scan.workstore import SCORED, WorkStore, settings_key

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


def _positions_rows(
    opened: OpenedField, positions: SkyPositions, size: int, label: str
) -> dict[str, np.ndarray]:
    placed = place_positions(opened.wcs, opened.inputs.shape, positions, size, label)
    return {
        "input_row": placed.rows,
        "ra": placed.ra,
        "dec": placed.dec,
        "x": placed.x,
        "y": placed.y,
    }


def _detected_rows(
    opened: OpenedField,
    geometry: _Geometry,
    config: CutoutsConfig,
    store_path: Path,
    label: str,
    hashes: InputHashes,
) -> dict[str, np.ndarray]:
    config.detect.check_bands(geometry.bands)
    settings = detect_settings(config.detect, opened, geometry.pixel_scale)
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
    run_key = settings_key(
        {
            "inputs": [hashes.record(p)["sha256"] for p in opened.inputs.files],
            "planes": plane_identity(opened.inputs),
            "size": geometry.size,
            "chunk_size": config.chunk_size,
            "detect": asdict(settings),
        }
    )
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
    windows = centred_windows(rows["x"], rows["y"], size, opened.inputs.shape)
    start_y, start_x = windows.start_y, windows.start_x
    kept, fractions = [], []
    for i in np.flatnonzero(windows.inside):
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
    hashes = InputHashes()
    for f, spec in enumerate(fields):
        opened = open_for_cutouts(spec, geometry.bands, geometry.size, config.bands)
        name = opened.inputs.name
        if name in names:
            raise UserError(f"several fields share the name {name!r}; cut them separately")
        names.append(name)
        inputs += [hashes.record(p) for p in opened.inputs.files]
        if positions is not None:
            rows = _positions_rows(opened, positions, geometry.size, spec.label)
        else:
            store = work / f"{name}.zarr"
            rows = _detected_rows(opened, geometry, config, store, spec.label, hashes)
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
