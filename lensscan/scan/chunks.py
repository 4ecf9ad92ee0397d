"""The two tasks a field's chunk goes through, and the grid and positions chunk jobs.

``stage_chunk`` reads the chunk's region (with its halo) from the FITS files once and
writes it to the Zarr work store; ``score_chunk`` reads it back (the job's ``prepare``,
which the in-process runner calls ahead on its helper thread) and processes it. Both
call the job's own ``stage`` and ``score`` (:class:`ChunkJob`). Grid and positions scans
(:class:`GridJob` and :class:`PositionsJob`, here, which differ only in where their windows
lie) score their windows (:mod:`lensscan.scan.scoring`) and write the scores and bad-pixel
fractions into the work store's score map; detect mode's job is in
:mod:`lensscan.scan.detections`. Both tasks are idempotent and skip work a previous run
finished, which is what makes a scan resumable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from lensscan.scan.fits_io import FieldInputs
from lensscan.scan.model_cache import ModelRef, Scorer, model_for
from lensscan.scan.scoring import forward_windows
from lensscan.scan.tiling import (
    ChunkGrid,
    PositionChunk,
    WindowGrid,
    position_chunks,
    window_fractions,
)
from lensscan.scan.workstore import SCORED, STAGED, StoreLayout, WorkStore


class ChunkJob(Protocol):
    """A field's chunked work: what the runners need (grid/positions and detect jobs)."""

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""

    def layout(self) -> StoreLayout:
        """Shapes of the work store's arrays."""

    def stage(self, index: int) -> int:
        """Copy chunk ``index``'s region into the work store; idempotent."""

    def prepare(self, index: int) -> Any:
        """Read staged chunk ``index`` back (with what the job can do ahead), or ``None``.

        The in-process runner calls this on its helper thread, so that reading and
        preparing the next chunk overlap with the model on the current one.
        """

    def score(self, index: int, prepared: Any = None) -> int:
        """Process staged chunk ``index`` (``prepare``'s result, if given); idempotent."""


@dataclass(frozen=True)
class ChunkWindows:
    """The windows of one chunk.

    Attributes:
        region: Pixel region ``(y0, y1, x0, x1)`` read for the chunk.
        starts_y: Window row starts relative to the region, one per window.
        starts_x: Window column starts relative to the region.
        target: Where the chunk's scores go in the work store's score array.
        shape: Shape of that block (the flat scores are reshaped to it).
    """

    region: tuple[int, int, int, int]
    starts_y: np.ndarray
    starts_x: np.ndarray
    target: tuple[slice, slice]
    shape: tuple[int, int]

    @property
    def region_shape(self) -> tuple[int, int]:
        """(height, width) of the region."""
        y0, y1, x0, x1 = self.region
        return y1 - y0, x1 - x0


@dataclass(frozen=True)
class PreparedChunk:
    """A staged chunk read back, ready for the model.

    Attributes:
        windows: The chunk's windows.
        image: (C, h, w) float32 region (NaN where there is no data).
        fractions: Bad-pixel fraction of each window.
    """

    windows: ChunkWindows
    image: np.ndarray
    fractions: np.ndarray


@dataclass(frozen=True, kw_only=True)
class WindowJob(ABC):
    """A grid or positions field's chunks of model-size windows (small and picklable).

    Attributes:
        inputs: The field's files and bands.
        store: Path of the field's Zarr work store.
        model: How to get the model.
        size: Window size (the model's input size).
        chunk_size: Chunk side in pixels.
        max_mask_fraction: Windows with more bad pixels are skipped (score NaN).
        batch_size: Windows per forward pass.
        tta: Average each window's score over its 8 flips and 90-degree rotations.
    """

    inputs: FieldInputs
    store: str
    model: ModelRef
    size: int
    chunk_size: int
    max_mask_fraction: float
    batch_size: int
    tta: bool = False

    @property
    @abstractmethod
    def n_chunks(self) -> int:
        """Number of chunks."""

    @abstractmethod
    def layout(self) -> StoreLayout:
        """Shapes of the work store's arrays."""

    @abstractmethod
    def windows(self, index: int) -> ChunkWindows:
        """The windows of chunk ``index``."""

    def stage(self, index: int) -> int:
        """Copy a chunk's region (bands and bad-pixel mask) from the FITS files into Zarr."""
        store = WorkStore(self.store)
        if store.chunk_status(index) >= STAGED:
            return index
        image, bad = self.inputs.read_region(self.windows(index).region)
        store.write_tile(index, image, bad)
        store.set_status(index, STAGED)
        return index

    def prepare(self, index: int) -> PreparedChunk | None:
        """A staged chunk's region and its windows' bad-pixel fractions (None if scored)."""
        store = WorkStore(self.store)
        if store.chunk_status(index) >= SCORED:
            return None
        windows = self.windows(index)
        image, bad = store.read_tile(index, *windows.region_shape)
        fractions = window_fractions(bad, windows.starts_y, windows.starts_x, self.size)
        return PreparedChunk(windows, image, fractions)

    def score(self, index: int, prepared: PreparedChunk | None = None) -> int:
        """Score a staged chunk's windows and write them into the score map."""
        # prepare() returns None for a chunk already scored, which keeps this idempotent.
        chunk = prepared if prepared is not None else self.prepare(index)
        if chunk is None:
            return index
        scores, fractions = score_region(
            model_for(self.model), chunk, self.max_mask_fraction, self.batch_size, self.tta
        )
        store = WorkStore(self.store)
        store.write_scores(chunk.windows.target, scores, fractions)
        store.set_status(index, SCORED)
        return index


