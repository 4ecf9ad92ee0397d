"""The benchmark's standard data sets, simulated once and reused.

Three stores, each from its own seed so that no item appears in two of them:

* ``source``: labelled source-domain items, split 90% train / 10% val;
* ``pool``: the unlabelled target pool the adaptation methods see (labels stored as -1;
  true labels stay in ``params/true_label``);
* ``eval``: labelled target items split into ``val`` (model selection, ``deeplense``
  scenario only) and ``test`` (the table's metrics). Keeping them out of the pool means
  no method adapts on a test item.

The ``deeplense`` scenario's source is the simple ``sim`` domain and its target ``hsc``;
the ``survey`` scenario's source is the labelled ``hsc-train`` family and its target the
``hsc-heldout`` family (:data:`~lensscan.adaptation_benchmark.settings.SCENARIO_DOMAINS`).

A store is named after its role, size and seed. An existing store is reused only if the
settings it records (domain, size, bands, lens fraction, splits, seed, generator version)
are the ones asked for; stores are written atomically, so one that exists is complete.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.adaptation_benchmark.settings import SCENARIO_DOMAINS, BenchmarkConfig
from lensscan.data.store import LENS, NONLENS, CutoutStore
from lensscan.errors import UserError
from lensscan.progress import logger
from lensscan.simulate.cutouts.plan import plan_items
from lensscan.simulate.cutouts.request import CutoutRequest
from lensscan.simulate.cutouts.run import GENERATOR_VERSION, simulate_cutouts
from lensscan.training.data import store_fingerprint

SOURCE_SPLITS = "train=0.9,val=0.1"
POOL_SPLITS = "pool=1"
#: The split of each store's items that must hold both lenses and non-lenses.
LABELLED_SPLITS: Mapping[str, tuple[str, ...]] = {
    "source": ("train",),
    "pool": (),
    "eval": ("val", "test"),
}
#: Recorded simulate settings that decide a store's content (not how it was computed).
CONTENT_SETTINGS = ("domain", "n", "bands", "lens_fraction", "splits", "unlabelled", "seed")


@dataclass(frozen=True)
class DatasetSpec:
    """One standard store of the benchmark.

    Attributes:
        role: ``source``, ``pool`` or ``eval``.
        request: The simulate request that makes it.
        size_settings: The benchmark settings that set its size, for messages.
    """

    role: str
    request: CutoutRequest
    size_settings: tuple[str, ...]

    @property
    def filename(self) -> str:
        """``<role>-<domain>-n<size>-seed<seed>.zarr``."""
        request = self.request
        return f"{self.role}-{request.domain}-n{request.n}-seed{request.seed}.zarr"

    def content_settings(self) -> dict[str, Any]:
        """The request's settings that decide the store's content, as JSON values."""
        settings = self.request.settings()
        return {name: settings[name] for name in CONTENT_SETTINGS}


def _request(
    domain: str,
    n: int,
    nonlenses_per_lens: float,
    splits: str,
    config: BenchmarkConfig,
    seed: int,
    unlabelled: bool = False,
) -> CutoutRequest:
    return CutoutRequest(
        domain=domain,
        n=n,
        bands=config.bands,
        lens_fraction=1.0 / (1.0 + nonlenses_per_lens),
        splits=splits,
        unlabelled=unlabelled,
        seed=seed,
        workers=config.workers,
        scheduler="processes",
    )


def dataset_specs(config: BenchmarkConfig) -> dict[str, DatasetSpec]:
    """The three standard stores of a benchmark, checked to hold both classes where needed.

    Raises:
        UserError: On a bad band list, or a split that would lack lenses or non-lenses
            (naming the settings to raise).
    """
    total_eval = config.n_val + config.n_test
    eval_splits = f"val={config.n_val / total_eval!r},test={config.n_test / total_eval!r}"
    target_ratio = config.target_nonlenses_per_lens
    source_domain, target_domain = SCENARIO_DOMAINS[config.scenario]
    specs = {
        "source": DatasetSpec(
            "source",
            _request(
                source_domain,
                config.n_source,
                config.source_nonlenses_per_lens,
                SOURCE_SPLITS,
                config,
                config.data_seed,
            ),
            ("n_source",),
        ),
        "pool": DatasetSpec(
            "pool",
            _request(
                target_domain,
                config.n_pool,
                target_ratio,
                POOL_SPLITS,
                config,
                config.data_seed + 1,
                unlabelled=True,
            ),
            ("n_pool",),
        ),
        "eval": DatasetSpec(
            "eval",
            _request(
                target_domain, total_eval, target_ratio, eval_splits, config, config.data_seed + 2
            ),
            ("n_val", "n_test"),
        ),
    }
    for spec in specs.values():
        _check_classes(spec)
    return specs


def _check_classes(spec: DatasetSpec) -> None:
    """Check, from the simulate plan itself, that each labelled split gets both classes."""
    labels, split = plan_items(spec.request)
    names = [name for name, _ in spec.request.splits]
    for name in LABELLED_SPLITS[spec.role]:
        members = labels[split == names.index(name)]
        lenses, nonlenses = int(np.sum(members == LENS)), int(np.sum(members == NONLENS))
        if lenses < 1 or nonlenses < 1:
            settings = "/".join(f"`{setting}`" for setting in spec.size_settings)
            raise UserError(
                f"{settings} {spec.request.n}: the {spec.role} store's {name!r} split would "
                f"hold {lenses} lenses and {nonlenses} non-lenses; make it larger or lower "
                "the non-lenses per lens"
            )


def _check_existing(path: Path, spec: DatasetSpec) -> None:
    """Check that an existing store was made with the settings asked for.

    Raises:
        UserError: Naming the settings that differ.
    """
    store = CutoutStore.open(path, option="data_dir")
    attrs = store.attrs
    recorded = attrs.get("provenance", {}).get("settings", {})
    wanted = spec.content_settings()
    differ = [name for name in CONTENT_SETTINGS if recorded.get(name) != wanted[name]]
    if attrs.get("generator") != GENERATOR_VERSION:
        differ.append(f"generator {attrs.get('generator')!r}, now {GENERATOR_VERSION!r}")
    if differ:
        detail = ", ".join(
            f"{name}: {recorded.get(name)!r} there, {wanted[name]!r} now"
            if name in wanted
            else name
            for name in differ
        )
        raise UserError(
            f"`data_dir` {path}: made with other settings ({detail}); remove it or choose "
            "another `data_dir`"
        )


def ensure_datasets(specs: Mapping[str, DatasetSpec], data_dir: Path) -> dict[str, Path]:
    """Simulate the stores that do not exist yet; check and reuse the others.

    Args:
        specs: The stores, by role.
        data_dir: Their folder.

    Returns:
        The store paths, by role.

    Raises:
        UserError: If an existing store was made with other settings, or the folder cannot
            be written.
    """
    paths = {}
    for role, spec in specs.items():
        path = data_dir / spec.filename
        if path.exists():
            _check_existing(path, spec)
            logger.info("data: reusing %s", path)
        else:
            logger.info("data: simulating %s (%d %s cutouts)", path, spec.request.n, role)
            logger.info("%s", simulate_cutouts(spec.request, path))
        paths[role] = path
    return paths


def describe_datasets(paths: Mapping[str, os.PathLike[str] | str]) -> dict[str, Any]:
    """Items, lenses and non-lenses of every split of every store, for the table.

    The pool's counts come from its hidden true labels (``params/true_label``). Each store
    carries a content hash (of every file, or of all but the image chunks for large stores).
    """
    record: dict[str, Any] = {}
    for role, path in paths.items():
        store = CutoutStore.open(path, option="data_dir")
        labels = store.labels
        if np.all(labels < 0) and "true_label" in store.params():
            labels = store.params()["true_label"]
        splits = {}
        for name in store.splits_present():
            members = labels[store.split_indices(name)]
            splits[name] = {
                "items": int(members.size),
                "lenses": int(np.sum(members == LENS)),
                "non_lenses": int(np.sum(members == NONLENS)),
            }
        record[role] = {
            "path": str(Path(path).resolve()),
            **store_fingerprint(Path(path)),
            "domain": store.attrs.get("domain"),
            "seed": store.attrs.get("seed"),
            "items": len(store),
            "splits": splits,
        }
    return record
