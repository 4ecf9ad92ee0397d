"""The lens-finding network: an encoder from the registry and a one-logit head.

An ensemble of such networks (:class:`EnsembleNet`) is itself a one-logit network, so the
rest of lensscan scores, scans and evaluates it like any single model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class EnsembleNet(nn.Module):
    """Several networks whose logits are averaged.

    The members are :class:`LensNet` of one encoder, or, in an ensemble of different
    encoders, each member a :class:`LensNet` or an ensemble of one encoder (its own mean
    logit then counts once, whatever its size).

    The mean logit is the log of the geometric mean of the members' odds: an item must look
    like a lens to most members to rank high, which damps the seed-to-seed swings of
    adversarially trained members.

    Attributes:
        members: The member networks.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) normalised images -> (N,) mean of the members' lens logits."""
        return torch.stack([member(images) for member in self.members]).mean(dim=0)


def build_network(encoder: str, in_chans: int, options: Mapping[str, Any] | None = None) -> LensNet:
    """Build an untrained :class:`LensNet` around a registered encoder."""
    return LensNet(create_encoder(encoder, in_chans, **dict(options or {})))


def build_model_network(
    encoder: str,
    in_chans: int,
    options: Mapping[str, Any] | None = None,
    members: int = 1,
    components: Sequence[Mapping[str, Any]] = (),
) -> nn.Module:
    """The network a model card describes: one :class:`LensNet`, or an ensemble of them.

    Args:
        encoder: Registry name of the encoder (``mixed`` with ``components``).
        in_chans: Input channels (bands).
        options: Keyword options of the encoder builder.
        members: The card's ``members``: 1 for a single network, N for an ensemble.
        components: The card's ``components`` of an ensemble of different encoders: each
            member is built from its entry (itself one network or an ensemble).
    """
    if components:
        return EnsembleNet(
            [
                build_model_network(
                    part["encoder"], in_chans, part["encoder_options"], part["members"]
                )
                for part in components
            ]
        )
    if members == 1:
        return build_network(encoder, in_chans, options)
    return EnsembleNet([build_network(encoder, in_chans, options) for _ in range(members)])
