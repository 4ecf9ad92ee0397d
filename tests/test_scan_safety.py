"""What issue 22 found: scans that corrupt each other, tracebacks, wrong zero points, domains.

Each test reproduces one defect a new user or a hostile tester hit, with tiny data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from scan_helpers import tan_wcs, write_calexp

from lensscan.cli import app


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained, fast 1-band model saved to disk (CLI tests load models by path)."""
    from lensscan.models import create_lens_finder, save_model

    folder = tmp_path_factory.mktemp("models") / "tiny-i"
    finder = create_lens_finder(bands=("i",), input_size=32, widths=(4, 4, 4, 4))
    return save_model(finder, folder, name="tiny-i")


def galaxy_image(shape: tuple[int, int], n: int, seed: int = 1) -> np.ndarray:
    """Noise with ``n`` round Gaussian galaxies, bright enough to pass a 22.5 mag limit."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.05, size=shape).astype(np.float32)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for _ in range(n):
        x, y = rng.uniform(0, shape[1]), rng.uniform(0, shape[0])
        flux, radius = rng.uniform(5, 200), rng.uniform(1, 4)
        cut = slice(max(int(y) - 20, 0), int(y) + 20), slice(max(int(x) - 20, 0), int(x) + 20)
        r2 = (xx[cut] - x) ** 2 + (yy[cut] - y) ** 2
        image[cut] += flux / (2 * np.pi * radius**2) * np.exp(-r2 / (2 * radius**2))
    return image


def _rows(path: Path) -> Table:
    table = Table.read(path)
    table.meta = {}
    return table


def _same_rows(a: Path, b: Path) -> bool:
    ta, tb = _rows(a), _rows(b)
    if ta.colnames != tb.colnames or len(ta) != len(tb):
        return False
    for name in ta.colnames:
        x, y = np.asarray(ta[name]), np.asarray(tb[name])
        if x.dtype.kind == "f":
            if not np.allclose(x, y, equal_nan=True, rtol=0, atol=0):
                return False
        elif not (x == y).all():
            return False
    return True


# --- 1. Two scans of one field into one folder -------------------------------------------


@pytest.mark.slow
def test_two_concurrent_scans_of_one_field_give_the_right_catalog_or_refuse(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    """Two processes scan one field into one folder, the second with another mag limit.

    Before the work store was locked, the second discarded the first's half-written store:
    the first wrote a wrong catalog or crashed (``KeyError``), and so did the second.
    """
    field = write_calexp(
        tmp_path / "f.fits", galaxy_image((1024, 1024), 300), tan_wcs((1024, 1024))
    )
    common = ["--model", tiny_model, "--bands", "i", "--workers", "0", "--chunk-size", "128"]
    common += ["--threshold", "0"]
    settings = {"a": [], "b": ["--mag-limit", "22.0"]}
    # Undisturbed references, one folder each.
    for name, extra in settings.items():
        out = tmp_path / "ref" / name / f"{name}.ecsv"
        result = runner.invoke(
            app, ["scan", str(field), *map(str, common), *extra, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def start(name: str) -> subprocess.Popen:
        out = tmp_path / "run" / f"{name}.ecsv"
        command = [sys.executable, "-m", "lensscan", "scan", str(field), *map(str, common)]
        command += [*settings[name], "--out", str(out)]
        return subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    first = start("a")
    deadline = time.monotonic() + 60
    while not (tmp_path / "run" / ".work").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = start("b")
    outcomes = {}
    for name, process in (("a", first), ("b", second)):
        stdout, stderr = process.communicate(timeout=120)
        outcomes[name] = (process.returncode, stdout, stderr)
    assert outcomes["a"][0] == 0, outcomes["a"]
    assert _same_rows(tmp_path / "run" / "a.ecsv", tmp_path / "ref" / "a" / "a.ecsv")
    code, _, stderr = outcomes["b"]
    if code == 0:  # it started after the first was done: its own catalog, undisturbed
        assert _same_rows(tmp_path / "run" / "b.ecsv", tmp_path / "ref" / "b" / "b.ecsv")
    else:
        assert code == 2 and "Traceback" not in stderr, stderr
        lines = stderr.strip().splitlines()
        assert lines[-1].startswith("lensscan: error: ") and "another lensscan scan" in lines[-1]
        assert "is scanning this field" in lines[-1] and "--work-dir" in lines[-1]
        assert not (tmp_path / "run" / "b.ecsv").exists()


def test_a_scan_of_a_field_whose_work_store_is_in_use_refuses_in_one_line(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    from lensscan.scan.lock import lock_path, work_store_lock

    field = write_calexp(tmp_path / "f.fits", galaxy_image((96, 96), 5), tan_wcs((96, 96)))
    store = tmp_path / "run" / ".work" / "f.zarr"
    args = ["scan", str(field), "--model", str(tiny_model), "--bands", "i", "--workers", "0"]
    args += ["--out", str(tmp_path / "run" / "b.ecsv")]
    with work_store_lock(store, "f.fits"):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        errors = [line for line in result.stderr.splitlines() if line.startswith("lensscan:")]
        assert len(errors) == 1 and "is scanning this field with the work store" in errors[0]
        assert not (tmp_path / "run" / "b.ecsv").exists()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert not lock_path(store).exists()


# --- 2. No tracebacks for user mistakes ---------------------------------------------------


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("*.nomatch", "*.nomatch: no file matches the pattern"),
        ("f.fits[1]", "f.fits[1]: CFITSIO extension syntax ([1]) is not supported"),
    ],
)
def test_a_single_field_that_cannot_be_found_is_one_line(
    tmp_path: Path, runner, tiny_model: Path, monkeypatch, argument: str, message: str
) -> None:
    write_calexp(tmp_path / "f.fits", galaxy_image((96, 96), 5), tan_wcs((96, 96)))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run" / "a.ecsv"
    args = ["scan", argument, "--model", str(tiny_model), "--workers", "0", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"lensscan: error: {message}"), errors
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_ctrl_c_during_a_scan_says_how_to_resume_without_tracebacks(
    tmp_path: Path, tiny_model: Path
) -> None:
    import signal

    field = write_calexp(
        tmp_path / "f.fits", galaxy_image((1024, 1024), 300), tan_wcs((1024, 1024))
    )
    command = [sys.executable, "-m", "lensscan", "scan", str(field), "--model", str(tiny_model)]
    command += ["--bands", "i", "--workers", "1", "--chunk-size", "128", "--out", "run/a.ecsv"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((tmp_path / "run" / ".work").glob("f.zarr/status/c/*")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no chunk scored in 60 s"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole group
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "CancelledError" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == (
        "lensscan: interrupted; the chunks done are kept in the .work folder beside each "
        "catalog: run the same command again to resume"
    )


# --- 7. The Dask dashboard's port -----------------------------------------------------------


def test_a_local_cluster_does_not_bind_the_dashboard_port(recwarn) -> None:
    import socket

    from lensscan.scan.cluster import connect
    from lensscan.scan.settings import ClusterSettings

    with socket.socket() as held:
        try:
            held.bind(("127.0.0.1", 8787))
        except OSError:
            pytest.skip("port 8787 is in use by another program")
        held.listen()
        with connect(ClusterSettings(workers=1, threads_per_worker=1)) as client:
            assert client.submit(sum, [1, 2]).result() == 3
            ports = [
                s.getsockname()[1] for s in client.cluster.scheduler.http_server._sockets.values()
            ]
    assert 8787 not in ports
    assert not [w for w in recwarn if "8787" in str(w.message)], [str(w.message) for w in recwarn]


# --- 3. inspect opens the catalogs scan writes -------------------------------------------


def _scan(tmp_path: Path, specs, scorer, **changes):
    from lensscan.config import resolve_config
    from lensscan.scan.scanner import scan
    from lensscan.scan.settings import ScanConfig

    settings = {"workers": 0, "threshold": 0.0, "chunk_size": 96, "mode": "grid"}
    settings["min_separation"] = 0.0
    report = scan(specs, resolve_config(ScanConfig, overrides=settings | changes), scorer=scorer)
    assert not report.failed, report.lines()
    return report


def _check_stamps(catalog_path: Path, images: dict[str, np.ndarray]) -> None:
    """Every candidate's stamp opens from the catalog alone and holds the field's pixels."""
    from lensscan.inspect.candidates import open_stamps, read_candidate_catalog
    from lensscan.scan.geometry import centred_window_start

    catalog = read_candidate_catalog(catalog_path)
    stamps = open_stamps(catalog)
    size = catalog.stamp_size
    assert len(catalog) and size == 32
    for row in range(len(catalog)):
        record = catalog.table[row]
        image = images[str(record["field"])]
        y0 = int(centred_window_start(np.array(record["y"]), size))
        x0 = int(centred_window_start(np.array(record["x"]), size))
        inside = image[..., max(y0, 0) : y0 + size, max(x0, 0) : x0 + size]
        stamp = stamps.stamp(row)[..., max(-y0, 0) :, max(-x0, 0) :]
        np.testing.assert_array_equal(stamp[..., : inside.shape[-2], : inside.shape[-1]], inside)


def test_inspect_opens_a_catalog_scanned_from_one_file_per_band(tmp_path: Path) -> None:
    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.inputs import FieldSpec

    wcs = tan_wcs((96, 96))
    cube = np.stack([galaxy_image((96, 96), 5, seed=s) for s in range(3)])
    # Names that are not HSC's, headers that name no band: only the scan knew the bands.
    paths = {b: write_plain(tmp_path / f"plane{k}.fits", cube[k], wcs) for k, b in enumerate("gri")}
    scorer = WeightedMeanScorer(("g", "r", "i"), input_size=32)
    out = tmp_path / "out" / "c.ecsv"
    _scan(tmp_path, [FieldSpec(band_paths=paths)], scorer, out=str(out))
    _check_stamps(out, {"plane0": cube})


def test_inspect_opens_a_catalog_scanned_with_a_band_override(tmp_path: Path) -> None:
    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.inputs import FieldSpec

    image = galaxy_image((96, 96), 5)
    path = write_plain(tmp_path / "f.fits", image, tan_wcs((96, 96)), FILTER="HSC-G")
    out = tmp_path / "out" / "c.ecsv"
    scorer = WeightedMeanScorer(("i",), input_size=32)
    _scan(tmp_path, [FieldSpec(path=path)], scorer, out=str(out), bands=("i",))
    _check_stamps(out, {"f": image[None]})


def test_inspect_opens_a_combined_catalog_of_several_fields(tmp_path: Path) -> None:
    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.inputs import FieldSpec

    images = {name: galaxy_image((96, 96), 5, seed=seed) for seed, name in enumerate(("f1", "f2"))}
    specs = [
        FieldSpec(path=write_plain(tmp_path / f"{n}.fits", im, tan_wcs((96, 96), ra=150 + k)))
        for k, (n, im) in enumerate(images.items())
    ]
    scorer = WeightedMeanScorer(("i",), input_size=32)
    report = _scan(tmp_path, specs, scorer, out=str(tmp_path / "out"), bands=("i",))
    _check_stamps(report.combined.path, {n: im[None] for n, im in images.items()})


# --- 4. The zero point from the header; FILTER against `--band` ----------------------------


@pytest.mark.parametrize("card", [{"MAGZERO": 29.0}, {"MAGZPT": 29.0}, {"FLUXMAG0": 10**11.6}])
def test_detection_magnitudes_use_the_header_zero_point(tmp_path: Path, card: dict) -> None:
    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.inputs import FieldSpec

    image = galaxy_image((128, 128), 8)
    scorer = WeightedMeanScorer(("i",), input_size=32)
    tables = {}
    for name, cards in (("plain", {}), ("declared", card)):
        path = write_plain(
            tmp_path / f"{name}.fits", image, tan_wcs((128, 128)), FILTER="i", **cards
        )
        out = tmp_path / "out" / f"{name}.ecsv"
        _scan(
            tmp_path,
            [FieldSpec(path=path)],
            scorer,
            out=str(out),
            mode="detect",
            mag_limit=40.0,
            min_kron_radius=0.0,
        )
        tables[name] = Table.read(out)
    plain, declared = tables["plain"], tables["declared"]
    assert len(plain) > 0 and len(plain) == len(declared)
    # Same image, same fluxes: the magnitudes differ by the zero points' difference alone.
    np.testing.assert_allclose(declared["mag_i"], plain["mag_i"] + 2.0, atol=1e-9)
    assert plain.meta["zero_points"]["i"]["value"] == 27.0
    assert plain.meta["zero_points"]["i"]["source"].startswith("default")
    assert declared.meta["zero_points"]["i"]["value"] == pytest.approx(29.0)
    assert declared.meta["zero_points"]["i"]["source"].startswith(f"header {next(iter(card))}=")


def test_a_band_file_whose_filter_contradicts_its_band_is_refused_unless_forced(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    from scan_helpers import write_plain

    path = write_plain(tmp_path / "r.fits", galaxy_image((96, 96), 5), tan_wcs((96, 96)))
    path = write_plain(path, galaxy_image((96, 96), 5), tan_wcs((96, 96)), FILTER="HSC-R")
    args = ["scan", "--band", f"i={path}", "--model", str(tiny_model), "--workers", "0"]
    args += ["--out", str(tmp_path / "out" / "c.ecsv")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "the file says it holds band r" in errors[0], errors
    assert "--force-bands" in errors[0]
    result = runner.invoke(app, [*args, "--force-bands"])
    assert result.exit_code == 0, result.output


# --- 5. Fields far from the model's domain ---------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "cards", "phrase"),
    [
        (1.2, {"FILTER": "i"}, "is 7.14x off the model's 0.168"),
        (0.168, {"FILTER": "IRAC1"}, "band i is read from a file whose filter is 'IRAC1'"),
    ],
    ids=["pixel scale", "filter"],
)
def test_a_field_far_from_the_model_is_refused_unless_forced(
    tmp_path: Path, runner, tiny_model: Path, scale: float, cards: dict, phrase: str
) -> None:
    from scan_helpers import write_plain

    shape = (96, 96)
    path = write_plain(
        tmp_path / "f.fits", galaxy_image(shape, 5), tan_wcs(shape, scale=scale), **cards
    )
    out = tmp_path / "out" / "c.ecsv"
    args = ["scan", str(path), "--model", str(tiny_model), "--workers", "0", "--out", str(out)]
    args += ["--mode", "grid", "--threshold", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and "far from the model's domain" in errors[0], errors
    assert phrase in errors[0] and "--force-domain" in errors[0]
    assert not out.exists()
    result = runner.invoke(app, [*args, "--force-domain"])
    assert result.exit_code == 0, result.output
    domain = Table.read(out).meta["domain"]
    assert domain["forced"] is True and phrase in domain["mismatches"][0]
    assert domain["field_pixel_scale"] == pytest.approx(scale)


def test_a_field_in_the_model_domain_records_no_mismatch(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    from scan_helpers import write_plain

    path = write_plain(
        tmp_path / "f.fits", galaxy_image((96, 96), 5), tan_wcs((96, 96)), FILTER="HSC-I"
    )
    out = tmp_path / "out" / "c.ecsv"
    args = ["scan", str(path), "--model", str(tiny_model), "--workers", "0", "--out", str(out)]
    result = runner.invoke(app, [*args, "--mode", "grid", "--threshold", "0"])
    assert result.exit_code == 0, result.output
    domain = Table.read(out).meta["domain"]
    assert domain["mismatches"] == [] and domain["forced"] is False
    assert domain["filters"] == {"i": "HSC-I"}


# --- 6. The chunk size does not change results ----------------------------------------------


def test_detect_mode_catalog_does_not_depend_on_the_chunk_size(tmp_path: Path) -> None:
    """The background and the bands' weights are the field's, not a chunk's.

    Before, each chunk fitted sep's background spline to its own region and weighted the
    bands by its own median variance, so magnitudes, and near the threshold detections,
    changed with the chunk size.
    """
    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.inputs import FieldSpec

    shape = (384, 384)
    wcs = tan_wcs(shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    gradient = (0.02 * xx / shape[1] + 0.01 * np.sin(yy / 40)).astype(np.float32)
    paths = {
        band: write_plain(
            tmp_path / f"{band}.fits",
            galaxy_image(shape, 40, seed=7) * (1 + k) + gradient + np.float32(0.03 * k),
            wcs,
        )
        for k, band in enumerate("gri")
    }
    scorer = WeightedMeanScorer(("g", "r", "i"), input_size=32)
    tables = {}
    for chunk in (96, 384):
        out = tmp_path / f"c{chunk}" / "c.ecsv"
        _scan(
            tmp_path,
            [FieldSpec(band_paths=paths)],
            scorer,
            out=str(out),
            mode="detect",
            chunk_size=chunk,
            mag_limit=40.0,
            min_kron_radius=0.0,
        )
        table = Table.read(out)
        table.sort(["y", "x"])
        tables[chunk] = table
    small, whole = tables[96], tables[384]
    assert small.meta["n_detected"] == whole.meta["n_detected"] and len(small) == len(whole) > 20
    for name in ("x", "y", "score"):
        np.testing.assert_allclose(small[name], whole[name], rtol=0, atol=1e-9)
    # sep's deblender shares blended pixels in a way that depends on the region: the shapes
    # of deblended objects (flag 1) may still differ slightly; every other object is exact.
    alone = (np.asarray(small["flags"]) & 1) == 0
    assert alone.sum() > 10
    for name in ("mag_g", "mag_r", "mag_i", "kron_radius"):
        np.testing.assert_allclose(small[name][alone], whole[name][alone], rtol=0, atol=1e-9)


def test_a_chunk_size_below_the_cutout_is_refused_in_one_line(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    path = write_calexp(tmp_path / "f.fits", galaxy_image((96, 96), 5), tan_wcs((96, 96)))
    out = tmp_path / "out" / "c.ecsv"
    args = ["scan", str(path), "--model", str(tiny_model), "--bands", "i", "--workers", "0"]
    result = runner.invoke(app, [*args, "--chunk-size", "10", "--out", str(out)])
    assert result.exit_code == 2, result.output
    errors = result.stderr.strip().splitlines()
    assert errors == ["lensscan: error: --chunk-size 10: smaller than the model's 32 px cutout"]
    assert not (tmp_path / "out").exists()


# --- 8. Smaller items -------------------------------------------------------------------------


def test_the_default_alias_names_the_default_model_everywhere(
    tmp_path: Path, runner, monkeypatch
) -> None:
    from lensscan.errors import UserError
    from lensscan.models import resolve_model_path

    monkeypatch.chdir(tmp_path)
    try:
        expected = resolve_model_path(None)
    except UserError as exc:  # no default model here: both must say the same
        with pytest.raises(UserError, match="no default model"):
            resolve_model_path("default")
        pytest.skip(f"no default model to scan with: {exc}")
    assert resolve_model_path("default") == expected
    result = runner.invoke(app, ["scan", "missing.fits", "--model", "default", "--workers", "0"])
    assert result.exit_code == 2 and "model" not in result.stderr, result.stderr
    assert "missing.fits" in result.stderr


def test_a_failed_scan_leaves_no_empty_catalog_folder(
    tmp_path: Path, runner, tiny_model: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["scan", "missing.fits", "--model", str(tiny_model)])
    assert result.exit_code == 2 and "missing.fits: no such file" in result.stderr
    result = runner.invoke(
        app, ["scan", "missing.fits", "--model", str(tiny_model), "--out", "a/b/c.ecsv"]
    )
    assert result.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_inspect_on_a_busy_port_leaves_no_grade_database(tmp_path: Path, runner) -> None:
    import socket

    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.inputs import FieldSpec

    path = write_plain(tmp_path / "f.fits", galaxy_image((96, 96), 5), tan_wcs((96, 96)))
    out = tmp_path / "out" / "c.ecsv"
    _scan(tmp_path, [FieldSpec(path=path)], WeightedMeanScorer(("i",), 32), out=str(out))
    db = tmp_path / "grades.sqlite"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["inspect", str(out), "--db", str(db), "--grader", "me", "--port", str(port)]
        result = runner.invoke(app, args)
    assert result.exit_code == 2 and "already in use" in result.stderr, result.output
    assert not db.exists()


def test_an_all_zero_variance_plane_is_one_warning_and_the_noise_is_estimated(
    tmp_path: Path, caplog
) -> None:
    from astropy.io import fits
    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.inputs import FieldSpec

    image = galaxy_image((128, 128), 8)
    calexp = write_calexp(tmp_path / "zero.fits", image, tan_wcs((128, 128)))
    with fits.open(calexp, mode="update") as hdus:
        hdus["VARIANCE"].data[...] = 0
    plain = write_plain(tmp_path / "plain.fits", image, tan_wcs((128, 128)))
    scorer = WeightedMeanScorer(("i",), input_size=32)
    tables = {}
    for path in (calexp, plain):
        out = tmp_path / "out" / f"{path.stem}.ecsv"
        settings = {"mode": "detect", "mag_limit": 40.0, "min_kron_radius": 0.0}
        _scan(tmp_path, [FieldSpec(path=path)], scorer, out=str(out), bands=("i",), **settings)
        tables[path.stem] = Table.read(out)
    warned = [r for r in caplog.records if "VARIANCE" in r.getMessage()]
    assert len(warned) == 1 and "band(s) i holds no positive value" in warned[0].getMessage()
    # Without a usable VARIANCE plane the noise comes from the image, as for a plain file.
    assert tables["zero"].meta["n_detected"] == tables["plain"].meta["n_detected"] > 0


def test_known_lenses_in_the_field_and_recovered_are_counted(tmp_path: Path, caplog) -> None:
    import json

    from scan_helpers import WeightedMeanScorer, write_plain

    from lensscan.scan.geometry import pixel_to_icrs
    from lensscan.scan.inputs import FieldSpec

    caplog.set_level("INFO", logger="lensscan")
    shape = (128, 128)
    wcs = tan_wcs(shape)
    path = write_plain(tmp_path / "f.fits", galaxy_image(shape, 8), wcs)
    scorer = WeightedMeanScorer(("i",), input_size=32)
    first = tmp_path / "first" / "c.ecsv"
    _scan(tmp_path, [FieldSpec(path=path)], scorer, out=str(first), bands=("i",), top=2)
    top = Table.read(first)
    # Two known lenses on the two candidates, one in the field far from both, two outside.
    far = np.array([0.0, 127.0, 0.0])[
        np.argmax([np.hypot(top["x"] - c, top["y"] - c).min() for c in (0.0, 127.0, 64.0)])
    ]
    ra_far, dec_far = pixel_to_icrs(wcs, np.array([far]), np.array([far]))
    rows = [(f"L{k}", float(r["ra"]), float(r["dec"])) for k, r in enumerate(top)]
    rows += [("Lfar", float(ra_far[0]), float(dec_far[0])), ("Lout1", 10.0, 10.0)]
    rows += [("Lout2", 150.1, 2.2)]
    known = tmp_path / "known.csv"
    known.write_text("name,ra,dec\n" + "".join(f"{n},{r!r},{d!r}\n" for n, r, d in rows))
    out = tmp_path / "second"
    report = _scan(
        tmp_path,
        [
            FieldSpec(path=path),
            FieldSpec(
                path=write_plain(
                    tmp_path / "g.fits", galaxy_image(shape, 8), tan_wcs(shape, ra=151.0)
                )
            ),
        ],
        scorer,
        out=str(out),
        bands=("i",),
        top=2,
        known=str(known),
    )
    field = report.results[0]
    assert (field.n_known, field.n_recovered) == (3, 2)
    assert "2 of 3 known lenses in the field recovered" in field.line()
    meta = Table.read(field.catalog).meta["known_lenses"]
    assert (meta["in_footprint"], meta["recovered"]) == (3, 2)
    assert "3 known lenses in the field, 2 recovered among the candidates" in caplog.text
    summary = json.loads(report.summary.read_text())
    assert summary["fields"][0]["known_in_footprint"] == 3
    assert summary["fields"][0]["known_recovered"] == 2
    assert summary["counts"]["known_in_footprint"] == 3


def test_inspect_page_tells_confident_scores_apart_and_sizes_store_stamps(
    tmp_path: Path,
) -> None:
    from inspect_helpers import make_scanned_field
    from starlette.testclient import TestClient

    from lensscan.data.store import write_store
    from lensscan.inspect.app import create_app
    from lensscan.inspect.session import open_session

    field = make_scanned_field(tmp_path / "field", n_objects=4)
    table = Table.read(field.catalog)
    # A confident top, as a real model gives: four decimals would show 1.0000 for all.
    table["score"] = 1.0 - np.array([3e-6, 8.8e-6, 2e-5, 4e-4])
    del table.meta["pixel_scale_arcsec"]  # as a catalog paired with a cutout store may lack
    table.write(field.catalog, overwrite=True)
    store = tmp_path / "c.zarr"
    write_store(
        store,
        images=np.zeros((4, 3, 32, 32), np.float32),
        labels=np.full(4, -1),
        split=np.zeros(4),
        split_names=["train"],
        bands=("g", "r", "i"),
        pixel_scale=0.168,
        attrs={},
    )
    session = open_session(field.catalog, tmp_path / "g.sqlite", "ann", cutouts=store)
    try:
        client = TestClient(create_app(session, allowed_hosts=["testserver"]))
        pages = [client.get(f"/candidate/{rank}").text for rank in range(1, 5)]
    finally:
        session.close()
    shown = ["1-3.0e-06", "1-8.8e-06", "1-2.0e-05", "1-4.0e-04"]
    for page, score in zip(pages, shown, strict=True):
        assert f"<dd>{score}</dd>" in page
        assert "5.4″ across" in page


def test_cutouts_expands_patterns_and_list_files_as_scan_does(
    tmp_path: Path, runner, tiny_model: Path
) -> None:
    from scan_helpers import write_plain

    for k in range(2):
        write_plain(tmp_path / f"f{k}.fits", galaxy_image((96, 96), 6, seed=k), tan_wcs((96, 96)))
    (tmp_path / "fields.txt").write_text("f0.fits\nf1.fits\n")
    common = ["--model", str(tiny_model), "--mag-limit", "40", "--min-kron-radius", "0"]
    for k, argument in enumerate((str(tmp_path / "f*.fits"), f"@{tmp_path / 'fields.txt'}")):
        out = tmp_path / f"pool{k}.zarr"
        result = runner.invoke(app, ["cutouts", argument, "--out", str(out), *common])
        assert result.exit_code == 0, result.output
        assert "of 2 field(s)" in result.stdout
    result = runner.invoke(
        app, ["cutouts", str(tmp_path / "*.nomatch"), "--out", str(tmp_path / "p.zarr"), *common]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"lensscan: error: {tmp_path / '*.nomatch'}: no file matches the pattern"
    ]


def test_gallery_panels_have_a_scale_bar_and_the_page_the_stamp_size(tmp_path: Path) -> None:
    from lensscan.catalog.gallery import scale_bar_arcsec, write_gallery

    table = Table(
        {"id": [1, 2], "score": [0.9, 0.8], "ra": [150.0, 150.1], "dec": [2.0, 2.1]}
        | {"x": [10.0, 20.0], "y": [10.0, 20.0]}
    )
    stamps = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    plain = write_gallery(tmp_path / "plain", table, stamps, ("g", "r", "i"), "f")
    scaled = write_gallery(tmp_path / "scaled", table, stamps, ("g", "r", "i"), "f", 0.168)
    assert "10.8″ across" in (scaled / "index.html").read_text()
    assert "across" not in (plain / "index.html").read_text()
    assert (scaled / "montage.png").read_bytes() != (plain / "montage.png").read_bytes()
    assert scale_bar_arcsec(10.8) == 5.0 and scale_bar_arcsec(3.0) == 1.0
