"""A ``lensscan simulate --domain inject`` run: arcs painted on backgrounds, into a store."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.data.store import LENS, UNLABELLED, ImageBlocks, write_store
from lensscan.progress import logger
from lensscan.provenance import provenance
from lensscan.simulate.cutouts.blocks import BLOCK_ITEMS, param_columns
from lensscan.simulate.cutouts.plan import item_seeds
from lensscan.simulate.inject.backgrounds import open_backgrounds
from lensscan.simulate.inject.calibration import calibrate
from lensscan.simulate.inject.injector import Injector, param_schema
from lensscan.simulate.inject.plan import InjectionPlan, plan_injection
from lensscan.simulate.inject.request import InjectionRequest
from lensscan.simulate.physics.photometry import ZERO_POINT

GENERATOR_VERSION = "lensscan.simulate.inject/1"
"""The store's ``generator`` attribute: changes only when the same request would make other
images."""


def inject_arcs(
    request: InjectionRequest, out: str | os.PathLike[str], *, overwrite: bool = False
) -> str:
    """Make an injection store at ``out``, atomically.

    Returns:
        A one-line summary.

    Raises:
        UserError: For unusable backgrounds or settings, or an ``out`` that exists.
    """
    out_path = check_output_path(out, overwrite=overwrite, option="out")
    started = time.monotonic()
    backgrounds = open_backgrounds(request.backgrounds, request.background_bands)
    hosts = None
    if request.max_host_mag is None:
        plan = plan_injection(request, backgrounds.n)
        calibration = calibrate(request, backgrounds)
        injector = Injector(request, backgrounds, calibration)
    else:
        calibration = calibrate(request, backgrounds)
        injector = Injector(request, backgrounds, calibration)
        hosts = injector.host_magnitudes()
        plan = plan_injection(request, backgrounds.n, hosts)
    n = len(plan.labels)
    seeds = item_seeds(request.seed, n)
    carried = {name: values[plan.background] for name, values in backgrounds.columns.items()}
    if hosts is not None:
        carried["host_mag"] = hosts[plan.background].astype(np.float32)
    schema = param_schema(calibration.bands)
    bands = calibration.bands

    def write_block(array: Any, start: int) -> list[dict[str, Any]]:
        """Make items ``start`` to the end of their block and write them (one Zarr chunk)."""
        stop = min(start + BLOCK_ITEMS, n)
        indices = plan.background[start:stop]
        images = injector.crop(backgrounds.read(indices))
        block = np.empty((stop - start, len(bands), calibration.size, calibration.size))
        rows = []
        for k, item in enumerate(range(start, stop)):
            block[k], params = injector.item(
                images[k],
                int(indices[k]),
                int(plan.transform[item]),
                bool(plan.labels[item] == LENS),
                int(seeds[item]),
            )
            rows.append(params)
        array[start:stop] = block.astype(np.float32)
        return rows

    def write(array: Any) -> dict[str, np.ndarray]:
        rows: list[dict[str, Any]] = []
        for start in range(0, n, BLOCK_ITEMS):
            rows.extend(write_block(array, start))
            logger.info("inject: %d / %d items", len(rows), n)
        return param_columns(schema, rows) | {"item_seed": seeds}

    attrs = {
        "domain": "inject",
        "generator": GENERATOR_VERSION,
        "seed": request.seed,
        "lens_fraction": request.lens_fraction,
        "n_lenses": int((plan.labels == LENS).sum()),
        "unlabelled": request.unlabelled,
        "family": request.family,
        "host_band": calibration.bands[injector.host_band] if hosts is not None else None,
        "normalised_backgrounds": calibration.normalised,
        "zero_points": {
            band: float(ZERO_POINT + 2.5 * math.log10(scale))
            for band, scale in zip(bands, calibration.flux_scale, strict=True)
        }
        if not calibration.normalised
        else None,
        "backgrounds": [str(source.path) for source in backgrounds.sources],
        "provenance": provenance(
            command="simulate",
            settings=request.settings(),
            seed=request.seed,
            inputs=backgrounds.files(),
        ),
    }
    stored = np.full(n, UNLABELLED, np.int8) if request.unlabelled else plan.labels
    images = ImageBlocks(
        (n, len(bands), calibration.size, calibration.size),
        write,
        param_dtypes={**schema, "item_seed": seeds.dtype},
    )
    with atomic_output(out_path) as tmp:
        write_store(
            tmp,
            images=images,
            labels=stored,
            split=plan.split,
            split_names=[name for name, _ in request.splits],
            bands=bands,
            pixel_scale=calibration.pixel_scale,
            attrs=attrs,
            params=carried,
            chunk_items=BLOCK_ITEMS,
        )
    elapsed = time.monotonic() - started
    n_lenses = int((plan.labels == LENS).sum())
    return (
        f"wrote {out_path}: {n} cutouts on {_used(plan, backgrounds.n)}, bands {''.join(bands)}, "
        f"{n_lenses} with injected arcs / {n - n_lenses} untouched"
        f"{' (stored unlabelled)' if request.unlabelled else ''}; "
        f"{elapsed:.1f} s ({n / max(elapsed, 1e-9):.0f} images/s)"
    )


def _used(plan: InjectionPlan, n_backgrounds: int) -> str:
    """``"300 backgrounds"``, or ``"162 of 300 backgrounds"`` when a cut left some out."""
    used = len(np.unique(plan.background))
    if used == n_backgrounds:
        return f"{used} backgrounds"
    return f"{used} of {n_backgrounds} backgrounds"
