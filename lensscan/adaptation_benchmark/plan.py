"""The benchmark grid: methods x encoders x seeds, the standard data sets, the presets.

The full comparison's settings are the defaults of
:class:`~lensscan.adaptation_benchmark.settings.BenchmarkConfig` (DeepLense's four
encoders, every adaptation method, three seeds, about 60k source images, a 40k target pool
and a 100:1 test split with 200 lenses). :data:`QUICK_PRESET` replaces some of them with a
run of a few minutes on a two-core CPU. Options given on the command line win over both.

A cell is one (method, encoder, seed). After the grid, ``leader_seeds`` adds seeds to the
``leaders`` best (method, encoder) pairs by mean target-test AUROC, since adversarial
methods vary from seed to seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lensscan.adapt import method_class
from lensscan.adaptation_benchmark.datasets import DatasetSpec, dataset_specs
from lensscan.adaptation_benchmark.settings import BenchmarkConfig
from lensscan.config import config_to_dict
from lensscan.models.registry import check_input_size, encoder_spec
from lensscan.naming import canonical_name
from lensscan.simulate.domains.presets import get_preset

#: What ``--quick`` changes: a tiny encoder, one seed, a few hundred to ~1k images per
#: store, two epochs (ADDA needs one to pre-train and one to adapt), and 25 non-lenses per
#: lens so that the small test split still holds 40 lenses.
QUICK_PRESET: Mapping[str, Any] = MappingProxyType(
    {
        "encoders": ("small_cnn",),
        "seeds": 1,
        "n_source": 1000,
        "n_pool": 500,
        "n_val": 260,
        "n_test": 1040,
        "target_nonlenses_per_lens": 25.0,
        "epochs": 2,
        "batch_size": 32,
        "max_eval": 1000,
    }
)

#: Settings that change what a cell computes; a benchmark folder holds one set of them.
#: The grid (methods, encoders, seeds), folders, workers and device may change between runs.
RESULT_SETTINGS = (
    "scenario",
    "init_model",
    "n_source",
    "source_nonlenses_per_lens",
    "n_pool",
    "n_val",
    "n_test",
    "target_nonlenses_per_lens",
    "bands",
    "data_seed",
    "epochs",
    "batch_size",
    "lr",
    "max_eval",
)


def resolve_benchmark_config(quick: bool, overrides: Mapping[str, Any]) -> BenchmarkConfig:
    """Defaults (the full run), then the quick preset if asked, then explicit options.

    Args:
        quick: Apply :data:`QUICK_PRESET`.
        overrides: Options given on the command line; None values are left unset.

    Returns:
        The resolved settings.
    """
    values: dict[str, Any] = dict(QUICK_PRESET) if quick else {}
    values.update({key: value for key, value in overrides.items() if value is not None})
    values["quick"] = quick
    return BenchmarkConfig(**values)


@dataclass(frozen=True, order=True)
class Cell:
    """One training run of the grid.

    Attributes:
        method: Adaptation method registry name.
        encoder: Encoder registry name.
        seed: Training seed.
    """

    method: str
    encoder: str
    seed: int

    @property
    def name(self) -> str:
        """``<method>-<encoder>-s<seed>``: the name of its weights folder and result file."""
        return f"{self.method}-{self.encoder}-s{self.seed}"

    @property
    def pair(self) -> tuple[str, str]:
        """(method, encoder): the table cell it belongs to."""
        return (self.method, self.encoder)


@dataclass(frozen=True)
class BenchmarkPlan:
    """A validated benchmark: its settings, folders, grid and data sets.

    Attributes:
        config: The resolved settings.
        out: The benchmark folder.
        data_dir: The folder of the data sets.
        methods: Rows, in order, without repeats.
        encoders: Columns, in order, without repeats.
        datasets: The standard stores, by role (source, pool, eval).
    """

    config: BenchmarkConfig
    out: Path
    data_dir: Path
    methods: tuple[str, ...]
    encoders: tuple[str, ...]
    datasets: Mapping[str, DatasetSpec]

    @property
    def cells(self) -> list[Cell]:
        """The grid: every method x encoder x seed, method-major."""
        return [
            Cell(method, encoder, seed)
            for method in self.methods
            for encoder in self.encoders
            for seed in range(self.config.seeds)
        ]

    def leader_cells(self, mean_auroc: Mapping[tuple[str, str], float | None]) -> list[Cell]:
        """Extra seeds for the leading (method, encoder) pairs.

        Args:
            mean_auroc: Mean target-test AUROC of each pair (None if undefined).

        Returns:
            Cells of seeds ``seeds .. leader_seeds - 1`` for the ``leaders`` pairs with the
            highest mean AUROC (ties keep grid order); empty if ``leader_seeds <= seeds``.
        """
        if self.config.leader_seeds <= self.config.seeds or self.config.leaders < 1:
            return []
        ranked = [pair for pair in self._pairs() if mean_auroc.get(pair) is not None]
        ranked.sort(key=lambda pair: -float(mean_auroc[pair]))  # type: ignore[arg-type]
        return [
            Cell(method, encoder, seed)
            for method, encoder in ranked[: self.config.leaders]
            for seed in range(self.config.seeds, self.config.leader_seeds)
        ]

    def _pairs(self) -> list[tuple[str, str]]:
        return [(method, encoder) for method in self.methods for encoder in self.encoders]

    def result_settings(self) -> dict[str, Any]:
        """The settings every result in the folder was computed with."""
        settings = config_to_dict(self.config)
        return {name: settings[name] for name in RESULT_SETTINGS}


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    """Registry spellings of the names, in order, without blanks or repeats."""
    return tuple(dict.fromkeys(canonical_name(name) for name in names if name.strip()))


def make_plan(config: BenchmarkConfig) -> BenchmarkPlan:
    """Check the settings against the registries and lay out the benchmark.

    The settings have checked their own values; the method and encoder names, the
    encoders' input size and the data sets' classes are checked here.

    Raises:
        UserError: On an unknown method or encoder (listing the valid ones), an encoder
            that cannot take the cutouts, or data sets too small to hold lenses and
            non-lenses in every labelled split.
    """
    methods = _unique(tuple(config.methods))
    encoders = _unique(tuple(config.encoders))
    for method in methods:
        method_class(method, option="methods")
    cutout_size = get_preset("hsc").cutout_size
    for encoder in encoders:
        encoder_spec(encoder, option="encoders")
        check_input_size(encoder, cutout_size, f"`encoders` {encoder}")
    out = Path(config.out or default_out(config.quick))
    data_dir = Path(config.data_dir) if config.data_dir else out / "data"
    return BenchmarkPlan(
        config=config,
        out=out,
        data_dir=data_dir,
        methods=methods,
        encoders=encoders,
        datasets=dataset_specs(config),
    )


def default_out(quick: bool) -> Path:
    """``reports/benchmark`` (``reports/benchmark-quick`` for the quick preset)."""
    return Path("reports") / ("benchmark-quick" if quick else "benchmark")
