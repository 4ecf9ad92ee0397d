"""Turn a labelled cutout folder into a cutout store."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.data.folders import DEFAULT_FOLDER_BANDS, read_labelled_folder
from lensscan.data.store import write_store
from lensscan.errors import UserError
from lensscan.provenance import provenance

DEFAULT_SPLIT_ORDER = ("train", "val", "test", "all")


def _split_order(name: str) -> tuple[int, str]:
    order = DEFAULT_SPLIT_ORDER
    return (order.index(name) if name in order else len(order)), name


def import_folder(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    bands: Sequence[str] | None = None,
    pixel_scale: float | None = None,
    domain: str = "imported",
    overwrite: bool = False,
) -> Path:
    """Import a labelled folder (DeepLense layout) into a cutout store.

    Args:
        source: The folder with ``<split>_lenses`` / ``<split>_nonlenses`` sub-folders.
        out: The ``.zarr`` store to write.
        bands: Band names, one per channel; defaults to ``g,r,i`` for three channels, ``i``
            for one and ``b0, b1 ...`` otherwise.
        pixel_scale: Pixel scale in arcsec, if known.
        domain: The domain name recorded in the store.
        overwrite: Replace an existing store.

    Returns:
        The store path.

    Raises:
        UserError: On a bad folder, band list or output path.
    """
    out_path = check_output_path(out, overwrite=overwrite)
    folder = read_labelled_folder(source)
    n_channels = folder.images.shape[1]
    if bands is None:
        bands = DEFAULT_FOLDER_BANDS.get(n_channels, tuple(f"b{k}" for k in range(n_channels)))
    if len(bands) != n_channels:
        raise UserError(
            f"`bands` {','.join(bands)}: cutouts in {source} have {n_channels} channels"
        )
    names = sorted(set(folder.splits), key=_split_order)
    codes = np.asarray([names.index(s) for s in folder.splits], dtype=np.int8)
    record = provenance(
        command="import",
        settings={"source": str(source), "bands": list(bands), "pixel_scale": pixel_scale},
        inputs=[source],
    )
    with atomic_output(out_path) as tmp:
        write_store(
            tmp,
            images=folder.images,
            labels=folder.labels,
            split=codes,
            split_names=names,
            bands=bands,
            pixel_scale=pixel_scale,
            attrs={"domain": domain, "provenance": record, "files": folder.files.tolist()},
        )
    return out_path
