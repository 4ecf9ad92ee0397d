"""One optimisation step of the loop: mixed precision and each optimizer's own gradients."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import torch


class Precision:
    """Mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling)."""

    def __init__(self, device: torch.device, enabled: bool) -> None:
        use = enabled and device.type == "cuda"
        self.dtype = (
            (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if use else None
        )
        self.device = device
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context for forward passes."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @property
    def name(self) -> str:
        """``bf16``, ``fp16`` or ``fp32``, for the card."""
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.dtype, "fp32")


def _trainable(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]


def apply_gradients(
    losses: Mapping[str, torch.Tensor],
    groups: Mapping[str, tuple[str, ...]],
    optimizers: Mapping[str, torch.optim.Optimizer],
    scaler: torch.amp.GradScaler,
) -> None:
    """Give each optimizer the gradient of its own losses only, then step them all.

    Gradients are taken with :func:`torch.autograd.grad` restricted to each optimizer's
    parameters, so a loss never updates another player's parameters, and all players step
    after all gradients are known (simultaneous updates from one forward pass).
    """
    items = list(groups.items())
    for index, (name, loss_names) in enumerate(items):
        params = _trainable(optimizers[name])
        total = torch.stack([losses[n].float() for n in loss_names]).sum()
        grads = torch.autograd.grad(
            scaler.scale(total), params, retain_graph=index < len(items) - 1, allow_unused=True
        )
        for param, grad in zip(params, grads, strict=True):
            param.grad = grad
    for name, _ in items:
        scaler.step(optimizers[name])
    scaler.update()
