"""People's grades as training labels: the graded candidates' stamps as a labelled store.

A second round of a search is scan → inspect → train (or adapt) with the grades → scan.
The consensus of a grade database (:mod:`lensscan.inspect.consensus`) says which
candidates are lenses (positives) and which every grader called a non-lens (hard
negatives: the false positives the finder made); this module cuts their stamps from the
fields the catalog came from, or takes them from a cutout store, and writes them as the
labelled store that ``lensscan train --grades`` and ``lensscan adapt --grades`` mix into
their training items.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lensscan.data.store import LENS, NONLENS, CutoutStore
from lensscan.errors import UserError
from lensscan.provenance import content_key, sha256_file


@dataclass(frozen=True)
class GradedSet:
    """The graded candidates as labelled training items.

    Attributes:
        store: Labelled store (split ``labelled`` holds lenses and non-lenses).
        lenses: Consensus lenses (positives).
        non_lenses: Candidates every grader gave 0 (hard negatives).
        record: Database, catalog, consensus rule and counts, for the model card.
    """

    store: Path
    lenses: int
    non_lenses: int
    record: dict[str, Any]


def graded_set(
    database: str | os.PathLike[str],
    work: Path,
    size: int,
    field_files: Sequence[str] = (),
    cutouts: str | None = None,
    options: tuple[str, str] = ("grades", "cutouts"),
) -> GradedSet:
    """The labelled store of a grade database's consensus, written once into ``work``.

    The catalog is the one the database grades; stamps come from ``cutouts`` (a store
    whose item k is catalog row k) or from the FITS fields (given, or as the catalog
    records them). The store's name is a content key of the database, the catalog and
    the stamp source, so a rerun with the same grades reuses it.

    Args:
        database: The SQLite grade database of ``lensscan inspect``.
        work: Folder the store is written into.
        size: The model's cutout side; the stamps must be at least this large.
        field_files: FITS fields of the catalog (empty: the catalog's recorded inputs).
        cutouts: A cutout store whose item k is catalog row k, instead of the fields.
        options: The settings naming the database and the cutout store, for messages.

    Raises:
        UserError: If the database or its catalog cannot be read, the catalog changed
            since it was graded, no candidate has a label, or the stamps are smaller than
            ``size``.
    """
    from lensscan.inspect.candidates import open_stamps, read_candidate_catalog
    from lensscan.inspect.consensus import LENS_THRESHOLD
    from lensscan.inspect.export import consensus_of, write_labelled_store
    from lensscan.inspect.grades_db import GradeDB

    grades_option, cutouts_option = options
    db_path = Path(database)
    if not db_path.is_file():
        raise UserError(f"`{grades_option}` {db_path}: no such file")
    with GradeDB.open(db_path, create=False, option=grades_option) as db:
        record = db.catalog_record()
        if record is None:
            raise UserError(f"`{grades_option}` {db_path}: grades no catalog yet")
        catalog = read_candidate_catalog(record[0], option=grades_option)
        if catalog.sha256 != record[1]:
            raise UserError(
                f"`{grades_option}` {db_path}: its catalog {record[0]} changed since it was graded"
            )
        consensus = consensus_of(db)
        graders = list(consensus.graders)
    key = content_key({"db": sha256_file(db_path), "catalog": catalog.sha256, "cutouts": cutouts})
    out = work / f"graded-{key}.zarr"
    if not (out / "zarr.json").is_file():
        files = [] if cutouts else list(field_files)
        stamps = open_stamps(catalog, files, cutouts, cutouts_option=cutouts_option)
        write_labelled_store(out, catalog, consensus, stamps)
    store = CutoutStore.open(out)
    if store.image_shape[-1] < size:
        raise UserError(
            f"`{grades_option}` {db_path}: stamps of {store.image_shape[-1]} px; "
            f"the model takes {size} px"
        )
    lenses = int((store.labels == LENS).sum())
    non_lenses = int((store.labels == NONLENS).sum())
    if lenses + non_lenses == 0:
        raise UserError(f"`{grades_option}` {db_path}: no candidate has a consensus label yet")
    return GradedSet(
        store=out,
        lenses=lenses,
        non_lenses=non_lenses,
        record={
            "database": str(db_path.resolve()),
            "catalog": str(Path(record[0]).resolve()),
            "catalog_sha256": catalog.sha256,
            "graders": graders,
            "consensus_rule": f"lens: mean grade >= {LENS_THRESHOLD}; non-lens: every grade 0",
            "lenses": lenses,
            "non_lenses": non_lenses,
            "stamps": "cutouts store" if cutouts else "FITS fields",
        },
    )


def repeats_for_share(n_items: int, n_others: int, share: float) -> int:
    """Copies of ``n_items`` items that make about ``share`` of a mixture with ``n_others``."""
    if n_items == 0:
        return 0
    return max(1, math.ceil(share * n_others / ((1 - share) * n_items)))
