"""Detect-mode scan on a simulated patch: lens recovery, ranking, and where the time goes.

Simulates an HSC-like gri patch with injected lenses (``lensscan simulate-field``), scans
it with ``lensscan scan`` in detect mode (the default) with a model (the shipped default
unless ``--model``), and reports:

* ``lenses_preselected``: injected lenses with a detected, preselected object within
  ``--match-radius`` (read from the scan's work store, before grouping);
* ``lenses_listed``: lenses with a catalog candidate within ``--match-radius`` (every
  group of detections is listed: threshold 0);
* ``lenses_in_top_n`` / ``top_2n`` / ``top_100``: lenses whose matching candidate ranks
  in the top N (N = the number of lenses), 2N, 100;
* ``n_candidates``: the catalog's rows, one per group of detections;
* ``galaxies_detected``: the simulator's galaxies brighter than i = 22.5 (outside masked
  areas) with a detection within 0.3";
* ``end_to_end_s`` and ``peak_rss_mb`` of the scan (FITS to catalog, default settings);
* ``split_s``: the same work timed step by step in this process on the scan's own chunks:
  ``read`` (FITS regions with halos), ``detection`` (background, detection, deblending,
  photometry, preselection), ``cutouts`` (cutting the selected objects' windows into a
  batch), ``inference`` (the model's forward passes) and ``writing`` (the catalog).

With ``--big N`` it instead writes an N x N single-band (i) field of sky noise and
Gaussian galaxies, streamed to disk block by block, and scans it in detect mode with the
shipped i-band model in this process (``--workers 0``), reporting the time and the peak
memory: the check that a 16k x 16k field is never loaded whole.

Usage::

    python benchmarks/detect_scan.py --size 2048 --lenses 25
    python benchmarks/detect_scan.py --size 4200            # an HSC patch, 50 lenses
    python benchmarks/detect_scan.py --size 4200 --family hsc-heldout   # the held-out family
    python benchmarks/detect_scan.py --big 16000            # memory of a 16k x 16k field

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def _simulate(folder: Path, size: int, lenses: int | None, seed: int, family: str) -> Path:
    from lensscan.simulate.fields.request import FieldRequest
    from lensscan.simulate.fields.run import simulate_field_patch

    request = FieldRequest(size=size, bands="gri", n_lenses=lenses, seed=seed, family=family)
    simulate_field_patch(request, folder)
    return folder / "calexp-HSC-I-9813-4,4.fits"


def _recovery(catalog_path: Path, field: Path, radius: float) -> dict[str, float]:
    from astropy.table import Table
    from scipy.spatial import cKDTree

    catalog = Table.read(catalog_path)
    truth = Table.read(field / "truth.ecsv")
    objects = Table.read(field / "objects.ecsv")
    scale = catalog.meta["pixel_scale_arcsec"]
    n = len(truth)
    tree = cKDTree(np.column_stack([catalog["x"], catalog["y"]]))
    distance, nearest = tree.query(np.column_stack([truth["x"], truth["y"]]))
    matched = distance < radius / scale
    ranks = np.asarray(catalog["id"])[nearest]
    galaxies = objects[(objects["kind"] == "galaxy") & (objects["mag_i"] < 22.5)]
    meta = catalog.meta
    return {
        "lenses": n,
        "lenses_listed": int(matched.sum()),
        "lenses_in_top_n": int((matched & (ranks <= n)).sum()),
        "lenses_in_top_2n": int((matched & (ranks <= 2 * n)).sum()),
        "lenses_in_top_100": int((matched & (ranks <= 100)).sum()),
        "n_detected": meta["n_detected"],
        "n_preselected": meta["n_preselected"],
        "n_candidates": len(catalog),
        "galaxies_i_lt_22_5": len(galaxies),
        "_galaxies": np.column_stack([galaxies["x"], galaxies["y"]]),
    }


def _lenses_preselected(store_path: Path, field: Path, radius: float, job) -> int:
    """Lenses with a preselected detection within ``radius`` arcsec, before grouping."""
    from astropy.table import Table
    from scipy.spatial import cKDTree

    from lensscan.scan.detections import field_detections
    from lensscan.scan.workstore import WorkStore

    objects = field_detections(job, "field", WorkStore(store_path, mode="r"))
    selected = objects["selected"] & objects["inside"]
    tree = cKDTree(np.column_stack([objects["x"][selected], objects["y"][selected]]))
    truth = Table.read(field / "truth.ecsv")
    distance, _ = tree.query(np.column_stack([truth["x"], truth["y"]]))
    return int((distance < radius / job.settings.pixel_scale).sum())


def _galaxies_detected(store_path: Path, galaxies: np.ndarray, scale: float, job) -> float:
    from scipy.spatial import cKDTree

    from lensscan.scan.detections import field_detections
    from lensscan.scan.workstore import WorkStore

    objects = field_detections(job, "field", WorkStore(store_path, mode="r"))
    height, width = job.inputs.shape
    bad = np.zeros((height, width), bool)
    for y0 in range(0, height, 1024):  # row blocks keep the memory of this check small
        bad[y0 : y0 + 1024] = job.inputs.read_region((y0, min(y0 + 1024, height), 0, width))[1]
    col = np.clip(np.round(galaxies[:, 0]).astype(int), 0, width - 1)
    row = np.clip(np.round(galaxies[:, 1]).astype(int), 0, height - 1)
    unmasked = galaxies[~bad[row, col]]
    distance, _ = cKDTree(np.column_stack([objects["x"], objects["y"]])).query(unmasked)
    return float((distance < 0.3 / scale).mean())


def _split(job, scorer, catalog_path: Path) -> dict[str, float]:
    """Time the scan's steps on its own chunks, in this process."""
    import torch
    from astropy.table import Table

    from lensscan.catalog.writers import write_catalog
    from lensscan.scan.detect import detect_objects, preselect
    from lensscan.scan.geometry import centred_window_start

    totals = dict.fromkeys(("read", "detection", "cutouts", "inference", "writing"), 0.0)
    size = job.size
    for chunk in job.chunks:
        start = time.perf_counter()
        image, bad = job.inputs.read_region(chunk.region)
        variance = job.inputs.read_variance(chunk.region) if job.inputs.has_variance else None
        totals["read"] += time.perf_counter() - start
        start = time.perf_counter()
        columns = detect_objects(image, variance, bad, job.inputs.band_names, job.settings)
        selected = preselect(columns, bad, job.settings)
        y0, _, x0, _ = chunk.region
        owned = chunk.owns(columns["y"] + y0, columns["x"] + x0) & selected
        totals["detection"] += time.perf_counter() - start
        start = time.perf_counter()
        sy = centred_window_start(columns["y"][owned], size)
        sx = centred_window_start(columns["x"][owned], size)
        fits = (sy >= 0) & (sx >= 0) & (sy + size <= bad.shape[0]) & (sx + size <= bad.shape[1])
        tile = torch.from_numpy(np.ascontiguousarray(image))
        # The scan's gather (lensscan.scan.scoring.forward_windows): one copy per batch.
        views = tile.unfold(1, size, 1).unfold(2, size, 1).permute(1, 2, 0, 3, 4)
        batch = views[torch.as_tensor(sy[fits]), torch.as_tensor(sx[fits])]
        totals["cutouts"] += time.perf_counter() - start
        start = time.perf_counter()
        for i in range(0, len(batch), 256):
            scorer.logits_tensor(batch[i : i + 256])
        totals["inference"] += time.perf_counter() - start
    table = Table.read(catalog_path)
    start = time.perf_counter()
    write_catalog(table, catalog_path.with_name("rewritten.ecsv"), "ecsv")
    totals["writing"] = time.perf_counter() - start
    return {k: round(v, 2) for k, v in totals.items()}


