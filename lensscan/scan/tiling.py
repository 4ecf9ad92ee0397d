"""Tiling geometry of a scan: the window grid, the chunk grid with halos, per-window masks.

Pure functions and frozen dataclasses, no I/O. Coordinates and windows follow
:mod:`lensscan.scan.geometry`: numpy 0-based pixels, row ``y`` first, column ``x`` second.

Edge policy (dense grid)
------------------------
Windows start at ``0, stride, 2 * stride, ...`` along each axis. When the last regular
window does not end exactly at the image edge, one more window is added *flush with the
edge* (it starts at ``length - size``), so every pixel is covered by at least one window
and no window reaches outside the image: no padding, no invented pixels. The flush window
overlaps its neighbour by more than the usual ``size - stride``. An image smaller than one
window along either axis cannot be tiled; :func:`window_starts` raises ``ValueError`` and
the scanner turns that into a clear error for the user (we refuse rather than pad, since a
padded cutout is mostly invented data and its score would mean little).

Chunks
------
The window grid is cut into blocks of ``chunk_size // stride`` windows per axis (so a
chunk's windows start in a ``chunk_size`` x ``chunk_size`` pixel square). The pixels a
chunk needs run from its first window's start to its last window's end: ``chunk_size`` plus
a halo of ``size - stride`` pixels for an interior chunk, so windows that cross chunk borders
are complete and each chunk can be scored on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lensscan.scan.geometry import window_centre


def window_starts(length: int, size: int, stride: int) -> np.ndarray:
    """Start offsets of the windows along one axis, with the last one flush to the edge.

    Args:
        length: Image length along the axis (pixels).
        size: Window size (pixels).
        stride: Step between regular windows (pixels), ``1 <= stride <= size``.

    Returns:
        Sorted int64 starts; the first is 0 and the last is ``length - size``.

    Raises:
        ValueError: If the image is smaller than one window or the stride is out of range.
    """
    if not 1 <= stride <= size:
        raise ValueError(f"stride {stride} must be between 1 and the window size {size}")
    if length < size:
        raise ValueError(f"length {length} is smaller than the window size {size}")
    regular = np.arange(0, length - size + 1, stride, dtype=np.int64)
    if regular[-1] != length - size:
        regular = np.append(regular, np.int64(length - size))
    return regular


@dataclass(frozen=True)
class WindowGrid:
    """The dense grid of model-size windows over an image.

    Attributes:
        height: Image height (pixels).
        width: Image width (pixels).
        size: Window size (pixels), the model's input size.
        stride: Step between windows (pixels).
    """

    height: int
    width: int
    size: int
    stride: int

    @property
    def starts_y(self) -> np.ndarray:
        """Row starts of the windows."""
        return window_starts(self.height, self.size, self.stride)

    @property
    def starts_x(self) -> np.ndarray:
        """Column starts of the windows."""
        return window_starts(self.width, self.size, self.stride)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of the score map: windows along y and along x."""
        return len(self.starts_y), len(self.starts_x)

    @property
    def n_windows(self) -> int:
        """Number of windows in the grid."""
        rows, cols = self.shape
        return rows * cols

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres (y, x) of the windows along each axis (0-based pixels)."""
        return window_centre(self.starts_y, self.size), window_centre(self.starts_x, self.size)


@dataclass(frozen=True)
class Chunk:
    """One block of windows and the pixel region they need.

    Attributes:
        index: Position of the chunk in the flat chunk list.
        rows: Window-index range ``(start, stop)`` along y (score-map rows).
        cols: Window-index range ``(start, stop)`` along x (score-map columns).
        region: Pixel region ``(y0, y1, x0, x1)`` holding every window of the chunk.
    """

    index: int
    rows: tuple[int, int]
    cols: tuple[int, int]
    region: tuple[int, int, int, int]


@dataclass(frozen=True)
class ChunkGrid:
    """A window grid cut into chunks of ``chunk_size`` pixels plus a halo.

    Attributes:
        grid: The window grid.
        chunk_size: Chunk size in pixels; a multiple of the grid's stride.
    """

    grid: WindowGrid
    chunk_size: int

    def __post_init__(self) -> None:
        if self.chunk_size < self.grid.stride or self.chunk_size % self.grid.stride:
            raise ValueError(
                f"chunk size {self.chunk_size} must be a positive multiple of the stride "
                f"{self.grid.stride}"
            )

    @property
    def windows_per_chunk(self) -> int:
        """Windows per chunk along each axis (the score map's chunk shape)."""
        return self.chunk_size // self.grid.stride

    @property
    def halo(self) -> int:
        """Extra pixels past ``chunk_size`` that an interior chunk needs: size - stride."""
        return self.grid.size - self.grid.stride

    @property
    def tile_size(self) -> int:
        """Largest region side any chunk needs: ``chunk_size + halo``."""
        return self.chunk_size + self.halo

    @property
    def shape(self) -> tuple[int, int]:
        """Number of chunks along y and x."""
        rows, cols = self.grid.shape
        per = self.windows_per_chunk
        return math.ceil(rows / per), math.ceil(cols / per)

    def __len__(self) -> int:
        rows, cols = self.shape
        return rows * cols

    def chunk(self, index: int) -> Chunk:
        """The chunk at ``index`` in row-major order."""
        n_rows, n_cols = self.shape
        if not 0 <= index < n_rows * n_cols:
            raise IndexError(f"chunk {index} out of range (0..{n_rows * n_cols - 1})")
        chunk_row, chunk_col = divmod(index, n_cols)
        per = self.windows_per_chunk
        total_rows, total_cols = self.grid.shape
        rows = (chunk_row * per, min((chunk_row + 1) * per, total_rows))
        cols = (chunk_col * per, min((chunk_col + 1) * per, total_cols))
        starts_y = self.grid.starts_y[rows[0] : rows[1]]
        starts_x = self.grid.starts_x[cols[0] : cols[1]]
        size = self.grid.size
        # The flush window may start before its chunk's nominal origin, so the region is
        # taken from the windows themselves, not from chunk_row * chunk_size.
        region = (
            int(starts_y[0]),
            int(starts_y[-1]) + size,
            int(starts_x[0]),
            int(starts_x[-1]) + size,
        )
        return Chunk(index=index, rows=rows, cols=cols, region=region)

    def __iter__(self) -> Iterator[Chunk]:
        return (self.chunk(i) for i in range(len(self)))


@dataclass(frozen=True)
class PositionChunk:
    """Windows centred on catalogued positions that fall in one pixel block.

    Attributes:
        index: Position of the chunk in the flat list of non-empty chunks.
        members: Indices (into the position list) of the windows in this chunk.
        region: Pixel region ``(y0, y1, x0, x1)`` holding every window of the chunk.
    """

    index: int
    members: np.ndarray
    region: tuple[int, int, int, int]


def position_chunks(
    starts_y: np.ndarray, starts_x: np.ndarray, size: int, chunk_size: int
) -> list[PositionChunk]:
    """Group windows at arbitrary starts into chunks by the block their start falls in.

    Args:
        starts_y: Row starts of the windows (all inside the image).
        starts_x: Column starts of the windows.
        size: Window size.
        chunk_size: Block size in pixels.

    Returns:
        The non-empty chunks in row-major block order; a region spans at most
        ``chunk_size + size - 1`` pixels per side.
    """
    block_y = starts_y // chunk_size
    block_x = starts_x // chunk_size
    n_block_x = int(block_x.max()) + 1 if len(block_x) else 1
    block = block_y * n_block_x + block_x
    order = np.argsort(block, kind="stable")
    chunks = []
    for members in np.split(order, np.flatnonzero(np.diff(block[order])) + 1):
        if len(members) == 0:
            continue
        ys, xs = starts_y[members], starts_x[members]
        region = (int(ys.min()), int(ys.max()) + size, int(xs.min()), int(xs.max()) + size)
        chunks.append(PositionChunk(index=len(chunks), members=members, region=region))
    return chunks


def window_fractions(
    bad: np.ndarray, starts_y: np.ndarray, starts_x: np.ndarray, size: int
) -> np.ndarray:
    """Fraction of bad pixels in each window, from a summed-area table.

    Args:
        bad: (H, W) boolean array of bad pixels (masked, NaN, no data).
        starts_y: Row starts of the windows, relative to ``bad``.
        starts_x: Column starts of the windows, paired element-wise with ``starts_y``.
        size: Window size.

    Returns:
        float32 fractions in [0, 1], one per (start_y, start_x) pair.
    """
    table = np.zeros((bad.shape[0] + 1, bad.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(bad, axis=0, dtype=np.int64), axis=1, out=table[1:, 1:])
    y0, x0 = np.asarray(starts_y), np.asarray(starts_x)
    y1, x1 = y0 + size, x0 + size
    counts = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return (counts / float(size * size)).astype(np.float32)


@dataclass(frozen=True)
class CoreChunk:
    """A square block of a field (its core) and the region read for it (core plus halo).

    Detection runs on the region, so an object near the core's edge is seen whole; the
    chunk keeps only the objects whose centre lies in its core. Core pixel ``p`` covers
    ``[p - 0.5, p + 0.5)``, so the cores tile the plane without gaps or overlaps and every
    position belongs to exactly one chunk.

    Attributes:
        index: Position of the chunk in row-major order.
        core: ``(y0, y1, x0, x1)`` of the core.
        region: ``(y0, y1, x0, x1)`` of the core plus halo, clipped to the field.
        field_shape: ``(height, width)`` of the field.
    """

    index: int
    core: tuple[int, int, int, int]
    region: tuple[int, int, int, int]
    field_shape: tuple[int, int]

    def owns(self, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Which field positions (0-based pixels) lie in this chunk's core.

        Cores at the field's edges also own the positions beyond them (a centroid can sit
        a fraction of a pixel outside the outermost pixel centres).
        """
        y0, y1, x0, x1 = self.core
        height, width = self.field_shape
        low_y = -np.inf if y0 == 0 else y0 - 0.5
        low_x = -np.inf if x0 == 0 else x0 - 0.5
        high_y = np.inf if y1 == height else y1 - 0.5
        high_x = np.inf if x1 == width else x1 - 0.5
        return (y >= low_y) & (y < high_y) & (x >= low_x) & (x < high_x)


def core_chunks(height: int, width: int, chunk_size: int, halo: int) -> list[CoreChunk]:
    """Cut a field into ``chunk_size`` cores (smaller at the far edges) with halos.

    Args:
        height: Field height (pixels).
        width: Field width.
        chunk_size: Core side.
        halo: Pixels added on every side of a core (clipped at the field's edges).

    Returns:
        The chunks in row-major order.
    """
    chunks = []
    for y0 in range(0, height, chunk_size):
        for x0 in range(0, width, chunk_size):
            y1, x1 = min(y0 + chunk_size, height), min(x0 + chunk_size, width)
            region = (
                max(y0 - halo, 0),
                min(y1 + halo, height),
                max(x0 - halo, 0),
                min(x1 + halo, width),
            )
            chunks.append(
                CoreChunk(len(chunks), (y0, y1, x0, x1), region, field_shape=(height, width))
            )
    return chunks
