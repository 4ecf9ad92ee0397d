"""What an adaptation method is: models, optimizers and named losses on the shared loop.

A method never owns the training loop. It declares the modules it trains and the
optimizers that update them, and for each batch returns named losses; the loop
(:mod:`lensscan.training.loop`) does mixed precision, backward passes, optimizer steps,
logging, checkpoints and model selection. :meth:`Method.loss_groups` says which losses each
optimizer minimises: the loop computes each group's gradients only for that optimizer's
parameters (:func:`lensscan.training.step.apply_gradients`), so adversarial pairs (a
discriminator and the encoder it judges) are updated simultaneously from one forward pass
without leaking gradients into each other.

Losses not named in any group are only logged (diagnostics such as a pseudo-label mask rate).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lensscan.adapt.prior import em_prior, rare_class_bbse
from lensscan.data.augment import STRONG, WEAK, Augmenter
from lensscan.models.network import LensNet


@dataclass(frozen=True)
class Batch:
    """One training step's data, normalised and on the training device.

    Attributes:
        source: (N, C, H, W) labelled source images.
        labels: (N,) float labels, 1 lens, 0 non-lens.
        target: (M, C, H, W) unlabelled target images, or None for source-only methods.
    """

    source: torch.Tensor
    labels: torch.Tensor
    target: torch.Tensor | None = None


@dataclass(frozen=True)
class MethodContext:
    """What the loop hands a method when it is built.

    Attributes:
        network: A freshly initialised :class:`LensNet` on the training device.
        pos_weight: Weight of lens examples in the source loss (n_non-lens / n_lens).
        lr: Learning rate.
        weight_decay: Decoupled weight decay.
        epochs: Number of epochs of the run.
        steps_per_epoch: Optimizer steps per epoch.
        generator: Seeded generator for the method's own random draws and augmentations.
        target_pool: All normalised target images (for AdaBN), or None.
        options: Method options overriding :attr:`Method.defaults`.
        weak: Weak augmentation.
        strong: Strong augmentation.
        source_lens_fraction: Fraction of lenses among the source training items.
        initialised: Whether the network starts from a trained model (``--init-model``),
            so that its scores on the target pool mean something from the first step.
        source_reference: Labelled source validation images and labels (normalised, on
            the device), for black-box shift estimation of the pool's lens fraction.
    """

    network: LensNet
    pos_weight: float
    lr: float
    weight_decay: float
    epochs: int
    steps_per_epoch: int
    generator: torch.Generator
    target_pool: torch.Tensor | None = None
    options: Mapping[str, float] = field(default_factory=dict)
    weak: Augmenter = WEAK
    strong: Augmenter = STRONG
    source_lens_fraction: float = 0.5
    initialised: bool = False
    source_reference: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        return self.epochs * self.steps_per_epoch


class Method(ABC):
    """Base class of adaptation methods.

    Subclasses set :attr:`name`, :attr:`needs_target`, :attr:`defaults` and implement
    :meth:`losses`, :meth:`loss_groups` and :meth:`eval_network`.
    """

    #: Registry name.
    name: ClassVar[str]
    #: Whether the method needs an unlabelled target pool.
    needs_target: ClassVar[bool] = False
    #: Option names and default values; :class:`MethodContext.options` overrides them.
    defaults: ClassVar[dict[str, float]] = {}
    #: Whether the method uses the target pool's estimated lens fraction.
    prior_aware: ClassVar[bool] = False

    def __init__(self, context: MethodContext) -> None:
        self.context = context
        self.network = context.network
        self.options = {**self.defaults, **context.options}
        self.generator = context.generator
        #: The pool's lens fraction as last estimated (None: not yet, or not used).
        self.target_prior: float | None = None

    @torch.no_grad()
    def estimate_target_prior(self, epoch: int, max_items: int = 4096) -> dict[str, float]:
        """Re-estimate the pool's lens fraction with the current network.

        Called by the loop before each epoch. With labelled source validation items the
        estimate is black-box shift estimation at a high threshold
        (:func:`~lensscan.adapt.prior.rare_class_bbse`), which corrects for non-lenses the
        network finds lens-like in both domains (rings, mergers); without them it is EM
        (Saerens et al. 2002), which counts those as lenses. Before the first epoch of a
        network trained from scratch nothing is estimated: its scores say nothing yet.

        Returns:
            The estimates by name (``target_prior_em``, ``target_prior_bbse``); empty when
            the method does not use one.
        """
        pool = self.context.target_pool
        if not self.prior_aware or pool is None:
            return {}
        if epoch == 0 and not self.context.initialised:
            return {}
        network = self.eval_network()
        network.eval()

        def probs(images: torch.Tensor) -> np.ndarray:
            logits = torch.cat([network(chunk) for chunk in images.split(256)])
            return torch.sigmoid(logits.float()).cpu().numpy()

        pool_probs = probs(pool[:max_items])
        estimates = {"target_prior_em": em_prior(pool_probs)}
        self.target_prior = estimates["target_prior_em"]
        reference = self.context.source_reference
        if reference is not None:
            try:
                bbse = rare_class_bbse(pool_probs, probs(reference[0]), reference[1].cpu().numpy())
            except ValueError:  # the network does not yet separate the source classes
                return estimates
            estimates["target_prior_bbse"] = bbse
            self.target_prior = bbse
        return estimates

    def source_domain_weights(self, labels: torch.Tensor) -> torch.Tensor | None:
        """Per-item weights that give the source the pool's class mix (None: no estimate).

        A domain discriminator that sees half lenses on the source side and one lens in a
        hundred on the target side learns the class imbalance, and aligning features then
        pulls target lenses towards source non-lenses. Weighting source items by
        ``pi_t / pi_s`` (lenses) and ``(1 - pi_t) / (1 - pi_s)`` (non-lenses) removes that
        (importance weighting of the domain loss, as IWAN does with learned weights).
        """
        if self.target_prior is None:
            return None
        source = min(max(self.context.source_lens_fraction, 1e-6), 1 - 1e-6)
        lens, other = self.target_prior / source, (1 - self.target_prior) / (1 - source)
        weights = labels * lens + (1 - labels) * other
        return weights / weights.mean().clamp_min(1e-12)

    @abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every module whose state the run must checkpoint, by name."""

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers, by name (created once; the loop checkpoints them)."""

    @abstractmethod
    def loss_groups(self, epoch: int) -> dict[str, tuple[str, ...]]:
        """For an epoch (0-based), the losses each optimizer minimises (their sum)."""

    @abstractmethod
    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Named scalar losses of one batch; ``step`` counts from 0 over the whole run."""

    @abstractmethod
    def eval_network(self) -> LensNet:
        """The network to evaluate and save now (in any mode; the loop sets eval mode)."""

    def train(self) -> None:
        """Put the modules in training mode before an epoch (after evaluation)."""
        for module in self.modules().values():
            module.train()

    def on_epoch_start(self, epoch: int) -> None:  # noqa: B027 (optional hook)
        """Hook called before each epoch (0-based), also after a resume."""

    def after_step(self, step: int) -> None:  # noqa: B027 (optional hook)
        """Hook called after the optimizers stepped (e.g. to update an EMA teacher)."""

    def progress(self, step: int) -> float:
        """Training progress in [0, 1] at a step."""
        return min(1.0, step / max(1, self.context.total_steps))

    def adam(
        self, *modules: nn.Module, lr: float | None = None, **kwargs: Any
    ) -> torch.optim.Optimizer:
        """An AdamW optimizer over the trainable parameters of some modules."""
        params = [p for module in modules for p in module.parameters() if p.requires_grad]
        return torch.optim.AdamW(
            params,
            lr=self.context.lr if lr is None else lr,
            weight_decay=self.context.weight_decay,
            **kwargs,
        )

    def source_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Class-weighted binary cross-entropy of source logits (lenses weighted by pos_weight)."""
        return weighted_bce(logits, labels, self.context.pos_weight)


def weighted_bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Mean binary cross-entropy with logits, lens terms weighted by ``pos_weight``."""
    weight = torch.tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weight)


def domain_bce(
    source_logits: torch.Tensor,
    target_logits: torch.Tensor,
    source_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Discriminator loss: mean BCE of "source" (1) on source and "target" (0) on target.

    Args:
        source_logits: Discriminator logits of source items.
        target_logits: Discriminator logits of target items.
        source_weights: Optional per-item weights of the source terms (mean 1).
    """
    logits = torch.cat([source_logits, target_logits])
    labels = torch.cat([torch.ones_like(source_logits), torch.zeros_like(target_logits)])
    weights = None
    if source_weights is not None:
        weights = torch.cat([source_weights.to(logits.dtype), torch.ones_like(target_logits)])
    return F.binary_cross_entropy_with_logits(logits, labels, weight=weights)


class SingleNetworkMethod(Method):
    """A method that trains the one lens network with one Adam optimizer."""

    def __init__(self, context: MethodContext) -> None:
        super().__init__(context)
        self._optimizer = self.adam(self.network)

    def modules(self) -> dict[str, nn.Module]:
        """The network."""
        return {"network": self.network}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One optimizer for the whole network."""
        return {"network": self._optimizer}

    def eval_network(self) -> LensNet:
        """The trained network."""
        return self.network
