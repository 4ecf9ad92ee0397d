"""How often a model calls empty sky a lens: the grid-scan flood check.

Simulates an HSC-like gri patch (``lensscan simulate-field``), cuts every window of a
regular grid (the model's cutout size, ``--stride`` pixels apart) whose centre has no
simulated object brighter than ``--mag-limit`` (i band) within ``--radius`` arcsec and no
no-data pixel, scores them with the model (the shipped default unless ``--model``) and
reports the fraction scored at or above 0.5. A finder trained only on galaxy-centred
cutouts floods a dense scan; the goal is under 1%.

Usage::

    python benchmarks/grid_empty_sky.py [--size 2048] [--stride 32] [--model NAME]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from lensscan.models import load_model
from lensscan.simulate.fields.calexp import calexp_name
from lensscan.simulate.fields.request import FieldRequest
from lensscan.simulate.fields.run import simulate_field_patch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--model", default=None)
    parser.add_argument("--mag-limit", type=float, default=25.0)
    parser.add_argument("--radius", type=float, default=2.5)
    args = parser.parse_args()
    finder = load_model(args.model, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        request = FieldRequest(
            size=args.size, bands="".join(finder.bands), n_lenses=0, seed=args.seed
        )
        out = Path(tmp) / "field"
        simulate_field_patch(request, out)
        planes = np.stack(
            [
                fits.getdata(out / calexp_name(band, request.tract, request.patch), "IMAGE")
                for band in finder.bands
            ]
        ).astype(np.float32)
        objects = Table.read(out / "objects.ecsv")
    size, half = finder.input_size, finder.input_size // 2
    bright = objects[objects["mag_i"] < args.mag_limit]
    scale = finder.pixel_scale or 0.168
    starts = np.arange(0, args.size - size + 1, args.stride)
    windows, positions = [], []
    for y0 in starts:
        for x0 in starts:
            cx, cy = x0 + half - 0.5, y0 + half - 0.5
            near = np.hypot(bright["x"] - cx, bright["y"] - cy) * scale < args.radius
            window = planes[:, y0 : y0 + size, x0 : x0 + size]
            if near.any() or np.any(window == 0):
                continue
            windows.append(window)
            positions.append((cx, cy))
    scores = finder.score(np.stack(windows))
    result = {
        "model": finder.name,
        "size": args.size,
        "stride": args.stride,
        "windows_grid": int(len(starts) ** 2),
        "empty_windows": len(windows),
        "empty_above_0_5": int(np.sum(scores >= 0.5)),
        "fraction_above_0_5": float(np.mean(scores >= 0.5)),
        "median_score": float(np.median(scores)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
