"""A tiny scanned gri field for the grading tests: HSC calexp files and their catalog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scan_helpers import WeightedMeanScorer, tan_wcs, write_calexp

from lensscan.config import resolve_config
from lensscan.scan.inputs import FieldSpec
from lensscan.scan.scanner import scan
from lensscan.scan.settings import ScanConfig

FIELD_SHAPE = (160, 200)
STAMP = 32
FIELD_NAME = "calexp-HSC-G-9813-4,4"
BAND_FILES = {"g": "G", "r": "R", "i": "I"}


@dataclass(frozen=True)
class ScannedField:
    """A field on disk and the catalog ``lensscan scan`` wrote for it."""

    catalog: Path
    files: dict[str, Path]
    n_candidates: int


def make_scanned_field(
    folder: Path, n_objects: int = 12, seed: int = 0, shape: tuple[int, int] = FIELD_SHAPE
) -> ScannedField:
    """Write a gri calexp patch with Gaussian galaxies and scan it at their positions."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    wcs = tan_wcs(shape)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    margin = STAMP // 2 + 2
    x = rng.uniform(margin, shape[1] - margin, n_objects)
    y = rng.uniform(margin, shape[0] - margin, n_objects)
    colours = {"g": 0.6, "r": 1.0, "i": 1.4}
    files = {}
    for band, letter in BAND_FILES.items():
        image = rng.normal(0.0, 0.05, shape)
        for k in range(n_objects):
            image += (
                colours[band]
                * (1 + k % 4)
                * np.exp(-((xx - x[k]) ** 2 + (yy - y[k]) ** 2) / (2 * 2.5**2))
            )
        files[band] = write_calexp(
            folder / f"calexp-HSC-{letter}-9813-4,4.fits", image.astype(np.float32), wcs
        )
    ra, dec = wcs.pixel_to_world_values(x, y)
    positions = folder / "objects.csv"
    positions.write_text(
        "name,ra,dec\n"
        + "".join(f"o{k},{r:.9f},{d:.9f}\n" for k, (r, d) in enumerate(zip(ra, dec, strict=True)))
    )
    catalog = folder / "catalog.ecsv"
    settings = {
        "workers": 0,
        "out": str(catalog),
        "threshold": 0.0,
        "min_separation": 0.0,
        "positions": str(positions),
        "chunk_size": 96,
    }
    config = resolve_config(ScanConfig, overrides=settings)
    scorer = WeightedMeanScorer(("g", "r", "i"), input_size=STAMP)
    report = scan([FieldSpec(path=files["g"])], config, scorer=scorer)
    assert not report.failed, report.lines()
    return ScannedField(catalog=catalog, files=files, n_candidates=n_objects)


@dataclass(frozen=True)
class GradedField:
    """A scanned field whose catalog two graders graded.

    Attributes:
        field: The scanned field.
        catalog: Its candidate catalog.
        database: The grade database.
        lenses: Catalog rows both graders gave 3 (the top two).
        zeros: Catalog rows both gave 0 (the next four).
    """

    field: ScannedField
    catalog: Any
    database: Path
    lenses: np.ndarray
    zeros: np.ndarray


def make_graded_field(folder: Path) -> GradedField:
    """Scan a field and grade it: two lenses, four non-lenses and one possible (unlabelled)."""
    from lensscan.inspect.candidates import read_candidate_catalog
    from lensscan.inspect.session import open_bound_db

    field = make_scanned_field(folder / "field", n_objects=12)
    catalog = read_candidate_catalog(field.catalog)
    lenses, zeros = catalog.order[:2], catalog.order[2:6]
    database = folder / "grades.sqlite"
    with open_bound_db(catalog, database, create=True) as db:
        for grader in ("ann", "bo"):
            for row in lenses:
                db.record_grade(grader, int(row), 3)
            for row in zeros:
                db.record_grade(grader, int(row), 0)
        db.record_grade("ann", int(catalog.order[6]), 1)  # a possible: stays unlabelled
    return GradedField(field, catalog, database, lenses, zeros)
