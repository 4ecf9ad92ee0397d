"""Detections: detect and preselect a field's galaxies chunk by chunk, score cutouts on them.

:class:`DetectJob` is detect mode's chunk job (and, unscored, ``lensscan cutouts``');
:func:`detect_settings` applies the detection settings to a field, and
:func:`field_detections` reads every detection back from the finished work store. The
detection itself (background, extraction, photometry, preselection) is
:mod:`lensscan.scan.detect`'s.

A field is cut into square cores with a halo (:func:`lensscan.scan.tiling.core_chunks`).
``stage`` copies a chunk's region (bands, bad pixels, VARIANCE when present) into the Zarr
work store; ``score`` detects objects on the whole region, keeps those whose centre lies in
the core (so an object seen in two chunks' halos is kept once, by the chunk that owns its
centre), measures and preselects them, and scores a model-size cutout centred on each
selected object whose cutout lies inside the field. Every owned object is written to the
store with its measurements, so the catalog, counts and ``lensscan cutouts`` can use them.

The halo is at least half a cutout, so an owned object's cutout is always inside its
region, and at least :data:`MIN_HALO` pixels, so an object up to about 20" across near a
core's edge is detected whole. Each region is then widened to whole background meshes of
the field's grid (:data:`~lensscan.scan.detect.BACKGROUND_MESH`), and the background of a
core pixel depends only on meshes within two of its own (:mod:`lensscan.scan.detect`), which
a halo of two meshes holds: so a field's catalog is the same whatever the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property

import numpy as np

from lensscan.errors import UserError
from lensscan.scan.detect import BACKGROUND_MESH, DetectSettings, detect_objects, preselect
from lensscan.scan.fits_io import FieldInputs, OpenedField
from lensscan.scan.geometry import centred_windows
from lensscan.scan.model_cache import ModelRef, model_for
from lensscan.scan.scoring import forward_windows
from lensscan.scan.settings import DetectionSettings
from lensscan.scan.tiling import CoreChunk, core_chunks, window_fractions
from lensscan.scan.workstore import SCORED, STAGED, StoreLayout, WorkStore

MIN_HALO = 2 * BACKGROUND_MESH
"""Smallest halo of a detect-mode chunk, in pixels (21.5" at 0.168"): two background meshes."""


@dataclass(frozen=True)
class StagedRegion:
    """A staged chunk's region read back from the work store.

    Attributes:
        image: (C, h, w) float32 bands (NaN where there is no data).
        bad: (h, w) bad pixels.
        variance: (C, h, w) VARIANCE planes, or ``None``.
    """

    image: np.ndarray
    bad: np.ndarray
    variance: np.ndarray | None


@dataclass(frozen=True)
class DetectJob:
    """Everything a worker needs to process a field's chunks in detect mode (picklable).

    Attributes:
        inputs: The field's files and bands.
        store: Path of the field's Zarr work store.
        model: How to get the model.
        size: Cutout size (the model's input size).
        chunk_size: Core side in pixels.
        max_mask_fraction: Selected objects whose cutout has more bad pixels are not scored.
        batch_size: Cutouts per forward pass.
        settings: Detection and preselection settings.
        tta: Average each cutout's score over its 8 flips and 90-degree rotations.
        scored: Whether to score selected objects (``lensscan cutouts`` only detects).
    """

    inputs: FieldInputs
    store: str
    model: ModelRef | None
    size: int
    chunk_size: int
    max_mask_fraction: float
    batch_size: int
    settings: DetectSettings
    tta: bool = False
    scored: bool = True

    @property
    def halo(self) -> int:
        """Pixels read around each core."""
        return max(MIN_HALO, self.size)

    @cached_property
    def chunks(self) -> list[CoreChunk]:
        """The field's chunks, their regions widened to whole meshes of the field's grid."""
        height, width = self.inputs.shape
        mesh = BACKGROUND_MESH

        def widened(chunk: CoreChunk) -> CoreChunk:
            y0, y1, x0, x1 = chunk.region
            region = (
                y0 // mesh * mesh,
                min(-(-y1 // mesh) * mesh, height),
                x0 // mesh * mesh,
                min(-(-x1 // mesh) * mesh, width),
            )
            return replace(chunk, region=region)

        return [widened(c) for c in core_chunks(height, width, self.chunk_size, self.halo)]

    @property
    def n_chunks(self) -> int:
        """Number of chunks."""
        return len(self.chunks)

    def layout(self) -> StoreLayout:
        """Shapes of the work store's arrays (tiles and per-chunk detection tables)."""
        tile = max(max(y1 - y0, x1 - x0) for y0, y1, x0, x1 in (c.region for c in self.chunks))
        return StoreLayout(
            n_bands=len(self.inputs.bands),
            n_chunks=self.n_chunks,
            tile_size=tile,
            score_shape=(0, 0),  # no score map: each chunk writes a detection table
            score_chunks=(1, 1),
            variance=self.inputs.has_variance,
            detections=True,
        )

    def stage(self, index: int) -> int:
        """Copy a chunk's region (bands, bad pixels, VARIANCE) from the FITS files into Zarr."""
        store = WorkStore(self.store)
        if store.chunk_status(index) >= STAGED:
            return index
        region = self.chunks[index].region
        image, bad = self.inputs.read_region(region)
        store.write_tile(index, image, bad)
        if self.inputs.has_variance:
            store.write_variance(index, self.inputs.read_variance(region))
        store.set_status(index, STAGED)
        return index

    def prepare(self, index: int) -> StagedRegion | None:
        """A staged chunk's bands, bad pixels and VARIANCE read back (None if scored)."""
        store = WorkStore(self.store)
        if store.chunk_status(index) >= SCORED:
            return None
        y0, y1, x0, x1 = self.chunks[index].region
        image, bad = store.read_tile(index, y1 - y0, x1 - x0)
        return StagedRegion(image, bad, store.read_variance(index, y1 - y0, x1 - x0))

    def score(self, index: int, prepared: StagedRegion | None = None) -> int:
        """Detect, preselect and score the objects chunk ``index`` owns; write them."""
        # prepare() returns None for a chunk already scored, which keeps this idempotent.
        region = prepared if prepared is not None else self.prepare(index)
        if region is None:
            return index
        chunk = self.chunks[index]
        y0, _, x0, _ = chunk.region
        image, bad, variance = region.image, region.bad, region.variance
        columns = self.measure(image, variance, bad, chunk)
        cy0, cy1, cx0, cx1 = chunk.core
        core_bad = bad[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        store = WorkStore(self.store)
        store.write_detections(index, columns, int(core_bad.size - core_bad.sum()))
        store.set_status(index, SCORED)
        return index

    def measure(
        self,
        image: np.ndarray,
        variance: np.ndarray | None,
        bad: np.ndarray,
        chunk: CoreChunk,
    ) -> dict[str, np.ndarray]:
        """The owned objects of a chunk's region, measured, preselected and scored.

        Args:
            image: (C, h, w) region of the bands, NaN where there is no data and never
                infinite (as the work store's tiles are; see ``WorkStore.write_tile``).
            variance: Their VARIANCE planes, or ``None``.
            bad: (h, w) bad pixels.
            chunk: The chunk the region belongs to.

        Returns:
            Columns of :func:`lensscan.scan.detect.detect_objects` in field pixels, plus
            ``selected``, ``inside`` (the cutout fits in the field), ``mask_fraction``,
            ``score`` and ``score_spread`` (NaN where not scored).
        """
        y0, _, x0, _ = chunk.region
        columns = detect_objects(
            image, variance, bad, self.inputs.band_names, self.settings, origin=(y0, x0)
        )
        selected = preselect(columns, bad, self.settings)
        columns["x"] = columns["x"] + x0
        columns["y"] = columns["y"] + y0
        owned = chunk.owns(columns["y"], columns["x"])
        columns = {name: values[owned] for name, values in columns.items()}
        selected = selected[owned]
        windows = centred_windows(columns["x"], columns["y"], self.size, self.inputs.shape)
        start_y, start_x, inside = windows.start_y, windows.start_x, windows.inside
        n = len(selected)
        fractions = np.full(n, np.nan, np.float32)
        fractions[inside] = window_fractions(
            bad, start_y[inside] - y0, start_x[inside] - x0, self.size
        )
        usable = selected & inside & (np.nan_to_num(fractions, nan=1.0) <= self.max_mask_fraction)
        scores = np.full(n, np.nan)
        spread = np.full(n, np.nan)
        if self.scored and usable.any():
            scores[usable], spread[usable] = forward_windows(
                model_for(self.model),
                image,
                start_y[usable] - y0,
                start_x[usable] - x0,
                self.batch_size,
                self.tta,
            )
        order = np.lexsort((columns["x"], columns["y"]))
        columns |= {
            "selected": selected,
            "inside": inside,
            "mask_fraction": fractions,
            "score": scores,
            "score_spread": spread,
        }
        return {name: values[order] for name, values in columns.items()}


def detect_settings(
    options: DetectionSettings, opened: OpenedField, fallback_scale: float | None
) -> DetectSettings:
    """The detection settings applied to a field: ``options`` with its bands and pixel scale.

    Args:
        options: The detection settings (scan's or cutouts' ``detect``).
        opened: The field.
        fallback_scale: Pixel scale to use when the field has no celestial WCS.

    Raises:
        UserError: If the field's pixel scale is unknown.
    """
    bands = opened.inputs.band_names
    scale = opened.pixel_scale or fallback_scale
    if scale is None:
        raise UserError(
            f"{opened.inputs.name}: no pixel scale (no celestial WCS and none in the model "
            "card), so the Kron radius cut cannot be applied"
        )
    return DetectSettings(
        **{field.name: getattr(options, field.name) for field in fields(options)},
        mag_band="i" if "i" in bands else bands[-1],
        pixel_scale=scale,
        zero_points=tuple(opened.zero_point(band)[0] for band in bands),
        band_variances=opened.inputs.typical_variances(),
    )


def field_detections(job: DetectJob, label: str, store: WorkStore) -> dict[str, np.ndarray]:
    """Every object the field's chunks own, in (y, x) order, with ``detection_id`` 1..N.

    The order and so the ids depend only on the objects, not on the chunking.

    Raises:
        UserError: If every pixel of the field is masked or has no data.
    """
    parts, good = zip(*(store.read_detections(c.index) for c in job.chunks), strict=True)
    if sum(good) == 0:
        raise UserError(
            f"{label}: every pixel is masked or has no data (NaN, zeros or MASK "
            "bits); nothing to detect"
        )
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    order = np.lexsort((columns["x"], columns["y"]))
    columns = {name: values[order] for name, values in columns.items()}
    columns["detection_id"] = np.arange(1, len(order) + 1)
    return columns
