"""A ``lensscan simulate`` run of a domain: its items, made by Dask workers, into a store.

The plan (:mod:`~lensscan.simulate.cutouts.plan`) fixes every item's seed, label and
split; the blocks (:mod:`~lensscan.simulate.cutouts.blocks`) are made by warmed-up worker
processes (:mod:`~lensscan.simulate.cutouts.workers`) and written straight into the
store, which appears only once complete.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.data.store import LENS, NONLENS, UNLABELLED, ImageBlocks, write_store
from lensscan.progress import is_terminal, logger
from lensscan.provenance import provenance
from lensscan.simulate.cutouts.blocks import BLOCK_ITEMS, write_block
from lensscan.simulate.cutouts.plan import item_seeds, plan_items
from lensscan.simulate.cutouts.request import CutoutRequest
from lensscan.simulate.cutouts.workers import dask_config
from lensscan.simulate.domains.registry import fill_value, get_domain

GENERATOR_VERSION = "lensscan.simulate/1"
"""The store's ``generator`` attribute: changes only when the same request would make other
images (stores made by another version are simulated again, e.g. by ``lensscan benchmark``)."""


def _write_blocks(
    request: CutoutRequest,
    seeds: np.ndarray,
    labels: np.ndarray,
    blocks: Sequence[tuple[int, int]],
    image_array: Any,
) -> dict[str, np.ndarray]:
    """Write every block with Dask and return the whole parameter table with item seeds."""
    import dask

    parts = dask.compute(
        *[
            dask.delayed(write_block, pure=False)(
                request.domain, request.bands, seeds[a:b], labels[a:b], image_array, a
            )
            for a, b in blocks
        ]
    )
    table = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    table["item_seed"] = seeds
    return table


@contextmanager
def _dask_progress(description: str, total_items: int) -> Iterator[None]:
    """A progress bar on a terminal; start and end log lines otherwise."""
    start = time.monotonic()
    if is_terminal():
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr, minimum=1.0):
            yield
    else:
        logger.info("%s: %d items", description, total_items)
        yield
    elapsed = time.monotonic() - start
    logger.info(
        "%s: done in %.1f s (%.0f items/s)", description, elapsed, total_items / max(elapsed, 1e-9)
    )


def simulate_cutouts(
    request: CutoutRequest, out: str | os.PathLike[str], *, overwrite: bool = False
) -> str:
    """Simulate ``request.n`` cutouts into a store at ``out``, atomically.

    Args:
        request: The validated request.
        out: Store path (``.zarr`` directory).
        overwrite: Replace an existing store.

    Returns:
        A one-line summary.

    Raises:
        UserError: If ``out`` exists without ``overwrite`` or cannot be written.
    """
    out_path = check_output_path(out, overwrite=overwrite, option="out")
    started = time.monotonic()
    blocks = [
        (start, min(start + BLOCK_ITEMS, request.n)) for start in range(0, request.n, BLOCK_ITEMS)
    ]
    # One block cannot be shared out: skip starting workers for small runs.
    scheduler = request.scheduler if len(blocks) > 1 else "synchronous"
    # Workers start first, so that they warm up while this process plans the run; they stop
    # before the temporary store is renamed or, on failure, removed.
    workers = min(request.workers, len(blocks))
    with atomic_output(out_path) as tmp, dask_config(scheduler, workers, request.domain):
        domain = get_domain(request.domain)
        preset = domain.preset
        seeds = item_seeds(request.seed, request.n)
        labels, split = plan_items(request)
        attrs = _store_attrs(request, preset, labels)
        schema = {**domain.param_schema(request.bands), "item_seed": seeds.dtype}
        attrs["param_fill"] = {name: _json_fill(dtype) for name, dtype in schema.items()}
        size = preset.cutout_size
        images = ImageBlocks(
            (request.n, len(request.bands), size, size),
            functools.partial(_write_blocks, request, seeds, labels, blocks),
            param_dtypes=schema,
        )
        stored_labels = np.full(request.n, UNLABELLED, np.int8) if request.unlabelled else labels
        with _dask_progress("simulate", request.n):
            write_store(
                tmp,
                images=images,
                labels=stored_labels,
                split=split,
                split_names=[name for name, _ in request.splits],
                bands=request.bands,
                pixel_scale=preset.pixel_scale,
                attrs=attrs,
                chunk_items=BLOCK_ITEMS,
            )
    elapsed = time.monotonic() - started
    counts = ", ".join(
        f"{name} {int((split == code).sum())}" for code, (name, _) in enumerate(request.splits)
    )
    return (
        f"wrote {out_path}: {request.n} {request.domain} cutouts, bands {''.join(request.bands)}, "
        f"{int((labels == LENS).sum())} lenses / {int((labels == NONLENS).sum())} non-lenses"
        f"{' (stored unlabelled)' if request.unlabelled else ''}; splits: {counts}; "
        f"{elapsed:.1f} s ({request.n / max(elapsed, 1e-9):.0f} images/s)"
    )


def _store_attrs(request: CutoutRequest, preset: Any, labels: np.ndarray) -> dict[str, Any]:
    """The store's attributes: domain, generator, seed, preset numbers, provenance."""
    attrs: dict[str, Any] = {
        "domain": request.domain,
        "description": preset.description,
        "generator": GENERATOR_VERSION,
        "seed": request.seed,
        "lens_fraction": request.lens_fraction,
        "n_lenses": int((labels == LENS).sum()),
        "unlabelled": request.unlabelled,
        "item_seed_rule": "SeedSequence(seed, spawn_key=(0, index)).generate_state(1, uint64); "
        "item streams: SeedSequence(item_seed).spawn(2) -> (scene, noise)",
        "preset": _preset_record(preset),
        "provenance": provenance(
            command="simulate",
            settings=request.settings(),
            seed=request.seed,
            inputs=_inputs(request.domain),
        ),
    }
    if request.domain == "hsc":
        from lensscan.simulate.populations.centrals import CENTRAL_TYPE_CODES

        attrs["central_type_codes"] = list(CENTRAL_TYPE_CODES)
    return attrs


def _json_fill(dtype: np.dtype) -> Any:
    value = fill_value(dtype)
    return "NaN" if isinstance(value, float) else value


def _preset_record(preset: Any) -> dict[str, Any]:
    """The preset's numbers as JSON (bands as nested records)."""
    record = {k: v for k, v in vars(preset).items() if k != "bands"}
    record["bands"] = {band: dataclasses.asdict(c) for band, c in preset.bands.items()}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}


def _inputs(domain_name: str) -> list[Path]:
    """Files the domain reads (hashed into provenance)."""
    if domain_name != "hsc":
        return []
    from lensscan.simulate.physics.galaxies import hubble_deep_field_path

    return [hubble_deep_field_path()]
