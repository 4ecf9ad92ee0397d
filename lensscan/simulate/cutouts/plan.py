"""The reproducible plan of a run: every item's seed, its label and its split.

The run's seed gives every item its own seed, ``SeedSequence(seed, spawn_key=(0, index))``
(stored as ``params/item_seed``), from which the item draws its scene and its noise.
Labels and splits are planned from a separate stream, ``SeedSequence(seed,
spawn_key=(1,))``. So an item's image depends on the seed and its index alone: the same
seed gives byte-identical stores whatever the number of workers, the scheduler or the
block size. Injection runs (:mod:`lensscan.simulate.inject`) seed their items the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lensscan.data.store import LENS, NONLENS
from lensscan.simulate.cutouts.request import CutoutRequest

_ITEM_STREAM, _PLAN_STREAM = 0, 1


def item_seeds(seed: int, n: int) -> np.ndarray:
    """Per-item 64-bit seeds, each a function of the run seed and the item index only."""
    return np.array(
        [
            np.random.SeedSequence(seed, spawn_key=(_ITEM_STREAM, index)).generate_state(
                1, np.uint64
            )[0]
            for index in range(n)
        ],
        dtype=np.uint64,
    )


def item_generators(item_seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """The (scene, noise) random generators of one item."""
    scene, noise = np.random.SeedSequence(int(item_seed)).spawn(2)
    return np.random.default_rng(scene), np.random.default_rng(noise)


def largest_remainder(total: int, fractions: Sequence[float]) -> np.ndarray:
    """Integer counts summing to ``total`` in the given proportions."""
    exact = np.asarray(fractions) * total
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def plan_items(request: CutoutRequest) -> tuple[np.ndarray, np.ndarray]:
    """True labels (N,) and split codes (N,), stratified by label, from the plan stream."""
    rng = np.random.default_rng(np.random.SeedSequence(request.seed, spawn_key=(_PLAN_STREAM,)))
    n_lenses = round(request.lens_fraction * request.n)
    labels = np.full(request.n, NONLENS, np.int8)
    labels[rng.permutation(request.n)[:n_lenses]] = LENS
    split = np.zeros(request.n, np.int8)
    fractions = [fraction for _, fraction in request.splits]
    for label in (LENS, NONLENS):
        members = rng.permutation(np.flatnonzero(labels == label))
        counts = largest_remainder(len(members), fractions)
        split[members] = np.repeat(np.arange(len(fractions)), counts).astype(np.int8)
    return labels, split
