"""PNG figures of an evaluation.

ROC (linear and log false-positive axis), precision-recall, score histograms, confusion
matrix, montages of the worst-ranked cutouts and, for field catalogs, completeness curves.

Figures are drawn on :class:`matplotlib.figure.Figure` with the Agg canvas directly, not
through ``pyplot``, so plotting never changes the global backend or leaks open figures.
matplotlib is imported inside the functions to keep ``import lensscan`` light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.evaluate.metrics import FPR_TARGETS, ConfusionMatrix, precision_recall, roc

DPI = 120
# Reddest first: a gri composite shows i as red, r as green, g as blue.
COLOUR_BANDS: tuple[str, str, str] = ("i", "r", "g")
# The band shown when a composite cannot be made: the sharpest HSC band, else the first.
PREFERRED_SINGLE_BAND = "i"
# asinh softening as a fraction of the bright end, as in SDSS/HSC colour images.
ASINH_SOFTENING = 0.1


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Any, path: Path) -> Path:
    figure.savefig(path, dpi=DPI)
    return path


def plot_roc(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path, *, log_fpr: bool = False
) -> Path:
    """Overlay the ROC curves of several models.

    Args:
        curves: Model name to ``(labels, scores)``.
        path: The PNG to write.
        log_fpr: Draw the false-positive rate on a log axis (the regime a search works in);
            FPR = 0 is drawn at half the smallest resolvable rate.
    """
    figure = _figure(5.5, 4.5)
    axes = figure.add_subplot()
    smallest = min(0.5 / max(1, int(np.sum(labels == 0))) for labels, _ in curves.values())
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc(labels, scores)
        # Consecutive ROC points differ in one coordinate (or both, for tied scores):
        # straight segments draw the exact curve.
        axes.plot(np.maximum(fpr, smallest) if log_fpr else fpr, tpr, label=name)
    if log_fpr:
        axes.set_xscale("log")
        axes.set_xlim(smallest, 1.0)
        for fpr in FPR_TARGETS.values():
            if fpr > smallest:
                axes.axvline(fpr, color="0.7", linestyle=":", linewidth=1)
    else:
        axes.plot([0, 1], [0, 1], color="0.7", linestyle="--", linewidth=1)
        axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("false-positive rate" + (" (log)" if log_fpr else ""))
    axes.set_ylabel("true-positive rate (completeness)")
    axes.set_title("ROC, log false-positive rate" if log_fpr else "ROC")
    axes.legend(loc="lower right", fontsize="small")
    return _save(figure, path)


def plot_precision_recall(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Overlay the precision-recall curves of several models (base rate dashed)."""
    figure = _figure(5.5, 4.5)
    axes = figure.add_subplot()
    for name, (labels, scores) in curves.items():
        precision, recall = precision_recall(labels, scores)
        axes.step(recall, precision, where="post", label=name)
    labels = next(iter(curves.values()))[0]
    axes.axhline(float(np.mean(labels == 1)), color="0.7", linestyle="--", linewidth=1)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("recall (completeness)")
    axes.set_ylabel("precision (purity)")
    axes.set_title("Precision-recall")
    axes.legend(loc="upper right", fontsize="small")
    return _save(figure, path)


def plot_score_histograms(
    labels: np.ndarray, scores: np.ndarray, path: Path, *, title: str, threshold: float
) -> Path:
    """Histograms of the scores of lenses and of non-lenses (each normalised to unit area)."""
    figure = _figure(5.5, 4.0)
    axes = figure.add_subplot()
    # Bins span the scores actually seen, so a model whose scores bunch up (an untrained
    # or badly calibrated one) still shows how the classes separate.
    low, high = float(np.min(scores)), float(np.max(scores))
    if high - low < 1e-6:
        low, high = low - 1e-3, high + 1e-3
    bins = np.linspace(low, high, 41)
    for label, name, colour in ((0, "non-lenses", "tab:blue"), (1, "lenses", "tab:orange")):
        values = scores[labels == label]
        axes.hist(
            values,
            bins=bins,
            density=True,
            histtype="step",
            linewidth=1.5,
            color=colour,
            label=f"{name} ({values.size})",
        )
    axes.axvline(
        threshold, color="0.3", linestyle=":", linewidth=1, label=f"threshold {threshold:g}"
    )
    axes.set_yscale("log")
    axes.set_xlabel("score")
    axes.set_ylabel("density")
    axes.set_title(title)
    axes.legend(fontsize="small")
    return _save(figure, path)


