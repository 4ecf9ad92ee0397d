"""Load a labelled evaluation set from a cutout store or a labelled folder.

Either source yields the same :class:`EvaluationSet`: images, 0/1 labels, band names and a
name per item (the file for a folder, ``store[index]`` for a store), plus notes that the
report repeats (for example, how many unlabelled items were left out).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.data.folders import DEFAULT_FOLDER_BANDS
from lensscan.data.store import LENS, NONLENS, UNLABELLED
from lensscan.errors import UserError
from lensscan.evaluate.settings import check_rescaling


@dataclass(frozen=True)
class EvaluationSet:
    """The labelled cutouts a model is evaluated on.

    Attributes:
        images: (N, C, H, W) float32 in :attr:`bands` order.
        labels: (N,) int8, 1 lens, 0 non-lens.
        bands: Band name of each channel.
        names: (N,) a name for each item, for montages and the score table.
        source: The store or folder the set was read from.
        split: The split evaluated.
        notes: Lines the report repeats about how the set was selected.
    """

    images: np.ndarray
    labels: np.ndarray
    bands: tuple[str, ...]
    names: np.ndarray
    source: Path
    split: str
    notes: tuple[str, ...] = ()

    @property
    def n_lenses(self) -> int:
        """Number of lenses."""
        return int(np.sum(self.labels == LENS))

    @property
    def n_nonlenses(self) -> int:
        """Number of non-lenses."""
        return int(np.sum(self.labels == NONLENS))

    def select_bands(self, wanted: Sequence[str]) -> EvaluationSet:
        """The same set with only the ``wanted`` bands, in that order.

        Bands the set lacks are left for the model's own input check to report.
        """
        if tuple(wanted) == self.bands or not set(wanted) <= set(self.bands):
            return self
        channels = [self.bands.index(band) for band in wanted]
        return EvaluationSet(
            images=self.images[:, channels],
            labels=self.labels,
            bands=tuple(wanted),
            names=self.names,
            source=self.source,
            split=self.split,
            notes=self.notes,
        )

    def rescaled(self, how: str) -> EvaluationSet:
        """The same set with every cutout rescaled (``none`` or ``minmax``).

        ``minmax`` maps each band of each cutout linearly to [0, 1], as the DeepLense and
        many published cutout sets are stored.

        Raises:
            SettingError: If ``how`` is not one of :data:`~lensscan.evaluate.settings.RESCALINGS`.
        """
        check_rescaling(how)
        if how == "none":
            return self
        low = np.nanmin(self.images, axis=(2, 3), keepdims=True)
        span = np.nanmax(self.images, axis=(2, 3), keepdims=True) - low
        images = ((self.images - low) / np.where(span > 0, span, 1.0)).astype(np.float32)
        note = "cutouts rescaled per band to [0, 1] (min-max) before scoring"
        return replace(self, images=images, notes=(*self.notes, note))

    def require_both_classes(self) -> None:
        """Raise a :class:`UserError` unless the set holds lenses and non-lenses.

        Raises:
            UserError: If either class is missing (AUROC and the ranking metrics need both).
        """
        if self.n_lenses == 0 or self.n_nonlenses == 0:
            why = f" ({self.notes[0]})" if self.notes else ""
            raise UserError(
                f"`data` {self.source}: split {self.split!r} holds {self.n_lenses} lenses and "
                f"{self.n_nonlenses} non-lenses{why}; AUROC and the ranking metrics are "
                "undefined without both classes"
            )


def is_cutout_store(path: Path) -> bool:
    """Whether ``path`` looks like a Zarr store (rather than a labelled folder)."""
    return path.suffix == ".zarr" or (path / "zarr.json").is_file()


def _read_store_images(store: Any, indices: np.ndarray) -> np.ndarray:
    """Read items by index; a contiguous run is read as one slice (much faster in Zarr)."""
    contiguous = indices.size > 0 and indices[-1] - indices[0] + 1 == indices.size
    if contiguous and np.all(np.diff(indices) == 1):
        return store.read_images(slice(int(indices[0]), int(indices[-1]) + 1))
    return store.read_images(indices)


def _from_store(path: Path, split: str, bands: tuple[str, ...] | None) -> EvaluationSet:
    from lensscan.data.store import CutoutStore

    store = CutoutStore.open(path, option="data")
    if bands is not None and bands != store.bands:
        raise UserError(
            f"`bands` {','.join(bands)}: store {path} records its bands as "
            f"{','.join(store.bands)}; leave `bands` out for a store"
        )
    indices = store.split_indices(split)
    labels = store.labels[indices]
    labelled = np.isin(labels, (LENS, NONLENS))
    notes = []
    n_unlabelled = int(np.sum(labels == UNLABELLED))
    if n_unlabelled:
        hidden = " (their hidden true labels in params['true_label'] are not used)"
        notes.append(
            f"{n_unlabelled} unlabelled items (label -1) in split {split!r} are left out; "
            f"only the {int(labelled.sum())} labelled items are evaluated"
            + (hidden if "true_label" in store.params() else "")
        )
    indices = indices[labelled]
    return EvaluationSet(
        images=_read_store_images(store, indices),
        labels=labels[labelled].astype(np.int8),
        bands=store.bands,
        names=np.asarray([f"{path.name}[{i}]" for i in indices]),
        source=path,
        split=split,
        notes=tuple(notes),
    )


def _from_folder(path: Path, split: str, bands: tuple[str, ...] | None) -> EvaluationSet:
    from lensscan.data.folders import read_labelled_folder

    folder = read_labelled_folder(path, split)
    n_channels = folder.images.shape[1]
    if bands is None:
        if n_channels not in DEFAULT_FOLDER_BANDS:
            raise UserError(
                f"`data` {path}: cutouts have {n_channels} channels; name them with `bands`"
            )
        bands = DEFAULT_FOLDER_BANDS[n_channels]
    if len(bands) != n_channels:
        raise UserError(f"`bands` {','.join(bands)}: cutouts in {path} have {n_channels} channels")
    root = path.resolve()
    names = np.asarray([str(Path(f).resolve().relative_to(root)) for f in folder.files])
    return EvaluationSet(
        images=folder.images,
        labels=folder.labels.astype(np.int8),
        bands=tuple(bands),
        names=names,
        source=path,
        split=split,
    )


def load_evaluation_set(
    path: str | os.PathLike[str], split: str, bands: Sequence[str] | None = None
) -> EvaluationSet:
    """Read the labelled items of one split of a store or a labelled folder.

    Args:
        path: A cutout store (``.zarr``) or a folder in the DeepLense layout
            (``DIR/test_lenses``, ``DIR/test_nonlenses`` ...).
        split: The split to evaluate (a store split name or a folder prefix).
        bands: Band names of a folder's channels; defaults to ``g,r,i`` for three channels
            and ``i`` for one. A store records its own bands.

    Returns:
        The evaluation set (both classes not yet checked; see
        :meth:`EvaluationSet.require_both_classes`).

    Raises:
        UserError: If the path, split or bands are wrong.
    """
    source = Path(path)
    if not source.exists():
        raise UserError(f"`data` {source}: no such file or directory")
    band_tuple = tuple(bands) if bands is not None else None
    reader = _from_store if is_cutout_store(source) else _from_folder
    return reader(source, split, band_tuple)
