"""A compact residual network made for 64-pixel survey cutouts.

ImageNet ResNets shrink the image 4x in their stem (7x7 stride-2 convolution and a max
pool), which throws away the 1-2 pixel detail of a thin arc in a 64 px cutout before any
residual block sees it. This one keeps full resolution in the stem and its first stage,
then halves the resolution three times (64 -> 32 -> 16 -> 8) while doubling the width:
about 0.3 M parameters at the default widths, small enough to train on a laptop CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projected) shortcut.

    Args:
        in_width: Input channels.
        out_width: Output channels.
        stride: Stride of the first convolution (2 halves the resolution).
    """

    def __init__(self, in_width: int, out_width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_width, out_width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_width)
        self.conv2 = nn.Conv2d(out_width, out_width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_width)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_width != out_width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_width, out_width, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_width),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual block."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CompactResNet(nn.Module):
    """Stem at full resolution, then one residual stage per width.

    Args:
        in_chans: Input bands.
        widths: Channels of the stages; every stage after the first halves the resolution.
        blocks_per_stage: Residual blocks in each stage.
    """

    def __init__(
        self,
        in_chans: int,
        widths: tuple[int, ...] = (16, 32, 64, 128),
        blocks_per_stage: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        previous = widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(previous, width, stride))
                previous = width
        self.body = nn.Sequential(*layers)
        self.num_features = int(widths[-1])

    def forward(self, x: Any) -> Any:
        """(N, C, H, W) -> (N, num_features) by global average pooling."""
        return self.body(x).mean(dim=(-2, -1))
