"""Labelled cutout folders in the DeepLense layout.

``DIR/<prefix>lenses/*`` and ``DIR/<prefix>nonlenses/*``, where the prefix names the split
(``train_lenses``, ``test_nonlenses``; no prefix means an unsplit set). Each file is one
cutout: ``.npy`` with shape (C, H, W) or (H, W), or a FITS image with the same shapes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lensscan.bands import DEFAULT_BANDS
from lensscan.data.store import LENS, NONLENS
from lensscan.errors import UserError

_FOLDER = re.compile(r"^(?:(?P<split>[A-Za-z0-9]+)_)?(?P<kind>lenses|nonlenses|non_lenses)$")
_SUFFIXES = (".npy", ".fits", ".fit", ".fits.gz", ".fit.gz")
DEFAULT_FOLDER_BANDS: dict[int, tuple[str, ...]] = {3: DEFAULT_BANDS, 1: ("i",)}
"""Band names assumed for a folder of plain arrays, by channel count."""

UNSPLIT = "all"


@dataclass(frozen=True)
class LabelledFolder:
    """Cutouts read from a labelled folder.

    Attributes:
        images: (N, C, H, W) float32.
        labels: (N,) int8, 1 lens, 0 non-lens.
        splits: (N,) split names taken from the folder prefixes (``"all"`` when none).
        files: (N,) source file paths.
    """

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    files: np.ndarray


def _is_cutout(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_SUFFIXES)


def natural_key(path: Path) -> list[object]:
    """Sort key that orders ``2.npy`` before ``10.npy``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def read_cutout(path: Path) -> np.ndarray:
    """Read one cutout file as float32 (C, H, W).

    Raises:
        UserError: If the file cannot be read or has the wrong number of dimensions.
    """
    try:
        if path.name.lower().endswith(".npy"):
            data = np.load(path, allow_pickle=False)
        else:
            from astropy.io import fits

            with fits.open(path, memmap=False) as hdus:
                image_hdus = [h for h in hdus if h.is_image and h.data is not None]
                if not image_hdus:
                    raise UserError(f"{path}: FITS file holds no image")
                data = image_hdus[0].data
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path}: cannot read cutout ({exc})") from None
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3:
        raise UserError(f"{path}: expected a (C,H,W) or (H,W) cutout, got shape {data.shape}")
    return data


def folder_splits(root: str | os.PathLike[str]) -> dict[str, dict[int, list[Path]]]:
    """Find the labelled sub-folders of ``root``.

    Returns:
        ``{split: {label: [files]}}`` with files in natural order.

    Raises:
        UserError: If ``root`` is missing or has no labelled sub-folders.
    """
    base = Path(root)
    if not base.is_dir():
        raise UserError(f"{base}: not a directory")
    found: dict[str, dict[int, list[Path]]] = {}
    for sub in sorted(p for p in base.iterdir() if p.is_dir()):
        match = _FOLDER.match(sub.name)
        if not match:
            continue
        split = match["split"] or UNSPLIT
        label = LENS if match["kind"] == "lenses" else NONLENS
        files = sorted((p for p in sub.iterdir() if _is_cutout(p)), key=natural_key)
        found.setdefault(split, {}).setdefault(label, []).extend(files)
    if not found:
        raise UserError(
            f"{base}: no labelled folders (expected e.g. train_lenses/, test_nonlenses/ or lenses/)"
        )
    return found


def read_labelled_folder(root: str | os.PathLike[str], split: str | None = None) -> LabelledFolder:
    """Read every cutout of a labelled folder, or of one split of it.

    Args:
        root: The folder holding ``<prefix>lenses`` and ``<prefix>nonlenses``.
        split: Read only this split (the folder prefix), or everything when ``None``.

    Raises:
        UserError: If the split does not exist, a file is unreadable, the cutouts differ in
            shape, or there are no cutouts.
    """
    layout = folder_splits(root)
    if split is not None and split not in layout:
        raise UserError(f"{root}: no split {split!r}; splits present: {', '.join(sorted(layout))}")
    chosen = {split: layout[split]} if split is not None else layout
    images, labels, splits, files = [], [], [], []
    for split_name, by_label in chosen.items():
        for label, paths in sorted(by_label.items(), reverse=True):
            for path in paths:
                images.append(read_cutout(path))
                labels.append(label)
                splits.append(split_name)
                files.append(str(path))
    if not images:
        raise UserError(f"{root}: the labelled folders hold no .npy or FITS cutouts")
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise UserError(f"{root}: cutouts differ in shape: {sorted(shapes)}")
    return LabelledFolder(
        images=np.stack(images),
        labels=np.asarray(labels, dtype=np.int8),
        splits=np.asarray(splits),
        files=np.asarray(files),
    )
