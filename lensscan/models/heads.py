"""Heads on encoder features: the lens classifier, a domain discriminator, gradient reversal.

The task is binary with one logit: ``P(lens) = sigmoid(logit)`` everywhere in lensscan.
"""

from __future__ import annotations

import torch
from torch import nn


class LensHead(nn.Module):
    """Features -> one lens logit.

    Args:
        num_features: Width of the encoder's features.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N,) logits."""
        return self.linear(features).squeeze(-1)


class DomainDiscriminator(nn.Module):
    """Features -> one "source domain" logit, the adversary of ADDA and DANN.

    Args:
        num_features: Width of the encoder's features.
        hidden: Width of the two hidden layers (ADDA uses 500; DANN 1024).
    """

    def __init__(self, num_features: int, hidden: int = 256) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(num_features, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) -> (N,) logits of "this came from the source domain"."""
        return self.layers(features).squeeze(-1)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: float
    ) -> torch.Tensor:
        ctx.scale = scale  # type: ignore[attr-defined]
        return x.view_as(x)

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None  # type: ignore[attr-defined]


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-scale`` backward (Ganin et al. 2016)."""
    return _ReverseGradient.apply(x, scale)
