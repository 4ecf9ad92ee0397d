"""Tests of ``lensscan simulate --domain inject``: arcs painted onto real cutouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lensscan.cli import app
from lensscan.data.store import LENS, NONLENS, CutoutStore, write_store
from lensscan.errors import UserError
from lensscan.simulate.inject.backgrounds import open_backgrounds
from lensscan.simulate.inject.calibration import kernel_fwhm
from lensscan.simulate.inject.deflector import measure_deflector, sky_statistics
from lensscan.simulate.inject.plan import dihedral_transform
from lensscan.simulate.inject.request import InjectionRequest, parse_band_values
from lensscan.simulate.inject.run import inject_arcs
from lensscan.simulate.physics.psf import PSF, psf_kernels

SCALE = 0.168
SKY_SIGMA = 0.05


def _galaxy_backgrounds(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """(n, 3, size, size) sky noise plus an elliptical galaxy near the centre."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size] - (size - 1) / 2
    images = rng.normal(0.0, SKY_SIGMA, (n, 3, size, size)).astype(np.float32)
    for k in range(n):
        dx, dy = rng.normal(0, 1.0, 2)
        angle = rng.uniform(0, np.pi)
        u = (cols - dx) * np.cos(angle) + (rows - dy) * np.sin(angle)
        v = (rows - dy) * np.cos(angle) - (cols - dx) * np.sin(angle)
        light = np.exp(-0.5 * ((u / 4.0) ** 2 + (v / 2.5) ** 2))
        images[k] += (light * np.array([2.0, 4.0, 6.0])[:, None, None]).astype(np.float32)
    return images


