"""A drawn patch rendered as a coadd: PSF-convolved image, masks and variance per band.

Each object is rendered as a stamp added in place; each band is then convolved with its
PSF, and correlated sky noise and shot noise are added. The mask planes are set as the
HSC pipeline sets them (saturation, bright-object, detection, edge and no-data bits).
"""

from __future__ import annotations

import numpy as np

from lensscan.robust import MAD_TO_SIGMA
from lensscan.simulate.domains.presets import HSC_WIDE
from lensscan.simulate.fields.calexp import mask_bit
from lensscan.simulate.fields.request import FieldRequest
from lensscan.simulate.fields.scene import FieldScene, field_streams
from lensscan.simulate.physics.psf import kernel_size, psf_kernels
from lensscan.simulate.physics.render import Frame, add_components, convolve_large

SATURATION_FLUX = 1000.0  # noiseless pixel flux above which a single visit saturates
EDGE_WIDTH_PX = 20


def render_field(
    scene: FieldScene, request: FieldRequest
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render a patch.

    Returns:
        image (C, H, W) float32, mask (C, H, W) int32, variance (C, H, W) float32 and the
        PSF kernels (C, k, k).
    """
    from scipy import ndimage

    size, scale = request.size, HSC_WIDE.pixel_scale
    frame = Frame(scale, 0.0, 0.0, size, size)
    n_bands = len(request.bands)
    canvas = np.zeros((n_bands, size, size), np.float32)
    add_components(canvas, frame, scene.galaxies)
    psfs = scene.conditions.psfs
    kernels = psf_kernels(psfs, scale, min(kernel_size(psfs, scale, 1e-3), 2 * (size // 2) - 1))
    model = convolve_large(canvas, kernels)
    del canvas
    add_components(model, frame, scene.direct)
    noise_rng = field_streams(request.seed)["noise"]
    noise = scene.conditions.noise
    image = model + noise.sample(model, noise_rng)
    variance = (noise.pixel_sigma[:, None, None] ** 2 + noise.shot_variance(model)).astype(
        np.float32
    )
    mask = np.zeros(image.shape, np.int32)
    mask[model > SATURATION_FLUX] |= mask_bit("SAT") | mask_bit("INTRP")
    rows, cols = np.ogrid[:size, :size]
    for x, y, radius in scene.bright_stars:
        r0, r1 = max(int(y - radius), 0), min(int(y + radius) + 1, size)
        c0, c1 = max(int(x - radius), 0), min(int(x + radius) + 1, size)
        if r0 < r1 and c0 < c1:
            inside = (rows[r0:r1] - y) ** 2 + (cols[:, c0:c1] - x) ** 2 <= radius**2
            mask[:, r0:r1, c0:c1] |= np.where(inside, mask_bit("BRIGHT_OBJECT"), 0).astype(np.int32)
    for band in range(n_bands):
        sigma_px = psfs[band].fwhm / 2.355 / scale
        smoothed = ndimage.gaussian_filter(image[band], sigma_px)
        # Noise of the smoothed image, measured robustly from the image itself.
        noise_level = MAD_TO_SIGMA * np.median(
            np.abs(smoothed[::7, ::7] - np.median(smoothed[::7, ::7]))
        )
        mask[band][smoothed > 5.0 * noise_level] |= mask_bit("DETECTED")
        no_data = scene.no_data[band]
        edge = ndimage.binary_dilation(no_data, iterations=EDGE_WIDTH_PX) & ~no_data
        mask[band][edge] |= mask_bit("EDGE")
        mask[band][no_data] = mask_bit("NO_DATA")
        image[band][no_data] = 0.0
        variance[band][no_data] = np.inf
    return image.astype(np.float32), mask, variance, kernels
