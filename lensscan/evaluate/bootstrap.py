"""Stratified bootstrap intervals for every metric, computed for all replicates at once.

Real test sets are small (94 lenses in DeepLense's HSC set), so every metric is reported
with a 95% percentile interval. Lenses and non-lenses are resampled separately (stratified),
so every replicate keeps the class counts and the metrics stay defined whenever they are
defined on the full set.

A replicate is a vector of *counts*: how many times each item was drawn. With the scores
sorted once, every metric of :mod:`lensscan.evaluate.metrics` becomes a function of
cumulative counts, so a chunk of replicates is evaluated with a few array operations
instead of a Python loop over scikit-learn calls. The conventions (ties count against the
model, predicted lens at ``score >= threshold``) are the same; ``tests/test_bootstrap.py``
checks that unit counts reproduce the scikit-learn-based point estimates.

Each replicate has its own random generator spawned from the run's seed, so the intervals
do not depend on the chunk size. Items are drawn in their given order and the counts then
follow each model's sort, so models scored on the same items with the same seed share
their resamples item for item: the difference of their replicates is a paired bootstrap
of the difference (:func:`paired_difference`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lensscan.evaluate.metrics import (
    FALSE_POSITIVE_RANKS,
    FPR_TARGETS,
    INTERVAL_METRICS,
    TPR_TARGETS,
    allowed_false_positives,
    rates_from_counts,
    required_true_positives,
)

# Replicates per chunk are chosen so a chunk's (replicates x items) arrays stay near this size.
_CHUNK_ELEMENTS = 4_000_000
CONFIDENCE_LEVEL = 0.95


@dataclass(frozen=True)
class SortedScores:
    """Scores of one model sorted once, with the rank look-ups every replicate reuses.

    Attributes:
        positives: Lens scores, ascending.
        negatives: Non-lens scores, ascending.
        below: For each lens, how many non-lenses score strictly lower.
        at_or_below: For each lens, how many non-lenses score lower or equal.
        merged_order: Order of ``concat(positives, negatives)`` by descending score.
        group_ends: Positions (in merged order) where a run of equal scores ends.
        positive_order: For each sorted lens, its position among the lenses as given.
        negative_order: For each sorted non-lens, its position among the non-lenses.
    """

    positives: np.ndarray
    negatives: np.ndarray
    below: np.ndarray
    at_or_below: np.ndarray
    merged_order: np.ndarray
    group_ends: np.ndarray
    positive_order: np.ndarray
    negative_order: np.ndarray

    @classmethod
    def from_labels(cls, labels: np.ndarray, scores: np.ndarray) -> SortedScores:
        """Sort the scores of each class and precompute rank look-ups."""
        labels = np.asarray(labels)
        scores = np.asarray(scores, dtype=np.float64)
        positive_order = np.argsort(scores[labels == 1], kind="stable")
        negative_order = np.argsort(scores[labels == 0], kind="stable")
        positives = scores[labels == 1][positive_order]
        negatives = scores[labels == 0][negative_order]
        if positives.size == 0 or negatives.size == 0:
            raise ValueError("the bootstrap needs at least one lens and one non-lens")
        merged = np.concatenate([positives, negatives])
        order = np.argsort(-merged, kind="stable")
        ranked = merged[order]
        group_ends = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
        return cls(
            positives=positives,
            negatives=negatives,
            below=np.searchsorted(negatives, positives, side="left"),
            at_or_below=np.searchsorted(negatives, positives, side="right"),
            merged_order=order,
            group_ends=group_ends,
            positive_order=positive_order,
            negative_order=negative_order,
        )

    @property
    def n_positives(self) -> int:
        """Number of lenses."""
        return int(self.positives.size)

    @property
    def n_negatives(self) -> int:
        """Number of non-lenses."""
        return int(self.negatives.size)


def _cumulative(counts: np.ndarray) -> np.ndarray:
    """(R, n) counts -> (R, n + 1) with column j the total count of items before j."""
    out = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=out[:, 1:])
    return out


def _kth_highest_index(cumulative: np.ndarray, total: int, k: int) -> np.ndarray:
    """Per replicate, the ascending-sorted index of the k-th highest drawn item."""
    drawn_at_or_above = total - cumulative[:, :-1]
    return (drawn_at_or_above >= k).sum(axis=1) - 1


def _tpr_before(
    ranks: SortedScores, pos_counts: np.ndarray, neg_cumulative: np.ndarray, k: int
) -> np.ndarray:
    if ranks.n_negatives < k:
        return np.full(pos_counts.shape[0], np.nan)
    kth = _kth_highest_index(neg_cumulative, ranks.n_negatives, k)
    # A lens is strictly above the k-th highest non-lens iff more than `kth` non-lenses
    # (in sorted order) lie strictly below it.
    found = ranks.below[None, :] > kth[:, None]
    return (pos_counts * found).sum(axis=1) / ranks.n_positives


def _auroc(ranks: SortedScores, pos_counts: np.ndarray, neg_cumulative: np.ndarray) -> np.ndarray:
    below = neg_cumulative[:, ranks.below]
    tied = neg_cumulative[:, ranks.at_or_below] - below
    wins = (pos_counts * (below + 0.5 * tied)).sum(axis=1)
    return wins / (ranks.n_positives * ranks.n_negatives)


def _average_precision(
    ranks: SortedScores, pos_counts: np.ndarray, neg_counts: np.ndarray
) -> np.ndarray:
    counts = np.concatenate([pos_counts, neg_counts], axis=1)[:, ranks.merged_order]
    is_positive = ranks.merged_order < ranks.n_positives
    true_positives = np.cumsum(counts * is_positive, axis=1)[:, ranks.group_ends]
    predicted = np.cumsum(counts, axis=1)[:, ranks.group_ends]
    precision = np.divide(
        true_positives, predicted, out=np.zeros(predicted.shape), where=predicted > 0
    )
    recall_steps = np.diff(true_positives, axis=1, prepend=0) / ranks.n_positives
    return (recall_steps * precision).sum(axis=1)


def _fpr_at_tpr(
    ranks: SortedScores, pos_counts: np.ndarray, neg_cumulative: np.ndarray, tpr: float
) -> np.ndarray:
    required = required_true_positives(tpr, ranks.n_positives)
    rth = _kth_highest_index(_cumulative(pos_counts), ranks.n_positives, required)
    # Every non-lens at or above the r-th highest lens is a false positive.
    below_threshold = neg_cumulative[np.arange(rth.size), ranks.below[rth]]
    return (ranks.n_negatives - below_threshold) / ranks.n_negatives


def replicate_metrics(
    ranks: SortedScores, pos_counts: np.ndarray, neg_counts: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Every interval metric for a batch of replicates given as draw counts.

    Args:
        ranks: The model's sorted scores.
        pos_counts: (R, n_lenses) times each lens (in ascending score order) was drawn.
        neg_counts: (R, n_nonlenses) times each non-lens (ascending) was drawn.
        threshold: Score at or above which an item is predicted a lens.

    Returns:
        Metric name to (R,) values.
    """
    neg_cumulative = _cumulative(neg_counts)
    values = {
        "auroc": _auroc(ranks, pos_counts, neg_cumulative),
        "ap": _average_precision(ranks, pos_counts, neg_counts),
    }
    for name, k in FALSE_POSITIVE_RANKS.items():
        values[name] = _tpr_before(ranks, pos_counts, neg_cumulative, k)
    for name, fpr in FPR_TARGETS.items():
        allowed = allowed_false_positives(fpr, ranks.n_negatives)
        values[name] = (
            _tpr_before(ranks, pos_counts, neg_cumulative, allowed + 1)
            if allowed >= 1
            else np.full(pos_counts.shape[0], np.nan)
        )
    for name, tpr in TPR_TARGETS.items():
        values[name] = _fpr_at_tpr(ranks, pos_counts, neg_cumulative, tpr)
    true_positives = pos_counts[:, ranks.positives >= threshold].sum(axis=1)
    false_positives = neg_counts[:, ranks.negatives >= threshold].sum(axis=1)
    values.update(
        rates_from_counts(true_positives, false_positives, ranks.n_positives, ranks.n_negatives)
    )
    return {name: values[name] for name in INTERVAL_METRICS}