def plot_confusion_matrix(confusion: ConfusionMatrix, path: Path, *, title: str) -> Path:
    """The 2x2 confusion matrix with counts written in the cells."""
    figure = _figure(4.0, 3.6)
    axes = figure.add_subplot()
    counts = np.asarray(confusion.as_nested_list())
    axes.imshow(counts, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if count > counts.max() / 2 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=14)
    ticks = ["non-lens", "lens"]
    axes.set_xticks([0, 1], ticks)
    axes.set_yticks([0, 1], ticks)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    return _save(figure, path)


def _asinh_stretch(channels: np.ndarray) -> np.ndarray:
    """Stretch (K, H, W) channels together to [0, 1]: background at 0, asinh scaling.

    The same scale for every channel keeps the colours; the median removes the sky and
    the 99.5th percentile sets the bright end, so flux and min-max cutouts look alike.
    """
    background = np.median(channels, axis=(1, 2), keepdims=True)
    flux = channels - background
    bright = float(np.percentile(flux, 99.5))
    if not math.isfinite(bright) or bright <= 0:
        return np.zeros_like(flux)
    softening = ASINH_SOFTENING * bright
    stretched = np.arcsinh(flux / softening) / np.arcsinh(bright / softening)
    return np.clip(stretched, 0.0, 1.0)


def display_image(image: np.ndarray, bands: Sequence[str]) -> tuple[np.ndarray, bool]:
    """Turn one (C, H, W) cutout into something to show.

    A cutout with g, r and i becomes an (H, W, 3) colour composite (i red, r green, g blue);
    any other becomes the i band (or the first band) in grey.

    Returns:
        ``(pixels, is_colour)`` with pixels in [0, 1].
    """
    if set(COLOUR_BANDS) <= set(bands):
        channels = image[[bands.index(band) for band in COLOUR_BANDS]]
        return np.moveaxis(_asinh_stretch(channels), 0, -1), True
    single = bands.index(PREFERRED_SINGLE_BAND) if PREFERRED_SINGLE_BAND in bands else 0
    return _asinh_stretch(image[single : single + 1])[0], False


def plot_montage(
    images: np.ndarray,
    bands: Sequence[str],
    captions: Sequence[str],
    path: Path,
    *,
    title: str,
    columns: int = 4,
) -> Path:
    """A grid of cutouts with a caption under each.

    Args:
        images: (K, C, H, W) cutouts.
        bands: Band names of the channels.
        captions: One caption per cutout (score and name).
        path: The PNG to write.
        title: The figure title.
        columns: Cutouts per row.
    """
    count = max(1, len(images))
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    figure = _figure(2.0 * columns, 2.2 * rows + 0.4)
    figure.suptitle(title, fontsize="medium")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.ravel():
        axes.set_axis_off()
    for axes, image, caption in zip(grid.ravel(), images, captions, strict=False):
        pixels, is_colour = display_image(image, list(bands))
        axes.imshow(pixels, origin="lower", cmap=None if is_colour else "gray", vmin=0, vmax=1)
        axes.set_title(caption, fontsize="x-small")
    if len(images) == 0:
        grid[0, 0].text(0.5, 0.5, "none", ha="center", va="center")
    return _save(figure, path)


def plot_completeness_vs_rank(
    completeness: np.ndarray, path: Path, *, n_truth: int, title: str
) -> Path:
    """Completeness of a ranked candidate list against the number of candidates inspected."""
    figure = _figure(5.5, 4.0)
    axes = figure.add_subplot()
    ranks = np.arange(1, completeness.size + 1)
    axes.step(ranks, completeness, where="post")
    if completeness.size > 1:
        axes.set_xscale("log")
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("candidates inspected (rank)")
    axes.set_ylabel(f"completeness (of {n_truth} true lenses)")
    axes.set_title(title)
    return _save(figure, path)


def plot_completeness_purity_vs_score(
    thresholds: np.ndarray, completeness: np.ndarray, purity: np.ndarray, path: Path, *, title: str
) -> Path:
    """Completeness and purity of the candidates at or above each score threshold."""
    figure = _figure(5.5, 4.0)
    axes = figure.add_subplot()
    axes.plot(thresholds, completeness, label="completeness")
    axes.plot(thresholds, purity, label="purity")
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("score threshold")
    axes.set_ylabel("fraction")
    axes.set_title(title)
    axes.legend(fontsize="small")
    return _save(figure, path)
