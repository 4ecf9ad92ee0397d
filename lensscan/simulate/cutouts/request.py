"""What a ``lensscan simulate`` run of a domain is asked for, checked once on construction."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from lensscan.errors import SettingError, UserError
from lensscan.simulate.domains.presets import parse_bands
from lensscan.simulate.domains.registry import domain_preset, domain_spec

SCHEDULERS = ("processes", "threads", "synchronous")
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
