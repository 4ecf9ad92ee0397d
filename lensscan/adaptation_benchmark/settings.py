"""Settings of ``lensscan benchmark``: one frozen dataclass that checks its own values."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from lensscan.errors import SettingError, UserError

SCENARIO_DOMAINS: Mapping[str, tuple[str, str]] = {
    "deeplense": ("sim", "hsc"),
    "survey": ("hsc-train", "hsc-heldout"),
}
"""Benchmark scenario -> (source domain, target domain) of its stores."""


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """Settings of ``lensscan benchmark`` (the DeepLense domain-adaptation comparison).

    The defaults are the full run; ``--quick`` replaces the settings its preset names
    (``lensscan.adaptation_benchmark.plan.QUICK_PRESET``) unless an option sets them.

    Attributes:
        out: Benchmark folder (data/, models/, results/, table.md, table.json); None means
            ``reports/benchmark`` (``reports/benchmark-quick`` with ``quick``).
        quick: The small preset that runs in minutes on a laptop CPU.
        methods: Adaptation methods, the table's rows (``supervised`` = no adaptation).
        encoders: Encoders, the table's columns.
        seeds: Training seeds of every cell (seeds 0 .. seeds - 1).
        leader_seeds: Seeds of the leading cells (0 or at most ``seeds``: no extra runs).
        leaders: How many leading (method, encoder) cells, by mean target-test AUROC.
        n_source: Labelled source (sim) cutouts; 90% train, 10% source validation.
        source_nonlenses_per_lens: Non-lenses per lens in the source store.
        n_pool: Unlabelled HSC-like target pool.
        n_val: HSC-like target-validation items (model selection).
        n_test: HSC-like target-test items (the table's metrics).
        target_nonlenses_per_lens: Non-lenses per lens in the target pool, val and test.
        bands: Bands of every store.
        data_seed: Seed of the source store; the pool and the val/test store use
            ``data_seed + 1`` and ``data_seed + 2``.
        data_dir: Folder of the data sets (shared between benchmark folders); None means
            ``<out>/data``.
        epochs: Training epochs of every cell.
        batch_size: Source (and target) items per step.
        lr: Learning rate.
        max_eval: At most this many validation items per epoch for model selection.
        workers: Processes simulating the data sets, and torch threads when training on
            the CPU; None: every core.
        device: cpu, cuda, cuda:N or mps; None picks CUDA, MPS, then CPU.
        scenario: ``deeplense`` (simple sims -> HSC-like, selection on labelled HSC-like
            validation items: the DeepLense study) or ``survey`` (labelled hsc-train source
            -> unlabelled hsc-heldout pool, no target labels anywhere: what a user adapting
            a model to a survey faces; the last epoch is kept).
        init_model: Model every cell of the ``survey`` scenario starts from (name, folder
            or ``default``; its no-adaptation row is the model itself); None trains every
            cell from scratch.
    """

    out: str | None = None
    quick: bool = False
    scenario: str = "deeplense"
    init_model: str | None = None
    methods: tuple[str, ...] = (
        "supervised",
        "adabn",
        "adda",
        "adamatch",
        "self_ensembling",
        "dann",
    )
    encoders: tuple[str, ...] = ("efficientnet_b2", "resnet34", "densenet121", "ecnn")
    seeds: int = 3
    leader_seeds: int = 0
    leaders: int = 3
    n_source: int = 60_000
    source_nonlenses_per_lens: float = 2.0
    n_pool: int = 40_000
    n_val: int = 10_100
    n_test: int = 20_200
    target_nonlenses_per_lens: float = 100.0
    bands: str = "gri"
    data_seed: int = 0
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    max_eval: int = 16_384
    workers: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        minimums = {
            "seeds": (self.seeds, 1),
            "leader_seeds": (self.leader_seeds, 0),
            "leaders": (self.leaders, 0),
            "epochs": (self.epochs, 1),
            "batch_size": (self.batch_size, 2),
            "max_eval": (self.max_eval, 1),
            "data_seed": (self.data_seed, 0),
        }
        for setting, (value, minimum) in minimums.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise SettingError(setting, value, f"must be a whole number of at least {minimum}")
        if self.workers is not None and self.workers < 1:
            raise SettingError("workers", self.workers, "must be at least 1")
        if not self.lr > 0:
            raise SettingError("lr", self.lr, "must be positive")
        if self.scenario not in SCENARIO_DOMAINS:
            raise SettingError(
                "scenario", self.scenario, f"choose one of {', '.join(SCENARIO_DOMAINS)}"
            )
        if self.init_model is not None and self.scenario != "survey":
            raise UserError("`init_model`: only the survey scenario starts cells from a model")
        for setting in ("methods", "encoders"):
            if not any(name.strip() for name in getattr(self, setting)):
                raise UserError(f"`{setting}`: give at least one name")
        self._check_data_sizes()

    def _check_data_sizes(self) -> None:
        """Store sizes are whole numbers of cutouts; non-lens ratios are positive."""
        sizes = {
            "n_source": self.n_source,
            "n_pool": self.n_pool,
            "n_val": self.n_val,
            "n_test": self.n_test,
        }
        for setting, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise SettingError(setting, value, "must be a positive number of cutouts")
        ratios = {
            "source_nonlenses_per_lens": self.source_nonlenses_per_lens,
            "target_nonlenses_per_lens": self.target_nonlenses_per_lens,
        }
        for setting, value in ratios.items():
            if not math.isfinite(value) or value <= 0:
                raise SettingError(setting, value, "must be a positive number")
