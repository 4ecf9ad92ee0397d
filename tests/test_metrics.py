"""Every metric against values worked out by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from lensscan.evaluate import metrics as m

# Three lenses, three non-lenses; ranking: L(0.9) L(0.8) N(0.7) L(0.3) N(0.2) N(0.1).
LABELS = np.array([1, 1, 1, 0, 0, 0])
SCORES = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])


def test_auroc_and_ap_by_hand() -> None:
    # Lens-non-lens pairs won: 3 + 3 + 2 of 9.
    assert m.auroc(LABELS, SCORES) == pytest.approx(8 / 9)
    # Precision at each lens: 1/1, 2/2, 3/4; each lens is a recall step of 1/3.
    assert m.average_precision(LABELS, SCORES) == pytest.approx((1 + 1 + 3 / 4) / 3)


def test_tpr_before_false_positives_by_hand() -> None:
    assert m.tpr0(LABELS, SCORES) == pytest.approx(2 / 3)  # two lenses above the 0.7 non-lens
    assert m.tpr_before_false_positive(LABELS, SCORES, 2) == 1.0  # all above 0.2
    assert m.tpr_before_false_positive(LABELS, SCORES, 3) == 1.0


def test_tpr0_is_zero_when_the_top_score_is_a_non_lens() -> None:
    labels = np.array([0, 1, 1, 0])
    scores = np.array([0.99, 0.9, 0.8, 0.1])
    assert m.tpr0(labels, scores) == 0.0
    assert m.tpr_before_false_positive(labels, scores, 2) == 1.0


def test_ties_count_against_the_model() -> None:
    labels = np.array([1, 1, 0, 0])
    scores = np.array([0.8, 0.5, 0.8, 0.1])
    # The lens tied with the top non-lens is not found before it.
    assert m.tpr0(labels, scores) == 0.0
    # AUROC counts the tie as one half: (0.5 + 1 + 0 + 1) / 4.
    assert m.auroc(labels, scores) == pytest.approx(0.625)
    # Every lens tied with the threshold non-lens is excluded, at any k.
    labels = np.array([1, 1, 1, 0, 0])
    scores = np.array([0.4, 0.4, 0.9, 0.4, 0.4])
    assert m.tpr0(labels, scores) == pytest.approx(1 / 3)
    assert m.tpr_before_false_positive(labels, scores, 2) == pytest.approx(1 / 3)


def test_tpr10_needs_ten_negatives() -> None:
    assert math.isnan(m.tpr10(LABELS, SCORES))
    negatives = np.linspace(0.1, 1.0, 10)
    lenses = np.array([0.05, 0.15, 1.5])
    labels = np.r_[np.ones(3, int), np.zeros(10, int)]
    scores = np.r_[lenses, negatives]
    # The 10th-highest of ten non-lenses is the lowest (0.1): lenses above it are 0.15 and 1.5.
    assert m.tpr10(labels, scores) == pytest.approx(2 / 3)


def test_tpr_at_fpr_by_hand_and_undefined_when_unresolvable() -> None:
    negatives = np.r_[np.linspace(0.0, 0.49, 99), 0.9]
    lenses = np.array([0.95, 0.85, 0.6, 0.4])
    labels = np.r_[np.ones(4, int), np.zeros(100, int)]
    scores = np.r_[lenses, negatives]
    # 100 non-lenses at FPR 1e-2 allow one false positive (the 0.9): three lenses above 0.49.
    assert m.tpr_at_fpr(labels, scores, 1e-2) == pytest.approx(3 / 4)
    assert m.tpr0(labels, scores) == pytest.approx(1 / 4)
    assert math.isnan(m.tpr_at_fpr(labels, scores, 1e-3))  # needs 1000 non-lenses
    assert math.isnan(m.tpr_at_fpr(labels[:-1], scores[:-1], 1e-2))  # 99 < 100


def test_fpr_at_tpr_by_hand() -> None:
    # TPR >= 0.75 of 3 lenses needs all three: threshold 0.3 lets in the 0.7 non-lens.
    assert m.fpr_at_tpr(LABELS, SCORES, 0.75) == pytest.approx(1 / 3)
    # TPR >= 0.5 needs two: threshold 0.8, no false positive.
    assert m.fpr_at_tpr(LABELS, SCORES, 0.5) == 0.0


def _brute_force_operating_points(labels, scores):
    thresholds = np.r_[np.inf, np.unique(scores)]
    predicted = scores[None, :] >= thresholds[:, None]
    tpr = (predicted & (labels == 1)).sum(1) / (labels == 1).sum()
    fpr = (predicted & (labels == 0)).sum(1) / (labels == 0).sum()
    return fpr, tpr


@pytest.mark.parametrize("seed", range(5))
def test_roc_operating_points_match_brute_force(seed) -> None:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(30, int), np.zeros(1200, int)]
    scores = np.round(rng.random(labels.size) + 0.4 * labels, 2)  # many ties
    fpr, tpr = _brute_force_operating_points(labels, scores)
    for target in (1e-2, 1e-3):
        assert m.tpr_at_fpr(labels, scores, target) == pytest.approx(tpr[fpr <= target].max())
    assert m.fpr_at_tpr(labels, scores, 0.75) == pytest.approx(fpr[tpr >= 0.75].min())
    # TPR0 is the TPR at zero false positives.
    assert m.tpr0(labels, scores) == pytest.approx(tpr[fpr == 0].max())


def test_threshold_metrics_by_hand_and_against_sklearn() -> None:
    result = m.compute_metrics(LABELS, SCORES, threshold=0.5)
    assert result.confusion.as_nested_list() == [[2, 1], [1, 2]]
    assert result.values["accuracy"] == pytest.approx(4 / 6)
    assert result.values["precision"] == pytest.approx(2 / 3)
    assert result.values["recall"] == pytest.approx(2 / 3)
    assert result.values["f1"] == pytest.approx(2 / 3)
    predicted = (SCORES >= 0.5).astype(int)
    assert result.values["accuracy"] == pytest.approx(accuracy_score(LABELS, predicted))
    assert result.values["precision"] == pytest.approx(precision_score(LABELS, predicted))
    assert result.values["recall"] == pytest.approx(recall_score(LABELS, predicted))
    assert result.values["f1"] == pytest.approx(f1_score(LABELS, predicted))
    # A score equal to the threshold is a predicted lens.
    assert m.confusion_matrix(LABELS, SCORES, threshold=0.3).tp == 3


def test_compute_metrics_names_and_notes() -> None:
    result = m.compute_metrics(LABELS, SCORES, threshold=0.95)
    assert set(result.values) == set(m.INTERVAL_METRICS)
    assert (result.n_lenses, result.n_nonlenses) == (3, 3)
    assert math.isnan(result.values["precision"])  # nothing scored >= 0.95
    assert result.values["f1"] == 0.0
    joined = " ".join(result.notes)
    for name in ("tpr10", "tpr_at_fpr_1e-2", "tpr_at_fpr_1e-3", "precision"):
        assert name in joined
    assert "needs at least 10" in joined


def test_one_class_is_rejected() -> None:
    with pytest.raises(ValueError, match="one lens and one non-lens"):
        m.compute_metrics(np.ones(4, int), np.linspace(0, 1, 4))
    with pytest.raises(ValueError, match="0 \\(non-lens\\) or 1"):
        m.auroc(np.array([0, 2]), np.array([0.1, 0.2]))
