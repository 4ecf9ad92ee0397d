"""Tests of ``lensscan simulate`` and the simulation physics behind it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lensscan.cli import app
from lensscan.data.store import CutoutStore
from lensscan.simulate.cutouts import blocks as cutout_blocks
from lensscan.simulate.cutouts import run as cutout_run
from lensscan.simulate.cutouts.blocks import make_items
from lensscan.simulate.cutouts.plan import item_seeds, plan_items
from lensscan.simulate.cutouts.request import CutoutRequest
from lensscan.simulate.domains.presets import HSC_WIDE
from lensscan.simulate.physics.galaxies import RealGalaxy, galaxy_library, hubble_deep_field_path
from lensscan.simulate.physics.lensing import LensedSource, SIEShear, sie_deflection
from lensscan.simulate.physics.noise import APERTURE_DIAMETER_ARCSEC, noise_model
from lensscan.simulate.physics.photometry import mag_to_flux
from lensscan.simulate.physics.profiles import Ring, Sersic, SpiralArms
from lensscan.simulate.physics.psf import PSF, psf_kernels, stacked_profiles

BANDS = ("g", "r", "i")


#: The settings of the ``hsc_store`` fixture; other tests remake it to compare bytes.
HSC_STORE_OPTIONS = (
    "--domain",
    "hsc",
    "--n",
    "12",
    "--lens-fraction",
    "0.34",
    "--splits",
    "train=0.5,val=0.25,test=0.25",
    "--seed",
    "3",
)


def simulate(runner, *args: str):
    return runner.invoke(app, ["simulate", *args])


@pytest.fixture(scope="module")
def hsc_store(tmp_path_factory) -> Path:
    """A tiny HSC-like store: 12 cutouts, 4 lenses, three splits, made with 1 worker."""
    from typer.testing import CliRunner

    out = tmp_path_factory.mktemp("stores") / "hsc.zarr"
    result = simulate(CliRunner(), *HSC_STORE_OPTIONS, "--out", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    return out


# --- physics --------------------------------------------------------------------------


@pytest.mark.parametrize("q, pa", [(0.5, 0.3), (0.8, 2.0), (0.999, 1.0), (1.0, 0.0)])
def test_sie_deflection_matches_lenstronomy(q: float, pa: float) -> None:
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.Util.param_util import phi_q2_ellipticity

    rng = np.random.default_rng(0)
    x, y = rng.uniform(-3, 3, (2, 500))
    e1, e2 = phi_q2_ellipticity(pa, q)
    reference = LensModel(["SIE", "SHEAR"]).alpha(
        x,
        y,
        [
            {"theta_E": 1.3, "e1": e1, "e2": e2, "center_x": 0.2, "center_y": -0.1},
            {"gamma1": 0.03, "gamma2": -0.02, "ra_0": 0.2, "dec_0": -0.1},
        ],
    )
    ours = SIEShear(1.3, q, pa, 0.2, -0.1, 0.03, -0.02).deflection(x, y)
    scale = np.hypot(*reference)
    for mine, theirs in zip(ours, reference, strict=True):
        assert np.max(np.abs(mine - theirs) / scale) < 1e-3


def test_sie_deflection_of_round_lens_is_the_einstein_radius() -> None:
    ax, ay = sie_deflection(np.array([2.0, 0.0]), np.array([0.0, -0.5]), 1.2, 1.0, 0.0)
    np.testing.assert_allclose(np.hypot(ax, ay), [1.2, 1.2])


def test_point_like_source_behind_sis_has_the_analytic_magnification() -> None:
    """A small source at beta behind an SIS is magnified 2 theta_E / beta in total."""
    theta_e, beta = 1.2, 0.4
    source = Sersic(beta, 0.0, 0.01, 0.5, 1.0, 0.0, np.ones(1))
    mu = LensedSource(SIEShear(theta_e, 1.0, 0.0), (source,)).magnifications(0.02)[0]
    assert mu == pytest.approx(2 * theta_e / beta, rel=0.03)


@pytest.mark.parametrize(
    "profile",
    [
        Sersic(0.1, -0.2, 0.6, 1.0, 0.6, 0.4, np.ones(1)),
        Sersic(0.0, 0.0, 0.5, 4.0, 0.8, 1.0, np.ones(1)),
        SpiralArms(0.0, 0.0, 0.5, 0.7, 0.3, 2, 0.4, 0.0, np.ones(1)),
        Ring(0.0, 0.0, 1.5, 0.2, 0.7, 0.5, np.ones(1)),
    ],
)
def test_profiles_have_unit_flux(profile) -> None:
    grid = np.arange(-12, 12, 0.02) + 0.01
    flux = profile.unit_stamp(grid, grid, 0.02).sum() * 0.02**2
    assert flux == pytest.approx(1.0, abs=0.03)


@pytest.mark.parametrize("beta", [None, 2.5, 4.0])
def test_psf_kernel_has_the_requested_fwhm(beta) -> None:
    kernel = PSF(0.77, beta).kernel(0.168 / 5, 301)  # finely sampled to measure the width
    profile = kernel[150]
    above = np.flatnonzero(profile >= profile.max() / 2)
    fwhm = (above[-1] - above[0] + 1) * 0.168 / 5
    assert fwhm == pytest.approx(0.77, rel=0.05)
    assert kernel.sum() == pytest.approx(1.0)


def test_sky_noise_reaches_the_wide_depth_in_a_2_arcsec_aperture() -> None:
    """Correlated sky noise: sigma of 2" aperture sums is flux(depth) / 5."""
    from scipy.signal import fftconvolve

    depth = HSC_WIDE.bands["i"].depth
    model = noise_model(np.array([depth]), np.array([20.2]), HSC_WIDE.noise_kernel_1d, 0.168, False)
    sky = model.sky_sample((700, 700), np.random.default_rng(1))[0].astype(float)
    radius = APERTURE_DIAMETER_ARCSEC / 2 / 0.168
    grid = np.arange(-7, 8)
    aperture = (grid[None, :] ** 2 + grid[:, None] ** 2 <= radius**2).astype(float)
    sums = fftconvolve(sky, aperture, mode="valid")[::15, ::15]
    expected = mag_to_flux(depth) / 5 * np.sqrt(aperture.sum() / (np.pi * radius**2))
    assert sums.std() == pytest.approx(expected, rel=0.08)
    neighbours = np.corrcoef(sky[:, :-1].ravel(), sky[:, 1:].ravel())[0, 1]
    assert 0.15 < neighbours < 0.35  # warped-coadd-like correlation


