"""The lens fraction of an unlabelled pool, estimated without labels.

A pool of survey galaxies holds one lens in a thousand or fewer, while lens finders are
trained on balanced sets. Methods that assume the target classes are balanced, or
source-like, pull the rare class toward the common one; they need the pool's class prior.

* :func:`em_prior`: the EM prior adjustment of Saerens, Latinne & Decaestecker (2002): the
  maximum-likelihood prior given calibrated posteriors, by alternately re-weighting the
  posteriors to a candidate prior and averaging them.
* :func:`bbse_prior`: black-box shift estimation (Lipton, Wang & Smola 2018) for two
  classes: the pool's rate of positive predictions, corrected by the classifier's true-
  and false-positive rates measured on labelled source items.
* :func:`rare_class_bbse`: BBSE at the threshold where the source false-positive rate is
  0.2%. For a rare class the correction for false positives dominates at a threshold of
  0.5; at a high threshold the pool's rate is mostly lenses, and non-lenses the network
  finds lens-like in both domains (rings, mergers) are subtracted through the source's
  false-positive rate, which EM cannot do.

Both are pure functions of scores; the figures they reach on the benchmark pools are in
the README.
"""

from __future__ import annotations

import numpy as np

#: Estimates are kept inside these bounds (a pool of two images still gives a number).
PRIOR_LIMITS = (1e-5, 1.0 - 1e-5)


def adjust_posteriors(probs: np.ndarray, train_prior: float, prior: float) -> np.ndarray:
    """Posteriors re-weighted from the training class prior to another prior (Bayes)."""
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1 - 1e-12)
    lens = p * (prior / train_prior)
    other = (1 - p) * ((1 - prior) / (1 - train_prior))
    return lens / (lens + other)


def em_prior(
    probs: np.ndarray, train_prior: float = 0.5, tol: float = 1e-7, max_iter: int = 10_000
) -> float:
    """EM estimate of the lens fraction of a pool (Saerens et al. 2002).

    Args:
        probs: P(lens) of the pool's items from a model trained at ``train_prior``.
        train_prior: The effective lens fraction of the training objective (0.5 for a
            balanced or ``pos_weight``-weighted loss).
        tol: Stop when the estimate changes by less than this.
        max_iter: Iteration limit.

    Returns:
        The estimated lens fraction.
    """
    if len(probs) == 0:
        raise ValueError("em_prior needs at least one score")
    prior = float(np.clip(np.mean(probs), *PRIOR_LIMITS))
    for _ in range(max_iter):
        updated = float(np.clip(adjust_posteriors(probs, train_prior, prior).mean(), *PRIOR_LIMITS))
        if abs(updated - prior) < tol:
            return updated
        prior = updated
    return prior


def bbse_prior(
    target_probs: np.ndarray,
    source_probs: np.ndarray,
    source_labels: np.ndarray,
    threshold: float = 0.5,
) -> float:
    """Black-box shift estimate of the lens fraction of a pool (Lipton et al. 2018).

    With hard predictions at ``threshold``, the pool's positive rate is
    ``q = TPR * pi + FPR * (1 - pi)``, so ``pi = (q - FPR) / (TPR - FPR)`` with TPR and FPR
    measured on labelled source items.

    Raises:
        ValueError: If the source items lack a class or the classifier does not separate
            them (TPR <= FPR).
    """
    labels = np.asarray(source_labels)
    scores = np.asarray(source_probs)
    if not (np.any(labels == 1) and np.any(labels == 0)):
        raise ValueError("bbse_prior needs labelled lenses and non-lenses")
    tpr = float(np.mean(scores[labels == 1] >= threshold))
    fpr = float(np.mean(scores[labels == 0] >= threshold))
    if tpr <= fpr:
        raise ValueError("bbse_prior: the classifier does not separate the source classes")
    rate = float(np.mean(np.asarray(target_probs) >= threshold))
    return float(np.clip((rate - fpr) / (tpr - fpr), *PRIOR_LIMITS))


#: Source false-positive rate at which :func:`rare_class_bbse` sets its threshold.
RARE_CLASS_SOURCE_FPR = 0.002


def rare_class_bbse(
    target_probs: np.ndarray,
    source_probs: np.ndarray,
    source_labels: np.ndarray,
    source_fpr: float = RARE_CLASS_SOURCE_FPR,
) -> float:
    """:func:`bbse_prior` at the threshold where the source false-positive rate is ``source_fpr``.

    Raises:
        ValueError: As :func:`bbse_prior`.
    """
    labels = np.asarray(source_labels)
    scores = np.asarray(source_probs)
    if not (np.any(labels == 1) and np.any(labels == 0)):
        raise ValueError("rare_class_bbse needs labelled lenses and non-lenses")
    threshold = float(np.quantile(scores[labels == 0], 1.0 - source_fpr))
    return bbse_prior(target_probs, scores, labels, threshold)
