"""``lensscan grades summary``: counts per class and per grader, and agreement between graders.

Agreement is measured for each pair of graders on the candidates both graded: the
fraction graded identically, the fraction within one grade, and Cohen's kappa with
quadratic weights (the usual measure for ordinal grades: 1 is perfect agreement, 0 what
chance gives, NaN when chance already explains everything, e.g. both always gave 0).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensscan.inspect.consensus import CLASS_THRESHOLDS, CLASSES, NO_GRADE, Consensus
from lensscan.inspect.grades_db import GRADES


def weighted_kappa(first: np.ndarray, second: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights between two graders' grades (0-3) of the same items."""
    size = len(GRADES)
    observed = np.zeros((size, size))
    np.add.at(observed, (first, second), 1.0)
    observed /= max(observed.sum(), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    indices = np.arange(size)
    weights = (indices[:, None] - indices[None, :]) ** 2 / (size - 1) ** 2
    chance = float((weights * expected).sum())
    if chance == 0.0:
        return float("nan")
    return 1.0 - float((weights * observed).sum()) / chance


@dataclass(frozen=True)
class GraderStats:
    """One grader's grades.

    Attributes:
        name: Grader name.
        n_graded: Candidates graded.
        counts: Candidates per grade 0-3.
        mean: Mean grade (NaN if none).
    """

    name: str
    n_graded: int
    counts: tuple[int, ...]
    mean: float


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of two graders on the candidates both graded.

    Attributes:
        first: One grader.
        second: The other.
        n_common: Candidates both graded.
        exact: Fraction with the same grade (NaN if none in common).
        within_one: Fraction within one grade.
        kappa: Quadratic-weighted Cohen's kappa.
    """

    first: str
    second: str
    n_common: int
    exact: float
    within_one: float
    kappa: float


@dataclass(frozen=True)
class GradeSummary:
    """The summary of a grade database.

    Attributes:
        n_candidates: Candidates in the catalog.
        n_graded: Candidates graded by at least one grader.
        class_counts: Class -> candidates (every class of :data:`CLASSES`).
        graders: Per-grader statistics.
        pairs: Agreement of each pair of graders.
    """

    n_candidates: int
    n_graded: int
    class_counts: dict[str, int]
    graders: tuple[GraderStats, ...]
    pairs: tuple[PairAgreement, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable record (NaN as ``None``)."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and not np.isfinite(value):
                return None
            return value

        return {
            "n_candidates": self.n_candidates,
            "n_graded": self.n_graded,
            "class_thresholds": dict(CLASS_THRESHOLDS),
            "class_counts": self.class_counts,
            "graders": [
                {
                    "name": g.name,
                    "n_graded": g.n_graded,
                    "counts": list(g.counts),
                    "mean": clean(g.mean),
                }
                for g in self.graders
            ],
            "agreement": [
                {
                    "graders": [p.first, p.second],
                    "n_common": p.n_common,
                    "exact": clean(p.exact),
                    "within_one": clean(p.within_one),
                    "kappa_quadratic": clean(p.kappa),
                }
                for p in self.pairs
            ],
        }

    def lines(self) -> list[str]:
        """A plain-text report."""
        thresholds = ", ".join(f"{name} >= {value}" for name, value in CLASS_THRESHOLDS)
        lines = [
            f"{self.n_candidates} candidates, {self.n_graded} graded by at least one of "
            f"{len(self.graders)} grader(s)",
            f"classes (mean grade: {thresholds}; N below; - ungraded): "
            + "  ".join(f"{name} {self.class_counts[name]}" for name in CLASSES),
            "",
            f"{'grader':<24} {'graded':>7} {'0':>6} {'1':>6} {'2':>6} {'3':>6} {'mean':>6}",
        ]
        for g in self.graders:
            counts = " ".join(f"{c:>6}" for c in g.counts)
            lines.append(f"{g.name:<24} {g.n_graded:>7} {counts} {_number(g.mean):>6}")
        if self.pairs:
            lines += [
                "",
                f"{'graders':<40} {'common':>7} {'same':>6} {'±1':>6} {'kappa':>6}",
            ]
            for p in self.pairs:
                pair = f"{p.first} / {p.second}"
                lines.append(
                    f"{pair:<40} {p.n_common:>7} {_number(p.exact):>6} "
                    f"{_number(p.within_one):>6} {_number(p.kappa):>6}"
                )
        return lines


def _number(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.2f}"


def summarize(consensus: Consensus) -> GradeSummary:
    """Summarise a consensus: classes, graders and pairwise agreement."""
    classes = consensus.classes
    class_counts = {name: int((classes == name).sum()) for name in CLASSES}
    graders = []
    for column, name in enumerate(consensus.graders):
        given = consensus.grades[:, column]
        given = given[given != NO_GRADE]
        counts = tuple(int((given == g).sum()) for g in GRADES)
        graders.append(
            GraderStats(
                name, int(given.size), counts, float(given.mean()) if given.size else np.nan
            )
        )
    pairs = []
    for (i, first), (j, second) in itertools.combinations(enumerate(consensus.graders), 2):
        a, b = consensus.grades[:, i], consensus.grades[:, j]
        both = (a != NO_GRADE) & (b != NO_GRADE)
        n = int(both.sum())
        difference = np.abs(a[both] - b[both])
        pairs.append(
            PairAgreement(
                first,
                second,
                n,
                float((difference == 0).mean()) if n else np.nan,
                float((difference <= 1).mean()) if n else np.nan,
                weighted_kappa(a[both], b[both]) if n else np.nan,
            )
        )
    return GradeSummary(
        n_candidates=len(consensus.rows),
        n_graded=int((consensus.n_graders > 0).sum()),
        class_counts=class_counts,
        graders=tuple(graders),
        pairs=tuple(pairs),
    )
