"""Throughput of ``lensscan simulate``: images per second for each domain.

Usage::

    python benchmarks/simulate_throughput.py [--n 2000] [--workers 2] [--bands gri]

Runs the full command (worker start-up, drawing, rendering, Zarr writing) into a
temporary folder, once per domain, and prints images/s. Start-up (about two seconds) is
included, so small ``--n`` understate the steady rate; a single-process in-memory rate
(the same one pass per item: draw, render, parameter row; no Dask, no writing) and its CPU
time per image (which does not depend on what else the machine runs) are printed too. The
load average is printed first: on a shared machine the wall-clock rates drop with it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from lensscan.simulate.cutouts.blocks import make_items
from lensscan.simulate.cutouts.plan import item_seeds
from lensscan.simulate.cutouts.request import CutoutRequest
from lensscan.simulate.cutouts.run import simulate_cutouts
from lensscan.simulate.domains.registry import DOMAINS


def in_process_rate(domain: str, bands: tuple[str, ...], n: int) -> tuple[float, float]:
    """Images/s (wall) and CPU ms per image of drawing plus rendering in this process."""
    labels = (
        (np.arange(n) % 101 == 0).astype(np.int8)
        if domain == "hsc"
        else (np.arange(n) % 3 == 0).astype(np.int8)
    )
    make_items(domain, bands, item_seeds(99, 4), labels[:4])
    start, cpu = time.perf_counter(), time.process_time()
    make_items(domain, bands, item_seeds(1, n), labels)
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e3


def main() -> None:
    """Run the benchmark and print one line per domain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--bands", default="gri")
    parser.add_argument("--domains", default=",".join(DOMAINS))
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
    for domain in args.domains.split(","):
        request = CutoutRequest(domain=domain, n=args.n, bands=args.bands, workers=args.workers)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            simulate_cutouts(request, Path(tmp) / "bench.zarr")
            elapsed = time.perf_counter() - start
        single, cpu_ms = in_process_rate(domain, request.bands, min(args.n, 300))
        print(
            f"{domain:>4} {args.bands}: {args.n / elapsed:7.1f} images/s end-to-end "
            f"({args.workers} workers, n={args.n}); {single:6.1f} images/s in one process "
            f"({cpu_ms:.2f} ms CPU per image drawn and rendered)"
        )


if __name__ == "__main__":
    main()
