"""The labelled cutout store: a Zarr group of images, labels, splits and per-item parameters.

Layout of ``NAME.zarr`` (Zarr format 3)::

    images   (N, C, H, W) float32   flux in zero-point-27 units (or as imported), bands in attrs
    labels   (N,)         int8      1 lens, 0 non-lens, -1 unknown (an unlabelled pool)
    split    (N,)         int8      index into attrs["split_names"]
    params/  one (N,) array per per-item parameter (Einstein radius, magnitudes, seeds ...)
    attrs    bands, pixel_scale, domain, split_names, generator/provenance records, complete

A store is written under a temporary name and renamed when complete, and its
``complete`` attribute is set last, so an interrupted run never leaves a store that looks
finished.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.errors import UserError

LENS, NONLENS, UNLABELLED = 1, 0, -1
STORE_FORMAT = "lensscan-cutouts/1"


@dataclass(frozen=True)
class CutoutStore:
    """A read-only view of a cutout store on disk.

    Attributes:
        path: The store's path.
        group: The open Zarr group.
    """

    path: Path
    group: Any

    @classmethod
    def open(cls, path: str | os.PathLike[str], option: str | None = None) -> CutoutStore:
        """Open and validate a store.

        Args:
            path: The ``.zarr`` directory.
            option: The setting that named it, by its Python name (``target``), for
                messages; None for a store no setting named, which messages call "store".

        Raises:
            UserError: If the path is missing, not a store, or incomplete.
        """
        import zarr

        store_path = Path(path)
        named = f"`{option}` {store_path}" if option is not None else f"store {store_path}"
        if not store_path.exists():
            raise UserError(f"{named}: no such file or directory")
        try:
            group = zarr.open_group(str(store_path), mode="r")
        except Exception as exc:  # zarr raises several types for "not a group"
            raise UserError(f"{named}: not a Zarr cutout store ({exc})") from None
        attrs = dict(group.attrs)
        if attrs.get("format") != STORE_FORMAT:
            raise UserError(f"{named}: not a lensscan cutout store")
        if not attrs.get("complete", False):
            raise UserError(f"{named}: store is incomplete (an interrupted write?)")
        store = cls(store_path, group)
        if len(store) == 0:
            raise UserError(f"{named}: store holds no images")
        return store

    @cached_property
    def attrs(self) -> dict[str, Any]:
        """The store's attributes."""
        return dict(self.group.attrs)

    @property
    def images(self) -> Any:
        """The (N, C, H, W) image array (lazy; index it to read)."""
        return self.group["images"]

    @cached_property
    def labels(self) -> np.ndarray:
        """Labels (N,) int8: 1 lens, 0 non-lens, -1 unlabelled."""
        return np.asarray(self.group["labels"][:])

    @cached_property
    def split_codes(self) -> np.ndarray:
        """Split codes (N,) int8, indices into :attr:`split_names`."""
        return np.asarray(self.group["split"][:])

    @property
    def split_names(self) -> list[str]:
        """Names of the splits the codes refer to."""
        return list(self.attrs["split_names"])

    @property
    def bands(self) -> tuple[str, ...]:
        """Band names, one per image channel."""
        return tuple(self.attrs["bands"])

    @property
    def pixel_scale(self) -> float | None:
        """Pixel scale in arcsec, if known."""
        value = self.attrs.get("pixel_scale")
        return None if value is None else float(value)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one cutout."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def splits_present(self) -> list[str]:
        """Names of the splits that hold at least one item."""
        codes = np.unique(self.split_codes)
        return [self.split_names[c] for c in codes]

    def split_indices(self, split: str | None) -> np.ndarray:
        """Indices of the items in a split (all items for ``None``).

        Raises:
            UserError: If the split does not exist or is empty.
        """
        if split is None:
            return np.arange(len(self))
        present = self.splits_present()
        if split not in present:
            raise UserError(
                f"store {self.path}: no split {split!r}; splits present: {', '.join(present)}"
            )
        return np.flatnonzero(self.split_codes == self.split_names.index(split))

    def labelled_indices(self, split: str | None) -> np.ndarray:
        """Indices of the items in a split that hold a label (lens or non-lens).

        Raises:
            UserError: If the split does not exist or is empty.
        """
        indices = self.split_indices(split)
        return indices[self.labels[indices] >= 0]

    def read_images(self, indices: np.ndarray | slice | None = None) -> np.ndarray:
        """Read images (all, a slice, or sorted integer indices) as float32."""
        if indices is None:
            return np.asarray(self.images[:], dtype=np.float32)
        if isinstance(indices, slice):
            return np.asarray(self.images[indices], dtype=np.float32)
        indices = np.asarray(indices)
        if indices.size == 0:
            return np.zeros((0, *self.image_shape), np.float32)
        order = np.argsort(indices, kind="stable")
        data = np.asarray(self.images.get_orthogonal_selection((indices[order],)), np.float32)
        out = np.empty_like(data)
        out[order] = data
        return out

    def params(self) -> dict[str, np.ndarray]:
        """The per-item parameter table as a dict of (N,) arrays (empty if none)."""
        if "params" not in self.group:
            return {}
        table = self.group["params"]
        return {name: np.asarray(table[name][:]) for name in sorted(table.array_keys())}


