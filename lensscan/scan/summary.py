"""The report of a scan (what happened to every field) and its run summary as JSON.

``ScanReport`` is what ``scan`` returns; with several fields its run summary is
written beside the combined catalog (``<combined stem>.summary.json``) with the provenance
of the run (lensscan version, settings, the list files with their SHA-256), the counts of
fields scanned, up to date (skipped: their catalog was already complete) and failed, one
record per field with its catalog, candidates and, for a failed field, the reason, and the
combined catalog's figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensscan.atomic import write_text_atomic
from lensscan.provenance import provenance
from lensscan.scan.plan import FieldResult, FieldStatus

if TYPE_CHECKING:
    from lensscan.scan.combine import CombinedCatalog


@dataclass
class ScanReport:
    """The outcome of a scan over one or more fields.

    Attributes:
        results: One per field, in the order given.
        combined: The combined catalog of the run's fields, when one was written.
        summary: The run summary (JSON) beside it.
    """

    results: list[FieldResult] = field(default_factory=list)
    combined: CombinedCatalog | None = None
    summary: Path | None = None

    @property
    def failed(self) -> list[FieldResult]:
        """Fields that failed."""
        return [r for r in self.results if r.status == FieldStatus.FAILED]

    def count(self, status: FieldStatus) -> int:
        """Fields that ended with ``status``."""
        return sum(r.status == status for r in self.results)

    def lines(self) -> list[str]:
        """One line per field, then summary lines when there are several fields."""
        lines = [r.line() for r in self.results]
        if len(self.results) > 1:
            candidates = sum(r.n_candidates for r in self.results if r.status != FieldStatus.FAILED)
            lines.append(
                f"{len(self.results) - len(self.failed)} of {len(self.results)} fields done "
                f"({self.count(FieldStatus.SCANNED)} scanned, "
                f"{self.count(FieldStatus.UP_TO_DATE)} up to date, "
                f"{len(self.failed)} failed), {candidates} candidates"
                + (f"; failed: {', '.join(r.label for r in self.failed)}" if self.failed else "")
            )
        if self.combined is not None:
            lines.append(
                f"combined {self.combined.n_fields} field catalogs: {self.combined.n_rows} "
                f"candidates ({self.combined.n_duplicates} overlap duplicates removed) -> "
                f"{self.combined.path}"
            )
        if self.summary is not None:
            lines.append(f"run summary -> {self.summary}")
        return lines


def summary_path(combined: Path) -> Path:
    """Where the run summary goes: beside the combined catalog, named after it."""
    return combined.with_name(f"{combined.stem}.summary.json")


def summary_record(
    report: ScanReport, settings: Mapping[str, Any], list_files: Sequence[str]
) -> dict[str, Any]:
    """The run summary as a JSON-serialisable dictionary."""
    record = provenance(command="scan", settings=settings, inputs=list_files)
    done = [r for r in report.results if r.status != FieldStatus.FAILED]
    combined = report.combined
    return record | {
        "counts": {
            "fields": len(report.results),
            "scanned": report.count(FieldStatus.SCANNED),
            "up_to_date": report.count(FieldStatus.UP_TO_DATE),
            "failed": len(report.failed),
            "candidates": sum(r.n_candidates for r in done),
            "combined_candidates": None if combined is None else combined.n_rows,
            "duplicates_removed": None if combined is None else combined.n_duplicates,
            **_known_counts(done),
        },
        "combined_catalog": None if combined is None else str(combined.path),
        "fields": [
            {
                "field": r.label,
                "status": str(r.status),
                "catalog": None if r.catalog is None else str(r.catalog),
                "candidates": r.n_candidates if r.status != FieldStatus.FAILED else None,
                "windows": r.n_windows if r.status == FieldStatus.SCANNED else None,
                "detected": r.n_detected,
                "known_in_footprint": r.n_known,
                "known_recovered": r.n_recovered,
                "error": r.error,
            }
            for r in report.results
        ],
    }


def _known_counts(done: Sequence[FieldResult]) -> dict[str, int]:
    """Known lenses in the fields done and recovered, when the run cross-matched any."""
    if all(r.n_recovered is None for r in done):
        return {}
    return {
        "known_in_footprint": sum(r.n_known or 0 for r in done),
        "known_recovered": sum(r.n_recovered or 0 for r in done),
    }


def write_summary(
    path: Path, report: ScanReport, settings: Mapping[str, Any], list_files: Sequence[str]
) -> Path:
    """Write the run summary atomically and return its path."""
    record = summary_record(report, settings, list_files)
    write_text_atomic(path, json.dumps(record, indent=2, sort_keys=False) + "\n")
    return path