@pytest.mark.parametrize("index, pa, flip", [(3, 0.0, False), (40, 0.7, True), (111, 2.5, False)])
def test_real_galaxy_light_stays_inside_its_bounds(index: int, pa: float, flip: bool) -> None:
    """Renderers look only inside ``bounds()``: the interpolated stamp is zero beyond."""
    galaxy = RealGalaxy(0.1, -0.2, index, 0.6, pa, flip, np.ones(1))
    xmin, xmax, ymin, ymax = galaxy.bounds()
    x = np.arange(xmin - 2.0, xmax + 2.0, 0.01)[None, :]
    y = np.arange(ymin - 2.0, ymax + 2.0, 0.01)[:, None]
    light = galaxy.shape(x, y)
    outside = (x < xmin) | (x > xmax) | (y < ymin) | (y > ymax)
    assert light[outside].max() == 0.0
    assert light.sum() * 0.01**2 == pytest.approx(1.0, abs=0.02)


def test_psfs_of_both_kinds_are_evaluated_together_as_one_by_one() -> None:
    psfs = (PSF(0.7), PSF(0.8, 3.0, 0.9, 0.4), PSF(0.6, 2.5))
    dx, dy = np.linspace(-2, 2, 41)[None, :], np.linspace(-1.5, 1.5, 31)[:, None]
    together = stacked_profiles(psfs, dx, dy)
    for psf, plane in zip(psfs, together, strict=True):
        np.testing.assert_allclose(plane, stacked_profiles((psf,), dx, dy)[0], rtol=1e-12)
    assert psf_kernels(psfs, 0.168, 21).sum(axis=(1, 2)) == pytest.approx([1.0, 1.0, 1.0])


