"""Batched augmentations of normalised lens cutouts, on the tensors' own device.

Lenses have no preferred orientation or handedness, are roughly centred, and are seen
through varying noise and seeing, so the augmentations are: the eight flips/90 degree
rotations, small centroid shifts (reflect-filled), Gaussian noise, and (strong set only)
per-band gain jitter and a random Gaussian blur. Every random draw comes from a
``torch.Generator`` so a seeded run is reproducible.

Images are expected *after* normalisation, where the sky noise is about
``1 / softening`` (one third) in value, so noise levels are given in those units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _uniform(
    n: int, low: float, high: float, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def dihedral(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply one of the eight flips/90 degree rotations to each square image at random."""
    n = images.shape[0]
    turns = torch.randint(0, 4, (n,), generator=generator, device=images.device)
    flips = torch.rand(n, generator=generator, device=images.device) < 0.5
    out = torch.where(flips[:, None, None, None], images.flip(-1), images)
    rotations = torch.stack([torch.rot90(out, k, (-2, -1)) for k in range(4)])
    return rotations[turns, torch.arange(n, device=images.device)]


def shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by a random whole number of pixels in [-max_shift, max_shift].

    Pixels shifted in from outside are filled by reflection, which keeps sky statistics.
    """
    if max_shift <= 0:
        return images
    n, _, h, w = images.shape
    device = images.device
    padded = F.pad(images, (max_shift,) * 4, mode="reflect")
    dy = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator, device=device)
    dx = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator, device=device)
    rows = torch.arange(h, device=device)[None, :] + max_shift - dy[:, None]  # (N, H)
    cols = torch.arange(w, device=device)[None, :] + max_shift - dx[:, None]  # (N, W)
    batch = torch.arange(n, device=device)[:, None, None]
    picked = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return picked.permute(0, 3, 1, 2).contiguous()


def add_noise(images: torch.Tensor, max_std: float, generator: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise with a per-image standard deviation drawn from [0, max_std]."""
    if max_std <= 0:
        return images
    n = images.shape[0]
    std = _uniform(n, 0.0, max_std, generator, images.device).to(images.dtype)
    noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
    return images + std[:, None, None, None] * noise


def band_gain(images: torch.Tensor, max_change: float, generator: torch.Generator) -> torch.Tensor:
    """Multiply each band of each image by a factor in [1 - max_change, 1 + max_change]."""
    if max_change <= 0:
        return images
    n, c = images.shape[:2]
    gains = 1.0 + _uniform(n * c, -max_change, max_change, generator, images.device)
    return images * gains.view(n, c, 1, 1).to(images.dtype)


def blur(images: torch.Tensor, max_sigma: float, generator: torch.Generator) -> torch.Tensor:
    """Convolve each image with a Gaussian of random width in [0, max_sigma] pixels (seeing)."""
    if max_sigma <= 0:
        return images
    n, c, h, w = images.shape
    radius = max(1, math.ceil(3 * max_sigma))
    sigma = _uniform(n, 1e-3, max_sigma, generator, images.device).to(images.dtype)
    offsets = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel_1d = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None]) ** 2)
    kernel_1d = kernel_1d / kernel_1d.sum(dim=1, keepdim=True)  # (N, K)
    kernels = (kernel_1d[:, :, None] * kernel_1d[:, None, :]).repeat_interleave(c, dim=0)
    padded = F.pad(images.reshape(1, n * c, h, w), (radius,) * 4, mode="reflect")
    out = F.conv2d(padded, kernels[:, None], groups=n * c)
    return out.view(n, c, h, w)


@dataclass(frozen=True)
class Augmenter:
    """A set of augmentations applied in a fixed order.

    Attributes:
        dihedral: Random flips and 90 degree rotations.
        max_shift: Largest centroid shift in pixels.
        noise: Largest added noise standard deviation (normalised units).
        gain: Largest relative per-band gain change.
        blur: Largest Gaussian blur sigma in pixels.
    """

    dihedral: bool = True
    max_shift: int = 2
    noise: float = 0.0
    gain: float = 0.0
    blur: float = 0.0

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a (N, C, H, W) batch; returns a new tensor."""
        out = images
        if self.dihedral:
            out = dihedral(out, generator)
        out = shift(out, self.max_shift, generator)
        out = blur(out, self.blur, generator)
        out = band_gain(out, self.gain, generator)
        return add_noise(out, self.noise, generator)


#: Label-preserving geometric changes only, for supervised terms and pseudo-labelling.
WEAK = Augmenter(dihedral=True, max_shift=2)
#: Adds seeing, gain and noise changes, for consistency targets (AdaMatch, self-ensembling).
STRONG = Augmenter(dihedral=True, max_shift=4, noise=0.15, gain=0.2, blur=1.0)
#: No augmentation (for tests and evaluation).
IDENTITY = Augmenter(dihedral=False, max_shift=0)
