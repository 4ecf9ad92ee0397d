"""A native-PyTorch E(2)-equivariant CNN over the dihedral groups D4 and D8.

DeepLense's equivariant encoder was built with e2cnn, which does not install beside NumPy 2;
this module builds the same kind of network from plain convolutions.

Group and filters. The dihedral group D_N (N rotations by 360/N degrees, each with or
without a mirror flip) acts on a square k x k kernel by permuting its pixels: a mirror flip
is exact on the pixel grid, and a rotation by 360/N degrees shifts every concentric square
ring of the kernel by ``8 r / N`` positions along the ring (a ring of radius r holds 8 r
pixels). For N = 4 this is exactly ``rot90``; for N = 8 it is the usual "ring shift"
approximation of a 45 degree rotation, which still satisfies the group laws exactly
(two shifts make one ``rot90``; flip-shift-flip is the inverse shift). Every layer stores one
learnable kernel per (output field, input field) and builds its |G| transformed copies by
indexing, so the filter bank is equivariant by construction.

Layers. A lifting convolution maps an ordinary image to |G| feature maps per field (one per
group element); group convolutions map such fields to fields. BatchNorm, ReLU and 2 x 2
average pooling treat the |G| copies of a field alike, so equivariance is kept. At the end
the encoder averages over space and takes the maximum over the group ("group pooling"),
giving features invariant to 90 degree rotations and flips of the input (exactly, for
input sizes divisible by ``2 ** len(widths)``; image rotations by 45 degrees are not pixel
operations, so D8 adds finer filter sharing rather than exact invariance to them).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cached_property

import torch
import torch.nn.functional as F
from torch import nn


class DihedralGroup:
    """The dihedral group D_N acting on square k x k kernels by pixel permutations.

    Element ``g = N * m + j`` is ``r^j s^m``: first mirror (``m = 1``), then rotate ``j``
    steps.

    Args:
        rotations: N, 4 or 8.
    """

    def __init__(self, rotations: int) -> None:
        if rotations not in (4, 8):
            raise ValueError(f"rotations must be 4 or 8, got {rotations}")
        self.rotations = rotations

    @property
    def order(self) -> int:
        """|G| = 2 N."""
        return 2 * self.rotations

    def element(self, index: int) -> tuple[int, int]:
        """(rotation steps j, mirror m) of an element index."""
        return index % self.rotations, index // self.rotations

    def index(self, rotation: int, mirror: int) -> int:
        """Element index of ``r^rotation s^mirror``."""
        return mirror * self.rotations + rotation % self.rotations

    def multiply(self, a: int, b: int) -> int:
        """Index of the product ``a b`` (using ``s r^j = r^-j s``)."""
        ja, ma = self.element(a)
        jb, mb = self.element(b)
        return self.index(ja + (-jb if ma else jb), ma ^ mb)

    def inverse(self, a: int) -> int:
        """Index of ``a^-1`` (a mirrored element is its own inverse)."""
        j, m = self.element(a)
        return a if m else self.index(-j, 0)

    @cached_property
    def inverse_products(self) -> torch.Tensor:
        """(|G|, |G|) table of ``g^-1 h``, used to permute the group axis of filters."""
        table = [
            [self.multiply(self.inverse(g), h) for h in range(self.order)]
            for g in range(self.order)
        ]
        return torch.tensor(table, dtype=torch.long)

    def kernel_permutations(self, size: int) -> torch.Tensor:
        """(|G|, size * size) source indices: ``(g . K).flat = K.flat[perm[g]]``.

        Args:
            size: Odd kernel size.
        """
        if size % 2 != 1:
            raise ValueError(f"kernel size must be odd, got {size}")
        identity = torch.arange(size * size)
        rotate = _ring_shift_source(size, self.rotations)
        mirror = torch.arange(size * size).view(size, size).flip(-1).reshape(-1)
        perms = []
        for g in range(self.order):
            steps, mirrored = self.element(g)
            perm = identity
            # (a . (b . K)).flat = K.flat[src_b[src_a]]: r^j s^m applies s first, then r j times.
            for _ in range(steps):
                perm = perm[rotate]
            if mirrored:
                perm = mirror[perm]
            perms.append(perm)
        return torch.stack(perms)


def _ring_coordinates(size: int, radius: int) -> list[tuple[int, int]]:
    """Pixels of the square ring at ``radius`` from the centre, in order around the ring."""
    c = size // 2
    top = [(c - radius, c - radius + i) for i in range(2 * radius)]
    right = [(c - radius + i, c + radius) for i in range(2 * radius)]
    bottom = [(c + radius, c + radius - i) for i in range(2 * radius)]
    left = [(c + radius - i, c - radius) for i in range(2 * radius)]
    return top + right + bottom + left


def _ring_shift_source(size: int, rotations: int) -> torch.Tensor:
    """Source indices of one rotation step (360/N degrees) of a kernel's pixels."""
    source = torch.arange(size * size)
    for radius in range(1, size // 2 + 1):
        ring = _ring_coordinates(size, radius)
        shift = len(ring) // rotations
        for position, (row, col) in enumerate(ring):
            from_row, from_col = ring[(position - shift) % len(ring)]
            source[row * size + col] = from_row * size + from_col
    return source


class LiftingConv2d(nn.Module):
    """Ordinary image channels -> |G| copies of each output field (one per group element)."""

    def __init__(
        self, group: DihedralGroup, in_channels: int, out_fields: int, kernel_size: int
    ) -> None:
        super().__init__()
        self.group = group
        self.out_fields = out_fields
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(out_fields, in_channels, kernel_size * kernel_size))
        nn.init.kaiming_normal_(self.weight.view(out_fields, in_channels, kernel_size, kernel_size))
        self.register_buffer("perms", group.kernel_permutations(kernel_size), persistent=False)

    def filters(self) -> torch.Tensor:
        """The (fields * |G|, C_in, k, k) equivariant filter bank."""
        o, i, kk = self.weight.shape
        g = self.group.order
        bank = self.weight[:, None].expand(o, g, i, kk)
        index = self.perms[None, :, None, :].expand(o, g, i, kk)
        bank = torch.gather(bank, -1, index)
        return bank.reshape(o * g, i, self.kernel_size, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, fields, |G|, H, W)."""
        out = F.conv2d(x, self.filters(), padding=self.kernel_size // 2)
        return out.view(x.shape[0], self.out_fields, self.group.order, *out.shape[-2:])


class GroupConv2d(nn.Module):
    """Regular-representation fields -> fields, equivariant to the group."""

    def __init__(
        self, group: DihedralGroup, in_fields: int, out_fields: int, kernel_size: int
    ) -> None:
        super().__init__()
        self.group = group
        self.out_fields = out_fields
        self.kernel_size = kernel_size
        g = group.order
        kk = kernel_size * kernel_size
        self.weight = nn.Parameter(torch.empty(out_fields, in_fields, g, kk))
        nn.init.kaiming_normal_(
            self.weight.view(out_fields, in_fields * g, kernel_size, kernel_size)
        )
        self.register_buffer("perms", group.kernel_permutations(kernel_size), persistent=False)
        self.register_buffer("group_index", group.inverse_products, persistent=False)

    def filters(self) -> torch.Tensor:
        """The (out_fields * |G|, in_fields * |G|, k, k) filter bank.

        The filter from input copy ``h`` to output copy ``g`` is the stored kernel for
        ``g^-1 h``, transformed spatially by ``g``.
        """
        o, i, g, kk = self.weight.shape
        bank = self.weight[:, :, self.group_index]  # (O, I, G_out, G_in, kk)
        index = self.perms[None, None, :, None, :].expand(o, i, g, g, kk)
        bank = torch.gather(bank, -1, index).permute(0, 2, 1, 3, 4)
        return bank.reshape(o * g, i * g, self.kernel_size, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_fields, |G|, H, W) -> (N, out_fields, |G|, H, W)."""
        n = x.shape[0]
        out = F.conv2d(x.flatten(1, 2), self.filters(), padding=self.kernel_size // 2)
        return out.view(n, self.out_fields, self.group.order, *out.shape[-2:])


class GroupBlock(nn.Module):
    """Group convolution, BatchNorm shared across a field's copies, ReLU, 2 x 2 average pool."""

    def __init__(self, conv: nn.Module, fields: int) -> None:
        super().__init__()
        self.conv = conv
        # BatchNorm3d over (N, fields, |G|, H, W): one mean/scale per field, shared by its copies.
        self.norm = nn.BatchNorm3d(fields)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block; halves the spatial size."""
        y = torch.relu(self.norm(self.conv(x)))
        n, f, g, h, w = y.shape
        y = F.avg_pool2d(y.view(n, f * g, h, w), 2)
        return y.view(n, f, g, *y.shape[-2:])


class EquivariantCNN(nn.Module):
    """A D_N-equivariant CNN encoder with an invariant feature vector.

    Args:
        in_chans: Input channels (bands).
        rotations: N of the dihedral group D_N (4 or 8).
        widths: Fields per block; each block halves the image size.
        kernel_size: Odd kernel size of the group convolutions (the first layer uses 5).
    """

    def __init__(
        self,
        in_chans: int,
        rotations: int = 4,
        widths: Sequence[int] = (8, 16, 32, 64),
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        group = DihedralGroup(rotations)
        self.group = group
        blocks = [GroupBlock(LiftingConv2d(group, in_chans, widths[0], 5), widths[0])]
        for previous, width in itertools.pairwise(widths):
            blocks.append(GroupBlock(GroupConv2d(group, previous, width, kernel_size), width))
        self.blocks = nn.Sequential(*blocks)
        self.num_features = int(widths[-1])
        #: Inputs should be divisible by this for exact invariance under rot90 and flips.
        self.size_multiple = 2 ** len(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, num_features), invariant to D4 transforms of the input."""
        fields = self.blocks(x)
        return fields.mean(dim=(-2, -1)).amax(dim=-1)
