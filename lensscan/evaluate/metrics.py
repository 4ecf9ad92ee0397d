"""The metrics lens searches report, as pure functions of labels and scores.

Conventions, shared by every function here and by the vectorised bootstrap:

* ``labels`` are 1 for a lens and 0 for a non-lens; ``scores`` are the model's lens
  probabilities; a higher score means "more lens-like".
* At a threshold, an item is *predicted* a lens when ``score >= threshold``.
* **Ties count against the model.** A ranking with tied scores can be read in either order;
  the ranking metrics take the worse one. A lens tied with a non-lens is therefore *not*
  found before that non-lens.
* **TPR before the k-th false positive** (TPR0 for k = 1, TPR10 for k = 10): the fraction
  of lenses scored strictly above the k-th highest non-lens score. With fewer than k
  non-lenses the ranking never reaches its k-th false positive, so the quantity is undefined
  and returned as NaN: calling every lens "found" (a threshold of minus infinity) would
  claim a purity the set cannot measure.
* **TPR at FPR f**: the largest TPR over thresholds whose false-positive rate is at most
  ``f``. With ``n_neg`` non-lenses that allows ``m = floor(f * n_neg)`` false positives, so
  it equals the TPR before the ``(m + 1)``-th false positive. NaN when ``n_neg < 1 / f``: the
  set cannot resolve that rate (the only attainable FPR at or below ``f`` would be zero,
  which is TPR0, not TPR at ``f``).
* **FPR at TPR t**: the smallest FPR over thresholds whose TPR is at least ``t``; tied
  non-lenses at the threshold count as false positives.
* Precision is NaN when nothing is predicted a lens (0/0), never silently 0.

The ranking curves (ROC, precision-recall) and AUROC/AP come from scikit-learn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FPR_TARGETS: dict[str, float] = {"tpr_at_fpr_1e-2": 1e-2, "tpr_at_fpr_1e-3": 1e-3}
TPR_TARGETS: dict[str, float] = {"fpr_at_tpr_0.75": 0.75}
FALSE_POSITIVE_RANKS: dict[str, int] = {"tpr0": 1, "tpr10": 10}
RANKING_METRICS: tuple[str, ...] = (
    "auroc",
    "ap",
    *FALSE_POSITIVE_RANKS,
    *FPR_TARGETS,
    *TPR_TARGETS,
)
THRESHOLD_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")
INTERVAL_METRICS: tuple[str, ...] = (*RANKING_METRICS, *THRESHOLD_METRICS)

# Products such as 1e-3 * 1000 must count as exactly 1 allowed false positive.
_ROUNDING = 1e-9


def _split_scores(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (lens scores, non-lens scores), checking that both classes are present."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must be equal 1-D")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (non-lens) or 1 (lens)")
    positives, negatives = scores[labels == 1], scores[labels == 0]
    if positives.size == 0 or negatives.size == 0:
        raise ValueError("ranking metrics need at least one lens and one non-lens")
    return positives, negatives


def allowed_false_positives(fpr: float, n_negatives: int) -> int:
    """The number of false positives an FPR of ``fpr`` allows among ``n_negatives``."""
    return math.floor(fpr * n_negatives + _ROUNDING)


def required_true_positives(tpr: float, n_positives: int) -> int:
    """The number of lenses a TPR of at least ``tpr`` requires among ``n_positives``."""
    return max(1, math.ceil(tpr * n_positives - _ROUNDING))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half, as in the Mann-Whitney statistic)."""
    from sklearn.metrics import roc_auc_score

    _split_scores(labels, scores)
    return float(roc_auc_score(labels, scores))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Average precision: the precision-recall curve summed over recall steps (no interpolation)."""
    from sklearn.metrics import average_precision_score

    _split_scores(labels, scores)
    return float(average_precision_score(labels, scores))


def tpr_before_false_positive(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Fraction of lenses scored strictly above the k-th highest non-lens.

    Args:
        labels: (N,) 1 lens, 0 non-lens.
        scores: (N,) scores.
        k: Which false positive (1 for TPR0, 10 for TPR10).

    Returns:
        The TPR, or NaN when there are fewer than ``k`` non-lenses.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    positives, negatives = _split_scores(labels, scores)
    if negatives.size < k:
        return math.nan
    kth_highest = np.sort(negatives)[-k]
    return float(np.mean(positives > kth_highest))


def tpr0(labels: np.ndarray, scores: np.ndarray) -> float:
    """TPR before the first false positive: lenses strictly above the top non-lens."""
    return tpr_before_false_positive(labels, scores, FALSE_POSITIVE_RANKS["tpr0"])


def tpr10(labels: np.ndarray, scores: np.ndarray) -> float:
    """TPR before the tenth false positive (NaN with fewer than ten non-lenses)."""
    return tpr_before_false_positive(labels, scores, FALSE_POSITIVE_RANKS["tpr10"])


def roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The full ROC curve: (fpr, tpr, thresholds), one point per distinct score."""
    from sklearn.metrics import roc_curve

    _split_scores(labels, scores)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    return fpr, tpr, thresholds


