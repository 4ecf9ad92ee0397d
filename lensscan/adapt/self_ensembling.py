"""Self-ensembling: a mean teacher for domain adaptation.

French, Mackiewicz & Fisher 2018 (ICLR), "Self-ensembling for visual domain adaptation".
A student learns the source labels; a teacher, whose weights are an exponential moving
average of the student's, predicts on a differently augmented view of each target image.
The student is pulled towards the teacher's prediction (squared difference of the class
probability vectors) on the target images the teacher is confident about (confidence
threshold 0.968, as in the paper). A class-balance loss (BCE between the student's mean
target prediction and a prior) keeps the student from collapsing onto one class; as in the
paper it is scaled by the fraction of confident items. Source and target batches go through
the networks separately (per-domain BatchNorm statistics, as the paper recommends), and the
teacher, evaluated in training mode on target batches, keeps target BatchNorm statistics.
The teacher is the model that is evaluated and saved.

The paper's prior is the uniform distribution (0.5 here). A lens search's target pool holds
about 1 lens in 100 or fewer, so once the pool's lens fraction has been estimated (EM, see
:meth:`~lensscan.adapt.base.Method.estimate_target_prior`) the balance term pulls towards
that estimate instead; the ``target_prior`` option, when given, overrides both.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from lensscan.adapt.base import Batch, Method, MethodContext
from lensscan.models.network import LensNet


class SelfEnsembling(Method):
    """Mean-teacher self-ensembling with confidence thresholding and class balance.

    Options:
        ema_decay: Teacher EMA decay (0.99 in the paper).
        confidence: Teacher confidence threshold (0.968 in the paper).
        unsupervised_weight: Weight of consistency and balance losses (3 in the paper).
        balance_weight: Weight of the class-balance loss relative to consistency.
        target_prior: Mean P(lens) the class-balance loss pulls the target towards.
    """

    name = "self_ensembling"
    needs_target = True
    prior_aware = True
    defaults: ClassVar[dict[str, float]] = {
        "ema_decay": 0.99,
        "confidence": 0.968,
        "unsupervised_weight": 3.0,
        "balance_weight": 0.005,
        "target_prior": 0.5,
    }

    def __init__(self, context: MethodContext) -> None:
        super().__init__(context)
        self.teacher = copy.deepcopy(self.network)
        for parameter in self.teacher.parameters():
            parameter.requires_grad_(False)
        self._optimizer = self.adam(self.network)

    def _balance_prior(self) -> float:
        """The class-balance target: the option if given, else the pool's estimate."""
        if "target_prior" in self.context.options or self.target_prior is None:
            return self.options["target_prior"]
        return self.target_prior

    def modules(self) -> dict[str, nn.Module]:
        """Student and teacher."""
        return {"student": self.network, "teacher": self.teacher}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The student's optimizer (the teacher follows by EMA)."""
        return {"student": self._optimizer}

    def loss_groups(self, epoch: int) -> dict[str, tuple[str, ...]]:
        """The student minimises all three losses."""
        return {"student": ("classification", "consistency", "class_balance")}

    def losses(self, batch: Batch, step: int) -> dict[str, torch.Tensor]:
        """Classification, weighted consistency and class-balance losses, and the mask rate."""
        assert batch.target is not None
        weak, strong = self.context.weak, self.context.strong
        source = weak(batch.source, self.generator)
        classification = self.source_loss(self.network(source), batch.labels)
        student_p = torch.sigmoid(self.network(strong(batch.target, self.generator)).float())
        with torch.no_grad():
            teacher_p = torch.sigmoid(self.teacher(strong(batch.target, self.generator)).float())
            mask = (torch.maximum(teacher_p, 1 - teacher_p) > self.options["confidence"]).float()
        # Squared difference of the two-class vectors (p, 1 - p): 2 (p_s - p_t)^2.
        consistency = (2 * (student_p - teacher_p) ** 2 * mask).mean()
        prior = torch.full((), self._balance_prior(), device=student_p.device)
        balance = F.binary_cross_entropy(student_p.mean(), prior) * mask.mean()
        weight = self.options["unsupervised_weight"]
        return {
            "classification": classification,
            "consistency": weight * consistency,
            "class_balance": weight * self.options["balance_weight"] * balance,
            "mask_rate": mask.mean(),
        }

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        """Move the teacher's weights towards the student's."""
        decay = self.options["ema_decay"]
        for teacher, student in zip(
            self.teacher.parameters(), self.network.parameters(), strict=True
        ):
            teacher.lerp_(student.detach(), 1 - decay)

    def eval_network(self) -> LensNet:
        """The teacher."""
        return self.teacher
