"""Per-epoch evaluation and the model-selection rules.

With labelled target-validation items the best epoch is the one with the highest
target-validation AUROC. Every epoch also logs label-free criteria on the target pool,
so that a run without target labels can choose too:

* ``target_entropy``: mean binary entropy (nats) of P(lens) over the pool; low means
  confident predictions (entropy minimisation is a common, if biased, UDA criterion);
* ``target_confident``: fraction of pool items with P(lens) < 0.1 or > 0.9;
* ``target_lens_fraction``: fraction with P(lens) > 0.5, a collapse detector (a pool holds
  about one lens in a hundred or fewer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from lensscan.training.data import DomainData, TrainingData


@dataclass(frozen=True)
class SelectionRule:
    """How the saved epoch is chosen.

    Attributes:
        name: Rule name (the ``selection`` setting).
        metric: The per-epoch metric compared (None: the last epoch wins).
        maximise: Whether higher is better.
        description: One line for the model card.
    """

    name: str
    metric: str | None
    maximise: bool
    description: str

    def better(self, value: float | None, best: float | None) -> bool:
        """Whether an epoch with ``value`` replaces the best so far."""
        if self.metric is None:
            return True
        if value is None or not np.isfinite(value):
            return best is None
        if best is None or not np.isfinite(best):
            return True
        return value > best if self.maximise else value < best


RULES = {
    rule.name: rule
    for rule in (
        SelectionRule("val_auroc", "val_auroc", True, "highest target-validation AUROC"),
        SelectionRule(
            "min_target_entropy",
            "target_entropy",
            False,
            "lowest mean prediction entropy on the target pool",
        ),
        SelectionRule("last", None, True, "last epoch"),
    )
}


def resolve_rule(name: str, has_val: bool) -> SelectionRule:
    """The selection rule for a run (``auto``: val_auroc with ``val``, else last).

    Args:
        name: The ``selection`` setting, which :class:`~lensscan.training.settings.TrainConfig` has
            checked against the rules and the data the run has.
        has_val: Whether the run has target-validation items.
    """
    if name == "auto":
        name = "val_auroc" if has_val else "last"
    return RULES[name]


@torch.no_grad()
def predict(
    network: torch.nn.Module, images: torch.Tensor, autocast: Any, batch_size: int = 256
) -> np.ndarray:
    """P(lens) of normalised images, in batches, in eval mode."""
    network.eval()
    probs = []
    for chunk in images.split(batch_size):
        with autocast():
            logits = network(chunk)
        probs.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(probs).numpy()


def domain_auroc(data: DomainData, network: torch.nn.Module, autocast: Any) -> float:
    """AUROC of a network on labelled normalised items."""
    assert data.labels is not None
    return float(roc_auc_score(data.labels.cpu().numpy(), predict(network, data.images, autocast)))


def binary_entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats of Bernoulli(p)."""
    p = np.clip(probs.astype(np.float64), 1e-12, 1 - 1e-12)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def epoch_metrics(
    network: torch.nn.Module, data: TrainingData, autocast: Any, max_eval: int
) -> dict[str, float]:
    """Validation AUROCs and label-free target criteria of a network."""
    metrics: dict[str, float] = {}
    if data.val is not None:
        metrics["val_auroc"] = domain_auroc(data.val, network, autocast)
    if data.source_val is not None:
        metrics["source_val_auroc"] = domain_auroc(data.source_val, network, autocast)
    if data.target is not None:
        probs = predict(network, data.target.images[:max_eval], autocast)
        metrics["target_entropy"] = float(binary_entropy(probs).mean())
        metrics["target_confident"] = float(np.mean((probs < 0.1) | (probs > 0.9)))
        metrics["target_lens_fraction"] = float(np.mean(probs > 0.5))
    return metrics
