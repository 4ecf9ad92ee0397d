"""Supervised training on the source domain only (the no-adaptation baseline).

Given labelled *target* images as the source store it is the oracle: the best a model can do
with target labels.
"""

from __future__ import annotations

import torch

from lensscan.adapt.base import Batch, SingleNetworkMethod


class Supervised(SingleNetworkMethod):
    """Class-weighted BCE on weakly augmented source images."""

    name = "supervised"

    def loss_groups(self, epoch: int) -> dict[str, tuple[str, ...]]:
        """The network minimises the classification loss."""
        return {"network": ("classification",)}

    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Classification loss of the augmented source batch."""
        images = self.context.weak(batch.source, self.generator)
        return {"classification": self.source_loss(self.network(images), batch.labels)}