def test_real_galaxy_stamps_come_from_the_bundled_hubble_deep_field() -> None:
    assert hubble_deep_field_path().is_file()
    library = galaxy_library()
    assert len(library) > 100
    assert all(abs(stamp.image.sum() - 1) < 1e-3 for stamp in library[:20])


def test_hsc_items_have_realistic_noise_and_lens_parameters() -> None:
    n = 16
    labels = np.array([1] * 8 + [0] * 8, np.int8)
    images, params = make_items("hsc", BANDS, item_seeds(11, n), labels)
    assert images.shape == (n, 3, 64, 64) and images.dtype == np.float32
    assert np.isfinite(images).all()
    # The sky noise measured in the corners matches the recorded sky sigma.
    corners = np.concatenate([images[:, 2, :8, :8], images[:, 2, -8:, -8:]], axis=1)
    measured = np.median(
        1.4826
        * np.median(np.abs(corners - np.median(corners, axis=(1, 2), keepdims=True)), axis=(1, 2))
    )
    assert measured == pytest.approx(np.median(params["sky_sigma_i"]), rel=0.3)
    lenses = params["true_label"] == 1
    assert np.all(
        (params["einstein_radius"][lenses] >= 0.6) & (params["einstein_radius"][lenses] <= 2.8)
    )
    assert np.isnan(params["einstein_radius"][~lenses]).all()
    # Lensed sources are blue (g - i < 0.6) and magnified; lens galaxies are red.
    assert np.all(params["mag_arc_g"][lenses] - params["mag_arc_i"][lenses] < 0.6)
    assert np.all(params["mag_central_g"][lenses] - params["mag_central_i"][lenses] > 1.5)
    assert np.all(params["magnification"][lenses] > 1.5)
    for band in BANDS:
        assert np.all(
            np.abs(np.log(params[f"psf_fwhm_{band}"] / HSC_WIDE.bands[band].psf_fwhm)) < 0.7
        )


def test_lens_and_nonlens_centrals_share_the_early_type_population() -> None:
    n = 40
    labels = np.array([1] * 20 + [0] * 20, np.int8)
    params = cutout_blocks.draw_params_block("hsc", ("i",), item_seeds(2, n), labels)
    from lensscan.simulate.populations.centrals import CENTRAL_TYPE_CODES

    types = {CENTRAL_TYPE_CODES[c] for c in params["central_type"][20:]}
    assert len(types) >= 3  # several kinds of hard negatives
    assert set(CENTRAL_TYPE_CODES[c] for c in params["central_type"][:20]) == {"lens"}


# --- planning and determinism ---------------------------------------------------------


def test_default_lens_fractions_and_stratified_splits() -> None:
    hsc = CutoutRequest(domain="hsc", n=202, workers=1)
    assert hsc.lens_fraction == pytest.approx(1 / 101)
    labels, _ = plan_items(hsc)
    assert labels.sum() == 2
    sim = CutoutRequest(domain="sim", n=30, splits="train=0.6,val=0.2,test=0.2", workers=1)
    labels, split = plan_items(sim)
    assert labels.sum() == 10
    assert np.bincount(split).tolist() == [18, 6, 6]
    assert np.bincount(split[labels == 1]).tolist() == [6, 2, 2]


def test_items_do_not_depend_on_block_size(monkeypatch) -> None:
    seeds = item_seeds(5, 6)
    labels = np.array([1, 0, 0, 1, 0, 0], np.int8)
    whole = cutout_blocks.render_block("hsc", BANDS, seeds, labels)
    halves = np.concatenate(
        [
            cutout_blocks.render_block("hsc", BANDS, seeds[i : i + 3], labels[i : i + 3])
            for i in (0, 3)
        ]
    )
    assert whole.tobytes() == halves.tobytes()


