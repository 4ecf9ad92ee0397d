"""The grade database: graders, candidates and every grade they gave, in one SQLite file.

Layout (schema version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version``; the file
is marked as a lensscan grade database by ``PRAGMA application_id``):

* ``catalog``: the one candidate catalog the database grades (path, SHA-256, rows).
* ``graders``: one row per grader name.
* ``candidates``: one row per catalog row, keyed by the catalog's SHA-256 and the row
  (0-based), with its rank, position and score.
* ``grades``: the history, one row per action, never updated or deleted: grade 0-3 (or
  NULL when an action withdrew the grade), comment, UTC time, the client's request id
  (a retried request is recorded once) and, for an undo, the action it undid. A grader's
  current grade of a candidate is their latest row for it.

The database runs in WAL mode with ``synchronous=FULL``: a grade is acknowledged only
after its transaction is on disk, so a server killed mid-write loses at most the
unacknowledged request. Several servers (one per grader) may share the file on a local
file system.
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lensscan.errors import UserError

#: ``PRAGMA application_id`` of a lensscan grade database ("LSGD").
APPLICATION_ID = 0x4C534744
GRADES = (0, 1, 2, 3)
GRADE_NAMES = {0: "not a lens", 1: "possible", 2: "probable", 3: "definite"}
BUSY_TIMEOUT_MS = 10_000

_SCHEMA_V1 = """
CREATE TABLE catalog (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    n_rows INTEGER NOT NULL,
    created_utc TEXT NOT NULL
);
CREATE TABLE graders (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_utc TEXT NOT NULL
);
CREATE TABLE candidates (
    id INTEGER PRIMARY KEY,
    catalog_sha256 TEXT NOT NULL,
    row INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    ra REAL,
    dec REAL,
    score REAL,
    UNIQUE (catalog_sha256, row)
);
CREATE TABLE grades (
    id INTEGER PRIMARY KEY,
    grader_id INTEGER NOT NULL REFERENCES graders (id),
    candidate_id INTEGER NOT NULL REFERENCES candidates (id),
    grade INTEGER CHECK (grade IS NULL OR grade BETWEEN 0 AND 3),
    comment TEXT NOT NULL DEFAULT '',
    created_utc TEXT NOT NULL,
    request_id TEXT UNIQUE,
    undoes INTEGER REFERENCES grades (id)
);
CREATE INDEX grades_by_grader_candidate ON grades (grader_id, candidate_id, id);
"""

#: Migration scripts: script k takes a database from schema version k to k + 1.
MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1,)
SCHEMA_VERSION = len(MIGRATIONS)

_CURRENT = """
SELECT g.grader_id, g.candidate_id, g.grade, g.comment, g.created_utc
FROM grades AS g
JOIN (SELECT grader_id, candidate_id, MAX(id) AS id FROM grades GROUP BY grader_id, candidate_id)
    AS latest ON g.id = latest.id
