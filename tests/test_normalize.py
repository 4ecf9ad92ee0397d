from __future__ import annotations

import numpy as np
import pytest
import torch

from lensscan.data.folders import read_labelled_folder
from lensscan.data.normalize import (
    DEFAULT_NORMALISATION,
    RobustAsinh,
    normalisation_from_dict,
)
from lensscan.errors import UserError


def _sky(seed: int, n: int = 6, size: int = 32) -> np.ndarray:
    """Noisy sky with a bright central blob, in flux units."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    blob = 50.0 * np.exp(-(xx**2 + yy**2) / 8.0)
    images = rng.normal(3.0, 0.5, (n, 3, size, size)) + blob
    return images.astype(np.float64)


@pytest.mark.parametrize(("scale", "offset"), [(1e-3, 7.0), (250.0, -40.0), (1.0, 0.0)])
def test_affine_invariance_per_band(scale: float, offset: float) -> None:
    images = torch.from_numpy(_sky(0))
    # A different affine map per band: the normalisation must undo each one.
    scales = torch.tensor([scale, 2.0 * scale, 0.5 * scale], dtype=torch.float64)[
        None, :, None, None
    ]
    offsets = torch.tensor([offset, -offset, 3.0], dtype=torch.float64)[None, :, None, None]
    reference = DEFAULT_NORMALISATION(images)
    transformed = DEFAULT_NORMALISATION(images * scales + offsets)
    torch.testing.assert_close(transformed, reference, atol=1e-9, rtol=0)


def test_minmax_cutout_matches_flux_cutout_in_float32() -> None:
    flux = _sky(1).astype(np.float32)
    low = flux.min(axis=(2, 3), keepdims=True)
    high = flux.max(axis=(2, 3), keepdims=True)
    minmax = (flux - low) / (high - low)
    np.testing.assert_allclose(
        DEFAULT_NORMALISATION.numpy(minmax), DEFAULT_NORMALISATION.numpy(flux), atol=2e-4
    )


def test_background_is_zero_and_noise_is_unit_before_the_stretch() -> None:
    rng = np.random.default_rng(2)
    images = rng.normal(100.0, 4.0, (1, 1, 64, 64)).astype(np.float32)
    normalised = DEFAULT_NORMALISATION.numpy(images)
    border = normalised[0, 0, :8, :]
    # asinh(z / 3) of unit-sigma noise has median 0 and a spread of about 1/3.
    assert abs(np.median(border)) < 0.05
    assert 0.25 < np.std(border) < 0.4


def test_constant_and_nan_images_are_finite() -> None:
    constant = np.full((2, 3, 16, 16), 5.0, np.float32)
    assert np.all(DEFAULT_NORMALISATION.numpy(constant) == 0.0)
    holes = _sky(3, n=1, size=16).astype(np.float32)
    holes[0, 1, 4:7, 4:7] = np.nan
    out = DEFAULT_NORMALISATION.numpy(holes)
    assert np.all(np.isfinite(out))
    assert np.all(out[0, 1, 4:7, 4:7] == 0.0)


def test_clip_bounds_the_output() -> None:
    images = _sky(4, n=1).astype(np.float32)
    images[0, 0, 16, 16] = 1e30
    out = RobustAsinh(clip=4.0).numpy(images)
    assert out.max() == pytest.approx(4.0)
    assert out.min() >= -4.0


def test_round_trip_through_the_card_dict() -> None:
    norm = RobustAsinh(border=4, softening=2.0)
    assert normalisation_from_dict(norm.to_dict()) == norm
    with pytest.raises(UserError, match="unknown normalisation"):
        normalisation_from_dict({"kind": "zscale"})
    with pytest.raises(UserError, match="invalid normalisation"):
        normalisation_from_dict({"kind": "robust_asinh", "border": 0})


@pytest.mark.realdata
def test_real_minmax_cutouts_look_like_standardised_sky(realdata) -> None:
    folder = realdata / "hsc_gri_sample40"
    if not folder.is_dir():
        pytest.skip("hsc_gri_sample40 is not present")
    cutouts = read_labelled_folder(folder)
    out = DEFAULT_NORMALISATION.numpy(cutouts.images)
    assert out.shape == cutouts.images.shape
    assert np.all(np.isfinite(out))
    border = out[..., :8, :]
    # Sky sits at 0 with noise of order one softening unit, whatever the min-max scaling was.
    assert abs(float(np.median(border))) < 0.1
    assert 0.1 < float(np.median(np.abs(border))) < 1.0
    # Rescaling the already-normalised [0, 1] cutouts changes nothing.
    rescaled = DEFAULT_NORMALISATION.numpy(cutouts.images * 37.0 - 5.0)
    np.testing.assert_allclose(rescaled, out, atol=1e-3)


def test_differences_noise_is_affine_invariant_and_robust_to_a_bright_star() -> None:
    norm = RobustAsinh(noise="differences")
    images = _sky(4)
    scaled = norm.numpy(images * 30.0 - 5.0)
    assert np.allclose(norm.numpy(images), scaled, atol=1e-4)
    # A bright star near a corner spreads the border's pixels over orders of magnitude, and
    # its peak lifts the floor (0.1% of the band's range) above the sky noise; with the
    # floor lowered, pixel-to-pixel differences keep the noise scale near the sky's.
    size = images.shape[-1]
    yy, xx = np.mgrid[:size, :size]
    star = 3000.0 / (1 + (np.hypot(xx - size + 4, yy - size + 4) / 3.0) ** 2) ** 1.5
    with_star = torch.from_numpy(images + star)
    sky_sigma = 0.5

    def noise(**settings) -> float:
        return float(RobustAsinh(**settings).background_and_noise(with_star)[1].mean())

    assert noise() > 8 * sky_sigma
    assert noise(noise="differences") == pytest.approx(1e-3 * 3000, rel=0.05)  # the floor
    assert noise(noise="differences", relative_floor=1e-9) < 2.5 * sky_sigma
    _, clean = norm.background_and_noise(torch.from_numpy(images))
    assert float(clean.mean()) == pytest.approx(sky_sigma, rel=0.15)


def test_unknown_noise_estimate_is_refused() -> None:
    with pytest.raises(ValueError, match="noise must be one of"):
        RobustAsinh(noise="everywhere")
    assert normalisation_from_dict(RobustAsinh(noise="differences").to_dict()).noise == (
        "differences"
    )
