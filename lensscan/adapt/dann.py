"""DANN, domain-adversarial training with a gradient reversal layer.

Ganin et al. 2016 (JMLR 17), "Domain-Adversarial Training of Neural Networks".
One network: encoder, lens head and a domain discriminator behind a gradient reversal
layer. The discriminator learns to tell source from target features; the reversed gradient
trains the encoder to make them indistinguishable while the head learns the source labels.
The reversal strength follows the paper's schedule ``lambda = 2 / (1 + exp(-gamma p)) - 1``
with ``gamma = 10`` and ``p`` the training progress in [0, 1]. Source and target images go
through the encoder as one batch, as in the paper. The paper's learning-rate annealing is
not applied (the shared loop keeps the learning rate constant for every method).

Class prior: once the pool's lens fraction has been estimated (see
:meth:`~lensscan.adapt.base.Method.estimate_target_prior`), source items in the domain
loss are weighted to the pool's class mix, so aligning features does not pull the rare
target lenses towards source non-lenses.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from lensscan.adapt.base import Batch, Method, MethodContext, domain_bce
from lensscan.models.heads import DomainDiscriminator, reverse_gradient
from lensscan.models.network import LensNet


def reversal_strength(progress: float, gamma: float = 10.0) -> float:
    """Ganin et al.'s schedule ``2 / (1 + exp(-gamma p)) - 1``, from 0 to almost 1."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class DANN(Method):
    """Domain-adversarial training with a gradient reversal layer.

    Options:
        gamma: Steepness of the reversal schedule (10 in the paper).
        domain_weight: Weight of the domain loss.
        discriminator_hidden: Hidden width of the discriminator (1024 in the paper).
    """

    name = "dann"
    needs_target = True
    prior_aware = True
    defaults: ClassVar[dict[str, float]] = {
        "gamma": 10.0,
        "domain_weight": 1.0,
        "discriminator_hidden": 1024.0,
    }

    def __init__(self, context: MethodContext) -> None:
        super().__init__(context)
        device = next(self.network.parameters()).device
        self.discriminator = DomainDiscriminator(
            self.network.num_features, int(self.options["discriminator_hidden"])
        ).to(device)
        self._optimizer = self.adam(self.network, self.discriminator)

    def modules(self) -> dict[str, nn.Module]:
        """Network and discriminator."""
        return {"network": self.network, "discriminator": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimizer: the reversal layer turns the min-max game into one minimisation."""
        return {"main": self._optimizer}

    def loss_groups(self, epoch: int) -> dict[str, tuple[str, ...]]:
        """Classification plus (reversed for the encoder) domain loss."""
        return {"main": ("classification", "domain")}

    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Source classification loss, domain loss, and the current reversal strength."""
        assert batch.target is not None
        weak = self.context.weak
        source = weak(batch.source, self.generator)
        target = weak(batch.target, self.generator)
        features = self.network.encoder(torch.cat([source, target]))
        n_source = len(source)
        classification = self.source_loss(self.network.head(features[:n_source]), batch.labels)
        strength = reversal_strength(self.progress(step), self.options["gamma"])
        domain_logits = self.discriminator(reverse_gradient(features, strength))
        domain = domain_bce(
            domain_logits[:n_source],
            domain_logits[n_source:],
            self.source_domain_weights(batch.labels),
        )
        return {
            "classification": classification,
            "domain": self.options["domain_weight"] * domain,
            "reversal": torch.tensor(strength),
        }

    def eval_network(self) -> LensNet:
        """The network (encoder and lens head)."""
        return self.network
