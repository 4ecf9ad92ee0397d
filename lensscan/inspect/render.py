"""Candidate images for the grading page: a gri colour composite and each band, as PNG.

The composite follows Lupton et al. (2004), as HSC lens searches show their candidates:
the reddest band as red and the bluest as blue (gri -> R=i, G=r, B=g), each band minus its
median, one asinh stretch shared by the three (so colours are true between bands) scaled
to the stamp's noise. Single bands are grey, with a choice of stretch between a floor one
noise sigma below the background and the 99.5th percentile.

Rendering is cached: a candidate's images are rendered once, on first request or ahead of
time by :meth:`ImageCache.prefetch`, so the next candidate is on screen at once.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lensscan.bands import wavelength_order
from lensscan.robust import MAD_TO_SIGMA

#: Lupton softening Q and the stretch in noise sigmas of the composite.
LUPTON_STRETCH_SIGMAS = 15.0
UPPER_PERCENTILE = 99.5
COMPOSITE = "rgb"


def _asinh(t: np.ndarray) -> np.ndarray:
    return np.arcsinh(10.0 * t) / np.arcsinh(10.0)


def _log(t: np.ndarray) -> np.ndarray:
    return np.log10(1.0 + 1000.0 * t) / 3.0


#: Stretch name -> function from [0, 1] to [0, 1].
STRETCHES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "asinh": _asinh,
    "linear": lambda t: t,
    "sqrt": np.sqrt,
    "log": _log,
}
DEFAULT_STRETCH = "asinh"


def _finite(plane: np.ndarray) -> np.ndarray:
    values = plane[np.isfinite(plane)]
    return values if values.size else np.zeros(1)


def _background_and_sigma(plane: np.ndarray) -> tuple[float, float]:
    values = _finite(plane)
    background = float(np.median(values))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(values - background)))
    return background, sigma


def composite(stamp: np.ndarray, bands: Sequence[str]) -> np.ndarray:
    """The (H, W, 3) uint8 Lupton colour composite of a (C, H, W) stamp; NaN shows black.

    Args:
        stamp: Flux, bands in any order.
        bands: Band names of the planes (to order them by wavelength).
    """
    from lensscan.catalog.gallery import lupton_composite

    planes = []
    sigmas = []
    for index in wavelength_order(bands):
        plane = np.asarray(stamp[index], dtype=np.float64)
        background, sigma = _background_and_sigma(plane)
        planes.append(np.nan_to_num(plane - background, nan=0.0, posinf=0.0, neginf=0.0))
        sigmas.append(sigma)
    return lupton_composite(planes, float(np.median(sigmas)), LUPTON_STRETCH_SIGMAS)


def grey(plane: np.ndarray, stretch: str = DEFAULT_STRETCH) -> np.ndarray:
    """The (H, W) uint8 image of one band with a named stretch; NaN shows black.

    Raises:
        KeyError: For an unknown stretch.
    """
    function = STRETCHES[stretch]
    plane = np.asarray(plane, dtype=np.float64)
    background, sigma = _background_and_sigma(plane)
    low = background - sigma
    high = float(np.percentile(_finite(plane), UPPER_PERCENTILE))
    if high <= low:
        high = low + 1.0
    scaled = np.clip((np.nan_to_num(plane, nan=low) - low) / (high - low), 0.0, 1.0)
    return np.round(255.0 * function(scaled)).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of an (H, W) grey or (H, W, 3) colour uint8 image, north (row 0 of the data) down.

    FITS images have their first row at the bottom, as shown by DS9; the PNG's rows are
    flipped so the page shows the sky the same way.
    """
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image[::-1])).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def render_candidate(stamp: np.ndarray, bands: Sequence[str], stretch: str) -> dict[str, bytes]:
    """PNGs of one candidate: the composite (key ``rgb``) and each band with ``stretch``."""
    images = {COMPOSITE: png_bytes(composite(stamp, bands))}
    for index, band in enumerate(bands):
        images[band] = png_bytes(grey(stamp[index], stretch))
    return images


class ImageCache:
    """Rendered PNGs of candidates, kept in memory (least recently used dropped first).

    Args:
        read_stamp: Catalog row -> (C, H, W) stamp.
        bands: Band names of the stamp planes.
        capacity: Candidates (with all their images for one stretch) to keep.
    """

    def __init__(
        self, read_stamp: Callable[[int], np.ndarray], bands: Sequence[str], capacity: int = 512
    ) -> None:
        self._read_stamp = read_stamp
        self.bands = tuple(bands)
        self._capacity = capacity
        self._entries: OrderedDict[tuple[int, str], dict[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._row_locks: dict[tuple[int, str], threading.Lock] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lensscan-render")
        self.renders = 0

    @property
    def kinds(self) -> tuple[str, ...]:
        """Image names a candidate has: the composite and each band."""
        return (COMPOSITE, *self.bands)

    def get(self, row: int, kind: str, stretch: str = DEFAULT_STRETCH) -> bytes:
        """The PNG of one image of a candidate, rendered on first use.

        All images of a candidate are rendered together (one stamp read), per stretch.

        Raises:
            KeyError: For an unknown kind or stretch.
        """
        if kind not in self.kinds or stretch not in STRETCHES:
            raise KeyError(kind if kind not in self.kinds else stretch)
        key = (row, stretch)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry[kind]
            row_lock = self._row_locks.setdefault(key, threading.Lock())
        with row_lock:  # one render per candidate even when several requests arrive at once
            with self._lock:
                entry = self._entries.get(key)
            if entry is None:
                entry = render_candidate(self._read_stamp(row), self.bands, stretch)
                with self._lock:
                    self.renders += 1
                    self._entries[key] = entry
                    while len(self._entries) > self._capacity:
                        self._entries.popitem(last=False)
                    self._row_locks.pop(key, None)
        return entry[kind]

    def prefetch(self, rows: Iterable[int], stretch: str = DEFAULT_STRETCH) -> None:
        """Render candidates in the background (one thread), so later requests are instant."""
        for row in rows:
            with self._lock:
                if (row, stretch) in self._entries:
                    continue
            self._pool.submit(self.get, row, COMPOSITE, stretch)

    def close(self) -> None:
        """Stop the background renderer (pending renders are dropped)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
