"""From scores to ranked candidates: non-maximum suppression, grouping, peak refinement.

Positions are numpy 0-based pixels throughout; their sky positions are
:mod:`lensscan.scan.geometry`'s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lensscan.scan.tiling import WindowGrid


def _greedy_groups(
    x: np.ndarray, y: np.ndarray, scores: np.ndarray, radius: float
) -> Iterator[np.ndarray]:
    """Greedy grouping by score: the best detection left and its neighbours, repeated.

    Yields each group's members (indices into the inputs), best-scored first, so the
    first is the group's leader. A neighbour is strictly closer than ``radius`` to the
    leader (one at exactly the radius stays apart) and not in an earlier group; with a
    radius of 0 every detection is its own group. NaN scores are left out, and ties are
    broken by input order, so the result is deterministic.
    """
    from scipy.spatial import cKDTree

    valid = np.flatnonzero(np.isfinite(scores))
    order = valid[np.lexsort((valid, -scores[valid]))]
    if radius <= 0:
        yield from (order[rank : rank + 1] for rank in range(len(order)))
        return
    points = np.column_stack([x, y]).astype(np.float64)[order]
    tree = cKDTree(points)
    grouped = np.zeros(len(order), dtype=bool)
    for rank in range(len(order)):
        if grouped[rank]:
            continue
        near = np.asarray(tree.query_ball_point(points[rank], np.nextafter(radius, 0)))
        members = np.sort(near[~grouped[near]])
        grouped[members] = True
        yield order[members]


def non_maximum_suppression(
    x: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    min_separation: float,
    limit: int | None = None,
) -> np.ndarray:
    """Greedy non-maximum suppression: keep the best, drop its neighbours, repeat.

    Ties are broken by input order, so the result is deterministic.

    Args:
        x: Column of each detection (pixels).
        y: Row of each detection (pixels).
        scores: Score of each detection (NaN never kept).
        min_separation: Detections closer than this to a kept, better one are dropped
            (pixels; 0 keeps everything).
        limit: Stop after this many kept detections.

    Returns:
        Indices of the kept detections, best first.
    """
    leaders = (members[0] for members in _greedy_groups(x, y, scores, min_separation))
    return np.fromiter(itertools.islice(leaders, limit), dtype=np.int64)


GROUP_SCORE_RATIO = 0.9
"""Members scoring at least this fraction of a group's best score may represent it."""
GROUP_CORE_MARGIN = 1.5
"""Another member represents a group instead of the best-scored one only when its core is
at least this many times brighter: the deflector's nucleus is, while a bright arc's knot
can be about as bright as a deflector whose centroid the arc pulled aside."""


@dataclass(frozen=True)
class Groups:
    """One candidate per group of nearby detections, best first.

    Attributes:
        index: The detection that represents each group.
        size: How many detections each group holds (1: the detection stood alone).
    """

    index: np.ndarray
    size: np.ndarray


def group_detections(
    x: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    cores: np.ndarray,
    radius: float,
    limit: int | None = None,
) -> Groups:
    """Fold detections of one scene into one candidate: a lens system listed once.

    A lens system is often detected several times: the deblender splits off arcs and
    counter-images, and a neighbour whose cutout holds the arcs scores high too. Greedily
    by score, the best detection not yet in a group and every other one within ``radius``
    form a group (the non-maximum suppression of :func:`non_maximum_suppression`). The
    group is listed at its best-scored member, or at the member with the brightest core
    (the putative deflector, whose centre the finder was trained on) among those scoring
    at least :data:`GROUP_SCORE_RATIO` of the best when that core is at least
    :data:`GROUP_CORE_MARGIN` times the best-scored one's: an arc fragment can score as
    high as the lens galaxy but is fainter at its centre, while a neighbour that sees the
    arcs from the side of its cutout scores lower. The candidates are ordered by their own
    score.

    Args:
        x: Column of each detection (pixels).
        y: Row of each detection (pixels).
        scores: Score of each detection (NaN never kept).
        cores: Core flux of each detection above the sky (any unit shared by all; one at
            or below zero never takes a group over).
        radius: Detections closer than this to a group's best one join it (pixels; 0
            keeps every detection on its own).
        limit: Keep at most this many candidates.

    Returns:
        The representative of each group and the group's size, best first.
    """
    chosen, sizes = [], []
    for members in _greedy_groups(x, y, scores, radius):
        best = scores[members[0]]
        # The leader always qualifies, even for a negative score.
        strong = members[(scores[members] >= GROUP_SCORE_RATIO * best) | (members == members[0])]
        core = np.nan_to_num(cores[strong], nan=-np.inf)
        brightest = int(np.argmax(core))
        # strong[0] is the leader. A core at or below the sky is no nucleus: only a positive
        # core can take over, and then from a leader's core counted as at least zero.
        clearly = core[brightest] > 0 and core[brightest] >= GROUP_CORE_MARGIN * max(core[0], 0)
        chosen.append(strong[brightest if clearly else 0])
        sizes.append(len(members))
    chosen_index = np.asarray(chosen, dtype=np.int64)
    by_score = np.lexsort((np.arange(len(chosen_index)), -scores[chosen_index]))[:limit]
    return Groups(chosen_index[by_score], np.asarray(sizes, dtype=np.int64)[by_score])


