"""``lensscan grades export``: the catalog with consensus grades, and a labelled cutout store.

The exported catalog holds every candidate in rank order with the catalog's own columns,
the consensus columns (:data:`lensscan.inspect.consensus.GRADE_COLUMNS`) and one
``grade_<grader>`` column per grader (-1 where that grader gave none). The labelled store
holds the graded candidates' stamps with the labels of
:attr:`lensscan.inspect.consensus.Consensus.labels`, in the cutout store format that
``lensscan train`` reads; split ``labelled`` holds the lenses and non-lenses (labelled
target data, e.g. ``--val STORE --val-split labelled``) and split ``unlabelled`` the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lensscan.atomic import atomic_output, check_output_path
from lensscan.catalog.schema import ColumnSpec, typed_column
from lensscan.catalog.writers import format_of_path, write_catalog
from lensscan.errors import UserError
from lensscan.inspect.candidates import CandidateCatalog, StampSource
from lensscan.inspect.consensus import (
    CLASS_THRESHOLDS,
    GRADE_COLUMNS,
    LENS_THRESHOLD,
    Consensus,
    combine,
)
from lensscan.inspect.grades_db import GradeDB
from lensscan.provenance import provenance

EXPORT_FORMATS = ("ecsv", "fits", "csv")
#: Splits of the labelled store: items with a label (lens or non-lens) and the rest.
STORE_SPLITS = ("labelled", "unlabelled")
STORE_DOMAIN = "graded"


def grader_columns(graders: Sequence[str], taken: Sequence[str] = ()) -> list[str]:
    """Column names ``grade_<name>`` for graders (non-word characters become ``_``).

    Args:
        graders: Grader names.
        taken: Column names already in use (a clash gets a numeric suffix).
    """
    names: list[str] = []
    used = set(taken)
    for grader in graders:
        base = "grade_" + (re.sub(r"[^A-Za-z0-9_]+", "_", grader).strip("_") or "grader")
        name, k = base, 2
        while name in used:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
        used.add(name)
    return names


def consensus_of(db: GradeDB) -> Consensus:
    """The consensus of every grader in a database."""
    return combine(db.candidates(), db.current_grades(), db.graders())


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        catalog: The graded catalog file.
        n_candidates: Rows in it.
        n_graded: Rows graded by at least one grader.
        store: The labelled cutout store, if one was written.
        store_labels: Counts of lens, non-lens and unlabelled items in the store.
    """

    catalog: Path
    n_candidates: int
    n_graded: int
    store: Path | None = None
    store_labels: tuple[int, int, int] = (0, 0, 0)

    def lines(self) -> list[str]:
        """What to tell the user."""
        lines = [f"wrote {self.catalog} ({self.n_candidates} candidates, {self.n_graded} graded)"]
        if self.store is not None:
            lens, nonlens, unlabelled = self.store_labels
            lines.append(
                f"wrote {self.store} ({lens} lenses, {nonlens} non-lenses, {unlabelled} unlabelled)"
            )
        return lines


def export_format(path: str | os.PathLike[str]) -> str:
    """The export format a file name implies.

    Raises:
        UserError: For a suffix other than .ecsv, .fits or .csv.
    """
    fmt = format_of_path(path)
    if fmt not in EXPORT_FORMATS:
        raise UserError(f"`out` {path}: give a .ecsv, .fits or .csv file name")
    return fmt


def graded_table(catalog: CandidateCatalog, consensus: Consensus, db: GradeDB) -> Any:
    """The catalog in rank order with the consensus and per-grader grade columns."""
    table = catalog.table[consensus.rows]
    table.meta = dict(catalog.meta)
    values = {
        "n_graders": consensus.n_graders,
        "mean_grade": consensus.mean,
        "grade_spread": consensus.spread,
        "grade_class": consensus.classes,
        "grade_label": consensus.labels,
        "grade_comments": np.array(consensus.comments, dtype=str)
        if len(consensus.comments)
        else np.zeros(0, dtype="U1"),
    }
    for spec in GRADE_COLUMNS:
        table[spec.name] = typed_column(spec, values[spec.name])
    names = grader_columns(consensus.graders, taken=table.colnames)
    for column, (grader, name) in enumerate(zip(consensus.graders, names, strict=True)):
        spec = ColumnSpec(name, "int64", None, f"Grade by {grader} (-1: none)")
        table[name] = typed_column(spec, consensus.grades[:, column])
    table.meta["grades"] = provenance(
        command="grades export",
        settings={
            "database": str(db.path.resolve()),
            "graders": list(consensus.graders),
            "class_thresholds": dict(CLASS_THRESHOLDS),
            "lens_label_threshold": LENS_THRESHOLD,
        },
        inputs=[catalog.path],
    )
    return table


