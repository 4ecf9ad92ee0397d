"""Atomic outputs: nothing half-written survives a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from lensscan.atomic import atomic_output, check_output_path, write_text_atomic
from lensscan.errors import UserError


def test_failure_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "out.zarr"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "part").write_text("half")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_success_replaces_existing_output(tmp_path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_existing_output_needs_overwrite(tmp_path) -> None:
    target = tmp_path / "x.zarr"
    target.mkdir()
    with pytest.raises(UserError, match="already exists"):
        check_output_path(target, overwrite=False)
    assert check_output_path(target, overwrite=True) == target


def test_unwritable_folder_is_a_user_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot create folder"):
        check_output_path(blocker / "sub" / "out.zarr", overwrite=False)


def test_the_current_folder_or_a_parent_is_never_an_output(tmp_path: Path, monkeypatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("data")
    monkeypatch.chdir(work)
    for path in ("", ".", "..", str(work)):
        with pytest.raises(UserError, match="current folder or one of its parents"):
            check_output_path(path, overwrite=True)
    assert (work / "keep.txt").exists()
