"""Blocks of items: draw their scenes, render them, and write them into a store's chunk.

A run makes its items in blocks of :data:`BLOCK_ITEMS`, one Dask task each: the task
draws its block's scenes, renders them and writes the images straight into its own chunk
of the Zarr store, returning only the parameter rows. So images never travel between
processes, and the small rows are gathered into the parameter table once every block is
done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from lensscan.data.store import LENS
from lensscan.simulate.cutouts.plan import item_generators
from lensscan.simulate.domains.registry import Domain, Scene, fill_value, get_domain, params_row

BLOCK_ITEMS = 64
"""Items per Dask task and per Zarr chunk (does not affect the images): each task writes
whole chunks, so concurrent writers never share one."""


def _drawn_scenes(
    domain: Domain, bands: tuple[str, ...], seeds: np.ndarray, labels: np.ndarray
) -> Iterator[tuple[Scene, np.random.Generator]]:
    """Each item's drawn scene and its noise generator, in order."""
    for item_seed, label in zip(seeds, labels, strict=True):
        scene_rng, noise_rng = item_generators(item_seed)
        yield domain.draw(scene_rng, bands, bool(label == LENS)), noise_rng


def param_columns(
    schema: dict[str, np.dtype], params: Sequence[dict[str, Any]]
) -> dict[str, np.ndarray]:
    """Parameter columns in schema order from the drawn parameters of each item."""
    fills = {name: fill_value(dtype) for name, dtype in schema.items()}
    rows = [params_row(fills, item) for item in params]
    return {
        name: np.array([row[name] for row in rows], dtype=dtype) for name, dtype in schema.items()
    }


def draw_params_block(
    domain_name: str, bands: tuple[str, ...], seeds: np.ndarray, labels: np.ndarray
) -> dict[str, np.ndarray]:
    """Parameter columns of a block of items (scenes drawn, not rendered)."""
    domain = get_domain(domain_name)
    scenes = [scene.params for scene, _ in _drawn_scenes(domain, bands, seeds, labels)]
    return param_columns(domain.param_schema(bands), scenes)


def make_items(
    domain_name: str, bands: Sequence[str], seeds: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Images (n, n_bands, size, size) float32 and parameter columns of a block of items.

    Each scene is drawn once, rendered and its parameter row kept.
    """
    bands = tuple(bands)
    domain = get_domain(domain_name)
    size = domain.preset.cutout_size
    images = np.empty((len(seeds), len(bands), size, size), np.float32)
    params = []
    for k, (scene, noise_rng) in enumerate(_drawn_scenes(domain, bands, seeds, labels)):
        images[k] = domain.render(scene, noise_rng)
        params.append(scene.params)
    return images, param_columns(domain.param_schema(bands), params)


def render_block(
    domain_name: str, bands: tuple[str, ...], seeds: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Images (n, n_bands, size, size) float32 of a block of items."""
    return make_items(domain_name, bands, seeds, labels)[0]


def write_block(
    domain_name: str,
    bands: tuple[str, ...],
    seeds: np.ndarray,
    labels: np.ndarray,
    image_array: Any,
    start: int,
) -> dict[str, np.ndarray]:
    """Make a block of items, write its images at row ``start`` of a store's image array.

    Returns:
        The block's parameter columns (small: they travel back to the calling process,
        while the images stay in the worker that made them).
    """
    images, params = make_items(domain_name, bands, seeds, labels)
    image_array[start : start + len(seeds)] = images
    return params
