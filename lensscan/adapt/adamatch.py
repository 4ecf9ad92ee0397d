"""AdaMatch for one sigmoid logit.

Berthelot et al. 2022 (ICLR), "AdaMatch: A Unified Approach to Semi-Supervised Learning and
Domain Adaptation".
Per step, following the paper's algorithm:

1. Weak and strong views of the source and target batches. Logits of all views in one
   batch (BatchNorm sees both domains) and of the source views alone (source-only
   statistics); **random logit interpolation** mixes the two source logits with a weight
   drawn uniformly per logit.
2. Source loss: class-weighted BCE of the interpolated logits of both source views.
3. **Distribution alignment**: the target weak-view class probabilities are multiplied by
   the ratio of the mean source to the mean target class probabilities and renormalised.
4. **Relative confidence threshold**: ``tau`` times the mean confidence of the source
   weak-view predictions.
5. Target loss: BCE of the strong target views against the *hard* pseudo-labels (argmax of
   the aligned probabilities) of the confident items, averaged over all target items.
6. The target loss weight warms up as ``1/2 - cos(min(pi, 2 pi t / T)) / 2``.

With one logit the two-class probabilities are ``(1 - p, p)``. DeepLense's implementation
passes the BCE arguments in swapped order so every pseudo-label is 1 and the target loss is
unbounded; here pseudo-labels are 0 or 1 as the paper's argmax gives, and BCE takes
(logits, pseudo-labels).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F

from lensscan.adapt.base import Batch, SingleNetworkMethod


def align_distribution(
    target_probs: torch.Tensor, source_probs: torch.Tensor, target_prior: float | None = None
) -> torch.Tensor:
    """AdaMatch distribution alignment for binary probabilities P(lens).

    Args:
        target_probs: P(lens) of the target batch.
        source_probs: P(lens) of the source batch.
        target_prior: The pool's estimated lens fraction; when given, the target is aligned
            to it instead of to the source's mean prediction (the paper assumes both
            domains share their class balance, which a lens pool does not).

    Returns:
        Aligned target P(lens): ``p * r1 / (p * r1 + (1 - p) * r0)`` where ``r_c`` is the
        reference probability of class c (the source mean, or the target prior) over the
        mean target probability of class c.
    """
    reference = source_probs.mean() if target_prior is None else torch.tensor(target_prior)
    lens_ratio = reference / target_probs.mean().clamp_min(1e-6)
    other_ratio = (1 - reference) / (1 - target_probs).mean().clamp_min(1e-6)
    lens = target_probs * lens_ratio
    return lens / (lens + (1 - target_probs) * other_ratio)


def confidence(probs: torch.Tensor) -> torch.Tensor:
    """Top-1 probability of a binary prediction, ``max(p, 1 - p)``."""
    return torch.maximum(probs, 1 - probs)


def warmup(step: int, total_steps: int) -> float:
    """AdaMatch's target-loss warm-up ``1/2 - cos(min(pi, 2 pi t / T)) / 2``."""
    return 0.5 - math.cos(min(math.pi, 2 * math.pi * step / max(1, total_steps))) / 2


class AdaMatch(SingleNetworkMethod):
    """AdaMatch for unsupervised domain adaptation.

    Options:
        tau: Relative confidence threshold (0.9 in the paper).
        target_weight: Largest weight of the target loss (1 in the paper).
    """

    name = "adamatch"
    needs_target = True
    prior_aware = True
    defaults: ClassVar[dict[str, float]] = {"tau": 0.9, "target_weight": 1.0}

    def loss_groups(self, epoch: int) -> dict[str, tuple[str, ...]]:
        """The network minimises source and (warmed-up) target losses."""
        return {"network": ("source", "target")}

    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Source loss, weighted target loss and the pseudo-label mask rate."""
        assert batch.target is not None
        weak, strong = self.context.weak, self.context.strong
        n_source = len(batch.source)
        source_views = torch.cat(
            [weak(batch.source, self.generator), strong(batch.source, self.generator)]
        )
        target_views = torch.cat(
            [weak(batch.target, self.generator), strong(batch.target, self.generator)]
        )
        joint = self.network(torch.cat([source_views, target_views]))
        alone = self.network(source_views)
        mix = torch.rand(alone.shape, generator=self.generator, device=alone.device)
        source_logits = mix * joint[: 2 * n_source] + (1 - mix) * alone
        target_weak, target_strong = joint[2 * n_source :].chunk(2)
        source_loss = self.source_loss(source_logits, torch.cat([batch.labels, batch.labels]))
        with torch.no_grad():
            source_probs = torch.sigmoid(source_logits[:n_source].float())
            aligned = align_distribution(
                torch.sigmoid(target_weak.float()), source_probs, self.target_prior
            )
            threshold = self.options["tau"] * confidence(source_probs).mean()
            mask = (confidence(aligned) >= threshold).to(target_strong.dtype)
            pseudo = (aligned >= 0.5).to(target_strong.dtype)
        per_item = F.binary_cross_entropy_with_logits(target_strong, pseudo, reduction="none")
        target_loss = (per_item * mask).mean()
        weight = self.options["target_weight"] * warmup(step, self.context.total_steps)
        return {"source": source_loss, "target": weight * target_loss, "mask_rate": mask.mean()}
