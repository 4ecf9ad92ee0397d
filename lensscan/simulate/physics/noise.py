"""Sky noise at survey depth, correlated like a warped coadd, plus object shot noise.

Depth is quoted as the 5-sigma limit in a 2" diameter aperture. Coadd noise is white
noise filtered by the warping kernel, which makes neighbouring pixels correlated, so the
per-pixel sigma alone does not fix the depth: :func:`white_sigma_for_depth` finds the
white-noise level whose *filtered* aperture sum has sigma ``flux(depth) / 5``.

Object shot noise uses an effective gain (counts per flux unit) fixed by requiring the
sky's own Poisson variance to equal the sky noise: ``gain = sky_per_pixel / sigma_pix^2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from lensscan.simulate.physics.photometry import mag_to_flux

APERTURE_DIAMETER_ARCSEC = 2.0
_APERTURE_SUBSAMPLING = 8


@lru_cache(maxsize=32)
def aperture_noise_factor(kernel_1d: tuple[float, ...], pixel_scale: float) -> float:
    """sigma(2" aperture sum) / sigma(white noise) for white noise filtered by the kernel.

    The aperture sum of filtered noise is ``sum_q c_q w_q`` with ``c = aperture (x) kernel``
    (full cross-correlation, done as two 1-D passes over the zero-padded weights), so its
    sigma is ``sigma_white * ||c||``. The aperture weights are the fractions of each pixel
    inside the circle.
    """
    radius_px = APERTURE_DIAMETER_ARCSEC / 2 / pixel_scale
    half = int(np.ceil(radius_px)) + 1
    sub = _APERTURE_SUBSAMPLING
    fine = (np.arange(-half * sub, (half + 1) * sub) + 0.5) / sub - 0.5
    inside = (fine[None, :] ** 2 + fine[:, None] ** 2) <= radius_px**2
    n = 2 * half + 1
    weights = inside.reshape(n, sub, n, sub).mean(axis=(1, 3))
    padded = np.pad(weights, len(kernel_1d) - 1)
    coefficients = _filter_axis(_filter_axis(padded, kernel_1d, axis=0), kernel_1d, axis=1)
    return float(np.sqrt((coefficients**2).sum()))


def white_sigma_for_depth(depth: float, kernel_1d: tuple[float, ...], pixel_scale: float) -> float:
    """White-noise sigma giving a 5-sigma 2" aperture depth of ``depth`` after filtering."""
    return float(mag_to_flux(depth) / 5.0 / aperture_noise_factor(kernel_1d, pixel_scale))


@dataclass(frozen=True)
class NoiseModel:
    """Noise of one image.

    Attributes:
        white_sigma: White-noise sigma per band before correlation.
        kernel_1d: Separable correlation kernel (``(1.0,)``: white).
        gain: Counts per flux unit per band for shot noise, or None for no shot noise.
    """

    white_sigma: np.ndarray
    kernel_1d: tuple[float, ...]
    gain: np.ndarray | None

    @cached_property
    def pixel_sigma(self) -> np.ndarray:
        """Sky sigma per pixel and band (after correlation)."""
        return self.white_sigma * float(np.sum(np.square(self.kernel_1d)))

    def sky_sample(self, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """Correlated sky noise (n_bands, height, width), float32."""
        pad = len(self.kernel_1d) - 1
        n_bands = len(self.white_sigma)
        white = rng.standard_normal((n_bands, shape[0] + pad, shape[1] + pad), dtype=np.float32)
        rows = _filter_axis(white, self.kernel_1d, axis=1)
        both = _filter_axis(rows, self.kernel_1d, axis=2)
        both *= self.white_sigma.astype(np.float32)[:, None, None]
        return both

    def shot_variance(self, model: np.ndarray) -> np.ndarray:
        """Object shot-noise variance of a noiseless model (zeros without shot noise)."""
        if self.gain is None:
            return np.zeros_like(model)
        inverse_gain = (1.0 / self.gain).astype(model.dtype)[:, None, None]
        return np.maximum(model, 0.0) * inverse_gain

    def sample(self, model: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Sky plus shot noise for a noiseless model (n_bands, height, width), float32."""
        noise = self.sky_sample(model.shape[1:], rng)
        if self.gain is not None:
            shot = self.shot_variance(model.astype(np.float32, copy=False))
            np.sqrt(shot, out=shot)
            shot *= rng.standard_normal(model.shape, dtype=np.float32)
            noise += shot
        return noise


def _filter_axis(values: np.ndarray, kernel: tuple[float, ...], axis: int) -> np.ndarray:
    """'Valid' correlation of ``values`` with a short kernel along ``axis``."""
    length = values.shape[axis] - len(kernel) + 1

    def window(offset: int) -> np.ndarray:
        index = [slice(None)] * values.ndim
        index[axis] = slice(offset, offset + length)
        return values[tuple(index)]

    weight = values.dtype.type
    out = window(0) * weight(kernel[0])
    for offset in range(1, len(kernel)):
        out += window(offset) * weight(kernel[offset])
    return out


def noise_model(
    depths: np.ndarray,
    sky_brightness: np.ndarray,
    kernel_1d: tuple[float, ...],
    pixel_scale: float,
    shot_noise: bool,
) -> NoiseModel:
    """Build a noise model from per-band depths and sky brightness.

    Args:
        depths: 5-sigma 2" aperture depths (mag) per band.
        sky_brightness: Sky surface brightness (mag/arcsec^2) per band.
        kernel_1d: Separable correlation kernel.
        pixel_scale: Arcsec per pixel.
        shot_noise: Whether objects add Poisson noise.
    """
    white = np.array([white_sigma_for_depth(d, kernel_1d, pixel_scale) for d in depths])
    model = NoiseModel(white, kernel_1d, None)
    if not shot_noise:
        return model
    sky_per_pixel = mag_to_flux(np.asarray(sky_brightness)) * pixel_scale**2
    return NoiseModel(white, kernel_1d, sky_per_pixel / model.pixel_sigma**2)