def write_labelled_store(
    out: Path, catalog: CandidateCatalog, consensus: Consensus, stamps: StampSource
) -> tuple[int, int, int]:
    """Write the graded candidates' stamps as a labelled cutout store, atomically.

    Returns:
        Counts of lens, non-lens and unlabelled items.

    Raises:
        UserError: If no candidate is graded.
    """
    from lensscan.data.store import write_store

    graded = np.flatnonzero(consensus.n_graders > 0)
    if graded.size == 0:
        raise UserError(f"`cutouts` {out}: no candidate is graded yet; nothing to write")
    rows = consensus.rows[graded]
    images = np.stack([stamps.stamp(int(row)) for row in rows]).astype(np.float32)
    labels = consensus.labels[graded]
    table = catalog.table
    params = {
        "catalog_row": rows,
        "catalog_id": np.asarray(table["id"][rows], dtype=np.int64),
        "rank": consensus.ranks[graded],
        "ra": np.asarray(table["ra"][rows], dtype=np.float64),
        "dec": np.asarray(table["dec"][rows], dtype=np.float64),
        "score": np.asarray(table["score"][rows], dtype=np.float64),
        "mean_grade": consensus.mean[graded],
        "grade_spread": consensus.spread[graded],
        "n_graders": consensus.n_graders[graded],
    }
    record = provenance(
        command="grades export",
        settings={
            "label_rule": f"lens: mean grade >= {LENS_THRESHOLD}; non-lens: every grade 0; "
            "else unlabelled",
            "graders": list(consensus.graders),
        },
        inputs=[catalog.path],
    )
    with atomic_output(out) as tmp:
        write_store(
            tmp,
            images=images,
            labels=labels,
            split=(labels == -1).astype(np.int8),
            split_names=list(STORE_SPLITS),
            bands=stamps.bands,
            pixel_scale=catalog.pixel_scale,
            attrs={
                "domain": STORE_DOMAIN,
                "provenance": record,
                "catalog_sha256": catalog.sha256,
            },
            params=params,
        )
    return (
        int((labels == 1).sum()),
        int((labels == 0).sum()),
        int((labels == -1).sum()),
    )


def export_grades(
    catalog: CandidateCatalog,
    db: GradeDB,
    out: str | os.PathLike[str],
    *,
    cutouts: str | os.PathLike[str] | None = None,
    stamps: StampSource | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Write the graded catalog and, with ``cutouts``, the labelled cutout store.

    Args:
        catalog: The catalog the database grades (checked by the caller).
        db: The grade database.
        out: Catalog file (.ecsv, .fits or .csv).
        cutouts: Labelled store to write (needs ``stamps``).
        stamps: Where the candidates' pixels come from.
        overwrite: Replace existing outputs.

    Raises:
        UserError: For a bad output path or format, or nothing graded for ``cutouts``.
    """
    fmt = export_format(out)
    target = check_output_path(out, overwrite=overwrite)
    store = check_output_path(cutouts, overwrite=overwrite, option="cutouts") if cutouts else None
    consensus = consensus_of(db)
    labels = (0, 0, 0)
    if store is not None:
        if stamps is None:
            raise ValueError("stamps are needed to write a cutout store")
        labels = write_labelled_store(store, catalog, consensus, stamps)
    write_catalog(graded_table(catalog, consensus, db), target, fmt)
    return ExportResult(
        catalog=target,
        n_candidates=len(consensus.rows),
        n_graded=int((consensus.n_graders > 0).sum()),
        store=store,
        store_labels=labels,
    )
