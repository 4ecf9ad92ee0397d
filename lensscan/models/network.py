"""The lens-finding network: an encoder from the registry and a one-logit head."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lensscan.models.heads import LensHead
from lensscan.models.registry import create_encoder


class LensNet(nn.Module):
    """Encoder + :class:`~lensscan.models.heads.LensHead`.

    Attributes:
        encoder: Maps (N, C, H, W) to (N, F); ``encoder.num_features`` is F.
        head: Maps (N, F) to (N,) lens logits.
    """

    def __init__(self, encoder: nn.Module, head: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head if head is not None else LensHead(encoder.num_features)

    @property
    def num_features(self) -> int:
        """The encoder's feature width."""
        return int(self.encoder.num_features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) normalised images -> (N,) lens logits."""
        return self.head(self.encoder(images))


def build_network(encoder: str, in_chans: int, options: Mapping[str, Any] | None = None) -> LensNet:
    """Build an untrained :class:`LensNet` around a registered encoder."""
    return LensNet(create_encoder(encoder, in_chans, **dict(options or {})))
