"""Supervised training on the source domain only (the no-adaptation baseline).

Given labelled *target* images as the source store it is the oracle: the best a model can do
with target labels.
"""

from __future__ import annotations

import torch
from torch import nn

from lensscan.adapt.base import Batch, Method, MethodContext
from lensscan.models.network import LensNet


class Supervised(Method):
    """Class-weighted BCE on weakly augmented source images."""

    name = "supervised"

    def __init__(self, context: MethodContext) -> None:
        super().__init__(context)
        self._optimizer = self.adam(self.network)

    def modules(self) -> dict[str, nn.Module]:
        """The network."""
        return {"network": self.network}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimizer for the whole network."""
        return {"network": self._optimizer}

    def loss_groups(self, epoch: int) -> dict[str, tuple[str, ...]]:
        """The network minimises the classification loss."""
        return {"network": ("classification",)}

    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Classification loss of the augmented source batch."""
        images = self.context.weak(batch.source, self.generator)
        return {"classification": self.source_loss(self.network(images), batch.labels)}

    def eval_network(self) -> LensNet:
        """The trained network."""
        return self.network
