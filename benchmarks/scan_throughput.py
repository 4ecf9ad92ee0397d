"""Scan throughput: end to end (FITS -> catalog) against the model's ceiling and a naive loop.

Measures, for one model on one device:

* ``end_to_end_cutouts_per_s``: windows per second of ``lensscan scan`` from FITS files on
  disk to the catalog (planning, hashing, Zarr staging, window cutting, inference, NMS,
  writing);
* ``model_only_cutouts_per_s``: the same model's batched forward pass on windows already
  on the device as one tensor (the most the scan could reach);
* ``naive_cutouts_per_s``: astropy ``Cutout2D`` per window per band and one forward per
  window;
* ``peak_rss_mb``: the peak resident memory of the end-to-end scan (this process and its
  Dask worker processes);
* on CUDA, ``gpu_peak_memory_mb_end_to_end`` and ``gpu_peak_memory_mb_model_only``: the
  most GPU memory torch held (``torch.cuda.max_memory_allocated``) in each measurement.

The model is an untrained network of the small CNN architecture (``--narrow`` for a
narrower one), or a saved model named with ``--model`` (``--model hsc-gri-ecnn-v2``, the
default model); the field has the model's bands.

With ``--big`` it also scans a large single-band field (default 16000 x 16000 px, written
as a memory-mapped FITS file in a temporary folder, never held in memory) in a fresh
subprocess, so that its peak RSS is the scan's alone.

Usage::

    python benchmarks/scan_throughput.py --quick          # 1536 px gri field, a minute or two
    python benchmarks/scan_throughput.py                  # a 4200 px HSC-patch-sized gri field
    python benchmarks/scan_throughput.py --quick --big    # plus the 16k x 16k memory check
    python benchmarks/scan_throughput.py --device cuda --model hsc-gri-ecnn-v2 --batch-size 4096

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PIXEL_SCALE = 0.168
ROWS_PER_WRITE = 256


def peak_rss_mb() -> float:
    """Peak resident memory of this process and of its finished children, MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def write_field(path: Path, size: int, seed: int) -> Path:
    """Write a size x size float32 sky-noise image with a TAN WCS, block by block.

    The image is streamed to disk ROWS_PER_WRITE rows at a time, so writing a 16k x 16k
    field needs a few MB of memory, not 1 GB.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.2]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-PIXEL_SCALE / 3600.0, PIXEL_SCALE / 3600.0]
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = size
    header["NAXIS2"] = size
    header.update(wcs.to_header())
    rng = np.random.default_rng(seed)
    stream = fits.StreamingHDU(path, header)
    for start in range(0, size, ROWS_PER_WRITE):
        rows = min(ROWS_PER_WRITE, size - start)
        stream.write(rng.normal(0.0, 1.0, (rows, size)).astype(np.float32))
    stream.close()
    return path


def build_model(folder: Path, bands: str, widths: tuple[int, ...] | None) -> Path:
    """Save an untrained small CNN (the default architecture, or narrower ``widths``)."""
    from lensscan.models import create_lens_finder, save_model

    options = {"widths": widths} if widths else {}
    finder = create_lens_finder(bands=tuple(bands), input_size=64, **options)
    return save_model(finder, folder / f"bench-{bands}", name=f"bench-{bands}")


def reset_gpu_peak(device: str | None) -> None:
    """Start a new peak-memory count on a CUDA device."""
    import torch

    if device and device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def gpu_peak_mb(device: str | None) -> float | None:
    """The most memory torch held on a CUDA device since the last reset, MiB."""
    import torch

    if not device or not device.startswith("cuda"):
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def ceiling(finder, n_windows: int, batch_size: int, repeats: int = 3) -> float:
    """Windows per second of the model's batched forward pass on an in-memory tensor.

    The best of ``repeats`` passes, so that load from other processes on a shared machine
    lowers the figure as little as possible.
    """
    import torch

    images = torch.randn(n_windows, len(finder.bands), finder.input_size, finder.input_size)
    images = images.to(finder.device)
    finder.score_tensor(images[:batch_size])  # warm-up (allocations, kernel selection)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, n_windows, batch_size):
            finder.score_tensor(images[i : i + batch_size]).cpu()
        best = max(best, n_windows / (time.perf_counter() - start))
    return best


def naive(finder, paths: list[Path], n_windows: int, stride: int) -> float:
    """Windows per second of Cutout2D per window and band, then one forward per window."""
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    size = finder.input_size
    hduls = [fits.open(p, memmap=True) for p in paths]
    try:
        data = [h[0].data for h in hduls]
        width = data[0].shape[1]
        per_row = (width - size) // stride + 1
        for _ in range(5):  # warm-up, as for the other measurements
            finder.score(np.zeros((1, len(data), size, size), np.float32))
        start = time.perf_counter()
        for k in range(n_windows):
            row, col = divmod(k, per_row)
            centre = (col * stride + (size - 1) / 2, row * stride + (size - 1) / 2)
            stamp = np.stack([Cutout2D(d, centre, size, mode="strict").data for d in data])
            finder.score(stamp[None].astype(np.float32))
        return n_windows / (time.perf_counter() - start)
    finally:
        for h in hduls:
            h.close()


def end_to_end(
    paths: list[Path],
    model: Path,
    out: Path,
    workers: int,
    stride: int,
    batch_size: int,
    device: str | None = None,
) -> dict:
    """Run ``lensscan scan`` on the field (its bands given with --band) and time it."""
    from astropy.table import Table

    from lensscan.scan.inputs import FieldSpec
    from lensscan.scan.scanner import scan
    from lensscan.scan.settings import (
        CandidateSettings,
        ClusterSettings,
        OutputSettings,
        ScanConfig,
    )

    spec = (
        FieldSpec(band_paths={p.stem.split("-")[-1]: p for p in paths})
        if len(paths) > 1
        else FieldSpec(path=paths[0])
    )
    config = ScanConfig(
        mode="grid",
        model=str(model),
        stride=stride,
        batch_size=batch_size,
        device=device,
        candidates=CandidateSettings(threshold=0.0, top=100),
        output=OutputSettings(out=str(out), overwrite=True),
        cluster=ClusterSettings(workers=workers),
    )
    reset_gpu_peak(device)
    start = time.perf_counter()
    report = scan([spec], config)
    elapsed = time.perf_counter() - start
    result = report.results[0]
    if report.failed:
        raise SystemExit(f"scan failed: {result.error}")
    return {
        "windows": result.n_windows,
        "seconds": elapsed,
        "end_to_end_cutouts_per_s": result.n_windows / elapsed,
        "gpu_peak_memory_mb_end_to_end": gpu_peak_mb(device) if workers == 0 else None,
        "catalog_rows": len(Table.read(out)),
    }


def run_big(args: argparse.Namespace) -> dict:
    """Scan a big single-band field in a fresh subprocess; return its figures."""
    command = [
        sys.executable,
        __file__,
        "--only-e2e",
        "--size",
        str(args.big_size),
        "--bands",
        "i",
        "--stride",
        str(args.big_stride),
        "--workers",
        "0",
        "--narrow",
        *(["--threads", str(args.threads)] if args.threads else []),
        *(["--device", args.device] if args.device else []),
    ]
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse options, run the measurements, print the JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="Smaller field (1536 px) and few naive windows."
    )
    parser.add_argument(
        "--size",
        type=int,
        default=None,
        help="Field side in pixels (default 4200; 1536 with --quick).",
    )
    parser.add_argument("--bands", default="gri", help="Bands of the field and model.")
    parser.add_argument("--stride", type=int, default=32, help="Window stride in pixels.")
    parser.add_argument("--batch-size", type=int, default=256, help="Windows per forward pass.")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Dask workers of the main end-to-end run (0: in process).",
    )
    parser.add_argument(
        "--narrow",
        action="store_true",
        help="Use a narrow (fast) CNN instead of the default width.",
    )
    parser.add_argument(
        "--no-cluster", action="store_true", help="Skip the extra run on a local Dask cluster."
    )
    parser.add_argument(
        "--big", action="store_true", help="Also scan a big single-band field in a subprocess."
    )
    parser.add_argument(
        "--big-size", type=int, default=16000, help="Side of the big field in pixels."
    )
    parser.add_argument("--big-stride", type=int, default=64, help="Stride for the big field.")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads for the in-process measurements (default: torch's own).",
    )
    parser.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: the best available)."
    )
    parser.add_argument(
        "--model",
        default=None,
        help="A saved model (name or folder) instead of an untrained small CNN.",
    )
    parser.add_argument("--only-e2e", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = args.size or (1536 if args.quick else 4200)
    import torch

    if args.threads:
        # On a shared machine, multi-threaded torch can lose most of its time waiting for a
        # busy core; one thread gives steadier, comparable figures for all three loops.
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="lensscan-bench-") as tmp:
        root = Path(tmp)
        from lensscan.models import load_model, resolve_model_path

        if args.model:
            model = resolve_model_path(args.model)
            bands = "".join(load_model(model, device="cpu").bands)
        else:
            bands = args.bands
            model = build_model(root, bands, (4, 8, 8, 8) if args.narrow else None)
        paths = [
            write_field(root / f"field-{band}.fits", size, seed) for seed, band in enumerate(bands)
        ]
        e2e = end_to_end(
            paths,
            model,
            root / "catalog.ecsv",
            args.workers,
            args.stride,
            args.batch_size,
            args.device,
        )
        summary = {
            "field_px": size,
            "bands": bands,
            "model": args.model
            or ("untrained narrow CNN" if args.narrow else "untrained small_cnn"),
            "stride": args.stride,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "torch_threads": torch.get_num_threads(),
            **e2e,
            "peak_rss_mb": round(peak_rss_mb(), 1),
        }
        if not args.only_e2e:
            finder = load_model(model, device=args.device)
            device = str(finder.device)
            summary["device"] = device
            if finder.device.type == "cuda":
                summary["gpu"] = torch.cuda.get_device_name(finder.device)
            reset_gpu_peak(device)
            n_model_only = max(min(e2e["windows"], 8 * args.batch_size), args.batch_size)
            summary["model_only_cutouts_per_s"] = ceiling(finder, n_model_only, args.batch_size)
            summary["gpu_peak_memory_mb_model_only"] = gpu_peak_mb(device)
            summary["naive_cutouts_per_s"] = naive(
                finder, paths, 60 if args.quick else 200, args.stride
            )
            summary["ratio_to_model_only"] = (
                summary["end_to_end_cutouts_per_s"] / summary["model_only_cutouts_per_s"]
            )
            summary["speedup_vs_naive"] = (
                summary["end_to_end_cutouts_per_s"] / summary["naive_cutouts_per_s"]
            )
            if not args.no_cluster:
                cluster = end_to_end(
                    paths,
                    model,
                    root / "catalog-cluster.ecsv",
                    1,
                    args.stride,
                    args.batch_size,
                    args.device,
                )
                summary["local_cluster_cutouts_per_s"] = cluster["end_to_end_cutouts_per_s"]
                summary["local_cluster_seconds"] = cluster["seconds"]
        if args.big:
            summary["big_field"] = run_big(args)
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in summary.items()}))


if __name__ == "__main__":
    main()
