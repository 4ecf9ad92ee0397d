"""The per-field Zarr work store of a scan: staged chunks, score map and chunk status.

Layout of ``<work-dir>/<field>.zarr`` (Zarr format 3)::

    tiles/image    (chunks, C, T, T) float32  each spatial chunk of the field with its halo,
                                               one Zarr chunk each (removed when the field is done)
    tiles/bad      (chunks, T, T)    bool     bad-pixel mask of the same regions
    tiles/variance (chunks, C, T, T) float32  VARIANCE planes (detect mode, when the field
                                               has them)
    status         (chunks,)         uint8    0 pending, 1 staged, 2 scored (one Zarr chunk each)
    score          grid: (rows, cols) float64 one score per window position, NaN where skipped;
                   positions: (chunks, per-chunk) float64
    mask_fraction  same shape as score        bad-pixel fraction of each window
    detections/<chunk>/<column>       1-D     detect mode instead of the score map: every
                                               object a chunk owns, measured and scored
    attrs          format, run_key (inputs' hashes + model sha256 + settings), layout, field,
                   and once the catalog is written, its path and key

Every task writes only its own Zarr chunks, so workers never race. The store is created
under a temporary name and renamed; a chunk's status is written after its data, so a scan
killed at any point resumes from the last completed step of each chunk. A store whose
``run_key`` differs from the current run's (changed input, model or settings) is discarded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output
from lensscan.progress import logger

# 3: detections carry ``core``, which grouping needs; 4: tiles hold no infinities;
# 5: detect mode's local background and mesh-aligned regions (other detections than 4's).
STORE_FORMAT = "lensscan-scan-work/5"
PENDING, STAGED, SCORED = 0, 1, 2


def settings_key(settings: Mapping[str, Any]) -> str:
    """The SHA-256 key of settings: of their JSON with sorted keys (other values as text).

    A work store's ``run_key`` and a catalog's key are such keys, so any setting that
    changes the result changes the key.
    """
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class StoreLayout:
    """Shapes of a work store's arrays.

    Attributes:
        n_bands: Image planes per tile.
        n_chunks: Number of spatial chunks.
        tile_size: Side of the largest chunk region (chunk plus halo).
        score_shape: Shape of the score and mask-fraction arrays.
        score_chunks: Their Zarr chunk shape (one chunk per spatial chunk).
        variance: Whether tiles carry VARIANCE planes.
        detections: Whether chunks write detection tables (detect mode, no score map).
    """

    n_bands: int
    n_chunks: int
    tile_size: int
    score_shape: tuple[int, int]
    score_chunks: tuple[int, int]
    variance: bool = False
    detections: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (tuples as lists), as stored in the attributes."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class WorkStore:
    """A field's work store on disk (see the module docstring for the layout)."""

    def __init__(self, path: str | os.PathLike[str], mode: str = "r+") -> None:
        import zarr

        self.path = Path(path)
        self.group = zarr.open_group(str(self.path), mode=mode)

    @classmethod
    def prepare(
        cls,
        path: str | os.PathLike[str],
        run_key: str,
        layout: StoreLayout,
        attrs: dict[str, Any],
        fresh: bool,
    ) -> tuple[WorkStore, bool]:
        """Open a store for this run, reusing a matching one unless ``fresh``.

        Args:
            path: The ``.zarr`` folder.
            run_key: Hash of everything the scores depend on.
            layout: Array shapes.
            attrs: Extra attributes to record (field, bands, settings ...).
            fresh: Start afresh even if a matching store exists (``--overwrite``).

        Returns:
            The store and whether it was resumed.
        """
        store_path = Path(path)
        if store_path.exists() and not fresh:
            existing = cls._read_attrs(store_path)
            if (
                existing.get("format") == STORE_FORMAT
                and existing.get("run_key") == run_key
                and existing.get("layout") == layout.to_dict()
            ):
                return cls(store_path), True
            logger.info("%s: inputs, model or settings changed; starting afresh", store_path)
        cls._create(store_path, run_key, layout, attrs)
        return cls(store_path), False

    @staticmethod
    def _read_attrs(path: Path) -> dict[str, Any]:
        import zarr

        try:
            return dict(zarr.open_group(str(path), mode="r").attrs)
        except Exception:  # anything unreadable is simply not a reusable store
            return {}

    @staticmethod
    def _create(path: Path, run_key: str, layout: StoreLayout, attrs: dict[str, Any]) -> None:
        import zarr

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path) as tmp:
            group = zarr.open_group(str(tmp), mode="w")
            tiles = group.create_group("tiles")
            size = layout.tile_size
            # Tiles are temporary working copies of noisy floats: compression would cost
            # time and save little.
            tiles.create_array(
                "image",
                shape=(layout.n_chunks, layout.n_bands, size, size),
                chunks=(1, layout.n_bands, size, size),
                dtype="float32",
                fill_value=np.nan,
                compressors=None,
            )
            tiles.create_array(
                "bad",
                shape=(layout.n_chunks, size, size),
                chunks=(1, size, size),
                dtype="bool",
                fill_value=True,
            )
            if layout.variance:
                tiles.create_array(
                    "variance",
                    shape=(layout.n_chunks, layout.n_bands, size, size),
                    chunks=(1, layout.n_bands, size, size),
                    dtype="float32",
                    fill_value=np.nan,
                    compressors=None,
                )
            group.create_array(
                "status", shape=(layout.n_chunks,), chunks=(1,), dtype="uint8", fill_value=PENDING
            )
            if layout.detections:
                group.create_group("detections")
            # Scores in float64: confident probabilities differ only past float32's precision.
            maps = {"score": "float64", "mask_fraction": "float32"}
            for name, dtype in maps.items() if not layout.detections else ():
                group.create_array(
                    name,
                    shape=layout.score_shape,
                    chunks=layout.score_chunks,
                    dtype=dtype,
                    fill_value=np.nan,
                )
            group.attrs.update(
                {"format": STORE_FORMAT, "run_key": run_key, "layout": layout.to_dict(), **attrs}
            )

    @property
    def attrs(self) -> dict[str, Any]:
        """The store's attributes."""
        return dict(self.group.attrs)

    def update_attrs(self, values: dict[str, Any]) -> None:
        """Add or replace attributes."""
        self.group.attrs.update(values)

    def status(self) -> np.ndarray:
        """Status of every chunk (PENDING, STAGED or SCORED)."""
        return np.asarray(self.group["status"][:])

    def chunk_status(self, index: int) -> int:
        """Status of one chunk."""
        return int(self.group["status"][index])

    def set_status(self, index: int, value: int) -> None:
        """Record a chunk's status (after its data is written)."""
        self.group["status"][index] = value

    def write_tile(self, index: int, image: np.ndarray, bad: np.ndarray) -> None:
        """Store a chunk's region (smaller than the tile at the field's edges).

        Infinite pixels are stored as NaN (no data), which the models' normalisation
        handles; staging does this once, off the scoring path.
        """
        _, height, width = image.shape
        image = np.where(np.isinf(image), np.float32(np.nan), image)
        self.group["tiles/image"][index, :, :height, :width] = image
        self.group["tiles/bad"][index, :height, :width] = bad

    def read_tile(self, index: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Read a chunk's region back: ``(image (C, h, w), bad (h, w))``."""
        image = np.asarray(self.group["tiles/image"][index, :, :height, :width])
        bad = np.asarray(self.group["tiles/bad"][index, :height, :width])
        return image, bad

    def write_variance(self, index: int, variance: np.ndarray) -> None:
        """Store a chunk's VARIANCE planes (the store must have been made with them)."""
        _, height, width = variance.shape
        self.group["tiles/variance"][index, :, :height, :width] = variance

    def read_variance(self, index: int, height: int, width: int) -> np.ndarray | None:
        """A chunk's VARIANCE planes, or ``None`` when the store has none."""
        if "variance" not in self.group["tiles"]:
            return None
        return np.asarray(self.group["tiles/variance"][index, :, :height, :width])

    def write_detections(
        self, index: int, columns: dict[str, np.ndarray], good_pixels: int
    ) -> None:
        """Store the objects a chunk owns, one 1-D array per column (replacing any).

        Args:
            index: The chunk.
            columns: Column name -> values.
            good_pixels: Usable pixels in the chunk's core (0 when it is all masked).
        """
        group = self.group["detections"].require_group(str(index))
        group.attrs["good_pixels"] = int(good_pixels)
        for name, values in columns.items():
            values = np.ascontiguousarray(values)
            group.create_array(
                name,
                shape=values.shape,
                chunks=(max(len(values), 1),),
                dtype=values.dtype,
                overwrite=True,
            )[...] = values

    def read_detections(self, index: int) -> tuple[dict[str, np.ndarray], int]:
        """The columns and usable-pixel count a chunk wrote with :meth:`write_detections`."""
        group = self.group["detections"][str(index)]
        columns = {name: np.asarray(array[...]) for name, array in group.arrays()}
        return columns, int(group.attrs["good_pixels"])

    def write_scores(
        self, target: tuple[slice, slice], scores: np.ndarray, fractions: np.ndarray
    ) -> None:
        """Store a chunk's window scores and mask fractions at ``target``."""
        self.group["score"][target] = scores
        self.group["mask_fraction"][target] = fractions

    def read(self, name: str) -> np.ndarray:
        """Read a whole (small) array: ``score``, ``mask_fraction`` or ``status``."""
        return np.asarray(self.group[name][:])

    def drop_tiles(self) -> None:
        """Delete the staged tiles once every chunk is scored (they are the bulk of the store)."""
        tiles = self.path / "tiles"
        if tiles.exists():
            shutil.rmtree(tiles)
