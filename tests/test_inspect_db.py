"""The grade database: schema versions, WAL, history, undo, concurrency, consensus."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from lensscan.errors import UserError
from lensscan.inspect.consensus import combine, grade_class
from lensscan.inspect.export import grader_columns
from lensscan.inspect.grades_db import SCHEMA_VERSION, CandidateRecord, GradeDB
from lensscan.inspect.summary import summarize, weighted_kappa

CANDIDATES = [
    CandidateRecord(row=r, rank=r + 1, ra=150.0, dec=2.0, score=1 - r / 10) for r in range(6)
]


def _db(path: Path, sha: str = "a" * 64) -> GradeDB:
    db = GradeDB.open(path)
    db.bind_catalog("cat.ecsv", sha, CANDIDATES)
    return db


def test_new_database_is_versioned_in_wal_mode(tmp_path: Path) -> None:
    with _db(tmp_path / "g.sqlite") as db:
        assert db.schema_version == SCHEMA_VERSION
        assert db.journal_mode == "wal"
        assert db.catalog_record() == ("cat.ecsv", "a" * 64, 6)
        assert [c.rank for c in db.candidates()] == [1, 2, 3, 4, 5, 6]
    with GradeDB.open(tmp_path / "g.sqlite", create=False) as again:  # reopening migrates nothing
        assert again.schema_version == SCHEMA_VERSION


def test_regrade_replaces_for_consensus_and_keeps_history(tmp_path: Path) -> None:
    with _db(tmp_path / "g.sqlite") as db:
        db.record_grade("ann", 0, 1)
        db.record_grade("ann", 0, 3, comment="clear arc")
        db.record_grade("bob", 0, 2)
        current = {(g.grader, g.row): (g.grade, g.comment) for g in db.current_grades()}
        assert current == {("ann", 0): (3, "clear arc"), ("bob", 0): (2, "")}
        assert db.history_length() == 3
        db.record_grade("ann", 0, None, comment="arc and counter-image")
        assert db.current_grades("ann")[0].grade == 3
        assert db.current_grades("ann")[0].comment == "arc and counter-image"


def test_undo_walks_back_through_the_history(tmp_path: Path) -> None:
    with _db(tmp_path / "g.sqlite") as db:
        db.record_grade("ann", 0, 1)
        db.record_grade("ann", 1, 2)
        db.record_grade("ann", 0, 3)
        assert db.undo("ann").row == 0
        assert {g.row: g.grade for g in db.current_grades("ann")} == {0: 1, 1: 2}
        assert db.undo("ann").row == 1
        assert {g.row: g.grade for g in db.current_grades("ann")} == {0: 1, 1: None}
        assert db.undo("ann").row == 0
        assert db.undo("ann").row is None
        assert all(g.grade is None for g in db.current_grades("ann"))
        assert db.history_length() == 6


def test_a_retried_request_is_recorded_once(tmp_path: Path) -> None:
    with _db(tmp_path / "g.sqlite") as db:
        first = db.record_grade("ann", 2, 2, request_id="r-1")
        second = db.record_grade("ann", 2, 0, request_id="r-1")
        assert first == second
        assert db.history_length() == 1


def test_database_of_another_catalog_is_refused(tmp_path: Path) -> None:
    _db(tmp_path / "g.sqlite").close()
    with pytest.raises(UserError, match=r"holds grades of catalog cat.ecsv .*not of"):
        _db(tmp_path / "g.sqlite", sha="b" * 64)


def test_foreign_and_newer_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "text.sqlite").write_text("not a database at all, just text" * 10)
    with pytest.raises(UserError, match="not an SQLite database"):
        GradeDB.open(tmp_path / "text.sqlite")
    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE t (x)")
    other.close()
    with pytest.raises(UserError, match="not a lensscan grade database"):
        GradeDB.open(tmp_path / "other.sqlite")
    _db(tmp_path / "new.sqlite").close()
    newer = sqlite3.connect(tmp_path / "new.sqlite")
    newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    newer.close()
    with pytest.raises(UserError, match="newer lensscan"):
        GradeDB.open(tmp_path / "new.sqlite")
    with pytest.raises(UserError, match="no such file"):
        GradeDB.open(tmp_path / "missing.sqlite", create=False)


def test_two_graders_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    _db(tmp_path / "g.sqlite").close()

    def grade(name: str) -> None:
        with GradeDB.open(tmp_path / "g.sqlite") as db:
            for i in range(60):
                db.record_grade(name, i % 6, i % 4, request_id=f"{name}-{i}")

    threads = [threading.Thread(target=grade, args=(name,)) for name in ("ann", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with GradeDB.open(tmp_path / "g.sqlite") as db:
        assert db.history_length() == 120
        assert {(g.grader, g.row): g.grade for g in db.current_grades()} == {
            (name, row): (54 + row) % 4 for name in ("ann", "bob") for row in range(6)
        }


def test_consensus_classes_labels_and_agreement(tmp_path: Path) -> None:
    with _db(tmp_path / "g.sqlite") as db:
        for row, (a, b) in enumerate([(3, 3), (2, 1), (0, 1), (0, 0), (3, 2)]):
            db.record_grade("ann", row, a)
            db.record_grade("bob", row, b)
        db.record_grade("cy", 0, 2)
        consensus = combine(db.candidates(), db.current_grades(), db.graders())
    assert consensus.graders == ("ann", "bob", "cy")
    np.testing.assert_allclose(consensus.mean[:5], [8 / 3, 1.5, 0.5, 0.0, 2.5])
    assert np.isnan(consensus.mean[5])
    np.testing.assert_allclose(consensus.spread[1], 0.5)
    assert list(consensus.classes) == ["A", "B", "C", "N", "A", "-"]
    assert list(consensus.labels) == [1, 1, -1, 0, 1, -1]
    summary = summarize(consensus)
    assert summary.class_counts == {"A": 2, "B": 1, "C": 1, "N": 1, "-": 1}
    ann_bob = summary.pairs[0]
    assert (ann_bob.n_common, ann_bob.exact, ann_bob.within_one) == (5, 0.4, 1.0)
    assert summary.graders[2].counts == (0, 0, 1, 0)
    assert any("kappa" in line for line in summary.lines())


def test_weighted_kappa_against_a_direct_count() -> None:
    same = np.array([0, 1, 2, 3, 3])
    assert weighted_kappa(same, same) == pytest.approx(1.0)
    a, b = np.array([0, 0, 1, 3]), np.array([0, 1, 1, 2])
    # Observed weighted disagreement over expected (marginals a: 2,1,0,1; b: 1,2,1,0).
    observed = (0 + 1 + 0 + 1) / 9 / 4
    pa, pb = np.array([2, 1, 0, 1]) / 4, np.array([1, 2, 1, 0]) / 4
    expected = sum(pa[i] * pb[j] * (i - j) ** 2 / 9 for i in range(4) for j in range(4))
    assert weighted_kappa(a, b) == pytest.approx(1 - observed / expected)
    assert grade_class(2.49) == "B" and grade_class(float("nan")) == "-"


def test_grader_columns_never_clash() -> None:
    names = grader_columns(["class", "A. Grader", "A Grader", "<>"], taken=["grade_class"])
    assert names == ["grade_class_2", "grade_A_Grader", "grade_A_Grader_2", "grade_grader"]
