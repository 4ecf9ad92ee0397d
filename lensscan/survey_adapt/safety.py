"""The checks of ``lensscan adapt``: are the injected arcs visible, and is the child better?

Two rules guard a survey from a model made worse by adaptation:

* **Visible arcs, before any training.** With arcs nobody can see the labels are noise
  (measured: a real-image test fell from 0.90 to 0.40 after fine-tuning on arcs whose
  injected-validation AUROC was 0.68). The run is refused when the injected lenses'
  median matched-filter S/N is below ``min_median_arc_snr``, or when neither the parent
  nor a quick probe (:func:`probe_separability`: azimuthal statistics of the normalised
  images in annuli, a ridge-regularised linear discriminant fitted on the training
  backgrounds) tells injected lenses from non-lenses on the held-out backgrounds with an
  AUROC of at least ``min_separability``.
* **Galaxies to lens, before any training.** An arc needs a deflector: when fewer than
  :data:`MIN_DEFLECTOR_SHARE` of the injected lenses found a galaxy at their background's
  centre to lens (``deflector_from_light``), the pool is sky, stars or artefacts rather
  than the survey's galaxies, and a model trained on it learns that any arc on empty sky
  is a lens. The run is refused.
* **Safety, after training.** The parent and the adapted model are scored on the same
  held-out injected backgrounds and on the parent's own source validation; the adapted
  model is kept only if, at the worse end of the paired 95% bootstrap interval, it beats
  the parent on the first by more than ``min_gain`` and loses at most
  ``max_source_loss`` AUROC on the second (:func:`decide`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lensscan.data.store import LENS, CutoutStore
from lensscan.errors import UserError
from lensscan.evaluate.bootstrap import paired_difference, percentile_interval
from lensscan.evaluate.metrics import auroc, compute_metrics

#: Annuli of the probe, as fractions of the half-side of the cutout.
PROBE_ANNULI = np.linspace(0.0, 1.0, 9)
#: Ridge strength of the probe's discriminant, relative to the features' variance.
PROBE_RIDGE = 0.1
#: Items scored per forward pass.
SCORE_BATCH = 512
FIGURES = ("auroc", "tpr0", "tpr10")


#: Share of injected lenses that must have found a galaxy at the centre to lens.
MIN_DEFLECTOR_SHARE = 0.5


class InvisibleArcsError(UserError):
    """The injected arcs are too faint to learn from (the calibration failed)."""


class NoDeflectorsError(UserError):
    """The pool's backgrounds hold no galaxies to lens."""


def check_deflectors(from_light: np.ndarray) -> float:
    """Refuse a pool whose backgrounds mostly have no galaxy at their centre.

    Args:
        from_light: ``deflector_from_light`` (1 or 0) of every injected lens.

    Returns:
        The share of injected lenses whose deflector came from a measured galaxy.

    Raises:
        NoDeflectorsError: One line with the share found.
    """
    share = float(np.mean(from_light == 1)) if len(from_light) else 0.0
    if share < MIN_DEFLECTOR_SHARE:
        raise NoDeflectorsError(
            f"the pool's cutouts hold no galaxy to lens: {share:.0%} of the injected lenses "
            f"found one at the centre (at least {MIN_DEFLECTOR_SHARE:.0%} needed); give "
            "cutouts centred on the survey's galaxies (nothing was trained)"
        )
    return share


def figures(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """AUROC, TPR0 and TPR10 of scores against 0/1 labels."""
    values = compute_metrics(np.asarray(labels), np.asarray(scores)).values
    return {name: float(values[name]) for name in FIGURES}


def score_items(finder: Any, store: CutoutStore, indices: np.ndarray) -> np.ndarray:
    """A model's float64 P(lens) of store items, centre-cropped to its cutout size."""
    from lensscan.pixels import centre_crop

    scores = [
        finder.score(
            np.ascontiguousarray(
                centre_crop(store.read_images(indices[k : k + SCORE_BATCH]), finder.input_size)
            )
        )
        for k in range(0, len(indices), SCORE_BATCH)
    ]
    return np.concatenate(scores) if scores else np.zeros(0)


def probe_features(images: np.ndarray, normalisation: Any) -> np.ndarray:
    """Per band and annulus: mean and azimuthal scatter of the normalised image.

    Arcs add flux on a ring around the deflector, unevenly in azimuth; a galaxy's own
    light is smooth. The features see both without any training of the network.

    Args:
        images: (N, C, H, W) raw cutouts.
        normalisation: The model's normalisation (a callable on tensors).

    Returns:
        (N, C * annuli * 2) float64 features.
    """
    with torch.no_grad():
        x = normalisation(torch.from_numpy(np.ascontiguousarray(images, np.float32))).numpy()
    height, width = x.shape[-2:]
    rows, cols = np.mgrid[:height, :width]
    radius = np.hypot(rows - (height - 1) / 2, cols - (width - 1) / 2) / (min(height, width) / 2)
    features = []
    for low, high in itertools.pairwise(PROBE_ANNULI):
        ring = (radius >= low) & (radius < high)
        values = x[:, :, ring]
        features += [values.mean(-1), values.std(-1)]
    return np.concatenate(features, axis=1).astype(np.float64)


def probe_separability(
    train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray]
) -> float:
    """AUROC on held-out items of a linear discriminant fitted to training features.

    Args:
        train: (features, 0/1 labels) of the training backgrounds' items.
        val: (features, 0/1 labels) of the held-out backgrounds' items.
    """
    x, y = train
    # A feature (nearly) constant on the training items must not blow up on others.
    std = x.std(0)
    mean, scale = x.mean(0), np.maximum(std, 1e-2 * float(np.median(std)) + 1e-12)
    z = (x - mean) / scale
    gram = z.T @ z / len(z) + PROBE_RIDGE * np.eye(z.shape[1])
    weights = np.linalg.solve(gram, z.T @ (y - y.mean()) / len(z))
    scores = ((val[0] - mean) / scale) @ weights
    return auroc(val[1], scores)


