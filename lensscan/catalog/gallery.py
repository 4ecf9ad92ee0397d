"""Galleries of top candidates for visual grading: a PNG montage and an HTML page.

Stamps are shown as colour composites: the reddest band as red, the bluest as blue (gri ->
R=i, G=r, B=g), each band shifted by its median and stretched with a shared asinh scale
(Lupton et al. 2004, through :func:`astropy.visualization.make_lupton_rgb`), so colours
are comparable between stamps. One band gives a grey image.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output
from lensscan.bands import wavelength_order
from lensscan.robust import MAD_TO_SIGMA

STRETCH_SIGMAS = 20.0
LUPTON_Q = 8.0
MONTAGE_COLUMNS = 8


def colour_stamp(stamp: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """An (H, W, 3) uint8 colour image of a (C, H, W) stamp (NaN shown as background).

    Args:
        stamp: Raw flux, bands in any order.
        bands: Band names of the planes, to order them by wavelength.
    """
    order = wavelength_order(bands)
    planes = [np.asarray(stamp[i], dtype=np.float64) for i in order]
    background = [np.nanmedian(p) if np.isfinite(p).any() else 0.0 for p in planes]
    planes = [np.nan_to_num(p - b, nan=0.0) for p, b in zip(planes, background, strict=True)]
    sigma = float(np.median([MAD_TO_SIGMA * np.median(np.abs(p)) for p in planes]))
    return lupton_composite(planes, sigma, STRETCH_SIGMAS)


def lupton_composite(
    planes: Sequence[np.ndarray], sigma: float, stretch_sigmas: float
) -> np.ndarray:
    """The (H, W, 3) uint8 Lupton et al. (2004) composite of background-free planes.

    Args:
        planes: Planes ordered from the bluest to the reddest band (one, two or more).
        sigma: The planes' noise level; the stretch is ``stretch_sigmas`` times it.
        stretch_sigmas: Linear range of the asinh stretch, in noise sigmas.
    """
    from astropy.visualization import make_lupton_rgb

    stretch = stretch_sigmas * sigma if sigma > 0 else max(float(np.ptp(planes)), 1e-12)
    if len(planes) >= 3:
        red, green, blue = planes[-1], planes[len(planes) // 2], planes[0]
    elif len(planes) == 2:
        red, blue = planes[1], planes[0]
        green = (red + blue) / 2
    else:
        red = green = blue = planes[0]
    return make_lupton_rgb(red, green, blue, minimum=0.0, stretch=stretch, Q=LUPTON_Q)


def _png_bytes(rgb: np.ndarray) -> bytes:
    import matplotlib.image

    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, rgb, format="png", origin="lower")
    return buffer.getvalue()


def scale_bar_arcsec(width_arcsec: float) -> float:
    """A round bar length (0.5, 1, 2, 5, 10 ... arcsec) about a quarter of a stamp's width."""
    for length in (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0):
        if length >= width_arcsec / 4:
            return length
    return 100.0


def _montage(
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    path: Path,
    pixel_scale: float | None = None,
) -> None:
    from matplotlib.figure import Figure

    columns = min(MONTAGE_COLUMNS, max(len(images), 1))
    rows = max(1, -(-len(images) // columns))
    figure = Figure(figsize=(1.6 * columns, 1.8 * rows))
    for i in range(rows * columns):
        axis = figure.add_subplot(rows, columns, i + 1)
        axis.set_axis_off()
        if i < len(images):
            axis.imshow(images[i], origin="lower")
            axis.set_title(labels[i], fontsize=7)
            if pixel_scale:
                # A person judges an arc's radius against the seeing: give the panel a size.
                width = images[i].shape[1]
                length = scale_bar_arcsec(width * pixel_scale)
                pixels = length / pixel_scale
                x0, y0 = 0.06 * width, 0.08 * images[i].shape[0]
                axis.plot([x0, x0 + pixels], [y0, y0], color="white", linewidth=1.5)
                axis.text(
                    x0 + pixels / 2,
                    y0 + 0.04 * width,
                    f"{length:g}″",
                    color="white",
                    fontsize=6,
                    ha="center",
                    va="bottom",
                )
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)


def format_score(score: float) -> str:
    """A score as text that tells confident candidates apart: ``0.873``, ``1-3.2e-08``.

    Scores above 0.999 are written as their distance from 1, which is what ranks them
    (three decimals would show every one of them as 1.000).
    """
    if score > 0.999 and score < 1.0:
        return f"1-{1.0 - score:.1e}"
    return f"{score:.3f}"


def write_gallery(
    folder: str | os.PathLike[str],
    table: Any,
    stamps: np.ndarray,
    bands: Sequence[str],
    title: str,
    pixel_scale: float | None = None,
) -> Path:
    """Write ``montage.png`` and ``index.html`` for the catalog's first rows, atomically.

    Args:
        folder: Output folder (replaced if it exists).
        table: Candidate catalog rows, best first (``id``, ``score``, ``ra``, ``dec``, and
            ``known_name`` if cross-matched).
        stamps: (N, C, H, W) raw flux stamps of those rows.
        bands: Band names of the stamp planes.
        title: Page title (the field's name).
        pixel_scale: Arcsec per pixel: the montage's panels get a scale bar and the page
            says how wide a stamp is.

    Returns:
        The folder.
    """
    images = [colour_stamp(stamp, bands) for stamp in stamps]
    labels = [f"#{int(r['id'])} {format_score(float(r['score']))}" for r in table]
    rows_html = []
    for row, image in zip(table, images, strict=True):
        encoded = base64.b64encode(_png_bytes(image)).decode("ascii")
        known = str(row["known_name"]) if "known_name" in row.colnames else ""
        cells = [
            f'<img src="data:image/png;base64,{encoded}" width="192" height="192" alt="stamp">',
            str(int(row["id"])),
            format_score(float(row["score"])),
            f"{float(row['ra']):.6f}",
            f"{float(row['dec']):.6f}",
            f"{float(row['x']):.1f}, {float(row['y']):.1f}",
            html.escape(known),
        ]
        rows_html.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    across = ""
    if pixel_scale and len(stamps):
        across = f" Each stamp is {stamps.shape[-1] * pixel_scale:.1f}″ across."
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} candidates</title>
<style>body{{font-family:sans-serif}} td{{padding:4px 10px;text-align:center}}
img{{image-rendering:pixelated}}</style></head>
<body><h1>{html.escape(title)}: top {len(images)} candidates</h1>
<p>Bands {html.escape(",".join(bands))} as colour (reddest = red).
x, y are 0-based pixels.{across}</p>
<p><img src="montage.png" alt="montage"></p>
<table><tr><th>stamp</th><th>id</th><th>score</th><th>RA (deg)</th><th>Dec (deg)</th>
<th>x, y</th><th>known lens</th></tr>
{chr(10).join(rows_html)}
</table></body></html>
"""
    out = Path(folder)
    with atomic_output(out) as tmp:
        tmp.mkdir(parents=True)
        _montage(images, labels, tmp / "montage.png", pixel_scale)
        (tmp / "index.html").write_text(page)
    return out
