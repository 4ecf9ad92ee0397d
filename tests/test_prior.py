"""Class-prior estimation of unlabelled pools and its use by the adaptation methods."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lensscan.adapt.adamatch import align_distribution
from lensscan.adapt.base import domain_bce
from lensscan.adapt.prior import adjust_posteriors, bbse_prior, em_prior


def _calibrated_pool(prior: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels at ``prior`` and posteriors calibrated for a balanced training set."""
    rng = np.random.default_rng(seed)
    labels = (rng.uniform(size=n) < prior).astype(int)
    # Scores from two unit Gaussians 2 apart; the balanced posterior is exact Bayes.
    x = rng.normal(np.where(labels == 1, 1.0, -1.0), 1.0)
    return labels, 1.0 / (1.0 + np.exp(-2.0 * x))


@pytest.mark.parametrize("prior", [0.01, 0.1, 0.5])
def test_em_recovers_the_prior_of_calibrated_posteriors(prior) -> None:
    labels, probs = _calibrated_pool(prior, 200_000, 1)
    assert em_prior(probs) == pytest.approx(labels.mean(), rel=0.15, abs=2e-3)


def test_bbse_recovers_the_prior_from_source_rates() -> None:
    source_labels, source_probs = _calibrated_pool(0.5, 50_000, 2)
    labels, probs = _calibrated_pool(0.05, 200_000, 3)
    estimate = bbse_prior(probs, source_probs, source_labels)
    assert estimate == pytest.approx(labels.mean(), rel=0.2)
    with pytest.raises(ValueError, match="separate"):
        bbse_prior(probs, 1 - source_probs, source_labels)


def test_adjusting_to_the_training_prior_changes_nothing() -> None:
    probs = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(adjust_posteriors(probs, 0.5, 0.5), probs)
    # Bayes by hand: odds scale by (pi / (1 - pi)) / (0.5 / 0.5).
    odds = 0.5 / 0.5 * (0.01 / 0.99)
    assert adjust_posteriors(np.array([0.5]), 0.5, 0.01)[0] == pytest.approx(odds / (1 + odds))


def test_weighted_domain_loss_matches_a_hand_computation() -> None:
    source, target = torch.tensor([0.3, -1.2]), torch.tensor([0.5])
    weights = torch.tensor([0.2, 1.8])
    by_hand = (
        0.2 * F.softplus(-source[0]) + 1.8 * F.softplus(-source[1]) + F.softplus(target[0])
    ) / 3
    assert domain_bce(source, target, weights).item() == pytest.approx(by_hand.item(), rel=1e-6)
    unweighted = (F.softplus(-source).sum() + F.softplus(target).sum()) / 3
    assert domain_bce(source, target).item() == pytest.approx(unweighted.item(), rel=1e-6)


def test_distribution_alignment_to_a_prior_sets_the_mean_lens_odds() -> None:
    target = torch.tensor([0.6, 0.5, 0.4, 0.7])
    source = torch.tensor([0.5, 0.5])
    aligned = align_distribution(target, source, target_prior=0.01)
    ratio_lens, ratio_other = 0.01 / target.mean(), 0.99 / (1 - target.mean())
    expected = target * ratio_lens / (target * ratio_lens + (1 - target) * ratio_other)
    torch.testing.assert_close(aligned, expected)
    assert aligned.max() < 0.05
    # Without a prior the source's mean prediction is the reference, as in the paper.
    torch.testing.assert_close(
        align_distribution(target, source), align_distribution(target, source, 0.5)
    )


def test_rare_class_bbse_recovers_a_rare_prior_despite_lens_like_non_lenses() -> None:
    from lensscan.adapt.prior import rare_class_bbse

    rng = np.random.default_rng(4)

    def domain(n: int, prior: float, lookalikes: float) -> tuple[np.ndarray, np.ndarray]:
        labels = (rng.uniform(size=n) < prior).astype(int)
        # A share of the non-lenses looks lens-like to the network in both domains.
        lookalike = (labels == 0) & (rng.uniform(size=n) < lookalikes)
        x = rng.normal(np.where(labels == 1, 2.0, np.where(lookalike, 0.5, -1.5)), 0.7)
        return labels, 1.0 / (1.0 + np.exp(-2.0 * x))

    source_labels, source_probs = domain(50_000, 0.5, 0.05)
    labels, probs = domain(200_000, 0.01, 0.05)
    estimate = rare_class_bbse(probs, source_probs, source_labels)
    assert abs(np.log(estimate / labels.mean())) < np.log(1.5)
