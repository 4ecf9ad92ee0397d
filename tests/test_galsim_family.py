"""The independent hsc-galsim test family: its own code and PSF, deterministic, visible arcs."""

from __future__ import annotations

import ast

import numpy as np
import pytest
from conftest import REPO_ROOT
from typer.testing import CliRunner

pytest.importorskip("galsim")

from lensscan.cli import app
from lensscan.data.store import CutoutStore
from lensscan.simulate.cutouts.blocks import make_items
from lensscan.simulate.cutouts.plan import item_generators, item_seeds
from lensscan.simulate.domains.hsc_galsim import components as family_components
from lensscan.simulate.domains.hsc_galsim.domain import VISIBLE_ARC_CONTRAST
from lensscan.simulate.domains.hsc_galsim.photometry import apparent_magnitudes
from lensscan.simulate.domains.hsc_galsim.population import (
    CENTRAL_TYPE_CODES,
    MIN_ARC_SNR,
    MIN_MAGNIFICATION,
    draw_conditions,
    einstein_radius,
)
from lensscan.simulate.domains.hsc_galsim.render import (
    APERTURE_DIAMETER_ARCSEC,
    coadd_noise,
)
from lensscan.simulate.domains.presets import get_preset
from lensscan.simulate.domains.registry import get_domain

FAMILY = REPO_ROOT / "lensscan" / "simulate" / "domains" / "hsc_galsim"
FAMILY_PACKAGE = "lensscan.simulate.domains.hsc_galsim"
#: The only simulation module the family may share: the survey's numbers, not its physics.
SHARED_NUMBERS = "lensscan.simulate.domains.presets"


def _lensscan_imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lensscan"):
            found.add(node.module)
    return found


def test_family_shares_no_simulation_code_with_training() -> None:
    for path in FAMILY.glob("*.py"):
        for module in _lensscan_imports(path):
            if not module.startswith("lensscan.simulate"):
                continue
            assert module.startswith(FAMILY_PACKAGE) or module == SHARED_NUMBERS, (
                path.name,
                module,
            )


def test_same_seed_same_images_and_labels_hold() -> None:
    labels = np.array([1, 0, 1, 0, 0, 0], np.int8)
    seeds = item_seeds(5, len(labels))
    images, params = make_items("hsc-galsim", "gri", seeds, labels)
    again, _ = make_items("hsc-galsim", "gri", seeds, labels)
    assert images.shape == (6, 3, 64, 64) and images.dtype == np.float32
    assert np.array_equal(images, again)
    assert np.isfinite(images).all()
    lens = labels == 1
    assert np.all(params["arc_snr"][lens] >= MIN_ARC_SNR)
    assert np.all(params["magnification"][lens] >= MIN_MAGNIFICATION)
    assert np.all(np.isnan(params["einstein_radius"][~lens]))
    assert np.all(params["central_type"][lens] == 0)
    assert np.all(params["central_type"][~lens] > 0)
    assert params["central_type"].max() < len(CENTRAL_TYPE_CODES)


def test_scenes_are_made_of_the_family_components_only() -> None:
    domain = get_domain("hsc-galsim")
    own = (
        family_components.Sersic,
        family_components.InclinedDisk,
        family_components.Ring,
        family_components.Knots,
        family_components.Star,
    )
    for k, seed in enumerate(item_seeds(9, 8)):
        scene_rng, _ = item_generators(seed)
        scene = domain.draw(scene_rng, ("g", "r", "i"), k % 2 == 0)
        assert all(isinstance(c, own) for c in scene.components)
        assert (scene.arcs is not None) == (k % 2 == 0)


def test_lens_arcs_stand_out_from_the_deflector() -> None:
    domain = get_domain("hsc-galsim")
    scene_rng, _ = item_generators(item_seeds(3, 1)[0])
    scene = domain.draw(scene_rng, ("g", "r", "i"), True)
    from lensscan.simulate.domains.hsc_galsim.render import draw_components

    lens_light = draw_components(scene.components[:1], scene.conditions, "g")
    visible = scene.arcs[0] >= VISIBLE_ARC_CONTRAST * lens_light
    assert visible.sum() > 10
    assert scene.arcs[0][visible].max() > 3 * scene.conditions.white_sigma("g")


def test_psf_is_not_moffat_nor_double_gaussian() -> None:
    import galsim

    conditions = draw_conditions(np.random.default_rng(0), get_preset("hsc"), ("i",))
    psf = conditions.psf("i")
    fwhm = psf.drawImage(scale=0.02, method="no_pixel").calculateFWHM()
    moffat = galsim.Moffat(beta=3.0, fwhm=fwhm)

    def outer(profile) -> float:
        """Fraction of the light beyond three FWHM."""
        image = profile.drawImage(nx=400, ny=400, scale=0.02, method="no_pixel").array
        y, x = np.indices(image.shape) - 199.5
        return float(image[np.hypot(x, y) * 0.02 > 3 * fwhm].sum() / image.sum())

    # Kolmogorov wings hold more light far out than a Moffat of beta 3 with the same FWHM.

    assert outer(psf) > 1.2 * outer(moffat)


def test_coadd_noise_has_the_depth_in_a_two_arcsec_aperture() -> None:
    conditions = draw_conditions(np.random.default_rng(1), get_preset("hsc"), ("i",))
    rng = np.random.default_rng(2)
    radius = APERTURE_DIAMETER_ARCSEC / 2 / conditions.pixel_scale
    y, x = np.indices((conditions.size, conditions.size)) - (conditions.size - 1) / 2
    aperture = np.hypot(x, y) <= radius
    sums = [float(coadd_noise(conditions, "i", rng)[aperture].sum()) for _ in range(300)]
    expected = 10 ** (-0.4 * (conditions.depth["i"] - 27.0)) / 5
    assert np.std(sums) == pytest.approx(expected, rel=0.15)
    pixels = coadd_noise(conditions, "i", rng)
    neighbours = np.corrcoef(pixels[:, :-1].ravel(), pixels[:, 1:].ravel())[0, 1]
    assert 0.05 < neighbours < 0.6  # correlated, as a warped coadd is


def test_physics_sanity() -> None:
    theta_e = einstein_radius(250.0, 0.5, 2.0)
    assert 1.0 < theta_e < 1.3
    red = apparent_magnitudes("E", 0.5, 20.0, "gi")
    blue = apparent_magnitudes("Im", 0.5, 20.0, "gi")
    assert red["g"] - red["i"] > blue["g"] - blue["i"] + 1.0


def test_simulate_cli_writes_a_store(tmp_path) -> None:
    out = tmp_path / "galsim.zarr"
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--domain",
            "hsc-galsim",
            "--n",
            "6",
            "--lens-fraction",
            "0.5",
            "--splits",
            "val=0.5,test=0.5",
            "--workers",
            "1",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert store.images.shape == (6, 3, 64, 64)
    assert int((store.labels == 1).sum()) == 3