BIG_ROWS = 512
BIG_GALAXIES_PER_BLOCK = 600


def _write_big_field(path: Path, size: int, seed: int) -> Path:
    """An N x N i-band image of noise and galaxies, written BIG_ROWS rows at a time."""
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.2]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-0.168 / 3600.0, 0.168 / 3600.0]
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = size
    header["NAXIS2"] = size
    header["FILTER"] = "i"
    header.update(wcs.to_header())
    rng = np.random.default_rng(seed)
    stream = fits.StreamingHDU(path, header)
    stamp = np.arange(-24, 25)
    for start in range(0, size, BIG_ROWS):
        rows = min(BIG_ROWS, size - start)
        block = rng.normal(0.0, 0.05, (rows, size))
        # Galaxies whole inside the block, i = 18-23, sizes 2-8 px.
        for _ in range(BIG_GALAXIES_PER_BLOCK * rows // BIG_ROWS):
            y, x = rng.integers(24, rows - 24), rng.integers(24, size - 24)
            flux, sigma = 10 ** (0.4 * (27 - rng.uniform(18, 23))), rng.uniform(2, 8)
            yy, xx = np.meshgrid(stamp, stamp, indexing="ij")
            profile = np.exp(-(yy**2 + xx**2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
            block[y - 24 : y + 25, x - 24 : x + 25] += flux * profile
        stream.write(block.astype(np.float32))
    stream.close()
    return path


def _big(size: int) -> dict:
    from lensscan.scan.inputs import FieldSpec
    from lensscan.scan.scanner import scan
    from lensscan.scan.settings import ClusterSettings, OutputSettings, ScanConfig

    with tempfile.TemporaryDirectory(prefix="lensscan-detect-big-") as tmp:
        path = _write_big_field(Path(tmp) / "big.fits", size, seed=0)
        config = ScanConfig(
            model="hsc-i-v2",
            output=OutputSettings(out=str(Path(tmp) / "big.ecsv")),
            cluster=ClusterSettings(workers=0),
        )
        start = time.perf_counter()
        report = scan([FieldSpec(path=path)], config)
        elapsed = time.perf_counter() - start
        assert not report.failed, report.lines()
        result = report.results[0]
    return {
        "big_size": size,
        "n_detected": result.n_detected,
        "n_scored": result.n_windows,
        "seconds": round(elapsed, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4200)
    parser.add_argument("--lenses", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--model", default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--match-radius", type=float, default=1.0)
    parser.add_argument("--tta", action="store_true")
    parser.add_argument("--family", default="hsc", help="simulate-field --family.")
    parser.add_argument("--big", type=int, default=None, help="Scan an N x N i-band field.")
    args = parser.parse_args()

    import torch

    if args.big:
        torch.set_num_threads(2)
        print(json.dumps(_big(args.big)))
        return

    from lensscan.models import load_model, resolve_model_path
    from lensscan.scan.inputs import FieldSpec
    from lensscan.scan.scanner import scan
    from lensscan.scan.settings import (
        CandidateSettings,
        ClusterSettings,
        OutputSettings,
        ScanConfig,
    )

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="lensscan-detect-bench-") as tmp:
        folder = Path(tmp)
        path = _simulate(folder / "field", args.size, args.lenses, args.seed, args.family)
        catalog = folder / "cat.ecsv"
        config = ScanConfig(
            model=args.model,
            tta=args.tta,
            candidates=CandidateSettings(threshold=0.0),
            output=OutputSettings(out=str(catalog)),
            cluster=ClusterSettings(workers=args.workers),
        )
        start = time.perf_counter()
        report = scan([FieldSpec(path=path)], config)
        end_to_end = time.perf_counter() - start
        assert not report.failed, report.lines()
        peak = max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        figures = _recovery(catalog, folder / "field", args.match_radius)
        galaxies = figures.pop("_galaxies")

        from lensscan.scan.detections import DetectJob, detect_settings
        from lensscan.scan.fits_io import open_field

        scorer = load_model(resolve_model_path(args.model), device="cpu")
        opened = open_field(path, scorer.bands, scorer.input_size)
        settings = detect_settings(config.detect, opened, scorer.pixel_scale)
        job = DetectJob(opened.inputs, "", None, scorer.input_size, 1024, 0.5, 256, settings)
        store = folder / ".work" / f"{opened.inputs.name}.zarr"
        figures["lenses_preselected"] = _lenses_preselected(
            store, folder / "field", args.match_radius, job
        )
        figures["galaxies_detected"] = round(
            _galaxies_detected(store, galaxies, settings.pixel_scale, job), 3
        )
        figures |= {
            "size": args.size,
            "tta": args.tta,
            "end_to_end_s": round(end_to_end, 1),
            "peak_rss_mb": round(peak / 1024),
            "split_s": _split(job, scorer, catalog),
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