def check_visibility(
    arc_snr: np.ndarray, separability: Mapping[str, float], settings: Any
) -> dict[str, Any]:
    """Refuse injected arcs too faint to learn from; else return the measured figures.

    Args:
        arc_snr: Matched-filter S/N of every injected lens.
        separability: AUROC of the parent and of the probe on the held-out backgrounds.
        settings: The run's :class:`~lensscan.survey_adapt.settings.AdaptConfig`.

    Raises:
        InvisibleArcsError: One line saying which figure failed and by how much.
    """
    median = float(np.median(arc_snr)) if len(arc_snr) else 0.0
    best = max(separability.values())
    record = {
        "median_arc_snr": median,
        "separability": dict(separability),
        "min_median_arc_snr": settings.min_median_arc_snr,
        "min_separability": settings.min_separability,
    }
    if median < settings.min_median_arc_snr:
        raise InvisibleArcsError(
            f"injected arcs too faint to learn from: median arc S/N {median:.1f} < "
            f"`min_median_arc_snr` {settings.min_median_arc_snr:g} (check the pool's zero "
            "point, pixel scale and PSF; nothing was trained)"
        )
    if best < settings.min_separability:
        shown = ", ".join(f"{name} {value:.3f}" for name, value in separability.items())
        raise InvisibleArcsError(
            f"injected arcs not separable from the backgrounds: AUROC on held-out "
            f"backgrounds {shown} < `min_separability` {settings.min_separability:g} "
            "(check the pool's units and PSF; nothing was trained)"
        )
    return record


#: Bootstrap resamples of the paired AUROC change behind the safety rule.
SAFETY_RESAMPLES = 1000


@dataclass(frozen=True)
class PairedScores:
    """The parent's and the adapted model's scores of the same validation items.

    Attributes:
        labels: (N,) 1 lens, 0 non-lens.
        parent: (N,) the parent's scores.
        adapted: (N,) the adapted model's scores.
    """

    labels: np.ndarray
    parent: np.ndarray
    adapted: np.ndarray

    def figures(self) -> dict[str, dict[str, float]]:
        """AUROC, TPR0 and TPR10 of each model: ``{"parent": ..., "adapted": ...}``."""
        return {
            "parent": figures(self.labels, self.parent),
            "adapted": figures(self.labels, self.adapted),
        }

    def auroc_change(self, seed: int = 0) -> dict[str, Any]:
        """The adapted model's AUROC minus the parent's, with its paired 95% interval."""
        change = auroc(self.labels, self.adapted) - auroc(self.labels, self.parent)
        replicates = paired_difference(
            self.labels, self.adapted, self.parent, n_resamples=SAFETY_RESAMPLES, seed=seed
        )
        return {"change": change, "ci95": list(percentile_interval(replicates))}


@dataclass(frozen=True)
class Decision:
    """Which model a run keeps, and why (one line).

    Attributes:
        keep_adapted: Whether the adapted model is the answer.
        reason: One line for the log and the card.
        changes: The paired AUROC change (adapted minus parent) with its 95% interval,
            per validation set.
    """

    keep_adapted: bool
    reason: str
    changes: dict[str, dict[str, Any]]


def _shown(change: Mapping[str, Any]) -> str:
    low, high = change["ci95"]
    return f"{change['change']:+.4f} (95% interval {low:+.4f} to {high:+.4f})"


def decide(
    injected: PairedScores,
    source: PairedScores | None,
    min_gain: float,
    max_source_loss: float,
) -> Decision:
    """The safety rule: the adapted model must surely beat the parent and keep its source.

    A point figure on a few hundred items moves by about 0.01 AUROC from one draw of
    them to the next, as much as the margins the rule guards; so the rule reads the
    paired bootstrap interval of each AUROC change (both models scored on the same
    resamples), and the adapted model must win at the interval's worse end.

    Args:
        injected: Both models' scores of the held-out injected backgrounds.
        source: Both models' scores of the parent's source validation (None without
            rehearsal).
        min_gain: The lower end of the injected-validation AUROC gain's interval must
            exceed this.
        max_source_loss: The upper end of the source-validation AUROC loss's interval must
            not exceed this.
    """
    changes = {"injected_val": injected.auroc_change()}
    if source is not None:
        changes["source_val"] = source.auroc_change()
    gain = changes["injected_val"]
    if not gain["ci95"][0] > min_gain:
        return Decision(
            False,
            f"kept the parent: the adapted model does not surely beat it on held-out injected "
            f"backgrounds (AUROC change {_shown(gain)}; the lower end must exceed `min_gain` "
            f"{min_gain:g})",
            changes,
        )
    if "source_val" in changes and -changes["source_val"]["ci95"][0] > max_source_loss:
        return Decision(
            False,
            f"kept the parent: the adapted model may lose more than `max_source_loss` "
            f"{max_source_loss:g} AUROC on the parent's source validation (AUROC change "
            f"{_shown(changes['source_val'])})",
            changes,
        )
    return Decision(
        True,
        f"kept the adapted model: AUROC change {_shown(gain)} on held-out injected backgrounds",
        changes,
    )


def is_lens(labels: np.ndarray) -> np.ndarray:
    """0/1 labels of stored labels (lens = 1)."""
    return (np.asarray(labels) == LENS).astype(np.int8)
