"""The simulator families: the held-out family really differs from the training one."""

from __future__ import annotations

import numpy as np
import pytest

from lensscan.simulate.domains.conditions import draw_conditions
from lensscan.simulate.domains.families import FAMILIES, HELDOUT, TRAINING
from lensscan.simulate.domains.presets import HSC_WIDE
from lensscan.simulate.domains.registry import get_domain
from lensscan.simulate.physics.galaxies import RealGalaxy, draw_shape_index, galaxy_library
from lensscan.simulate.physics.psf import PSF
from lensscan.simulate.populations.centrals import CENTRAL_TYPE_CODES, SCAN_NEGATIVE_TYPES


def _real_shape_indices(domain_name: str, n: int = 150) -> set[int]:
    domain = get_domain(domain_name)
    indices: set[int] = set()
    for k in range(n):
        scene = domain.draw(np.random.default_rng(k), ("g", "r", "i"), k % 2 == 0)
        for component in scene.intrinsic:
            parts = getattr(component, "parts", (component,))
            indices.update(p.index for p in parts if isinstance(p, RealGalaxy))
    return indices


def test_training_and_held_out_families_share_no_real_galaxy_shape() -> None:
    train, heldout = _real_shape_indices("hsc-train"), _real_shape_indices("hsc-heldout")
    assert train and heldout
    assert not train & heldout
    assert all(i % 2 == 0 for i in train) and all(i % 2 == 1 for i in heldout)
    rng = np.random.default_rng(0)
    drawn = draw_shape_index(rng, 1, size=2000)
    assert set(np.unique(drawn)) <= set(range(1, len(galaxy_library()), 2))


def test_held_out_psf_family_is_never_drawn_in_training() -> None:
    bands = ("g", "r", "i")
    for seed in range(50):
        train = draw_conditions(np.random.default_rng(seed), HSC_WIDE, bands, TRAINING.conditions)
        held = draw_conditions(np.random.default_rng(seed), HSC_WIDE, bands, HELDOUT.conditions)
        assert all(psf.beta is not None and psf.halo_fraction == 0 for psf in train.psfs)
        assert all(psf.beta is None and psf.halo_fraction > 0 for psf in held.psfs)
        assert train.noise.kernel_1d not in HELDOUT.conditions.noise_kernels
        assert held.noise.kernel_1d not in TRAINING.conditions.noise_kernels


def test_double_gaussian_psf_is_the_flux_weighted_sum_of_its_parts() -> None:
    psf = PSF(0.7, None, 1.0, 0.0, halo_fraction=0.2, halo_scale=3.0)
    radius = np.linspace(0, 3, 31)
    expected = 0.8 * PSF(0.7).profile(radius, 0 * radius) + 0.2 * PSF(2.1).profile(
        radius, 0 * radius
    )
    np.testing.assert_allclose(psf.profile(radius, 0 * radius), expected, rtol=1e-5)
    kernel = psf.kernel(0.168, 41)
    assert kernel.sum() == pytest.approx(1.0)
    # The halo holds flux far out, where a single Gaussian of the core's width has none.
    assert kernel[20, 0] > 100 * PSF(0.7).kernel(0.168, 41)[20, 0]


def test_training_family_has_scan_aware_negatives_and_balanced_default() -> None:
    from lensscan.simulate.cutouts.request import CutoutRequest

    domain = get_domain("hsc-train")
    kinds = {
        CENTRAL_TYPE_CODES[
            domain.draw(np.random.default_rng(k), ("i",), False).params["central_type"]
        ]
        for k in range(300)
    }
    assert set(SCAN_NEGATIVE_TYPES) <= kinds
    assert CutoutRequest(domain="hsc-train", n=10).lens_fraction == 0.5
    assert CutoutRequest(domain="hsc-heldout", n=10).lens_fraction == pytest.approx(1 / 101)
    assert HELDOUT.scan_negatives.fraction == 0 and set(FAMILIES) == {
        "hsc",
        "hsc-train",
        "hsc-heldout",
    }


@pytest.mark.parametrize("name", ["hsc-train", "hsc-heldout"])
def test_family_cutouts_are_finite_and_reproducible(name) -> None:
    domain = get_domain(name)
    images = []
    for _ in range(2):
        scene = domain.draw(np.random.default_rng(5), ("g", "r", "i"), True)
        images.append(domain.render(scene, np.random.default_rng(6)))
    assert images[0].shape == (3, 64, 64) and np.isfinite(images[0]).all()
    assert images[0].tobytes() == images[1].tobytes()
