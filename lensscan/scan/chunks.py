"""The two tasks a field's chunk goes through, and the batched window forward pass.

``stage_chunk`` reads the chunk's region (with its halo) from the FITS files once and
writes it to the Zarr work store; ``score_chunk`` reads it back (the job's ``prepare``,
which the in-process runner calls ahead on its helper thread) and processes it. Both
call the job's own ``stage`` and ``score`` (:class:`ChunkJob`): for grid and positions
scans (:class:`FieldJob`, here) the model-size windows are cut in memory
(``torch.Tensor.unfold`` views, on the GPU when the model is there, so no per-window copy
is ever written), scored in batches, and the scores and bad-pixel fractions written into
the work store's score map; detect mode's job is in :mod:`lensscan.scan.detect_job`. Both
tasks are idempotent and skip work a previous run finished, which is what makes a scan
resumable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from lensscan.scan.fits_io import FieldInputs
from lensscan.scan.model_cache import ModelRef, Scorer, model_for
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


@dataclass(frozen=True)
class FieldJob:
    """Everything a worker needs to process a field's chunks (small and picklable).

    Attributes:
        inputs: The field's files and bands.
        store: Path of the field's Zarr work store.
        model: How to get the model.
        size: Window size (the model's input size).
        stride: Step of the dense window grid.
        chunk_size: Chunk side in pixels.
        max_mask_fraction: Windows with more bad pixels are skipped (score NaN).
        batch_size: Windows per forward pass.
        tta: Average each window's score over its 8 flips and 90-degree rotations.
        position_starts: ``(starts_y, starts_x)`` of windows centred on catalogued
            positions, or ``None`` for a dense grid scan.
    """

    inputs: FieldInputs
    store: str
    model: ModelRef
    size: int
    stride: int
    chunk_size: int
    max_mask_fraction: float
    batch_size: int
    tta: bool = False
    position_starts: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False)

    @property
    def grid(self) -> WindowGrid:
        """The dense window grid over the field."""
        height, width = self.inputs.shape
        return WindowGrid(height, width, self.size, self.stride)

    @cached_property
    def chunk_grid(self) -> ChunkGrid:
        """The dense grid's chunks."""
        return ChunkGrid(self.grid, self.chunk_size)

    @cached_property
    def position_chunks(self) -> list[PositionChunk]:
        """Chunks of the catalogued positions' windows (positions mode)."""
        if self.position_starts is None:
            return []
        starts_y, starts_x = self.position_starts
        return position_chunks(starts_y, starts_x, self.size, self.chunk_size)

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return len(self.chunk_grid) if self.position_starts is None else len(self.position_chunks)

    def layout(self) -> StoreLayout:
        """Shapes of the work store's arrays."""
        bands = len(self.inputs.bands)
        if self.position_starts is None:
            per = self.chunk_grid.windows_per_chunk
            return StoreLayout(
                bands, self.n_chunks, self.chunk_grid.tile_size, self.grid.shape, (per, per)
            )
        widest = max(len(c.members) for c in self.position_chunks)
        tile = self.chunk_size + self.size - 1
        return StoreLayout(bands, self.n_chunks, tile, (self.n_chunks, widest), (1, widest))

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

    def windows(self, index: int) -> ChunkWindows:
        """The windows of chunk ``index``."""
        if self.position_starts is None:
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
        chunk = self.position_chunks[index]
        y0, _, x0, _ = chunk.region
        starts_y, starts_x = self.position_starts
        return ChunkWindows(
            region=chunk.region,
            starts_y=starts_y[chunk.members] - y0,
            starts_x=starts_x[chunk.members] - x0,
            target=(slice(index, index + 1), slice(0, len(chunk.members))),
            shape=(1, len(chunk.members)),
        )


def _batch_scores(scorer: Scorer, batch: Any, tta: bool) -> tuple[Any, Any]:
    """Float64 lens probabilities of one batch, and their spread.

    Probabilities come from the logits when the model gives them (a float32 sigmoid ties
    every logit above about 17 at 1.0). With ``tta`` the score is the mean over the 8
    flips and 90-degree rotations, and the spread their standard deviation; without it,
    for an ensemble the spread is the standard deviation of the members' probabilities
    (the score is the sigmoid of their mean logit, as always), else NaN.
    """
    import torch

    def probabilities(images: Any) -> Any:
        logits = getattr(scorer, "logits_tensor", None)
        if logits is not None:
            return torch.sigmoid(logits(images).double())
        return scorer.score_tensor(images).double()

    if not tta:
        if getattr(scorer, "members", 1) > 1:
            logits = scorer.member_logits_tensor(batch).double()
            return torch.sigmoid(logits.mean(dim=0)), torch.sigmoid(logits).std(dim=0)
        scores = probabilities(batch)
        return scores, torch.full_like(scores, float("nan"))
    members = torch.stack(
        [
            probabilities(torch.rot90(flipped, k, dims=(2, 3)).contiguous())
            for flipped in (batch, torch.flip(batch, dims=(3,)))
            for k in range(4)
        ]
    )
    return members.mean(dim=0), members.std(dim=0)


def forward_windows(
    scorer: Scorer,
    image: np.ndarray,
    starts_y: np.ndarray,
    starts_x: np.ndarray,
    batch_size: int,
    tta: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Score windows cut from an in-memory region, in batches.

    The region goes to the model's device once (pinned memory on CUDA); windows are cut
    there by indexing an ``unfold`` view, so each batch is one gather and nothing else is
    copied.

    Args:
        scorer: The model.
        image: (C, h, w) float32 region, NaN where there is no data and never infinite
            (the work store's tiles hold none).
        starts_y: Window row starts in the region.
        starts_x: Window column starts, paired with ``starts_y``.
        batch_size: Windows per forward pass.
        tta: Average over the 8 flips and 90-degree rotations of each window.

    Returns:
        ``(scores, spread)``: (N,) float64 probabilities and their TTA spread (NaN
        without TTA).
    """
    import torch

    if len(starts_y) == 0:
        return np.zeros(0, np.float64), np.zeros(0, np.float64)
    device = scorer.device
    size = scorer.input_size
    with torch.inference_mode():
        tile = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        if device.type == "cuda":
            tile = tile.pin_memory().to(device, non_blocking=True)
        else:
            tile = tile.to(device)
        # (h-size+1, w-size+1, C, size, size): indexing the first two axes gathers a batch
        # straight into (N, C, size, size), one copy.
        views = tile.unfold(1, size, 1).unfold(2, size, 1).permute(1, 2, 0, 3, 4)
        ys = torch.as_tensor(starts_y, dtype=torch.long).to(device)
        xs = torch.as_tensor(starts_x, dtype=torch.long).to(device)
        results = [
            _batch_scores(scorer, views[ys[i : i + batch_size], xs[i : i + batch_size]], tta)
            for i in range(0, len(ys), batch_size)
        ]
        # One device-to-host copy per chunk keeps the GPU queue full between batches.
        scores = torch.cat([r[0] for r in results]).cpu().numpy()
        spread = torch.cat([r[1] for r in results]).cpu().numpy()
        return scores, spread


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
