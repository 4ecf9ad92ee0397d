"""Step 8 of ``lensscan adapt``, **rescore**: the pool scored by the kept model.

:func:`pool_scores` gives every pool item's P(lens), in pool order; :func:`catalog_table`
makes them the ranked candidate catalog, with each item's sky and pixel position where
its store records them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lensscan.data.store import CutoutStore
from lensscan.pixels import centre_crop
from lensscan.survey_adapt import steps
from lensscan.survey_adapt.settings import AdaptConfig

#: Items of the pool scored per forward pass.
_SCORE_BLOCK = 1024


def _pool_positions(pool: steps.Pool) -> dict[str, np.ndarray]:
    """id, ra, dec, x, y, field, source and source_index of every pool item (NaN unknown)."""
    from lensscan.simulate.inject.backgrounds import open_source

    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("ra", "dec", "x", "y", "field", "source", "source_index")
    }
    for path in pool.paths:
        source = open_source(path)
        n = source.n
        params: dict[str, np.ndarray] = {}
        fields: list[str] = []
        if (Path(path) / "zarr.json").is_file():
            store = CutoutStore.open(path)
            params = store.params()
            fields = [str(f) for f in store.attrs.get("fields", [])]
        for name in ("ra", "dec", "x", "y"):
            values = params.get(name)
            columns[name].append(
                np.asarray(values, np.float64)
                if values is not None and len(values) == n
                else np.full(n, np.nan)
            )
        index = params.get("field_index")
        columns["field"].append(
            np.array([fields[int(i)] for i in index], dtype=str)
            if fields and index is not None and len(index) == n
            else np.full(n, "", dtype="U1")
        )
        columns["source"].append(np.full(n, str(path)))
        columns["source_index"].append(np.arange(n, dtype=np.int64))
    return {name: np.concatenate(parts) for name, parts in columns.items()}


def pool_scores(finder: Any, pool: steps.Pool, config: AdaptConfig) -> np.ndarray:
    """The kept model's float64 P(lens) of every pool item, in pool order."""
    from lensscan.simulate.inject.backgrounds import open_backgrounds

    backgrounds = open_backgrounds(list(pool.paths), steps.pool_bands(config.background_bands))
    planes = [backgrounds.bands.index(band) for band in finder.bands]
    scores = []
    for start in range(0, backgrounds.n, _SCORE_BLOCK):
        indices = np.arange(start, min(start + _SCORE_BLOCK, backgrounds.n))
        images = centre_crop(backgrounds.read(indices)[:, planes], finder.input_size)
        scores.append(finder.score(np.ascontiguousarray(images)))
    return np.concatenate(scores)


def catalog_table(
    pool: steps.Pool, scores: np.ndarray, card: Any, finder: Any, record: dict[str, Any]
) -> Any:
    """The rescored pool, one row per pool item in pool order, with its rank."""
    from astropy.table import Table

    positions = _pool_positions(pool)
    order = np.lexsort((np.arange(len(scores)), -scores))
    rank = np.empty(len(scores), np.int64)
    rank[order] = np.arange(1, len(scores) + 1)
    table = Table()
    table["id"] = np.arange(len(scores), dtype=np.int64)
    table["rank"] = rank
    table["score"] = scores
    clipped = np.clip(scores, 1e-300, 1 - 1e-16)
    table["logit"] = np.log(clipped) - np.log1p(-clipped)
    for name in ("ra", "dec", "x", "y"):
        table[name] = positions[name]
    for name, unit in (("ra", "deg"), ("dec", "deg"), ("x", "pix"), ("y", "pix")):
        table[name].unit = unit
    if any(positions["field"]):
        table["field"] = positions["field"]
    table["source"] = positions["source"]
    table["source_index"] = positions["source_index"]
    table.meta = {
        "description": "the adapt pool rescored by the kept model; rows in pool order "
        "(row k is pool item k), rank 1 = highest score",
        "bands": list(finder.bands),
        "window": finder.input_size,
        "pixel_scale_arcsec": finder.pixel_scale,
        "model": {
            "name": card.name,
            "weights_sha256": card.weights_sha256,
            "input_size": card.input_size,
        },
        "inputs": [{"path": path} for path in pool.field_files],
        "pool": record["pool"],
        "decision": record["decision"],
    }
    return table
