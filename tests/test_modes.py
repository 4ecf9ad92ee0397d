"""Scan modes are interchangeable objects behind one protocol, named by a StrEnum."""

from __future__ import annotations

import inspect

import pytest

from lensscan.errors import UserError
from lensscan.scan.modes import MODES, DetectMode, GridMode, Mode, PositionsMode, ScanMode, mode_of
from lensscan.scan.plan import FieldResult, FieldStatus
from lensscan.scan.settings import SCAN_MODES, ScanConfig

PROTOCOL_METHODS = sorted(
    name for name, _ in inspect.getmembers(Mode, inspect.isfunction) if not name.startswith("_")
)


def test_every_mode_has_an_object_that_fills_the_protocol() -> None:
    assert set(MODES) == set(ScanMode)
    assert set(SCAN_MODES) < {m.value for m in ScanMode}  # positions comes from the file
    for name, mode in MODES.items():
        assert mode.name is name
        for method in PROTOCOL_METHODS:
            assert callable(getattr(mode, method)), (name, method)
    expected = ("catalog", "check", "default_separation", "make_job", "metadata", "place")
    assert sorted((*expected, "score_settings")) == PROTOCOL_METHODS


def test_mode_of_the_settings() -> None:
    assert isinstance(mode_of(ScanConfig()), DetectMode)
    assert isinstance(mode_of(ScanConfig(mode="grid")), GridMode)
    assert isinstance(mode_of(ScanConfig(mode="grid", positions="objects.csv")), PositionsMode)


def test_default_separation_is_half_a_cutout_except_for_positions() -> None:
    assert MODES[ScanMode.DETECT].default_separation(64, 0.168) == pytest.approx(32 * 0.168)
    assert MODES[ScanMode.GRID].default_separation(64, None) == 32.0
    assert MODES[ScanMode.POSITIONS].default_separation(64, 0.168) == 0.0


def test_only_grid_mode_needs_whole_strides_per_chunk() -> None:
    config = ScanConfig(chunk_size=100, stride=32)
    with pytest.raises(UserError, match="multiple of the stride 32"):
        MODES[ScanMode.GRID].check(config)
    MODES[ScanMode.DETECT].check(config)
    MODES[ScanMode.POSITIONS].check(config)


def test_names_and_statuses_read_as_the_strings_outputs_record() -> None:
    assert ScanMode.POSITIONS == "positions" and f"{ScanMode.GRID}" == "grid"
    result = FieldResult("f", FieldStatus.UP_TO_DATE, catalog=None)
    assert result.status == "up to date" and str(result.status) == "up to date"
    assert FieldResult("f", FieldStatus.FAILED, error="no").line() == "FAILED no"
