"""Consensus of several graders: mean grade, spread and a class per candidate.

Each grader's standing grade counts once (a regrade replaces the earlier grade; withdrawn
grades do not count). Classes follow the SuGOHI convention on the mean grade:

==========  =================  =======================================
class       mean grade         meaning
==========  =================  =======================================
``A``       >= 2.5             definite lens
``B``       >= 1.5             probable lens
``C``       >= 0.5             possible lens
``N``       < 0.5              not a lens
``-``       (no grade)         not graded
==========  =================  =======================================

The spread is the population standard deviation of the grades (0 for one grader).
For training, candidates at or above the B threshold are lenses, candidates every one
of whose graders gave 0 are non-lenses, and the rest stay unlabelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lensscan.catalog.schema import ColumnSpec
from lensscan.data.store import LENS, NONLENS, UNLABELLED
from lensscan.inspect.grades_db import CandidateRecord, CurrentGrade

#: (class, lowest mean grade), best class first.
CLASS_THRESHOLDS: tuple[tuple[str, float], ...] = (("A", 2.5), ("B", 1.5), ("C", 0.5))
NOT_A_LENS = "N"
UNGRADED = "-"
CLASSES = (*(name for name, _ in CLASS_THRESHOLDS), NOT_A_LENS, UNGRADED)
LENS_THRESHOLD = dict(CLASS_THRESHOLDS)["B"]
NO_GRADE = -1

GRADE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("n_graders", "int64", None, "Number of graders who graded the candidate"),
    ColumnSpec(
        "mean_grade", "float64", None, "Mean grade (0 not a lens .. 3 definite; NaN if none)"
    ),
    ColumnSpec("grade_spread", "float64", None, "Standard deviation of the grades (NaN if none)"),
    ColumnSpec(
        "grade_class", "str", None, "A (mean >= 2.5), B (>= 1.5), C (>= 0.5), N (< 0.5), - none"
    ),
    ColumnSpec("grade_label", "int64", None, "1 lens (mean >= 1.5), 0 unanimous 0, -1 other"),
    ColumnSpec("grade_comments", "str", None, "Graders' comments, 'grader: text' joined by ' | '"),
)
"""Columns that ``lensscan grades export`` adds to the catalog's own."""


def grade_class(mean: float) -> str:
    """The class of a mean grade (``-`` for NaN: not graded)."""
    if not np.isfinite(mean):
        return UNGRADED
    for name, threshold in CLASS_THRESHOLDS:
        if mean >= threshold:
            return name
    return NOT_A_LENS


@dataclass(frozen=True)
class Consensus:
    """Every candidate's combined grade, in rank order.

    Attributes:
        rows: Catalog rows (0-based), rank order.
        ranks: Their ranks.
        graders: Grader names (columns of ``grades``).
        grades: (N, G) int array, each grader's standing grade or :data:`NO_GRADE`.
        comments: Per candidate, ``grader: text`` for each non-empty comment.
    """

    rows: np.ndarray
    ranks: np.ndarray
    graders: tuple[str, ...]
    grades: np.ndarray
    comments: tuple[str, ...]

    @property
    def n_graders(self) -> np.ndarray:
        """Number of graders per candidate."""
        return (self.grades != NO_GRADE).sum(axis=1)

    @property
    def mean(self) -> np.ndarray:
        """Mean grade per candidate (NaN when ungraded)."""
        given = np.where(self.grades == NO_GRADE, np.nan, self.grades.astype(np.float64))
        with np.errstate(invalid="ignore"):
            counts = self.n_graders
            sums = np.nansum(given, axis=1)
            return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)

    @property
    def spread(self) -> np.ndarray:
        """Population standard deviation of the grades per candidate (NaN when ungraded)."""
        given = np.where(self.grades == NO_GRADE, np.nan, self.grades.astype(np.float64))
        mean = self.mean
        counts = self.n_graders
        squares = np.nansum((given - mean[:, None]) ** 2, axis=1)
        return np.where(counts > 0, np.sqrt(squares / np.maximum(counts, 1)), np.nan)

    @property
    def classes(self) -> np.ndarray:
        """Class per candidate (see :data:`CLASS_THRESHOLDS`)."""
        return np.array([grade_class(m) for m in self.mean], dtype="U1")

    @property
    def labels(self) -> np.ndarray:
        """Training label per candidate: 1 lens, 0 non-lens, -1 unlabelled."""
        mean = self.mean
        counts = self.n_graders
        unanimous_zero = (counts > 0) & ((self.grades == 0) | (self.grades == NO_GRADE)).all(axis=1)
        labels = np.full(len(self.rows), UNLABELLED, dtype=np.int64)
        labels[np.nan_to_num(mean, nan=-1.0) >= LENS_THRESHOLD] = LENS
        labels[unanimous_zero] = NONLENS
        return labels


def combine(
    candidates: Sequence[CandidateRecord], current: Sequence[CurrentGrade], graders: Sequence[str]
) -> Consensus:
    """Combine graders' standing grades into a :class:`Consensus`.

    Args:
        candidates: Every candidate, in rank order.
        current: Standing grades (withdrawn grades, ``grade=None``, are ignored).
        graders: Grader names, in the order of the output columns.
    """
    index_of_row = {c.row: i for i, c in enumerate(candidates)}
    column_of = {name: j for j, name in enumerate(graders)}
    grades = np.full((len(candidates), len(graders)), NO_GRADE, dtype=np.int64)
    comments: list[list[str]] = [[] for _ in candidates]
    for entry in current:
        i = index_of_row[entry.row]
        if entry.grade is not None:
            grades[i, column_of[entry.grader]] = entry.grade
        if entry.comment.strip():
            comments[i].append(f"{entry.grader}: {' '.join(entry.comment.split())}")
    return Consensus(
        rows=np.array([c.row for c in candidates], dtype=np.int64),
        ranks=np.array([c.rank for c in candidates], dtype=np.int64),
        graders=tuple(graders),
        grades=grades,
        comments=tuple(" | ".join(c) for c in comments),
    )
