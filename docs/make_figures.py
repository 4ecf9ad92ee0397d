"""Render the simulation figures in docs/: a montage per domain and a simulated field.

Usage::

    python docs/make_figures.py            # all figures
    python docs/make_figures.py montage    # only the domain montages
    python docs/make_figures.py field      # only the field view
    python docs/make_figures.py inject     # arcs injected into real HSC cutouts

Colour composites map i, r, g to red, green, blue with an asinh stretch (Lupton et al.
2004) common to all panels of a figure, so brightness and colour compare across panels.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from lensscan.simulate.cutouts.blocks import make_items
from lensscan.simulate.cutouts.plan import item_seeds

DOCS = Path(__file__).resolve().parent
BANDS = ("g", "r", "i")
SOFTENING = 0.06  # asinh softening, in flux units (about 2 sky sigma in g)
MAX_FLUX = 15.0


def asinh_rgb(
    gri: np.ndarray, softening: float = SOFTENING, maximum: float = MAX_FLUX
) -> np.ndarray:
    """(3, H, W) g, r, i flux -> (H, W, 3) RGB in [0, 1] (i red, r green, g blue)."""
    g, r, i = (np.asarray(band, float) for band in gri)
    red, green, blue = i * 1.0, r * 1.2, g * 2.0
    intensity = (red + green + blue) / 3
    scale = np.arcsinh(intensity / softening) / np.arcsinh(maximum / softening)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(intensity > 0, scale / intensity, 0.0)
    rgb = np.stack([red, green, blue], axis=-1) * factor[..., None]
    # Scale saturated pixels as a whole so that bright cores keep their hue.
    peak = np.maximum(rgb.max(axis=-1, keepdims=True), 1.0)
    return np.clip(rgb / peak, 0.0, 1.0)


def save_small_png(figure: plt.Figure, path: Path) -> None:
    """Save a figure as a 256-colour PNG (noisy astronomical images compress badly)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    buffer.seek(0)
    image = Image.open(buffer).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def montage(
    domain: str, path: Path, n_lenses: int = 12, n_nonlenses: int = 12, seed: int = 7
) -> None:
    """A grid of lenses (top rows) and non-lenses (bottom rows) of one domain."""
    labels = np.array([1] * n_lenses + [0] * n_nonlenses, np.int8)
    images, params = make_items(domain, BANDS, item_seeds(seed, len(labels)), labels)
    columns = 8
    rows = int(np.ceil(len(labels) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.25, rows * 1.6), dpi=80)
    central_types = None
    if domain == "hsc-galsim":
        from lensscan.simulate.domains.hsc_galsim.population import CENTRAL_TYPE_CODES

        central_types = CENTRAL_TYPE_CODES
    elif domain.startswith("hsc"):
        from lensscan.simulate.populations.centrals import CENTRAL_TYPE_CODES

        central_types = CENTRAL_TYPE_CODES
    for k, axis in enumerate(axes.ravel()):
        axis.set_axis_off()
        if k >= len(labels):
            continue
        axis.imshow(asinh_rgb(images[k]), origin="lower", interpolation="nearest")
        if labels[k]:
            text = f'lens θE={params["einstein_radius"][k]:.2f}"'
        elif central_types is not None:
            text = central_types[int(params["central_type"][k])]
        else:
            text = "non-lens"
        axis.set_title(text, fontsize=7, color="darkred" if labels[k] else "black", pad=2)
    figure.suptitle(f'lensscan simulate --domain {domain} (gri, asinh; 10.75" cutouts)', fontsize=9)
    figure.tight_layout(pad=0.3, h_pad=0.9, rect=(0, 0, 1, 0.95))
    save_small_png(figure, path)