def test_same_seed_gives_byte_identical_stores_whatever_the_workers(
    runner, tmp_path, hsc_store, monkeypatch
) -> None:
    """Threads, 2 workers and 3-item blocks give the bytes of 1 worker and 64-item blocks."""
    monkeypatch.setattr(cutout_run, "BLOCK_ITEMS", 3)
    threads = tmp_path / "threads.zarr"
    result = simulate(
        runner,
        *HSC_STORE_OPTIONS,
        "--out",
        str(threads),
        "--workers",
        "2",
        "--scheduler",
        "threads",
    )
    assert result.exit_code == 0, result.output
    one, two = CutoutStore.open(hsc_store), CutoutStore.open(threads)
    assert one.read_images().tobytes() == two.read_images().tobytes()
    assert one.params().keys() == two.params().keys()
    for name, values in one.params().items():
        np.testing.assert_array_equal(values, two.params()[name])


def test_process_workers_give_the_same_images(runner, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(cutout_run, "BLOCK_ITEMS", 4)
    out = {}
    for workers in ("1", "2"):
        out[workers] = tmp_path / f"w{workers}.zarr"
        result = simulate(
            runner,
            "--n",
            "8",
            "--out",
            str(out[workers]),
            "--workers",
            workers,
            "--scheduler",
            "processes",
            "--seed",
            "9",
            "--lens-fraction",
            "0.5",
        )
        assert result.exit_code == 0, result.output
    assert (
        CutoutStore.open(out["1"]).read_images().tobytes()
        == CutoutStore.open(out["2"]).read_images().tobytes()
    )


def test_different_seeds_give_different_images(runner, tmp_path, hsc_store) -> None:
    other = tmp_path / "other.zarr"
    assert (
        simulate(
            runner, "--n", "12", "--out", str(other), "--seed", "4", "--workers", "1"
        ).exit_code
        == 0
    )
    assert not np.array_equal(
        CutoutStore.open(other).read_images(), CutoutStore.open(hsc_store).read_images()
    )


# --- the store ------------------------------------------------------------------------


def test_store_round_trip(hsc_store) -> None:
    store = CutoutStore.open(hsc_store)
    assert len(store) == 12 and store.image_shape == (3, 64, 64)
    assert store.bands == BANDS and store.pixel_scale == pytest.approx(0.168)
    assert store.labels.dtype == np.int8 and store.labels.sum() == 4
    assert store.splits_present() == ["train", "val", "test"]
    assert len(store.split_indices("val")) == 3
    attrs = store.attrs
    assert attrs["domain"] == "hsc" and attrs["seed"] == 3
    assert attrs["generator"] == cutout_run.GENERATOR_VERSION
    assert attrs["provenance"]["lensscan_version"]
    assert attrs["provenance"]["inputs"][0]["path"].endswith("hubble_deep_field.jpg")
    assert attrs["preset"]["bands"]["i"]["depth"] == 25.9
    params = store.params()
    assert len(np.unique(params["item_seed"])) == 12
    np.testing.assert_array_equal(params["true_label"], store.labels)
    assert np.isfinite(params["einstein_radius"][store.labels == 1]).all()
    images = store.read_images()
    assert images.dtype == np.float32 and np.isfinite(images).all()


def test_unlabelled_pool_hides_labels_but_keeps_the_truth(runner, tmp_path) -> None:
    out = tmp_path / "pool.zarr"
    result = simulate(
        runner,
        "--n",
        "10",
        "--out",
        str(out),
        "--lens-fraction",
        "0.5",
        "--unlabelled",
        "--workers",
        "1",
    )
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert (store.labels == -1).all()
    assert store.params()["true_label"].sum() == 5
    assert store.attrs["unlabelled"] is True


@pytest.mark.parametrize("bands, channels", [("i", 1), ("g,r,i,z,y", 5), ("zy", 2)])
def test_band_subsets(runner, tmp_path, bands: str, channels: int) -> None:
    out = tmp_path / "bands.zarr"
    result = simulate(runner, "--n", "3", "--out", str(out), "--bands", bands, "--workers", "1")
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert store.image_shape == (channels, 64, 64)
    assert len(store.bands) == channels
    assert f"psf_fwhm_{store.bands[-1]}" in store.params()


def test_sim_domain_defaults(runner, tmp_path) -> None:
    out = tmp_path / "sim.zarr"
    result = simulate(runner, "--domain", "sim", "--n", "6", "--out", str(out), "--workers", "1")
    assert result.exit_code == 0, result.output
    store = CutoutStore.open(out)
    assert store.attrs["domain"] == "sim" and store.bands == BANDS
    assert store.labels.sum() == 2  # one lens per two non-lenses
    params = store.params()
    lenses = store.labels == 1
    assert np.all(params["magnification"][lenses] > 1)
    assert np.all(params["psf_fwhm_g"] == params["psf_fwhm_i"])  # one fixed Gaussian PSF
    # White noise: neighbouring background pixels are uncorrelated.
    images = store.read_images()[:, 2]
    corners = np.concatenate(
        [images[:, :8, :8], images[:, -8:, :8], images[:, :8, -8:], images[:, -8:, -8:]]
    )
    corners = corners - corners.mean(axis=(1, 2), keepdims=True)
    assert abs(np.corrcoef(corners[:, :, :-1].ravel(), corners[:, :, 1:].ravel())[0, 1]) < 0.12
    assert store.attrs["preset"]["noise_kernel_1d"] == [1.0]


def test_overwrite(runner, tmp_path) -> None:
    out = tmp_path / "s.zarr"
    assert simulate(runner, "--n", "2", "--out", str(out), "--workers", "1").exit_code == 0
    again = simulate(runner, "--n", "2", "--out", str(out), "--workers", "1")
    assert again.exit_code == 2 and "already exists" in again.output
    replaced = simulate(runner, "--n", "3", "--out", str(out), "--workers", "1", "--overwrite")
    assert replaced.exit_code == 0 and len(CutoutStore.open(out)) == 3


def test_interrupted_run_leaves_nothing(runner, tmp_path, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cutout_blocks, "make_items", broken)
    out = tmp_path / "broken.zarr"
    result = simulate(runner, "--n", "4", "--out", str(out), "--workers", "1")
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "0"], "--n 0"),
        (["--n", "-3"], "--n -3"),
        (["--bands", "gq"], "unknown band 'q'"),
        (["--domain", "hst"], "--domain 'hst'"),
        (["--lens-fraction", "1.5"], "--lens-fraction 1.5"),
        (["--lens-fraction", "-0.1"], "--lens-fraction -0.1"),
        (["--splits", "train=0.5"], "sum to 0.5"),
        (["--splits", "train=abc"], "not a number"),
        (["--splits", "train"], "NAME=FRACTION"),
        (["--workers", "0"], "--workers 0"),
        (["--scheduler", "gpu"], "--scheduler 'gpu'"),
    ],
)
def test_bad_options_fail_with_one_line(runner, tmp_path, args, message) -> None:
    result = simulate(runner, "--n", "2", "--out", str(tmp_path / "x.zarr"), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.zarr").exists()


def test_unwritable_output_fails_with_one_line(runner, tmp_path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    result = simulate(runner, "--n", "2", "--out", str(blocker / "x.zarr"))
    assert result.exit_code == 2 and "--out" in result.output
    assert "Traceback" not in result.output


def test_help(runner) -> None:
    result = runner.invoke(app, ["simulate", "--help"])
    assert result.exit_code == 0
    for option in (
        "--domain",
        "--n",
        "--bands",
        "--lens-fraction",
        "--splits",
        "--unlabelled",
        "--workers",
    ):
        assert option in result.output
