"""Grading latency of ``lensscan inspect``: the next candidate's page and images.

Writes an HSC-patch-sized gri field (three calexp-like FITS files, sky noise plus
Gaussian galaxies at the candidate positions; ``--size`` px square) and a ranked catalog
of ``--candidates`` rows, serves them with the real app under uvicorn on 127.0.0.1, and
walks through the candidates in rank order as a grader does, over one keep-alive HTTP
connection (like a browser): for each candidate, GET its page, then its composite and
band images, then POST a grade. Two walks are timed:

* ``cold``: a fresh server with no rendering ahead, so every image is rendered on request
  (the worst case: jumping to a candidate never seen);
* ``graded``: the normal flow, where the page of candidate k has the server render the
  next few ahead; the grader looks at each candidate for ``--look`` seconds (not timed).

Usage::

    python benchmarks/inspect_latency.py                 # 4200 px field, 200 candidates
    python benchmarks/inspect_latency.py --size 2048 --candidates 100 --look 0.1

The last line printed is one JSON object with the figures (milliseconds).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

PIXEL_SCALE = 0.168
STAMP = 64
BANDS = {"g": ("G", 0.6), "r": ("R", 1.0), "i": ("I", 1.4)}
GOAL_MS = 100.0


def write_field(folder: Path, size: int, xy: np.ndarray, seed: int) -> dict[str, Path]:
    """Three calexp-like files (IMAGE, MASK, VARIANCE) with galaxies at ``xy``."""
    from astropy.io import fits
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.2]
    wcs.wcs.crpix = [size / 2 + 0.5, size / 2 + 0.5]
    wcs.wcs.cdelt = [-PIXEL_SCALE / 3600.0, PIXEL_SCALE / 3600.0]
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-12:13, -12:13]
    files = {}
    for band, (letter, colour) in BANDS.items():
        image = rng.normal(0.0, 0.05, (size, size)).astype(np.float32)
        for k, (x, y) in enumerate(xy):
            ix, iy = int(x), int(y)
            blob = colour * (1 + k % 5) * np.exp(-(xx**2 + yy**2) / (2 * 2.5**2))
            image[iy - 12 : iy + 13, ix - 12 : ix + 13] += blob.astype(np.float32)
        path = folder / f"calexp-HSC-{letter}-9813-4,4.fits"
        fits.HDUList(
            [
                fits.PrimaryHDU(),
                fits.ImageHDU(image, header=wcs.to_header(), name="IMAGE"),
                fits.ImageHDU(np.zeros((size, size), np.int32), name="MASK"),
                fits.ImageHDU(np.ones((size, size), np.float32), name="VARIANCE"),
            ]
        ).writeto(path)
        files[band] = path
    return files


def write_catalog(folder: Path, files: dict[str, Path], size: int, xy: np.ndarray) -> Path:
    """A ranked candidate catalog in the scanner's schema for the candidates at ``xy``."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from lensscan.catalog.schema import CANDIDATE_COLUMNS, make_table
    from lensscan.catalog.writers import write_catalog as write
    from lensscan.provenance import describe_inputs
    from lensscan.scan.survey_files import field_name

    wcs = WCS(fits.getheader(files["g"], 1))
    ra, dec = wcs.pixel_to_world_values(xy[:, 0], xy[:, 1])
    n = len(xy)
    name = field_name(files["g"])
    columns = {
        "id": np.arange(1, n + 1),
        "ra": ra,
        "dec": dec,
        "x": xy[:, 0],
        "y": xy[:, 1],
        "score": np.linspace(0.999, 0.5, n),
        "field": np.full(n, name),
        "bands": np.full(n, "gri"),
        "mask_fraction": np.zeros(n),
    }
    meta = {
        "inputs": describe_inputs(files.values()),
        "field": name,
        "bands": list(BANDS),
        "window": STAMP,
        "image_shape": [size, size],
        "pixel_scale_arcsec": PIXEL_SCALE,
    }
    return write(make_table(columns, CANDIDATE_COLUMNS, meta), folder / f"{name}.ecsv")


