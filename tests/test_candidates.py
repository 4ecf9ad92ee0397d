"""Candidates: suppression, grouping, peak refinement."""

from __future__ import annotations

import numpy as np
import pytest

from lensscan.scan.candidates import (
    GROUP_CORE_MARGIN,
    GROUP_SCORE_RATIO,
    grid_peaks,
    group_detections,
    non_maximum_suppression,
    refine_peaks,
)
from lensscan.scan.tiling import WindowGrid


def test_nms_keeps_the_best_and_drops_close_neighbours() -> None:
    x = np.array([0.0, 3.0, 10.0, 10.5, 30.0])
    y = np.zeros(5)
    scores = np.array([0.9, 0.95, 0.5, 0.8, np.nan])
    kept = non_maximum_suppression(x, y, scores, min_separation=5.0)
    np.testing.assert_array_equal(kept, [1, 3])


def test_nms_separation_is_strict_and_ties_are_deterministic() -> None:
    x = np.array([0.0, 5.0, 10.0])
    scores = np.array([0.7, 0.7, 0.7])
    np.testing.assert_array_equal(non_maximum_suppression(x, np.zeros(3), scores, 5.0), [0, 1, 2])
    np.testing.assert_array_equal(non_maximum_suppression(x, np.zeros(3), scores, 5.01), [0, 2])
    np.testing.assert_array_equal(
        non_maximum_suppression(x, np.zeros(3), scores, 0.0, limit=2), [0, 1]
    )


def test_a_lens_system_split_by_the_deblender_is_listed_once_at_its_nucleus() -> None:
    # A lens galaxy (bright core) at 0, an arc fragment at 8 px scoring a hair higher, a
    # neighbour at 25 px that sees the arcs and scores lower, and an unrelated galaxy.
    x = np.array([100.0, 108.0, 125.0, 400.0])
    y = np.zeros(4)
    scores = np.array([0.95, 0.97, 0.60, 0.80])
    cores = np.array([50.0, 8.0, 60.0, 30.0])
    groups = group_detections(x, y, scores, cores, radius=32.0)
    # The arc outscores the lens but not by more than the ratio, so the nucleus represents
    # the group; the neighbour scores too low to, though its core is brighter still.
    assert 0.60 < GROUP_SCORE_RATIO * 0.97 <= 0.95
    np.testing.assert_array_equal(groups.index, [0, 3])
    np.testing.assert_array_equal(groups.size, [3, 1])


def test_a_core_only_a_little_brighter_does_not_displace_the_best_scored() -> None:
    # A bright arc's knot next to a deflector whose centroid the arc pulled aside: their
    # cores are alike, so the best-scored detection stays the group's place.
    x, y = np.array([100.0, 109.0]), np.zeros(2)
    scores = np.array([0.99, 0.98])
    for core, listed in ((1.2, 0), (GROUP_CORE_MARGIN, 1)):
        groups = group_detections(x, y, scores, np.array([40.0, core * 40.0]), radius=32.0)
        np.testing.assert_array_equal(groups.index, [listed])


def test_a_core_at_or_below_the_sky_never_takes_a_group_over() -> None:
    x, y = np.array([100.0, 109.0]), np.zeros(2)
    scores = np.array([0.99, 0.98])
    for cores, listed in (([-10.0, -9.0], 0), ([0.0, 1e-6], 1), ([-5.0, 20.0], 1)):
        groups = group_detections(x, y, scores, np.array(cores), radius=32.0)
        np.testing.assert_array_equal(groups.index, [listed])
    # The leader stands even when the others' cores are NaN (an aperture all masked).
    groups = group_detections(x, y, scores, np.array([1.0, np.nan]), radius=32.0)
    np.testing.assert_array_equal(groups.index, [0])


def test_grouping_lists_by_own_score_and_stops_at_the_limit() -> None:
    x = np.array([0.0, 5.0, 100.0, 200.0])
    scores = np.array([0.99, 0.9, 0.95, np.nan])
    cores = np.array([1.0, 5.0, 1.0, 9.0])
    groups = group_detections(x, np.zeros(4), scores, cores, radius=10.0)
    # The first group is listed at its brighter core (score 0.9), after the 0.95 galaxy.
    np.testing.assert_array_equal(groups.index, [2, 1])
    np.testing.assert_array_equal(groups.size, [1, 2])
    np.testing.assert_array_equal(
        group_detections(x, np.zeros(4), scores, cores, 10.0, limit=1).index, [2]
    )