def field_view(path: Path, size: int = 1200, seed: int = 3) -> None:
    """A simulated gri patch with its injected lenses circled, and zooms on four lenses."""
    from astropy.io import fits
    from astropy.table import Table

    from lensscan.simulate.fields.calexp import calexp_name
    from lensscan.simulate.fields.request import FieldRequest
    from lensscan.simulate.fields.run import simulate_field_patch

    with tempfile.TemporaryDirectory() as tmp:
        request = FieldRequest(size=size, bands="gri", n_lenses=12, seed=seed)
        out = Path(tmp) / "field"
        simulate_field_patch(request, out)
        planes = [
            fits.getdata(out / calexp_name(band, request.tract, request.patch), "IMAGE")
            for band in BANDS
        ]
        truth = Table.read(out / "truth.ecsv")
    gri = np.stack(planes)
    figure = plt.figure(figsize=(9.0, 6.0), dpi=72)
    main = figure.add_axes((0.0, 0.0, 0.66, 0.94))
    main.imshow(asinh_rgb(gri[:, ::2, ::2], maximum=30.0), origin="lower", interpolation="lanczos")
    for row in truth:
        main.add_patch(
            plt.Circle((row["x"] / 2, row["y"] / 2), 14, fill=False, color="yellow", lw=0.8)
        )
    main.set_axis_off()
    main.set_title(
        f"simulate-field: {size}x{size} px gri patch, {len(truth)} injected lenses (circled)",
        fontsize=9,
    )
    for k, row in enumerate(truth[:4]):
        axis = figure.add_axes((0.68 + 0.16 * (k % 2), 0.5 - 0.46 * (k // 2), 0.15, 0.42))
        x, y = round(float(row["x"])), round(float(row["y"]))
        half = 32
        stamp = gri[:, max(y - half, 0) : y + half, max(x - half, 0) : x + half]
        axis.imshow(asinh_rgb(stamp), origin="lower", interpolation="nearest")
        axis.set_title(f'lens {row["id"]}: θE={row["einstein_radius_arcsec"]:.2f}"', fontsize=7)
        axis.set_axis_off()
    save_small_png(figure, path)


REALDATA = DOCS.parent.parent / "shared" / "realdata"


def _stretched(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """An asinh colour image of a cutout in any units: each band in its sky-noise units.

    ``reference`` (the untouched cutout) sets every band's sky level, noise and the top of
    the stretch, so that a pair of panels compares pixel for pixel.
    """
    from lensscan.simulate.inject.deflector import sky_statistics

    sky, sigma = sky_statistics(reference)
    scaled = (image - sky[:, None, None]) / sigma[:, None, None]
    top = float(np.percentile((reference - sky[:, None, None]) / sigma[:, None, None], 99.8))
    return asinh_rgb(scaled * SOFTENING / 2.0, maximum=max(top, 5.0) * SOFTENING / 2.0)


def injection_montage(path: Path, seed: int = 11) -> None:
    """Real HSC cutouts (the sample's 10 training non-lenses) beside the same with arcs.

    Each pair shares one stretch (set by the untouched cutout), so the arc is the only
    difference; the right panel is the arc signal-to-noise of a larger run.
    """
    from lensscan.data.folders import natural_key
    from lensscan.data.store import LENS, CutoutStore
    from lensscan.simulate.inject.plan import dihedral_transform
    from lensscan.simulate.inject.request import InjectionRequest
    from lensscan.simulate.inject.run import inject_arcs

    folder = REALDATA / "hsc_gri_sample40" / "train_nonlenses"
    if not folder.is_dir():
        print(f"skipping {path.name}: {folder} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        common = {"background_bands": BANDS, "pixel_scale": 0.168, "seed": seed}
        shown = Path(tmp) / "shown.zarr"
        inject_arcs(
            InjectionRequest(backgrounds=(str(folder),), lens_fraction=1.0, n=10, **common),
            shown,
        )
        many = Path(tmp) / "many.zarr"
        inject_arcs(
            InjectionRequest(backgrounds=(str(folder),), n=80, rotations=True, **common), many
        )
        store = CutoutStore.open(shown)
        injected, params = store.read_images(), store.params()
        order = sorted(folder.iterdir(), key=natural_key)
        backgrounds = np.stack([np.load(p) for p in order])
        pool = CutoutStore.open(many).params()
        snr = pool["arc_snr"][pool["true_label"] == LENS]
    figure = plt.figure(figsize=(10.5, 5.0), dpi=80)
    for k in range(10):
        row, column = divmod(k, 5)
        untouched = dihedral_transform(backgrounds[params["background_index"][k]], 0)
        for side, image in enumerate((untouched, injected[k])):
            axis = figure.add_axes(
                (0.01 + column * 0.145 + side * 0.07, 0.52 - row * 0.46, 0.068, 0.4)
            )
            axis.imshow(_stretched(image, untouched), origin="lower", interpolation="nearest")
            axis.set_axis_off()
            if side:
                axis.set_title(
                    f'θE={params["einstein_radius"][k]:.2f}" S/N={params["arc_snr"][k]:.0f}',
                    fontsize=6,
                    pad=2,
                )
            else:
                axis.set_title("real", fontsize=6, pad=2)
    histogram = figure.add_axes((0.77, 0.14, 0.21, 0.72))
    histogram.hist(np.log10(snr), bins=20, color="0.4")
    histogram.axvline(np.log10(20.0), color="darkred", lw=1)
    histogram.set_xlabel("log10 arc S/N (matched filter)", fontsize=8)
    histogram.set_ylabel("injected lenses", fontsize=8)
    histogram.tick_params(labelsize=7)
    histogram.set_title(f"{len(snr)} arcs; cut at S/N 20", fontsize=8)
    figure.suptitle(
        "lensscan simulate --domain inject: real HSC gri cutouts (left of each pair) "
        "and the same with a simulated arc",
        fontsize=9,
    )
    save_small_png(figure, path)


def main(which: str = "all") -> None:
    """Render the requested figures into docs/."""
    if which in ("all", "montage"):
        montage("sim", DOCS / "montage_sim.png")
        montage("hsc", DOCS / "montage_hsc.png")
        montage("hsc-train", DOCS / "montage_hsc_train.png", n_nonlenses=20)
        montage("hsc-heldout", DOCS / "montage_hsc_heldout.png", n_nonlenses=20)
        montage("hsc-galsim", DOCS / "montage_hsc_galsim.png", n_nonlenses=20)
    if which in ("all", "field"):
        field_view(DOCS / "field.png")
    if which in ("all", "inject"):
        injection_montage(DOCS / "inject_real_hsc.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "all")