def _draw_counts(
    generators: list[np.random.Generator], n_positives: int, n_negatives: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per replicate, draw lenses then non-lenses with replacement from its own generator."""
    pos_counts = np.empty((len(generators), n_positives), dtype=np.int64)
    neg_counts = np.empty((len(generators), n_negatives), dtype=np.int64)
    for pos_row, neg_row, generator in zip(pos_counts, neg_counts, generators, strict=True):
        pos_row[:] = np.bincount(
            generator.integers(0, n_positives, n_positives), minlength=n_positives
        )
        neg_row[:] = np.bincount(
            generator.integers(0, n_negatives, n_negatives), minlength=n_negatives
        )
    return pos_counts, neg_counts


def bootstrap_replicates(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    n_resamples: int,
    seed: int,
    threshold: float = 0.5,
) -> dict[str, np.ndarray]:
    """Draw stratified bootstrap replicates and compute every interval metric on each.

    Args:
        labels: (N,) 1 lens, 0 non-lens.
        scores: (N,) scores.
        n_resamples: Number of replicates.
        seed: Seed of the run; replicate ``b`` uses the ``b``-th spawned generator.
        threshold: Score at or above which an item is predicted a lens.

    Returns:
        Metric name to (n_resamples,) values.
    """
    ranks = SortedScores.from_labels(labels, scores)
    n_items = ranks.n_positives + ranks.n_negatives
    chunk = max(1, _CHUNK_ELEMENTS // (n_items + 1))
    children = np.random.SeedSequence(seed).spawn(n_resamples)
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, n_resamples, chunk):
        generators = [np.random.default_rng(c) for c in children[start : start + chunk]]
        pos_counts, neg_counts = _draw_counts(generators, ranks.n_positives, ranks.n_negatives)
        # Counts were drawn per item as given; reorder them as this model sorts the items.
        pos_counts, neg_counts = (
            pos_counts[:, ranks.positive_order],
            neg_counts[:, ranks.negative_order],
        )
        parts.append(replicate_metrics(ranks, pos_counts, neg_counts, threshold))
    return {name: np.concatenate([p[name] for p in parts]) for name in INTERVAL_METRICS}


def paired_difference(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    metric: str = "auroc",
    n_resamples: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Bootstrap replicates of ``metric(a) - metric(b)`` for two models on the same items.

    Both models see the same resamples item for item, so the spread is that of the
    difference, not of either figure (it is much narrower when the models agree).

    Args:
        labels: (N,) 1 lens, 0 non-lens.
        scores_a: (N,) scores of the first model.
        scores_b: (N,) scores of the second model, on the same items.
        metric: One of :data:`~lensscan.evaluate.metrics.INTERVAL_METRICS`.
        n_resamples: Number of replicates.
        seed: Seed of the resamples.

    Returns:
        (n_resamples,) differences.
    """
    replicates = [
        bootstrap_replicates(labels, scores, n_resamples=n_resamples, seed=seed)[metric]
        for scores in (scores_a, scores_b)
    ]
    return replicates[0] - replicates[1]


def percentile_interval(
    samples: np.ndarray, level: float = CONFIDENCE_LEVEL
) -> tuple[float, float]:
    """The central percentile interval of bootstrap samples, ignoring NaN replicates.

    Returns:
        ``(low, high)``, or ``(nan, nan)`` when no replicate is finite.
    """
    finite = np.asarray(samples, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_intervals(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    n_resamples: int,
    seed: int,
    threshold: float = 0.5,
    level: float = CONFIDENCE_LEVEL,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals for every interval metric (see :func:`bootstrap_replicates`).

    Returns:
        Metric name to ``(low, high)``; empty when ``n_resamples`` is 0.
    """
    if n_resamples <= 0:
        return {}
    samples = bootstrap_replicates(
        labels, scores, n_resamples=n_resamples, seed=seed, threshold=threshold
    )
    return intervals_from_samples(samples, level)


def intervals_from_samples(
    samples: Mapping[str, np.ndarray], level: float = CONFIDENCE_LEVEL
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of each metric's replicates."""
    return {name: percentile_interval(values, level) for name, values in samples.items()}


def interval_notes(
    values: Mapping[str, float], intervals: Mapping[str, tuple[float, float]]
) -> list[str]:
    """Flag metrics whose point estimate lies outside its percentile interval.

    That happens when a statistic is biased under resampling (average precision of a model
    near chance on a tiny set, for example); the report says so rather than hide it.
    """
    notes = []
    for name, (low, high) in intervals.items():
        value = values.get(name, math.nan)
        if all(map(math.isfinite, (value, low, high))) and not low <= value <= high:
            notes.append(
                f"{name}: the estimate {value:.3f} lies outside its bootstrap interval "
                f"[{low:.3f}, {high:.3f}] (the statistic is biased under resampling at this size)"
            )
    return notes