@dataclass(frozen=True, kw_only=True)
class GridJob(WindowJob):
    """A dense grid of windows over the whole field; the score map is the grid's shape.

    Attributes:
        stride: Step of the window grid.
    """

    stride: int

    @property
    def grid(self) -> WindowGrid:
        """The dense window grid over the field."""
        height, width = self.inputs.shape
        return WindowGrid(height, width, self.size, self.stride)

    @cached_property
    def chunk_grid(self) -> ChunkGrid:
        """The grid's chunks."""
        return ChunkGrid(self.grid, self.chunk_size)

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return len(self.chunk_grid)

    def layout(self) -> StoreLayout:
        """Shapes of the work store's arrays: the score map is chunked like the grid."""
        per = self.chunk_grid.windows_per_chunk
        return StoreLayout(
            len(self.inputs.bands),
            self.n_chunks,
            self.chunk_grid.tile_size,
            self.grid.shape,
            (per, per),
        )

    def windows(self, index: int) -> ChunkWindows:
        """The windows of chunk ``index``: a block of the grid."""
        chunk = self.chunk_grid.chunk(index)
        y0, _, x0, _ = chunk.region
        starts_y = self.grid.starts_y[slice(*chunk.rows)] - y0
        starts_x = self.grid.starts_x[slice(*chunk.cols)] - x0
        flat_y, flat_x = np.meshgrid(starts_y, starts_x, indexing="ij")
        return ChunkWindows(
            region=chunk.region,
            starts_y=flat_y.ravel(),
            starts_x=flat_x.ravel(),
            target=(slice(*chunk.rows), slice(*chunk.cols)),
            shape=(len(starts_y), len(starts_x)),
        )


@dataclass(frozen=True, kw_only=True)
class PositionsJob(WindowJob):
    """Windows centred on catalogued positions, chunked by the block their start falls in.

    Row ``k`` of the score map holds chunk ``k``'s windows, in the order of its members.

    Attributes:
        starts: ``(starts_y, starts_x)`` of the windows, all inside the field.
    """

    starts: tuple[np.ndarray, np.ndarray] = field(compare=False)

    @cached_property
    def position_chunks(self) -> list[PositionChunk]:
        """The windows' chunks."""
        starts_y, starts_x = self.starts
        return position_chunks(starts_y, starts_x, self.size, self.chunk_size)

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return len(self.position_chunks)

    def layout(self) -> StoreLayout:
        """Shapes of the work store's arrays: one score-map row per chunk."""
        widest = max(len(c.members) for c in self.position_chunks)
        tile = self.chunk_size + self.size - 1
        return StoreLayout(
            len(self.inputs.bands), self.n_chunks, tile, (self.n_chunks, widest), (1, widest)
        )

    def windows(self, index: int) -> ChunkWindows:
        """The windows of chunk ``index``: its members' windows."""
        chunk = self.position_chunks[index]
        y0, _, x0, _ = chunk.region
        starts_y, starts_x = self.starts
        return ChunkWindows(
            region=chunk.region,
            starts_y=starts_y[chunk.members] - y0,
            starts_x=starts_x[chunk.members] - x0,
            target=(slice(index, index + 1), slice(0, len(chunk.members))),
            shape=(1, len(chunk.members)),
        )


def score_region(
    scorer: Scorer,
    chunk: PreparedChunk,
    max_mask_fraction: float,
    batch_size: int,
    tta: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and bad-pixel fractions of a chunk's windows (NaN score where skipped).

    Returns:
        ``(scores, fractions)``, each shaped ``chunk.windows.shape``.
    """
    windows, fractions = chunk.windows, chunk.fractions
    usable = fractions <= max_mask_fraction
    scores = np.full(len(fractions), np.nan, dtype=np.float64)
    scores[usable], _ = forward_windows(
        scorer, chunk.image, windows.starts_y[usable], windows.starts_x[usable], batch_size, tta
    )
    return scores.reshape(windows.shape), fractions.reshape(windows.shape)


def stage_chunk(job: ChunkJob, index: int) -> int:
    """Copy a chunk's region from the FITS files into the work store (see ``job.stage``).

    Returns:
        ``index`` (so a score task can depend on it).
    """
    return job.stage(index)


def score_chunk(job: ChunkJob, index: int, staged: int | None = None, prepared: Any = None) -> int:
    """Process a staged chunk and write its results into the work store (``job.score``).

    Args:
        job: The field's job.
        index: The chunk.
        staged: Result of the chunk's stage task on Dask (only orders the two tasks).
        prepared: In process, the chunk ``job.prepare`` read back ahead (else it is read
            here).

    Returns:
        ``index``.
    """
    del staged
    return job.score(index, prepared)