"""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CandidateRecord:
    """A candidate as the database knows it.

    Attributes:
        row: 0-based row in the catalog file.
        rank: 1-based position in score order.
        ra: Right ascension (deg).
        dec: Declination (deg).
        score: Model score.
    """

    row: int
    rank: int
    ra: float
    dec: float
    score: float


@dataclass(frozen=True)
class CurrentGrade:
    """A grader's standing grade of one candidate.

    Attributes:
        grader: Grader name.
        row: Catalog row of the candidate.
        grade: 0-3, or ``None`` when the grade was withdrawn (a comment may remain).
        comment: The comment given with it.
        time_utc: When it was given.
    """

    grader: str
    row: int
    grade: int | None
    comment: str
    time_utc: str


@dataclass(frozen=True)
class Action:
    """The outcome of a recorded action.

    Attributes:
        row: Catalog row of the candidate it changed (``None`` for an undo with nothing
            left to undo).
        grade: The candidate's grade after the action.
        comment: The candidate's comment after the action.
    """

    row: int | None
    grade: int | None
    comment: str


class GradeDB:
    """An open grade database (thread-safe: one connection behind a lock).

    Use :meth:`open` to create or open one; close it with :meth:`close` or a ``with``
    block.
    """

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._connection = connection
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True, option: str | None = "db"):
        """Open (or create) a grade database and bring its schema up to date.

        Args:
            path: The SQLite file.
            create: Create the file when it does not exist.
            option: The setting that named it, by its Python name (``db``), for messages;
                None for a file no setting named, which messages call "grade database".

        Raises:
            UserError: If the file is missing (``create=False``), is not a lensscan grade
                database, or was written by a newer lensscan.
        """
        db_path = Path(path)
        named = f"`{option}` {db_path}" if option is not None else f"grade database {db_path}"
        if not create and not db_path.is_file():
            raise UserError(f"{named}: no such file")
        if db_path.is_dir():
            raise UserError(f"{named}: is a folder, not an SQLite file")
        try:
            connection = sqlite3.connect(
                db_path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except sqlite3.OperationalError as exc:
            raise UserError(f"{named}: cannot open ({exc})") from None
        connection.isolation_level = None  # transactions are explicit (BEGIN IMMEDIATE)
        try:
            _configure(connection)
            _migrate(connection, named)
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise UserError(f"{named}: not an SQLite database ({exc})") from None
        except UserError:
            connection.close()
            raise
        return cls(db_path, connection)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()

    def __enter__(self) -> GradeDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _query(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            return self._connection.execute(sql, parameters).fetchall()

    @property
    def journal_mode(self) -> str:
        """The SQLite journal mode (``wal``)."""
        return str(self._query("PRAGMA journal_mode")[0][0])

    @property
    def schema_version(self) -> int:
        """The schema version of the file."""
        return int(self._query("PRAGMA user_version")[0][0])

    def catalog_record(self) -> tuple[str, str, int] | None:
        """``(path, sha256, n_rows)`` of the graded catalog, or ``None`` for a new database."""
        rows = self._query("SELECT path, sha256, n_rows FROM catalog")
        return (rows[0][0], rows[0][1], int(rows[0][2])) if rows else None

    def bind_catalog(
        self,
        path: str,
        sha256: str,
        candidates: Sequence[CandidateRecord],
        option: str | None = "db",
    ) -> None:
        """Record the catalog and its candidates, or check that the database grades it.

        Args:
            path: The catalog's path.
            sha256: The catalog file's SHA-256.
            candidates: The catalog's candidates.
            option: The setting that named the database (``db``), for messages; None when
                no setting did (a positional argument), which messages name in words.

        Raises:
            UserError: If the database already grades another catalog.
        """
        named = f"`{option}`" if option is not None else "grade database"
        with self._transaction() as connection:
            row = connection.execute("SELECT path, sha256 FROM catalog").fetchone()
            if row is not None:
                if row[1] != sha256:
                    raise UserError(
                        f"{named} {self.path}: holds grades of catalog {row[0]} (sha256 "
                        f"{row[1][:12]}...), not of {path} (sha256 {sha256[:12]}...); use "
                        f"another {named}"
                    )
                return
            connection.execute(
                "INSERT INTO catalog (id, path, sha256, n_rows, created_utc) "
                "VALUES (1, ?, ?, ?, ?)",
                (path, sha256, len(candidates), _now()),
            )
            connection.executemany(
                "INSERT INTO candidates (catalog_sha256, row, rank, ra, dec, score) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(sha256, c.row, c.rank, c.ra, c.dec, c.score) for c in candidates],
            )

    def candidates(self) -> list[CandidateRecord]:
        """Every candidate of the catalog, in rank order."""
        rows = self._query("SELECT row, rank, ra, dec, score FROM candidates ORDER BY rank")
        return [CandidateRecord(int(r[0]), int(r[1]), r[2], r[3], r[4]) for r in rows]

    def graders(self) -> list[str]:
        """Grader names, in the order they first graded."""
        return [r[0] for r in self._query("SELECT name FROM graders ORDER BY id")]

    def add_grader(self, name: str) -> None:
        """Register a grader (no-op if known)."""
        with self._transaction() as connection:
            _grader_id(connection, name)

    def record_grade(
        self,
        grader: str,
        row: int,
        grade: int | None,
        comment: str | None = None,
        request_id: str | None = None,
    ) -> Action:
        """Record a grade (and comment) of a candidate; committed to disk on return.

        Args:
            grader: Grader name (registered if new).
            row: Catalog row of the candidate.
            grade: 0-3; ``None`` keeps the candidate's current grade (to change only the
                comment).
            comment: The comment; ``None`` keeps the current one.
            request_id: The client's id for this request: a request already recorded is
                not recorded again.

        Raises:
            ValueError: For a grade outside 0-3 or an unknown row.
        """
        if grade is not None and grade not in GRADES:
            raise ValueError(f"grade {grade!r} is not one of {GRADES}")
        with self._transaction() as connection:
            done = _already_done(connection, request_id)
            if done is not None:
                return done
            grader_id = _grader_id(connection, grader)
            candidate_id = _candidate_id(connection, row)
            previous = _latest(connection, grader_id, candidate_id)
            new_grade = grade if grade is not None else (previous[1] if previous else None)
            new_comment = comment if comment is not None else (previous[2] if previous else "")
            connection.execute(
                "INSERT INTO grades (grader_id, candidate_id, grade, comment, created_utc, "
                "request_id) VALUES (?, ?, ?, ?, ?, ?)",
                (grader_id, candidate_id, new_grade, new_comment, _now(), request_id),
            )
            return Action(row, new_grade, new_comment)

    def undo(self, grader: str, request_id: str | None = None) -> Action:
        """Undo the grader's latest action that is not undone yet.

        The candidate goes back to the state just before that action (its earlier grade,
        or none). Repeated undos walk back through the grader's history.
        """
        with self._transaction() as connection:
            done = _already_done(connection, request_id)
            if done is not None:
                return done
            grader_id = _grader_id(connection, grader)
            target = connection.execute(
                "SELECT id, candidate_id FROM grades WHERE grader_id = ? AND undoes IS NULL "
                "AND id NOT IN (SELECT undoes FROM grades WHERE undoes IS NOT NULL) "
                "ORDER BY id DESC LIMIT 1",
                (grader_id,),
            ).fetchone()
            if target is None:
                return Action(None, None, "")
            action_id, candidate_id = target
            before = connection.execute(
                "SELECT grade, comment FROM grades WHERE grader_id = ? AND candidate_id = ? "
                "AND id < ? ORDER BY id DESC LIMIT 1",
                (grader_id, candidate_id, action_id),
            ).fetchone()
            grade, comment = before if before is not None else (None, "")
            connection.execute(
                "INSERT INTO grades (grader_id, candidate_id, grade, comment, created_utc, "
                "request_id, undoes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (grader_id, candidate_id, grade, comment, _now(), request_id, action_id),
            )
            row = connection.execute(
                "SELECT row FROM candidates WHERE id = ?", (candidate_id,)
            ).fetchone()[0]
            return Action(int(row), grade, comment)

    def current_grades(self, grader: str | None = None) -> list[CurrentGrade]:
        """Standing grades (latest action per grader and candidate), withdrawn ones included.

        Args:
            grader: Only this grader's; every grader's when ``None``.
        """
        sql = (
            f"SELECT graders.name, candidates.row, cur.grade, cur.comment, cur.created_utc "
            f"FROM ({_CURRENT}) AS cur JOIN graders ON graders.id = cur.grader_id "
            "JOIN candidates ON candidates.id = cur.candidate_id"
        )
        parameters: tuple[object, ...] = ()
        if grader is not None:
            sql += " WHERE graders.name = ?"
            parameters = (grader,)
        rows = self._query(sql + " ORDER BY candidates.rank, graders.id", parameters)
        return [CurrentGrade(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]

    def history_length(self) -> int:
        """Number of recorded actions (the history is never shortened)."""
        return int(self._query("SELECT COUNT(*) FROM grades")[0][0])


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.DatabaseError(f"cannot switch to WAL mode (journal mode {mode})")
    connection.execute("PRAGMA synchronous = FULL")
    connection.execute("PRAGMA foreign_keys = ON")


def _migrate(connection: sqlite3.Connection, named: str) -> None:
    """Bring the schema up to date; ``named`` is the file as messages name it."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        tables = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
        if application_id != APPLICATION_ID and (application_id != 0 or tables):
            raise UserError(f"{named}: an SQLite file, but not a lensscan grade database")
        if version > SCHEMA_VERSION:
            raise UserError(
                f"{named}: written by a newer lensscan (schema {version}; this one "
                f"reads up to {SCHEMA_VERSION})"
            )
        for script in MIGRATIONS[version:]:
            for statement in script.split(";"):
                if statement.strip():
                    connection.execute(statement)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _grader_id(connection: sqlite3.Connection, name: str) -> int:
    connection.execute(
        "INSERT OR IGNORE INTO graders (name, created_utc) VALUES (?, ?)", (name, _now())
    )
    return int(connection.execute("SELECT id FROM graders WHERE name = ?", (name,)).fetchone()[0])


def _candidate_id(connection: sqlite3.Connection, row: int) -> int:
    found = connection.execute("SELECT id FROM candidates WHERE row = ?", (int(row),)).fetchone()
    if found is None:
        raise ValueError(f"no candidate in catalog row {row}")
    return int(found[0])


def _latest(
    connection: sqlite3.Connection, grader_id: int, candidate_id: int
) -> tuple[int, int | None, str] | None:
    return connection.execute(
        "SELECT id, grade, comment FROM grades WHERE grader_id = ? AND candidate_id = ? "
        "ORDER BY id DESC LIMIT 1",
        (grader_id, candidate_id),
    ).fetchone()


def _already_done(connection: sqlite3.Connection, request_id: str | None) -> Action | None:
    if request_id is None:
        return None
    found = connection.execute(
        "SELECT candidates.row, grades.grade, grades.comment FROM grades "
        "JOIN candidates ON candidates.id = grades.candidate_id WHERE grades.request_id = ?",
        (request_id,),
    ).fetchone()
    return None if found is None else Action(int(found[0]), found[1], found[2])
