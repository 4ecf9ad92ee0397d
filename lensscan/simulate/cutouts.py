"""Dask-parallel generation of labelled cutouts into a cutout store.

Reproducibility: the run's seed gives every item its own seed,
``SeedSequence(seed, spawn_key=(0, index))`` (stored as ``params/item_seed``), from which
the item draws its scene and its noise. Labels and splits are planned from a separate
stream, ``SeedSequence(seed, spawn_key=(1,))``. So an item's image depends on the seed and
its index alone: the same seed gives byte-identical stores whatever the number of
workers, the scheduler or the block size.

One pass over the items, in Dask blocks of :data:`BLOCK_ITEMS`: each task draws its
block's scenes, renders them and writes the images straight into its own chunk of the
Zarr store, returning only the parameter rows. So images never travel between processes,
and the small rows are gathered into the parameter table once every block is done.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.data.store import LENS, NONLENS, UNLABELLED, ImageBlocks, write_store
from lensscan.errors import SettingError, UserError
from lensscan.progress import is_terminal, logger
from lensscan.provenance import provenance
from lensscan.simulate.domains import (
    Domain,
    Scene,
    domain_preset,
    domain_spec,
    fill_value,
    get_domain,
    params_row,
)
from lensscan.simulate.presets import parse_bands

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

GENERATOR_VERSION = "lensscan.simulate/1"
BLOCK_ITEMS = 64
"""Items per Dask task and per Zarr chunk (does not affect the images): each task writes
whole chunks, so concurrent writers never share one."""

SCHEDULERS = ("processes", "threads", "synchronous")
_ITEM_STREAM, _PLAN_STREAM = 0, 1
_SPLIT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def parse_splits(text: str, option: str = "splits") -> tuple[tuple[str, float], ...]:
    """Parse ``"train=0.8,val=0.1,test=0.1"`` into (name, fraction) pairs summing to one.

    Args:
        text: The splits.
        option: The setting that gave them, for messages.

    Raises:
        SettingError: On a malformed entry, a bad name, a repeated name, a negative
            fraction or fractions that do not sum to one.
    """
    pairs: list[tuple[str, float]] = []
    for entry in text.split(","):
        name, sep, value = entry.strip().partition("=")
        name = name.strip()
        if not sep or not _SPLIT_NAME.match(name):
            raise SettingError(
                option, text, "expected NAME=FRACTION pairs, e.g. 'train=0.8,val=0.2'"
            )
        try:
            fraction = float(value)
        except ValueError:
            raise SettingError(option, text, f"{value.strip()!r} is not a number") from None
        if not math.isfinite(fraction) or fraction < 0:
            raise SettingError(option, text, f"fraction of {name!r} must be >= 0")
        if name in dict(pairs):
            raise SettingError(option, text, f"split {name!r} is repeated")
        pairs.append((name, fraction))
    total = sum(fraction for _, fraction in pairs)
    if abs(total - 1.0) > 1e-6:
        raise SettingError(option, text, f"fractions sum to {total:g}, not 1")
    return tuple(pairs)


@dataclass(frozen=True)
class CutoutRequest:
    """A ``lensscan simulate`` request that validates itself on construction.

    Every default is written here once; the command line, a ``--config`` TOML file and
    Python callers all build this class, and a bad value raises one :class:`UserError`
    naming the setting. Text forms are accepted where options give text: ``bands`` as
    ``"gri"`` or ``"g,r,i"``, ``splits`` as ``"train=0.8,val=0.2"``.

    Attributes:
        domain: Domain name (``sim``, ``hsc``, ``hsc-train`` or ``hsc-heldout``).
        n: Number of cutouts.
        bands: Bands, one channel each (default: the domain's).
        lens_fraction: Fraction of lenses (default: the domain's).
        splits: (name, fraction) pairs.
        unlabelled: Store labels as -1 (true labels stay in ``params/true_label``).
        seed: The run's seed.
        workers: Parallel worker processes (default: the number of CPUs).
        scheduler: Dask scheduler name (``synchronous`` whenever one worker runs).
    """

    n: int
    domain: str = "hsc"
    bands: tuple[str, ...] | str | None = None
    lens_fraction: float | None = None
    splits: tuple[tuple[str, float], ...] | str = "train=1"
    unlabelled: bool = False
    seed: int = 0
    workers: int | None = None
    scheduler: str = "processes"

    def __post_init__(self) -> None:
        preset = domain_preset(self.domain)
        if self.n <= 0:
            raise SettingError("n", self.n, "must be a positive number of cutouts")
        lens_fraction = self.lens_fraction
        if lens_fraction is None:
            spec_default = domain_spec(self.domain).default_lens_fraction
            lens_fraction = (
                spec_default if spec_default is not None else preset.default_lens_fraction
            )
        if not 0.0 <= lens_fraction <= 1.0:
            # :g shows the value as it is usually typed (2, not 2.0).
            raise UserError(f"`lens_fraction` {lens_fraction:g}: must be between 0 and 1")
        if self.seed < 0:
            raise SettingError("seed", self.seed, "must be >= 0")
        workers = (os.cpu_count() or 1) if self.workers is None else self.workers
        if workers < 1:
            raise SettingError("workers", workers, "must be at least 1")
        if self.scheduler not in SCHEDULERS:
            raise SettingError(
                "scheduler", self.scheduler, f"choose one of {', '.join(SCHEDULERS)}"
            )
        bands = self.bands if isinstance(self.bands, tuple) else parse_bands(self.bands, preset)
        splits = parse_splits(self.splits) if isinstance(self.splits, str) else self.splits
        resolved = {
            "bands": bands,
            "lens_fraction": float(lens_fraction),
            "splits": tuple((name, float(f)) for name, f in splits),
            "workers": workers,
            "scheduler": self.scheduler if workers > 1 else "synchronous",
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings for provenance."""
        record = dataclasses.asdict(self)
        record["bands"] = list(self.bands)
        record["splits"] = {name: fraction for name, fraction in self.splits}
        return record


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


def warm_worker(domain_name: str) -> None:
    """Start a worker process: ignore SIGINT, import the domain's modules if not loaded yet.

    A Ctrl-C reaches the whole process group; the main process alone decides what happens
    (it lets running blocks finish before it removes their temporary store), so a worker
    neither dies mid-block nor carries on after its store is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for module in domain_spec(domain_name).modules:
        importlib.import_module(module)


_WORKER_MODULES = ("lensscan.simulate.cutouts", "dask.local", "zarr")
"""Modules every worker process runs (besides its domain's)."""


def _worker_context(domain_name: str) -> BaseContext:
    """How worker processes start: forked from a server that loaded their modules once.

    The ``forkserver`` process imports the domain's modules (building its caches) and
    :data:`_WORKER_MODULES`, about a second and a half, then forks each worker ready to
    run, where a ``spawn`` worker would do it all itself. ``spawn`` is the fallback where
    there is no forkserver.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Only heeded when the server starts (once per process): later runs reuse it.
    context.set_forkserver_preload([*domain_spec(domain_name).modules, *_WORKER_MODULES])
    return context


def _start_workers(pool: Any, workers: int) -> None:
    """Start every worker of a process pool now rather than when tasks first arrive.

    The pool starts a process per waiting task while none is idle, so one small task per
    worker starts them all. A pool that cannot start is left for the run's first task to
    report.
    """
    from concurrent.futures.process import BrokenProcessPool

    try:
        for _ in range(workers):
            pool.submit(int)
    except BrokenProcessPool:
        return


@contextmanager
def dask_config(scheduler: str, workers: int, domain_name: str) -> Iterator[None]:
    """Dask settings for the run, with a pool of warmed-up workers.

    Worker processes start at once (see :func:`_worker_context`), so that they warm up
    while the caller prepares the run; tasks are handed out one at a time so that a few
    large blocks balance across workers.
    """
    pool: Any = None
    starting = None
    if scheduler == "processes":
        import threading
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            workers,
            mp_context=_worker_context(domain_name),
            initializer=warm_worker,
            initargs=(domain_name,),
        )
        # From a thread, since each start waits for the forkserver to be ready.
        starting = threading.Thread(target=_start_workers, args=(pool, workers), daemon=True)
        starting.start()
    elif scheduler == "threads":
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(workers)
    import dask

    if pool is None:
        with dask.config.set(scheduler="synchronous"):
            yield
        return
    with dask.config.set(scheduler=scheduler, pool=pool, num_workers=workers, chunksize=1):
        try:
            yield
        finally:
            if starting is not None:
                starting.join()
            # After an error or a Ctrl-C, queued blocks must not start and running ones must
            # end before the caller removes the temporary store they write into.
            pool.shutdown(wait=True, cancel_futures=True)


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
        from lensscan.simulate.priors import CENTRAL_TYPE_CODES

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
    from lensscan.simulate.galaxies import hubble_deep_field_path

    return [hubble_deep_field_path()]
