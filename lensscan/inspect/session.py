"""One grader's session: the candidates in rank order, their images and the grader's grades.

The session knows nothing of HTTP; :mod:`lensscan.inspect.app` serves it.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lensscan.errors import SettingError
from lensscan.inspect.candidates import (
    CandidateCatalog,
    StampSource,
    open_stamps,
    read_candidate_catalog,
)
from lensscan.inspect.grades_db import CandidateRecord, GradeDB
from lensscan.inspect.render import DEFAULT_STRETCH, ImageCache

#: Candidates rendered ahead of the one on screen.
PREFETCH_AHEAD = 8
MAX_GRADER_NAME = 64
MAX_COMMENT = 2000


def check_grader_name(name: str) -> str:
    """A grader name, stripped; at most :data:`MAX_GRADER_NAME` printable characters.

    Raises:
        SettingError: ```grader` <name>: ...`` for an empty, too long or non-printable name.
    """
    stripped = name.strip()
    if not stripped or len(stripped) > MAX_GRADER_NAME or not stripped.isprintable():
        raise SettingError(
            "grader", name, f"give a name of 1-{MAX_GRADER_NAME} printable characters"
        )
    return stripped


def candidate_records(catalog: CandidateCatalog) -> list[CandidateRecord]:
    """The catalog's rows as database records, in rank order."""
    table = catalog.table
    return [
        CandidateRecord(
            row=int(row),
            rank=rank,
            ra=_float(table["ra"][row]),
            dec=_float(table["dec"][row]),
            score=_float(table["score"][row]),
        )
        for rank, row in enumerate(catalog.order, start=1)
    ]


def _float(value: Any) -> float:
    number = float(value)
    return number if math.isfinite(number) else float("nan")


def open_bound_db(
    catalog: CandidateCatalog,
    db_path: str | os.PathLike[str],
    *,
    create: bool,
    option: str | None = "db",
) -> GradeDB:
    """Open the grade database of a catalog (binding a new database to it).

    Args:
        catalog: The catalog graded.
        db_path: The database file.
        create: Create the database if it does not exist.
        option: The setting that named the database, for messages (None: a positional
            argument, named in words).

    Raises:
        UserError: For a bad database, or one that grades another catalog.
    """
    db = GradeDB.open(db_path, create=create, option=option)
    try:
        db.bind_catalog(
            str(catalog.path.resolve()), catalog.sha256, candidate_records(catalog), option
        )
    except BaseException:
        db.close()
        raise
    return db


@dataclass
class InspectSession:
    """A grader's view of a catalog.

    Attributes:
        catalog: The catalog.
        db: The grade database.
        grader: The grader's name.
        stamps: Where the candidates' pixels come from.
        top: Number of candidates to grade (the first ``top`` in rank order).
        token: Secret that every data-changing request must carry.
    """

    catalog: CandidateCatalog
    db: GradeDB
    grader: str
    stamps: StampSource
    top: int
    token: str

    def __post_init__(self) -> None:
        self.images = ImageCache(self.stamps.stamp, self.stamps.bands)
        self.db.add_grader(self.grader)

    @property
    def bands(self) -> tuple[str, ...]:
        """Bands of the images."""
        return tuple(self.stamps.bands)

    def row_of_rank(self, rank: int) -> int:
        """Catalog row of a 1-based rank.

        Raises:
            KeyError: For a rank outside 1..top.
        """
        if not 1 <= rank <= self.top:
            raise KeyError(rank)
        return int(self.catalog.order[rank - 1])

    def grades_by_row(self) -> dict[int, tuple[int | None, str]]:
        """This grader's standing grades: row -> (grade or None, comment)."""
        return {g.row: (g.grade, g.comment) for g in self.db.current_grades(self.grader)}

    def progress(self, grades: dict[int, tuple[int | None, str]] | None = None) -> int:
        """How many of the first ``top`` candidates this grader has graded."""
        grades = self.grades_by_row() if grades is None else grades
        rows = {int(r) for r in self.catalog.order[: self.top]}
        return sum(1 for row, (grade, _) in grades.items() if grade is not None and row in rows)

    def resume_rank(self) -> int:
        """The first rank this grader has not graded (the last one if all are)."""
        grades = self.grades_by_row()
        for rank in range(1, self.top + 1):
            grade = grades.get(self.row_of_rank(rank), (None, ""))[0]
            if grade is None:
                return rank
        return self.top

    def next_ungraded(self, after: int) -> int | None:
        """The first ungraded rank after ``after`` (wrapping around), or ``None``."""
        grades = self.grades_by_row()
        for step in range(1, self.top + 1):
            rank = (after - 1 + step) % self.top + 1
            if grades.get(self.row_of_rank(rank), (None, ""))[0] is None:
                return rank
        return None

    def view(self, rank: int, stretch: str = DEFAULT_STRETCH) -> dict[str, Any]:
        """What the page shows of one candidate (raw values; the template escapes them).

        Also starts rendering the next few candidates with the band ``stretch`` shown.

        Raises:
            KeyError: For a rank outside 1..top.
        """
        row = self.row_of_rank(rank)
        record = self.catalog.table[row]
        grades = self.grades_by_row()
        grade, comment = grades.get(row, (None, ""))
        names = record.colnames
        known = None
        if "known_lens" in names and bool(record["known_lens"]):
            separation = float(record["known_separation"]) if "known_separation" in names else None
            known = {"name": str(record["known_name"]), "separation": separation}
        ahead = [
            self.row_of_rank(r) for r in range(rank + 1, min(rank + PREFETCH_AHEAD, self.top) + 1)
        ]
        self.images.prefetch(ahead, stretch)
        return {
            "rank": rank,
            "row": row,
            "id": int(record["id"]),
            "score": float(record["score"]),
            "ra": float(record["ra"]),
            "dec": float(record["dec"]),
            "x": float(record["x"]),
            "y": float(record["y"]),
            "field": str(record["field"]) if "field" in names else "",
            "known": known,
            "grade": grade,
            "comment": comment,
            "graded": self.progress(grades),
            "top": self.top,
            "previous": rank - 1 if rank > 1 else None,
            "next": rank + 1 if rank < self.top else None,
        }

    def close(self) -> None:
        """Stop background rendering and close the database."""
        self.images.close()
        self.db.close()


def open_session(
    catalog_path: str | os.PathLike[str],
    db_path: str | os.PathLike[str],
    grader: str,
    *,
    field_files: Sequence[str | os.PathLike[str]] = (),
    cutouts: str | os.PathLike[str] | None = None,
    top: int | None = None,
) -> InspectSession:
    """Open everything ``lensscan inspect`` serves.

    Args:
        catalog_path: The ranked candidate catalog.
        db_path: The grade database (created if new).
        grader: The grader's name.
        field_files: FITS field files (default: the catalog's recorded inputs).
        cutouts: A cutout store whose item k is catalog row k, instead of FITS files.
        top: Grade only the first N candidates (default all).

    Raises:
        UserError: For any bad input.
    """
    name = check_grader_name(grader)
    if top is not None and top < 1:
        raise SettingError("top", top, "must be at least 1")
    catalog = read_candidate_catalog(catalog_path)
    stamps = open_stamps(catalog, field_files, cutouts)
    db = open_bound_db(catalog, db_path, create=True)
    return InspectSession(
        catalog=catalog,
        db=db,
        grader=name,
        stamps=stamps,
        top=len(catalog) if top is None else min(top, len(catalog)),
        token=secrets.token_urlsafe(24),
    )