def _store(path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> Path:
    n = len(images)
    write_store(
        path,
        images=images,
        labels=np.full(n, NONLENS, np.int8) if labels is None else labels,
        split=np.zeros(n, np.int8),
        split_names=["train"],
        bands=("g", "r", "i"),
        pixel_scale=SCALE,
        attrs={"domain": "field"},
        params={"mag_i": np.full(n, np.nan, np.float32)},
    )
    return path


@pytest.fixture(scope="module")
def background_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 galaxy backgrounds in a store (HSC-like zero point 27, 0.168"/px)."""
    return _store(tmp_path_factory.mktemp("bg") / "bg.zarr", _galaxy_backgrounds(24))


def _inject(store: Path, out: Path, **options) -> CutoutStore:
    request = InjectionRequest(backgrounds=(str(store),), **options)
    inject_arcs(request, out)
    return CutoutStore.open(out)


def _differences(result: CutoutStore, backgrounds: np.ndarray) -> np.ndarray:
    """Injected minus untouched background, each background flipped as its item was."""
    params = result.params()
    images = result.read_images()
    return np.stack(
        [
            images[k] - dihedral_transform(backgrounds[params["background_index"][k]], t)
            for k, t in enumerate(params["transform"])
        ]
    )


def test_injected_arc_flux_matches_the_recorded_magnitude(
    background_store: Path, tmp_path: Path
) -> None:
    result = _inject(background_store, tmp_path / "a.zarr", gain="1e12", seed=3)
    params = result.params()
    lenses = params["true_label"] == LENS
    assert lenses.sum() == 12
    added = _differences(result, CutoutStore.open(background_store).read_images())
    for band_index, band in enumerate("gri"):
        wanted = 10 ** (-0.4 * (params[f"mag_arc_{band}"][lenses] - 27.0))
        ratio = added[lenses, band_index].sum(axis=(1, 2)) / wanted
        # Arcs at up to 3" lose a little flux beyond the 10.75" cutout's edges.
        assert np.all(np.abs(ratio - 1) < 0.05), ratio


def test_a_ceiling_dims_bright_arcs_into_the_snr_range(
    background_store: Path, tmp_path: Path
) -> None:
    free = _inject(background_store, tmp_path / "a.zarr", gain="1e12", seed=3)
    capped = _inject(background_store, tmp_path / "b.zarr", gain="1e12", seed=3, max_arc_snr=25.0)
    lenses = free.params()["true_label"] == LENS
    snr_free, snr_capped = free.params()["arc_snr"][lenses], capped.params()["arc_snr"][lenses]
    assert np.median(snr_free) > 25  # the population's arcs are brighter than the ceiling
    assert np.all((snr_capped >= 20 - 1e-3) & (snr_capped <= 25 + 1e-3))
    # A dimmed arc records how much: its magnitudes are fainter by -arc_brightening.
    params = capped.params()
    dimmed = lenses & (params["arc_brightening"] < 0)
    assert dimmed.any()
    added = _differences(capped, CutoutStore.open(background_store).read_images())
    wanted = 10 ** (-0.4 * (params["mag_arc_i"][dimmed] - 27.0))
    ratio = added[dimmed, 2].sum(axis=(1, 2)) / wanted
    assert np.all(np.abs(ratio - 1) < 0.05), ratio


def test_a_ceiling_below_the_floor_is_refused() -> None:
    with pytest.raises(UserError, match="max_arc_snr"):
        InjectionRequest(backgrounds=("x",), min_arc_snr=20, max_arc_snr=10)


def test_background_is_untouched_beyond_the_arcs_noise(
    background_store: Path, tmp_path: Path
) -> None:
    backgrounds = CutoutStore.open(background_store).read_images()
    noiseless = _inject(background_store, tmp_path / "a.zarr", gain="1e12", seed=4)
    noisy = _inject(background_store, tmp_path / "b.zarr", gain="20", seed=4)
    model = _differences(noiseless, backgrounds)
    noise = _differences(noisy, backgrounds) - model
    lenses = noisy.params()["true_label"] == LENS
    assert np.array_equal(noisy.labels, noiseless.labels)
    # Negatives are the backgrounds, byte for byte.
    assert np.all(model[~lenses] == 0) and np.all(noise[~lenses] == 0)
    # Lenses: Poisson noise of the added flux only, so none where the arc adds nothing.
    sigma = np.sqrt(np.maximum(model[lenses], 0) / 20.0)
    bright = sigma > 1e-3
    pulls = noise[lenses][bright] / sigma[bright]
    assert 0.9 < pulls.std() < 1.1
    # Nowhere does the background change by more than the added flux's Poisson noise
    # (six sigma; ``rounding`` covers float32 sums of a small arc on a bright galaxy).
    rounding = 1e-6
    bound = 6 * np.sqrt((np.maximum(model[lenses], 0) + rounding) / 20.0) + rounding
    assert np.all(np.abs(noise[lenses]) <= bound)


def test_same_seed_gives_the_same_store_and_another_seed_another(
    background_store: Path, tmp_path: Path
) -> None:
    one = _inject(background_store, tmp_path / "a.zarr", seed=5, rotations=True, n=48)
    two = _inject(background_store, tmp_path / "b.zarr", seed=5, rotations=True, n=48)
    other = _inject(background_store, tmp_path / "c.zarr", seed=6, rotations=True, n=48)
    assert np.array_equal(one.read_images(), two.read_images())
    assert not np.array_equal(one.read_images(), other.read_images())
    params = one.params()
    assert set(params["transform"]) == {0, 1}
    # One background never sits in two splits.
    assert one.attrs["provenance"]["settings"]["domain"] == "inject"


def test_splits_are_drawn_per_background(background_store: Path, tmp_path: Path) -> None:
    result = _inject(
        background_store,
        tmp_path / "a.zarr",
        seed=1,
        n=96,
        rotations=True,
        splits=(("train", 0.75), ("val", 0.25)),
    )
    params = result.params()
    for index in np.unique(params["background_index"]):
        assert len(set(result.split_codes[params["background_index"] == index])) == 1
    assert 0 < (result.split_codes == 1).sum() < 96


def test_lenses_of_a_labelled_store_are_never_backgrounds(tmp_path: Path) -> None:
    labels = np.array([LENS] * 4 + [NONLENS] * 8, np.int8)
    store = _store(tmp_path / "bg.zarr", _galaxy_backgrounds(12), labels)
    backgrounds = open_backgrounds([store])
    assert backgrounds.n == 8
    assert np.array_equal(backgrounds.columns["background_item"], np.arange(8))


def test_deflector_is_measured_from_the_galaxy_light() -> None:
    size = 64
    rows, cols = np.mgrid[:size, :size] - (size - 1) / 2
    angle, dx, dy = 0.6, 2.0, -1.5
    u = (cols - dx) * np.cos(angle) + (rows - dy) * np.sin(angle)
    v = (rows - dy) * np.cos(angle) - (cols - dx) * np.sin(angle)
    light = 5.0 * np.exp(-0.5 * ((u / 5.0) ** 2 + (v / 2.5) ** 2))
    image = np.repeat(light[None], 3, 0) + np.random.default_rng(0).normal(0, 0.02, (3, 64, 64))
    sky, sigma = sky_statistics(image)
    assert np.allclose(sigma, 0.02, rtol=0.15)
    found = measure_deflector(image, sky, sigma, SCALE, np.random.default_rng(1))
    assert found.from_light
    assert found.x == pytest.approx(dx * SCALE, abs=0.03)
    assert found.y == pytest.approx(dy * SCALE, abs=0.03)
    assert found.q == pytest.approx(0.5, abs=0.08)
    assert found.pa == pytest.approx(angle, abs=0.05)


def test_empty_sky_puts_the_deflector_at_the_centre() -> None:
    image = np.random.default_rng(0).normal(0, 0.02, (3, 64, 64))
    sky, sigma = sky_statistics(image)
    found = measure_deflector(image, sky, sigma, SCALE, np.random.default_rng(1))
    assert not found.from_light and (found.x, found.y) == (0.0, 0.0)


def test_kernel_fwhm_reads_a_psf_image() -> None:
    kernel = psf_kernels([PSF(0.8, 3.0)], SCALE, 33)[0]
    assert kernel_fwhm(kernel, SCALE) == pytest.approx(0.8, rel=0.1)


def test_band_values_parse_one_number_or_pairs() -> None:
    assert list(parse_band_values("27", "gri", "zero_point")) == [27.0] * 3
    assert list(parse_band_values("g=1,r=2,i=3", "gri", "gain")) == [1.0, 2.0, 3.0]
    with pytest.raises(UserError, match=r"^`gain` 'g=1,r=2': no value for band"):
        parse_band_values("g=1,r=2", "gri", "gain")
    with pytest.raises(UserError, match=r"^`gain` 'g=x': expected a number"):
        parse_band_values("g=x", "gri", "gain")


def _cli(runner, *args: str):
    return runner.invoke(app, ["simulate", "--domain", "inject", *args])


def test_cli_injects_into_a_cutout_folder(runner, tmp_path: Path) -> None:
    folder = tmp_path / "cutouts"
    folder.mkdir()
    for k, image in enumerate(_galaxy_backgrounds(6)):
        np.save(folder / f"{k}.npy", image)
    out = tmp_path / "inj.zarr"
    result = _cli(
        runner,
        "--backgrounds",
        str(folder),
        "--background-bands",
        "gri",
        "--pixel-scale",
        "0.168",
        "--n",
        "12",
        "--rotations",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "12 cutouts on 6 backgrounds" in result.output
    store = CutoutStore.open(out)
    assert store.bands == ("g", "r", "i") and store.pixel_scale == pytest.approx(0.168)
    assert (store.labels == LENS).sum() == 6
    assert np.isfinite(store.params()["arc_snr"][store.labels == LENS]).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--bands", "z"), "--bands z: z not among the backgrounds' bands gri"),
        (("--size", "128"), "smaller than a 128 px cutout"),
        (("--n", "100"), "pass --rotations"),
        (("--zero-point", "g=27"), "--zero-point"),
    ],
)
def test_bad_input_is_one_line_and_leaves_nothing(
    runner, background_store: Path, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "inj.zarr"
    result = _cli(runner, "--backgrounds", str(background_store), "--out", str(out), *extra)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_backgrounds_without_a_pixel_scale_are_refused(runner, tmp_path: Path) -> None:
    path = tmp_path / "one.npy"
    np.save(path, _galaxy_backgrounds(1)[0])
    result = _cli(
        runner, "--backgrounds", str(path), "--background-bands", "gri", "--out", "x.zarr"
    )
    assert result.exit_code == 2 and "pass --pixel-scale" in result.output


def test_backgrounds_option_belongs_to_inject(runner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--domain", "hsc", "--backgrounds", "x", "--out", "y.zarr"]
    )
    assert result.exit_code == 2 and "only with --domain inject" in result.output


# --- real data ------------------------------------------------------------------------


def test_real_hsc_cutouts_keep_their_min_max_format(realdata: Path, tmp_path: Path) -> None:
    result = _inject(
        realdata / "hsc_gri_sample40",
        tmp_path / "a.zarr",
        background_bands=("g", "r", "i"),
        pixel_scale=SCALE,
        n=40,
        rotations=True,
        seed=2,
    )
    images = result.read_images()
    assert np.allclose(images.min(axis=(2, 3)), 0, atol=1e-6)
    assert np.allclose(images.max(axis=(2, 3)), 1, atol=1e-6)
    params = result.params()
    lenses = params["true_label"] == LENS
    assert lenses.sum() == 20 and (params["arc_snr"][lenses] >= 20 - 1e-3).all()
    assert result.attrs["normalised_backgrounds"] is True


def test_real_hsc_cosmos_cubes_with_their_psf(realdata: Path, tmp_path: Path) -> None:
    folder = realdata / "scarlet_hsc_cosmos"
    result = _inject(
        folder / "Cut_HSC.fits",
        tmp_path / "a.zarr",
        background_bands=tuple("grizy"),
        bands=("g", "r", "i"),
        psf=str(folder / "PSF_HSC.fits"),
        lens_fraction=1.0,
        n=8,
        rotations=True,
    )
    # The pixel scale comes from the cube's celestial WCS.
    assert result.pixel_scale == pytest.approx(0.168, abs=1e-3)
    assert result.image_shape == (3, 50, 50)
    fwhm = result.params()["psf_fwhm_i"]
    assert 0.4 < fwhm[0] < 1.0


def test_real_decam_cutouts_take_scale_and_zero_point_from_the_header(
    realdata: Path, tmp_path: Path
) -> None:
    ccd = realdata / "legacypipe_decam_ccd" / "c4d_170316_062107_ooi_z_ls9.N2.fits"
    with fits.open(ccd) as hdus:
        primary, image = hdus[0].header, hdus[1]
        data, header = np.asarray(image.data, np.float32), image.header
    from astropy.wcs import WCS

    wcs = WCS(header)
    folder = tmp_path / "decam"
    folder.mkdir()
    size = 64
    for k, (y0, x0) in enumerate([(10, 10), (10, 150), (150, 10), (150, 150)]):
        cut = wcs[y0 : y0 + size, x0 : x0 + size].to_header()
        cut["BAND"] = primary["BAND"]
        cut["MAGZERO"] = primary["MAGZERO"]
        fits.writeto(folder / f"{k}.fits", data[y0 : y0 + size, x0 : x0 + size], cut)
    result = _inject(folder, tmp_path / "a.zarr", psf_fwhm="1.2", lens_fraction=0.5)
    assert result.bands == ("z",)
    assert result.pixel_scale == pytest.approx(0.262, abs=0.01)
    assert result.attrs["zero_points"]["z"] == pytest.approx(primary["MAGZERO"])


def test_a_host_cut_selects_lenses_and_non_lenses_alike(tmp_path: Path) -> None:
    images = _galaxy_backgrounds(16)
    # Half of the cutouts ten times fainter (galaxy i about 23 within 1.5"): they fail the cut.
    images[8:] *= 0.1
    store = _store(tmp_path / "bg.zarr", images)
    result = _inject(store, tmp_path / "a.zarr", max_host_mag=21.0, rotations=True, n=32)
    params = result.params()
    hosts = params["host_mag"]
    assert np.all(hosts <= 21.0)
    assert set(params["background_index"]) <= set(range(8))
    lenses = params["true_label"] == LENS
    assert lenses.sum() == 16 and set(params["background_index"][~lenses]) <= set(range(8))
    assert result.attrs["host_band"] == "i"


def test_a_host_cut_nothing_passes_is_one_line(runner, background_store: Path, tmp_path) -> None:
    out = tmp_path / "a.zarr"
    result = _cli(
        runner, "--backgrounds", str(background_store), "--max-host-mag", "10", "--out", str(out)
    )
    assert result.exit_code == 2
    assert "--max-host-mag 10: no background's central galaxy is that bright" in result.output
    assert not out.exists()
