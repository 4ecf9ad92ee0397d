"""ADDA, adversarial discriminative domain adaptation (Tzeng et al. 2017, CVPR).

Two stages, as in the paper:

1. Pre-training (the first ``pretrain_fraction`` of the epochs): a source encoder and the
   lens classifier learn the source labels.
2. Adaptation: a target encoder starts as a copy of the source encoder. A discriminator
   learns to tell source features (from the frozen source encoder) from target features,
   and the target encoder learns to fool it with the inverted-label GAN loss
   ``BCE(D(E_t(x_t)), "source")``. The classifier and source encoder stay frozen; the
   final model is the target encoder followed by the source classifier.

Paper settings kept as defaults: Adam with learning rate 2e-4 and beta1 = 0.5 for the
adversarial stage, a discriminator of two hidden layers of 500 units. (DeepLense used a
target-encoder learning rate of 1e-6, which barely moves the weights: its gain came from the
target encoder's BatchNorm statistics, see :mod:`lensscan.adapt.adabn`.)
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from lensscan.adapt.base import Batch, Method, MethodContext, domain_bce
from lensscan.models.heads import DomainDiscriminator
from lensscan.models.network import LensNet


class ADDA(Method):
    """Source pre-training, then adversarial adaptation of a separate target encoder.

    Options:
        pretrain_fraction: Fraction of the epochs spent on source pre-training (at least
            one epoch, and at least one epoch is left for adaptation when epochs > 1).
        adversarial_lr: Learning rate of the target encoder and discriminator.
        beta1: Adam's beta1 in the adversarial stage.
        discriminator_hidden: Hidden width of the discriminator.
    """

    name = "adda"
    needs_target = True
    prior_aware = True
    defaults: ClassVar[dict[str, float]] = {
        "pretrain_fraction": 0.5,
        "adversarial_lr": 2e-4,
        "beta1": 0.5,
        "discriminator_hidden": 500.0,
    }

    def __init__(self, context: MethodContext) -> None:
        super().__init__(context)
        device = next(self.network.parameters()).device
        self.target_encoder = copy.deepcopy(self.network.encoder)
        self.discriminator = DomainDiscriminator(
            self.network.num_features, int(self.options["discriminator_hidden"])
        ).to(device)
        self.target_network = LensNet(self.target_encoder, self.network.head)
        epochs = context.epochs
        pretrain = max(1, round(self.options["pretrain_fraction"] * epochs))
        self.pretrain_epochs = min(pretrain, epochs - 1) if epochs > 1 else epochs
        self._epoch = 0
        betas = (self.options["beta1"], 0.999)
        lr = self.options["adversarial_lr"]
        self._optimizers = {
            "source": self.adam(self.network),
            "target_encoder": self.adam(self.target_encoder, lr=lr, betas=betas),
            "discriminator": self.adam(self.discriminator, lr=lr, betas=betas),
        }

    @property
    def adapting(self) -> bool:
        """Whether the current epoch is in the adversarial stage."""
        return self._epoch >= self.pretrain_epochs

    def modules(self) -> dict[str, nn.Module]:
        """Source network, target encoder and discriminator."""
        return {
            "source": self.network,
            "target_encoder": self.target_encoder,
            "discriminator": self.discriminator,
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimizer per player."""
        return self._optimizers

    def on_epoch_start(self, epoch: int) -> None:
        """Start the adversarial stage from a copy of the pre-trained source encoder."""
        self._epoch = epoch
        if epoch == self.pretrain_epochs:
            self.target_encoder.load_state_dict(self.network.encoder.state_dict())

    def train(self) -> None:
        """Training mode, except the frozen source network during adaptation."""
        super().train()
        if self.adapting:
            self.network.eval()

    def loss_groups(self, epoch: int) -> dict[str, tuple[str, ...]]:
        """Pre-training: classification; adaptation: the two adversarial losses."""
        if epoch < self.pretrain_epochs:
            return {"source": ("classification",)}
        return {"discriminator": ("discriminator",), "target_encoder": ("target_encoder",)}

    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Classification loss (pre-training) or discriminator and encoder losses."""
        weak = self.context.weak
        source = weak(batch.source, self.generator)
        if not self.adapting:
            return {"classification": self.source_loss(self.network(source), batch.labels)}
        assert batch.target is not None
        target = weak(batch.target, self.generator)
        with torch.no_grad():
            source_features = self.network.encoder(source)
        target_features = self.target_encoder(target)
        discriminator = domain_bce(
            self.discriminator(source_features),
            self.discriminator(target_features.detach()),
            self.source_domain_weights(batch.labels),
        )
        fooled = self.discriminator(target_features)
        # Inverted labels: the target encoder is trained to make D say "source" (1).
        target_encoder = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        return {"discriminator": discriminator, "target_encoder": target_encoder}

    def eval_network(self) -> LensNet:
        """Source network while pre-training, then target encoder + source classifier."""
        return self.target_network if self.adapting else self.network
