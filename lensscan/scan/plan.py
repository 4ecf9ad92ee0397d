"""What a scan knows about each field and what every field of a run shares.

The field plan and context sit below the scanner (which makes them), the scan modes
(:mod:`lensscan.scan.modes`, which read them to place cutouts and build catalog columns)
and the finalisation of a field (which reads them), so that none imports another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lensscan.bands import normalise_band
from lensscan.catalog.readers import SkyPositions
from lensscan.config import ScanConfig
from lensscan.scan.chunks import FieldJob
from lensscan.scan.detect import ColorCut
from lensscan.scan.detect_job import DetectJob
from lensscan.scan.fits_io import OpenedField
from lensscan.scan.model_cache import ModelRef, Scorer
from lensscan.scan.survey_files import field_name

if TYPE_CHECKING:
    from lensscan.scan.modes import Mode


@dataclass(frozen=True)
class FieldSpec:
    """A field as the user gave it: one file, or one file per band.

    Attributes:
        path: The field's file (HSC calexp, plain image or cube).
        band_paths: Band -> file, for ``--band g=PATH ...`` or an HSC patch.
        source: How the user named the field, when not by its path (``tract 9813 patch
            4,4``).
        problem: Why the field cannot be scanned at all (a pattern that matched no file);
            such a field fails with this line and the others go on.
    """

    path: Path | None = None
    band_paths: Mapping[str, Path] | None = None
    source: str | None = None
    problem: str | None = None

    @property
    def label(self) -> str:
        """How to name the field in messages."""
        if self.source is not None:
            return self.source
        if self.path is not None:
            return str(self.path)
        return " ".join(f"{b}={p}" for b, p in (self.band_paths or {}).items())

    def name(self, model_bands: Sequence[str]) -> str:
        """The field's name: the stem of its file (of the model's first band's file)."""
        if self.path is not None:
            return field_name(self.path)
        paths = {normalise_band(b) or b.lower(): p for b, p in (self.band_paths or {}).items()}
        return field_name(paths.get(model_bands[0], next(iter(paths.values()))))


class FieldStatus(StrEnum):
    """How a field of a run ended."""

    SCANNED = "scanned"
    UP_TO_DATE = "up to date"
    FAILED = "failed"


@dataclass
class FieldResult:
    """What happened to one field.

    Attributes:
        label: The field as the user gave it.
        status: How the field ended.
        catalog: The catalog written (or already there).
        n_candidates: Rows in the catalog.
        n_windows: Windows scanned (including skipped ones).
        n_skipped: Windows skipped as mostly masked.
        n_detected: Objects detected (detect mode; else None).
        error: One line saying why the field failed.
        n_known: Known lenses inside the field (with ``known``; else None).
        n_recovered: Those among the field's candidates.
    """

    label: str
    status: FieldStatus
    catalog: Path | None = None
    n_candidates: int = 0
    n_windows: int = 0
    n_skipped: int = 0
    n_detected: int | None = None
    error: str | None = None
    n_known: int | None = None
    n_recovered: int | None = None

    def _known(self) -> str:
        if self.n_known is None:
            return ""
        return f"; {self.n_recovered} of {self.n_known} known lenses in the field recovered"

    def line(self) -> str:
        """One summary line."""
        if self.status == FieldStatus.FAILED:
            return f"FAILED {self.error}"
        if self.status == FieldStatus.UP_TO_DATE:
            return f"up to date {self.label}: {self.catalog}"
        if self.n_detected is not None:
            return (
                f"scanned {self.label}: {self.n_detected} objects detected, {self.n_windows} "
                f"preselected and scored ({self.n_skipped} skipped as masked), "
                f"{self.n_candidates} candidates{self._known()} -> {self.catalog}"
            )
        return (
            f"scanned {self.label}: {self.n_windows} windows ({self.n_skipped} skipped as masked), "
            f"{self.n_candidates} candidates{self._known()} -> {self.catalog}"
        )


@dataclass
class PositionPlan:
    """Catalogued positions that fall inside a field (``--positions``).

    Attributes:
        rows: Row of each usable position in the positions file.
        x: Its 0-based pixel column.
        y: Its 0-based pixel row.
        ra: Its RA (degrees, as given).
        dec: Its Dec.
        n_outside: Positions whose cutout would not fit inside the field.
    """

    rows: np.ndarray
    x: np.ndarray
    y: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    n_outside: int


@dataclass
class FieldPlan:
    """Everything the client knows about a field it is scanning."""

    spec: FieldSpec
    opened: OpenedField
    job: FieldJob | DetectJob
    catalog: Path
    fmt: str
    run_key: str
    catalog_key: str
    inputs: list[dict[str, str]]
    positions: PositionPlan | None
    pending: list[int]
    resumed: bool


@dataclass(frozen=True)
class ScanContext:
    """What every field of a run shares.

    Attributes:
        mode: The run's mode: positions (``positions`` given), else the configured one.
        min_separation: The radius in arcsec within which candidates are one (grid
            suppression, detect grouping), default resolved for the mode.
        color_cut: The parsed ``--color-cut`` (detect mode), or ``None``.
    """

    config: ScanConfig
    scorer: Scorer
    model_ref: ModelRef
    stride: int
    fmt: str
    positions: SkyPositions | None
    known: SkyPositions | None
    extra_inputs: tuple[dict[str, str], ...]
    mode: Mode
    min_separation: float
    color_cut: ColorCut | None


def side_outputs(catalog: Path, config: ScanConfig) -> dict[str, Path]:
    """Paths of the optional outputs beside a catalog: DS9 regions and gallery folder."""
    outputs = {}
    if config.regions:
        outputs["regions"] = catalog.with_suffix(".reg")
    if config.gallery:
        outputs["gallery"] = catalog.parent / f"{catalog.stem}-gallery"
    return outputs
