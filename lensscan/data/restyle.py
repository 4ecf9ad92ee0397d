"""Display restyling: flux cutouts shown as the 8-bit colour images people publish and grade.

Many lens samples exist only as display images: colour composites from survey viewers,
citizen-science PNGs and min-max normalised arrays, each band stretched by a non-linear
curve, clipped at a white point and quantised to 256 levels. A finder trained on flux
alone meets these as a new domain. Restyling shows it a share of its training items that
way: per image, one stretch for all bands (a power law or an asinh curve of random
strength), a random black and white point per band, 8-bit quantisation, and bands scaled
to [0, 1] as the DeepLense folders are. The model's own normalisation then treats the
result as it treats any image, so nothing else changes.

Every draw comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import numpy as np

GAMMA_RANGE = (0.45, 1.3)
"""Exponents of the power-law stretch (after the black point; 1: linear, 0.45: sRGB-like)."""

ASINH_SHARE = 0.5
"""Share of images stretched with an asinh curve instead of a power law."""

WHITE_PERCENTILE_RANGE = (97.0, 100.0)
"""Percentile of each band's pixels that becomes white; brighter pixels saturate."""

BLACK_PERCENTILE_RANGE = (0.0, 30.0)
"""Percentile of each band's pixels that becomes black (the sky background is cut)."""

LEVELS = 255
"""Quantisation levels above black (8 bits)."""


def restyle(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Turn flux cutouts into display-stretched, 8-bit, per-band [0, 1] images.

    Args:
        images: ``(N, C, H, W)`` flux cutouts.
        rng: The random stream of the restyling.

    Returns:
        ``(N, C, H, W)`` float32 images with values in [0, 1].
    """
    images = np.asarray(images, np.float64)
    n, c = images.shape[:2]
    flat = images.reshape(n, c, -1)
    black = np.empty((n, c))
    white = np.empty((n, c))
    for k in range(n):
        low = rng.uniform(*BLACK_PERCENTILE_RANGE)
        high = rng.uniform(*WHITE_PERCENTILE_RANGE)
        black[k] = np.percentile(flat[k], low, axis=1)
        white[k] = np.percentile(flat[k], high, axis=1)
    span = np.maximum(white - black, 1e-12)
    scaled = np.clip((flat - black[..., None]) / span[..., None], 0.0, 1.0)
    gamma = rng.uniform(*GAMMA_RANGE, n)
    softening = 10 ** rng.uniform(-2.0, -0.5, n)
    use_asinh = rng.uniform(size=n) < ASINH_SHARE
    stretched = np.where(
        use_asinh[:, None, None],
        np.arcsinh(scaled / softening[:, None, None]) / np.arcsinh(1 / softening)[:, None, None],
        scaled ** gamma[:, None, None],
    )
    quantised = np.round(stretched * LEVELS) / LEVELS
    low = quantised.min(axis=2, keepdims=True)
    high = quantised.max(axis=2, keepdims=True)
    out = (quantised - low) / np.maximum(high - low, 1.0 / LEVELS)
    return out.reshape(images.shape).astype(np.float32)