def refine_peaks(
    score_map: np.ndarray,
    centres_y: np.ndarray,
    centres_x: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Score-weighted centroids of peaks and their 8 neighbours on the window grid.

    All peaks at once: 3x3 sums of the weights and of the weighted centres, with the grid's
    edges and skipped (NaN) windows weighing nothing.

    Args:
        score_map: (rows, cols) window scores (NaN for skipped windows).
        centres_y: Pixel row of each score-map row's window centre.
        centres_x: Pixel column of each score-map column's window centre.
        rows: Score-map row of each peak.
        cols: Score-map column of each peak.

    Returns:
        ``(y, x)`` arrays in 0-based pixels; a peak's own centre where every weight is zero.
    """
    weights = np.nan_to_num(score_map, nan=0.0).astype(np.float64)
    centre_rows = np.asarray(centres_y, np.float64)[:, None]
    centre_cols = np.asarray(centres_x, np.float64)[None, :]

    def box_sum(values: np.ndarray) -> np.ndarray:
        padded = np.pad(values, 1)
        height, width = values.shape
        return sum(padded[dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3))

    total = box_sum(weights)[rows, cols]
    weighted_y = box_sum(weights * centre_rows)[rows, cols]
    weighted_x = box_sum(weights * centre_cols)[rows, cols]
    positive = total > 0
    safe = np.where(positive, total, 1.0)
    y = np.where(positive, weighted_y / safe, centre_rows[rows, 0])
    x = np.where(positive, weighted_x / safe, centre_cols[0, cols])
    return y, x


@dataclass(frozen=True)
class Peaks:
    """Candidates found on a score map, best first.

    Attributes:
        x: Refined column (0-based pixels).
        y: Refined row (0-based pixels).
        score: Peak window score.
        mask_fraction: Bad-pixel fraction of the peak window.
        row: Score-map row of the peak window.
        col: Score-map column of the peak window.
    """

    x: np.ndarray
    y: np.ndarray
    score: np.ndarray
    mask_fraction: np.ndarray
    row: np.ndarray
    col: np.ndarray

    def __len__(self) -> int:
        return len(self.score)


def grid_peaks(
    score_map: np.ndarray,
    fraction_map: np.ndarray,
    grid: WindowGrid,
    threshold: float,
    min_separation_px: float,
    top: int | None,
) -> Peaks:
    """Candidates of a dense scan: threshold, refinement, then NMS on the refined positions.

    Every window above the threshold is refined first, so suppression compares the
    positions the catalog reports: windows of one object, refined towards it from several
    sides, end up close together and only the best is kept.

    Args:
        score_map: (rows, cols) scores of the grid's windows, NaN where skipped.
        fraction_map: (rows, cols) bad-pixel fractions.
        grid: The window grid the maps belong to.
        threshold: Lowest score kept.
        min_separation_px: NMS radius in pixels.
        top: Keep at most this many.

    Returns:
        The kept peaks, best first.
    """
    centres_y, centres_x = grid.centres()
    rows, cols = np.nonzero(np.nan_to_num(score_map, nan=-np.inf) >= threshold)
    refined_y, refined_x = refine_peaks(score_map, centres_y, centres_x, rows, cols)
    refined = np.column_stack([refined_y, refined_x])
    kept = non_maximum_suppression(
        refined[:, 1], refined[:, 0], score_map[rows, cols], min_separation_px, limit=top
    )
    rows, cols = rows[kept], cols[kept]
    return Peaks(
        x=refined[kept, 1],
        y=refined[kept, 0],
        score=score_map[rows, cols].astype(np.float64),
        mask_fraction=fraction_map[rows, cols].astype(np.float32),
        row=rows,
        col=cols,
    )