class Client:
    """One keep-alive HTTP connection to the app, timing each request."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.token = ""

    def get(self, path: str) -> bytes:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        return body

    def post(self, path: str, payload: dict) -> None:
        headers = {"Content-Type": "application/json", "X-Lensscan-Token": self.token}
        self.connection.request("POST", path, json.dumps(payload), headers)
        response = self.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: {response.status}")


def walk(port: int, n: int, look_s: float, bands: list[str]) -> dict[str, list[float]]:
    """Grade candidates 1..n in order; times in ms of each page+images and each grade."""
    client = Client(port)
    times: dict[str, list[float]] = {"next": [], "page": [], "grade": []}
    for rank in range(1, n + 1):
        start = time.perf_counter()
        page = client.get(f"/candidate/{rank}").decode()
        times["page"].append(1000 * (time.perf_counter() - start))
        client.token = re.search(r'name="lensscan-token" content="([^"]+)"', page).group(1)
        for kind in ["rgb", *bands]:
            client.get(f"/image/{rank}/{kind}.png?stretch=asinh")
        times["next"].append(1000 * (time.perf_counter() - start))
        time.sleep(look_s)
        start = time.perf_counter()
        client.post("/api/grade", {"rank": rank, "grade": rank % 4, "request_id": f"b-{rank}"})
        times["grade"].append(1000 * (time.perf_counter() - start))
    client.connection.close()
    return times


def serve_and_walk(catalog: Path, db: Path, n: int, look_s: float, ahead: int):
    """Run the app on 127.0.0.1 in a thread and walk it; ``ahead`` = rendering ahead."""
    from lensscan.inspect import session as session_module
    from lensscan.inspect.app import create_app
    from lensscan.inspect.server import bind_socket, make_server

    session_module.PREFETCH_AHEAD = ahead
    session = session_module.open_session(catalog, db, "benchmark")
    listener = bind_socket("127.0.0.1", 0)
    server = make_server(create_app(session))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        return walk(listener.getsockname()[1], n, look_s, list(session.bands))
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
        session.close()


def summary(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "median_ms": round(float(np.median(array)), 1),
        "p95_ms": round(float(np.percentile(array, 95)), 1),
        "max_ms": round(float(array.max()), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4200)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--look", type=float, default=0.3, help="seconds per candidate (untimed)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from lensscan.inspect.session import PREFETCH_AHEAD

    rng = np.random.default_rng(args.seed)
    margin = STAMP
    xy = rng.uniform(margin, args.size - margin, (args.candidates, 2))
    with tempfile.TemporaryDirectory(prefix="lensscan-inspect-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        files = write_field(folder, args.size, xy, args.seed)
        catalog = write_catalog(folder, files, args.size, xy)
        print(f"field {args.size}x{args.size} gri written in {time.perf_counter() - started:.1f} s")
        cold = serve_and_walk(catalog, folder / "cold.sqlite", args.candidates, 0.0, 0)
        graded = serve_and_walk(
            catalog, folder / "graded.sqlite", args.candidates, args.look, PREFETCH_AHEAD
        )
    result = {
        "size": args.size,
        "candidates": args.candidates,
        "look_s": args.look,
        "goal_ms": GOAL_MS,
        "cold_next": summary(cold["next"][1:]),
        "graded_next": summary(graded["next"][1:]),
        "graded_page": summary(graded["page"][1:]),
        "grade_post": summary(graded["grade"]),
        "first_candidate_ms": round(graded["next"][0], 1),
    }
    for name in ("cold_next", "graded_next", "graded_page", "grade_post"):
        figures = result[name]
        print(
            f"{name:<12} median {figures['median_ms']:6.1f} ms  p95 {figures['p95_ms']:6.1f} ms"
            f"  max {figures['max_ms']:6.1f} ms"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