@dataclass(frozen=True)
class ImageBlocks:
    """Images that their maker writes into a new store itself, block by block.

    Parallel tasks that each write whole chunks of the image array keep the images out of
    the calling process (no copies through it), and can report per-item parameters they
    learn while making the images.

    Attributes:
        shape: (N, C, H, W) of all the images.
        write: Called once with the store's empty float32 Zarr image array, chunked by
            ``chunk_items`` along N; it fills every image and returns parameter columns
            (each (N,)) to store beside any given to :func:`write_store`, or None.
        param_dtypes: Name -> dtype of the columns ``write`` returns, if known: their
            arrays are then made before the images (Zarr takes milliseconds per array),
            leaving only their values to write once the images are done.
    """

    shape: tuple[int, int, int, int]
    write: Callable[[Any], Mapping[str, np.ndarray] | None]
    param_dtypes: Mapping[str, Any] = field(default_factory=dict)


def write_store(
    path: str | os.PathLike[str],
    *,
    images: Any,
    labels: np.ndarray,
    split: np.ndarray,
    split_names: Sequence[str],
    bands: Sequence[str],
    pixel_scale: float | None,
    attrs: Mapping[str, Any],
    params: Mapping[str, np.ndarray] | None = None,
    chunk_items: int = 256,
) -> None:
    """Write a complete store at ``path`` (which must not exist; callers write atomically).

    Args:
        path: Where to write the ``.zarr`` directory.
        images: (N, C, H, W) float32, a NumPy array, a Dask array (computed chunk by chunk)
            or :class:`ImageBlocks` written by their maker.
        labels: (N,) labels (1, 0 or -1).
        split: (N,) split codes, indices into ``split_names``.
        split_names: Names of the splits.
        bands: Band names, one per channel.
        pixel_scale: Pixel scale in arcsec, if known.
        attrs: Further attributes (domain, provenance, generator settings ...).
        params: Per-item parameter columns, each (N,).
        chunk_items: Images per Zarr chunk along N.
    """
    import zarr

    n, n_bands, height, width = images.shape
    if n_bands != len(bands):
        raise ValueError(f"images have {n_bands} channels but {len(bands)} band names")
    group = zarr.open_group(str(path), mode="w-")
    chunk_n = max(1, min(chunk_items, n))
    image_array = group.create_array(
        "images", shape=images.shape, dtype="float32", chunks=(chunk_n, n_bands, height, width)
    )
    for name, values, dtype in (("labels", labels, "int8"), ("split", split, "int8")):
        values = np.asarray(values)
        if values.shape != (n,):
            raise ValueError(f"{name} has shape {values.shape}, expected ({n},)")
        array = group.create_array(name, shape=(n,), dtype=dtype, chunks=(max(1, n),))
        array[...] = values.astype(dtype)
    declared = dict(images.param_dtypes) if isinstance(images, ImageBlocks) else {}
    table = group.create_group("params") if params or declared else None
    columns = {
        name: table.create_array(name, shape=(n,), dtype=dtype, chunks=(max(1, n),))
        for name, dtype in declared.items()
    }
    if isinstance(images, ImageBlocks):
        params = {**(params or {}), **(images.write(image_array) or {})}
        if declared.keys() - params.keys():
            raise ValueError(f"parameters never written: {sorted(declared.keys() - params)}")
    elif hasattr(images, "dask"):
        import dask.array as da

        # Blocks aligned with the Zarr chunks, so concurrent writers never share a chunk.
        chunks = (chunk_n, n_bands, height, width)
        da.store(images.astype(np.float32).rechunk(chunks), image_array, lock=False)
    else:
        image_array[...] = np.asarray(images, dtype=np.float32)
    if params:
        if table is None:
            table = group.create_group("params")
        for name, values in params.items():
            values = np.asarray(values)
            if values.shape != (n,):
                raise ValueError(f"params[{name!r}] has shape {values.shape}, expected ({n},)")
            if name not in columns:
                columns[name] = table.create_array(
                    name, shape=(n,), dtype=values.dtype, chunks=(max(1, n),)
                )
            columns[name][...] = values
    group.attrs.update(
        {
            **dict(attrs),
            "format": STORE_FORMAT,
            "bands": list(bands),
            "pixel_scale": pixel_scale,
            "split_names": list(split_names),
            "n_items": int(n),
        }
    )
    group.attrs["complete"] = True