def test_grouping_radius_zero_keeps_every_detection_best_first() -> None:
    scores = np.array([0.2, 0.9, 0.5])
    groups = group_detections(np.zeros(3), np.zeros(3), scores, np.ones(3), radius=0.0)
    np.testing.assert_array_equal(groups.index, [1, 2, 0])
    np.testing.assert_array_equal(groups.size, [1, 1, 1])


def test_nms_limit_stops_after_top_n() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1000, (2, 500))
    scores = rng.random(500)
    kept = non_maximum_suppression(x, y, scores, 20.0, limit=7)
    assert len(kept) == 7
    assert list(kept) == list(non_maximum_suppression(x, y, scores, 20.0)[:7])
    kept_all = non_maximum_suppression(x, y, scores, 20.0)
    distances = np.hypot(x[kept_all][:, None] - x[kept_all], y[kept_all][:, None] - y[kept_all])
    assert distances[~np.eye(len(kept_all), dtype=bool)].min() >= 20.0


def test_refine_peaks_is_the_score_weighted_centroid() -> None:
    scores = np.zeros((4, 4))
    scores[1, 1] = 0.8
    scores[1, 2] = 0.4
    scores[2, 1] = np.nan  # skipped windows carry no weight
    scores[3, 3] = 0.5  # a corner: its 3x3 neighbourhood is cut by the grid's edges
    centres = np.array([10.0, 20.0, 30.0, 40.0])
    y, x = refine_peaks(scores, centres, centres, np.array([1, 3]), np.array([1, 3]))
    assert y[0] == pytest.approx(20.0)
    assert x[0] == pytest.approx((0.8 * 20 + 0.4 * 30) / 1.2)
    assert (y[1], x[1]) == pytest.approx((40.0, 40.0))
    y, x = refine_peaks(np.zeros((2, 2)), centres[:2], centres[:2], np.array([0]), np.array([0]))
    assert (y[0], x[0]) == (10.0, 10.0)


def test_refine_peaks_matches_the_centroid_of_each_neighbourhood() -> None:
    rng = np.random.default_rng(3)
    scores = rng.random((7, 9))
    scores[rng.random((7, 9)) < 0.2] = np.nan
    centres_y, centres_x = np.arange(7) * 16.0 + 5, np.arange(9) * 16.0 + 5
    rows, cols = np.nonzero(np.isfinite(scores))
    y, x = refine_peaks(scores, centres_y, centres_x, rows, cols)
    for k, (r, c) in enumerate(zip(rows, cols, strict=True)):
        block = np.nan_to_num(scores[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2])
        ys, xs = centres_y[max(r - 1, 0) : r + 2], centres_x[max(c - 1, 0) : c + 2]
        assert y[k] == pytest.approx((block.sum(1) * ys).sum() / block.sum())
        assert x[k] == pytest.approx((block.sum(0) * xs).sum() / block.sum())


def test_grid_peaks_find_a_blob_between_windows() -> None:
    grid = WindowGrid(200, 200, 32, 16)
    centres_y, centres_x = grid.centres()
    true_y, true_x = 101.0, 77.0
    scores = np.exp(
        -((centres_y[:, None] - true_y) ** 2 + (centres_x[None, :] - true_x) ** 2) / (2 * 12.0**2)
    )
    fractions = np.zeros_like(scores)
    peaks = grid_peaks(scores, fractions, grid, threshold=0.5, min_separation_px=40.0, top=None)
    assert len(peaks) == 1
    assert abs(peaks.y[0] - true_y) < 3 and abs(peaks.x[0] - true_x) < 3
    assert peaks.score[0] == pytest.approx(scores.max())


def test_grid_suppression_works_on_refined_positions_at_the_default_radius() -> None:
    # A lens at stride 32 / cutout 64 lights up every window that holds it: a broad plateau
    # of scores above threshold. Refined positions all pull towards the lens, so NMS at
    # half a cutout (the scan's default) leaves one candidate.
    grid = WindowGrid(512, 512, 64, 32)
    centres_y, centres_x = grid.centres()
    true_y, true_x = 250.0, 270.0
    scores = np.exp(
        -((centres_y[:, None] - true_y) ** 2 + (centres_x[None, :] - true_x) ** 2) / (2 * 30.0**2)
    )
    assert (scores >= 0.5).sum() >= 4  # window centres 32 px apart: none within the radius
    peaks = grid_peaks(scores, np.zeros_like(scores), grid, 0.5, min_separation_px=32.0, top=None)
    assert len(peaks) == 1
    assert np.hypot(peaks.y[0] - true_y, peaks.x[0] - true_x) < 8
