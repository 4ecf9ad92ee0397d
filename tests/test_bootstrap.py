"""The vectorised stratified bootstrap: exact agreement with the point metrics, intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lensscan.evaluate import bootstrap as b
from lensscan.evaluate.metrics import INTERVAL_METRICS, compute_metrics


def _tied_scores(seed: int, n_pos: int, n_neg: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    scores = np.round(rng.random(n_pos + n_neg) + 0.3 * labels, 1)  # heavy ties
    return labels, scores


def _assert_same(expected: float, actual: float, name: str) -> None:
    if math.isnan(expected):
        assert math.isnan(actual), name
    else:
        assert actual == pytest.approx(expected, abs=1e-12), name


@pytest.mark.parametrize(("seed", "n_pos", "n_neg"), [(0, 3, 4), (1, 12, 150), (2, 25, 1100)])
def test_unit_counts_reproduce_the_point_metrics(seed, n_pos, n_neg) -> None:
    labels, scores = _tied_scores(seed, n_pos, n_neg)
    expected = compute_metrics(labels, scores, threshold=0.6).values
    ranks = b.SortedScores.from_labels(labels, scores)
    got = b.replicate_metrics(
        ranks, np.ones((1, n_pos), int), np.ones((1, n_neg), int), threshold=0.6
    )
    for name in INTERVAL_METRICS:
        _assert_same(expected[name], float(got[name][0]), name)


def test_draw_counts_equal_metrics_of_the_expanded_resample() -> None:
    labels, scores = _tied_scores(3, 15, 130)
    ranks = b.SortedScores.from_labels(labels, scores)
    rng = np.random.default_rng(7)
    pos_counts = rng.multinomial(15, np.full(15, 1 / 15), size=4)
    neg_counts = rng.multinomial(130, np.full(130, 1 / 130), size=4)
    got = b.replicate_metrics(ranks, pos_counts, neg_counts, threshold=0.5)
    for row in range(4):
        resampled_scores = np.r_[
            np.repeat(ranks.positives, pos_counts[row]), np.repeat(ranks.negatives, neg_counts[row])
        ]
        resampled_labels = np.r_[np.ones(15, int), np.zeros(130, int)]
        expected = compute_metrics(resampled_labels, resampled_scores, threshold=0.5).values
        for name in INTERVAL_METRICS:
            _assert_same(expected[name], float(got[name][row]), name)


def test_resampling_is_stratified() -> None:
    generators = [np.random.default_rng(s) for s in range(5)]
    pos_counts, neg_counts = b._draw_counts(generators, 7, 40)
    assert (pos_counts.sum(axis=1) == 7).all()
    assert (neg_counts.sum(axis=1) == 40).all()


def test_intervals_contain_the_point_estimate() -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(60, int), np.zeros(400, int)]
    scores = 1 / (1 + np.exp(-(rng.normal(size=460) + 1.5 * labels)))
    point = compute_metrics(labels, scores).values
    intervals = b.bootstrap_intervals(labels, scores, n_resamples=300, seed=1)
    for name in INTERVAL_METRICS:
        if math.isnan(point[name]):
            assert all(math.isnan(v) for v in intervals[name]), name
            continue
        low, high = intervals[name]
        assert low <= point[name] <= high, name
        assert low < high, name
    assert b.interval_notes(point, intervals) == []


def test_seeded_and_independent_of_chunking(monkeypatch) -> None:
    labels, scores = _tied_scores(4, 10, 60)
    first = b.bootstrap_replicates(labels, scores, n_resamples=50, seed=3)
    monkeypatch.setattr(b, "_CHUNK_ELEMENTS", 150)  # two replicates per chunk
    again = b.bootstrap_replicates(labels, scores, n_resamples=50, seed=3)
    other = b.bootstrap_replicates(labels, scores, n_resamples=50, seed=4)
    np.testing.assert_array_equal(first["auroc"], again["auroc"])
    assert not np.array_equal(first["auroc"], other["auroc"])


def test_undefined_metrics_have_undefined_intervals_and_zero_resamples() -> None:
    labels, scores = _tied_scores(5, 4, 6)  # fewer than ten non-lenses
    intervals = b.bootstrap_intervals(labels, scores, n_resamples=40, seed=0)
    assert all(math.isnan(v) for v in intervals["tpr10"])
    assert all(math.isfinite(v) for v in intervals["auroc"])
    assert b.bootstrap_intervals(labels, scores, n_resamples=0, seed=0) == {}


def test_percentile_interval_and_outside_notes() -> None:
    low, high = b.percentile_interval(np.r_[np.arange(101.0), np.nan])
    assert (low, high) == pytest.approx((2.5, 97.5))
    assert all(math.isnan(v) for v in b.percentile_interval(np.full(3, np.nan)))
    notes = b.interval_notes({"ap": 0.3, "auroc": 0.5}, {"ap": (0.34, 0.39), "auroc": (0.4, 0.6)})
    assert len(notes) == 1 and notes[0].startswith("ap: the estimate 0.300 lies outside")


def test_paired_difference_of_a_model_with_itself_is_zero() -> None:
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(40, int), np.zeros(300, int)]
    scores = rng.normal(size=340) + labels
    assert np.all(b.paired_difference(labels, scores, scores.copy(), n_resamples=50) == 0)


def test_paired_difference_resamples_the_same_items_for_both_models() -> None:
    rng = np.random.default_rng(4)
    labels = np.r_[np.ones(50, int), np.zeros(400, int)]
    scores = rng.normal(size=450) + 1.2 * labels
    # A monotone transform ranks the items exactly alike: every paired difference is 0,
    # although the two models sort their scores differently from the items' order.
    shifted = np.exp(scores)
    assert np.all(b.paired_difference(labels, scores, shifted, n_resamples=50) == 0)
    # Each replicate of one model is the metric of the items its counts draw.
    other = scores + rng.normal(scale=0.8, size=450)
    differences = b.paired_difference(labels, scores, other, n_resamples=200, seed=5)
    unpaired = b.bootstrap_replicates(labels, scores, n_resamples=200, seed=5)["auroc"]
    assert differences.std() < unpaired.std()


def test_replicate_counts_follow_the_items_not_the_sort() -> None:
    labels = np.r_[np.ones(8, int), np.zeros(60, int)]
    scores = np.random.default_rng(6).normal(size=68) + labels
    reversed_scores = scores.copy()
    reversed_scores[:8] = reversed_scores[:8][::-1]
    # The same lens scores on other items: if counts followed the sort rather than the
    # items, every replicate would be unchanged.
    one = b.bootstrap_replicates(labels, scores, n_resamples=20, seed=2)["auroc"]
    two = b.bootstrap_replicates(labels, reversed_scores, n_resamples=20, seed=2)["auroc"]
    assert not np.allclose(one, two)
