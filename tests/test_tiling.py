"""Tiling geometry: window starts, edge policy, chunks with halos, mask fractions."""

from __future__ import annotations

import numpy as np
import pytest

from lensscan.scan.tiling import (
    ChunkGrid,
    WindowGrid,
    position_chunks,
    window_fractions,
    window_starts,
)


def test_window_starts_regular_when_the_grid_fits() -> None:
    np.testing.assert_array_equal(window_starts(128, 64, 32), [0, 32, 64])


def test_last_window_is_flush_with_the_edge() -> None:
    starts = window_starts(301, 64, 32)
    assert starts[0] == 0
    assert starts[-1] == 301 - 64
    assert np.all(np.diff(starts)[:-1] == 32)
    assert 0 < np.diff(starts)[-1] < 32


def test_image_of_exactly_one_window() -> None:
    np.testing.assert_array_equal(window_starts(64, 64, 32), [0])


@pytest.mark.parametrize(("length", "size", "stride"), [(63, 64, 32), (100, 64, 0), (100, 64, 65)])
def test_invalid_geometry_is_refused(length: int, size: int, stride: int) -> None:
    with pytest.raises(ValueError):
        window_starts(length, size, stride)


@pytest.mark.parametrize(
    ("height", "width", "size", "stride"), [(301, 257, 64, 32), (97, 140, 16, 5)]
)
def test_windows_cover_every_pixel_and_stay_inside(
    height: int, width: int, size: int, stride: int
) -> None:
    grid = WindowGrid(height, width, size, stride)
    covered = np.zeros((height, width), bool)
    for y in grid.starts_y:
        for x in grid.starts_x:
            assert y >= 0 and y + size <= height and x >= 0 and x + size <= width
            covered[y : y + size, x : x + size] = True
    assert covered.all()
    assert grid.n_windows == len(grid.starts_y) * len(grid.starts_x)


@pytest.mark.parametrize(
    ("height", "width", "chunk"), [(301, 257, 64), (301, 257, 96), (1000, 700, 256)]
)
def test_chunks_partition_the_windows_and_hold_them(height: int, width: int, chunk: int) -> None:
    grid = WindowGrid(height, width, 64, 32)
    chunks = ChunkGrid(grid, chunk)
    seen = np.zeros(grid.shape, int)
    for c in chunks:
        y0, y1, x0, x1 = c.region
        seen[slice(*c.rows), slice(*c.cols)] += 1
        starts_y = grid.starts_y[slice(*c.rows)]
        starts_x = grid.starts_x[slice(*c.cols)]
        assert y0 == starts_y.min() and y1 == starts_y.max() + 64
        assert x0 == starts_x.min() and x1 == starts_x.max() + 64
        assert y1 - y0 <= chunks.tile_size and x1 - x0 <= chunks.tile_size
    assert (seen == 1).all()
    assert chunks.halo == 32
    assert chunks.tile_size == chunk + 32


def test_interior_chunk_reads_chunk_plus_halo() -> None:
    chunks = ChunkGrid(WindowGrid(4096, 4096, 64, 32), 1024)
    assert chunks.shape == (4, 4)
    assert chunks.chunk(5).region == (1024, 2048 + 32, 1024, 2048 + 32)


def test_flush_window_alone_in_a_chunk_starts_before_the_chunk() -> None:
    # 32 regular windows (starts 0..992) fill chunk 0; the flush window (start 1000) is the
    # only window of chunk 1, whose nominal origin is pixel 1024.
    grid = WindowGrid(1064, 64, 64, 32)
    chunks = ChunkGrid(grid, 1024)
    assert chunks.shape == (2, 1)
    last = chunks.chunk(1)
    assert last.rows == (32, 33)
    assert last.region[:2] == (1000, 1064)


def test_chunk_size_must_be_a_multiple_of_the_stride() -> None:
    with pytest.raises(ValueError):
        ChunkGrid(WindowGrid(300, 300, 64, 32), 100)


def test_position_chunks_group_by_block_and_cover_members() -> None:
    rng = np.random.default_rng(1)
    starts_y = rng.integers(0, 900, 200)
    starts_x = rng.integers(0, 500, 200)
    chunks = position_chunks(starts_y, starts_x, 64, 256)
    members = np.concatenate([c.members for c in chunks])
    assert sorted(members) == list(range(200))
    for c in chunks:
        y0, y1, x0, x1 = c.region
        assert (starts_y[c.members] >= y0).all() and (starts_y[c.members] + 64 <= y1).all()
        assert (starts_x[c.members] >= x0).all() and (starts_x[c.members] + 64 <= x1).all()
        assert y1 - y0 <= 256 + 63 and x1 - x0 <= 256 + 63
        assert (
            len(
                {
                    (y // 256, x // 256)
                    for y, x in zip(starts_y[c.members], starts_x[c.members], strict=True)
                }
            )
            == 1
        )


def test_window_fractions_match_direct_counts() -> None:
    rng = np.random.default_rng(0)
    bad = rng.random((50, 41)) < 0.3
    starts_y = np.array([0, 3, 10, 34])
    starts_x = np.array([0, 25, 7, 25])
    expected = [bad[y : y + 16, x : x + 16].mean() for y, x in zip(starts_y, starts_x, strict=True)]
    np.testing.assert_allclose(window_fractions(bad, starts_y, starts_x, 16), expected, rtol=1e-6)