def precision_recall(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The precision-recall curve: (precision, recall)."""
    from sklearn.metrics import precision_recall_curve

    _split_scores(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return precision, recall


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr: float) -> float:
    """The largest TPR on the ROC curve with FPR at most ``fpr``.

    Returns:
        The TPR, or NaN when the set has fewer than ``1 / fpr`` non-lenses.
    """
    n_negatives = int(np.sum(np.asarray(labels) == 0))
    allowed = allowed_false_positives(fpr, n_negatives)
    if allowed < 1:
        return math.nan
    curve_fpr, curve_tpr, _ = roc(labels, scores)
    false_positives = np.rint(curve_fpr * n_negatives)
    return float(curve_tpr[false_positives <= allowed].max())


def fpr_at_tpr(labels: np.ndarray, scores: np.ndarray, tpr: float) -> float:
    """The smallest FPR on the ROC curve with TPR at least ``tpr``."""
    n_positives = int(np.sum(np.asarray(labels) == 1))
    required = required_true_positives(tpr, n_positives)
    curve_fpr, curve_tpr, _ = roc(labels, scores)
    true_positives = np.rint(curve_tpr * n_positives)
    return float(curve_fpr[true_positives >= required].min())


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts at a threshold (predicted lens when ``score >= threshold``).

    Attributes:
        tn: Non-lenses scored below the threshold.
        fp: Non-lenses at or above it.
        fn: Lenses below it.
        tp: Lenses at or above it.
    """

    tn: int
    fp: int
    fn: int
    tp: int

    def as_nested_list(self) -> list[list[int]]:
        """``[[tn, fp], [fn, tp]]``: rows true class (non-lens, lens), columns predicted."""
        return [[self.tn, self.fp], [self.fn, self.tp]]


def confusion_matrix(labels: np.ndarray, scores: np.ndarray, threshold: float) -> ConfusionMatrix:
    """Count true/false positives/negatives at ``threshold``."""
    labels = np.asarray(labels)
    predicted = np.asarray(scores) >= threshold
    return ConfusionMatrix(
        tn=int(np.sum(~predicted & (labels == 0))),
        fp=int(np.sum(predicted & (labels == 0))),
        fn=int(np.sum(~predicted & (labels == 1))),
        tp=int(np.sum(predicted & (labels == 1))),
    )


def rates_from_counts(
    tp: np.ndarray, fp: np.ndarray, n_positives: int, n_negatives: int
) -> dict[str, np.ndarray]:
    """Accuracy, precision, recall and F1 from true and false positive counts.

    Works element-wise on arrays (one entry per bootstrap replicate) as on scalars.
    Precision is NaN where nothing is predicted a lens.
    """
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    fn = n_positives - tp
    tn = n_negatives - fp
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.full_like(tp, np.nan), where=predicted > 0)
    return {
        "accuracy": (tp + tn) / (n_positives + n_negatives),
        "precision": precision,
        "recall": tp / n_positives,
        "f1": 2 * tp / (2 * tp + fp + fn),
    }


@dataclass(frozen=True)
class MetricSet:
    """Every metric of one model on one labelled set.

    Attributes:
        values: Metric name to value (NaN where undefined; see :attr:`notes`).
        confusion: The confusion matrix at :attr:`threshold`.
        threshold: The score at or above which an item is predicted a lens.
        n_lenses: Lenses in the set.
        n_nonlenses: Non-lenses in the set.
        notes: One line per undefined metric, saying why.
    """

    values: dict[str, float]
    confusion: ConfusionMatrix
    threshold: float
    n_lenses: int
    n_nonlenses: int
    notes: tuple[str, ...] = field(default=())


def undefined_notes(n_lenses: int, n_nonlenses: int, values: dict[str, float]) -> list[str]:
    """Explain, one line each, why metrics of a set of this size are NaN."""
    notes = []
    for name, k in FALSE_POSITIVE_RANKS.items():
        if n_nonlenses < k:
            notes.append(f"{name}: undefined, {n_nonlenses} non-lenses (needs at least {k})")
    for name, fpr in FPR_TARGETS.items():
        if allowed_false_positives(fpr, n_nonlenses) < 1:
            notes.append(
                f"{name}: undefined, {n_nonlenses} non-lenses cannot resolve an FPR of {fpr:g} "
                f"(needs at least {math.ceil(1 / fpr - _ROUNDING)})"
            )
    if math.isnan(values.get("precision", 0.0)):
        notes.append("precision: undefined, no item scored at or above the threshold")
    return notes


def compute_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> MetricSet:
    """Compute every reported metric of one model.

    Args:
        labels: (N,) 1 lens, 0 non-lens; both classes must be present.
        scores: (N,) lens scores.
        threshold: Score at or above which an item is predicted a lens.

    Returns:
        The metrics, with notes for any that are undefined on this set.
    """
    positives, negatives = _split_scores(labels, scores)
    values = {
        "auroc": auroc(labels, scores),
        "ap": average_precision(labels, scores),
        **{
            name: tpr_before_false_positive(labels, scores, k)
            for name, k in FALSE_POSITIVE_RANKS.items()
        },
        **{name: tpr_at_fpr(labels, scores, fpr) for name, fpr in FPR_TARGETS.items()},
        **{name: fpr_at_tpr(labels, scores, tpr) for name, tpr in TPR_TARGETS.items()},
    }
    confusion = confusion_matrix(labels, scores, threshold)
    rates = rates_from_counts(confusion.tp, confusion.fp, positives.size, negatives.size)
    values.update({name: float(value) for name, value in rates.items()})
    return MetricSet(
        values=values,
        confusion=confusion,
        threshold=float(threshold),
        n_lenses=int(positives.size),
        n_nonlenses=int(negatives.size),
        notes=tuple(undefined_notes(positives.size, negatives.size, values)),
    )
