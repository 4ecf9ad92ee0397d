"""The run summary of a multi-field scan: what happened to every field, as JSON.

Written beside the combined catalog (``<combined stem>.summary.json``) with the provenance
of the run (lensscan version, settings, the list files with their SHA-256), the counts of
fields scanned, up to date (skipped: their catalog was already complete) and failed, one
record per field with its catalog, candidates and, for a failed field, the reason, and the
combined catalog's figures.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensscan.atomic import write_text_atomic
from lensscan.provenance import provenance

if TYPE_CHECKING:
    from lensscan.scan.plan import FieldResult
    from lensscan.scan.scanner import ScanReport


def summary_path(combined: Path) -> Path:
    """Where the run summary goes: beside the combined catalog, named after it."""
    return combined.with_name(f"{combined.stem}.summary.json")


def summary_record(
    report: ScanReport, settings: Mapping[str, Any], list_files: Sequence[str]
) -> dict[str, Any]:
    """The run summary as a JSON-serialisable dictionary."""
    record = provenance(command="scan", settings=settings, inputs=list_files)
    done = [r for r in report.results if r.status != "failed"]
    combined = report.combined
    return record | {
        "counts": {
            "fields": len(report.results),
            "scanned": report.count("scanned"),
            "up_to_date": report.count("up to date"),
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
                "status": r.status,
                "catalog": None if r.catalog is None else str(r.catalog),
                "candidates": r.n_candidates if r.status != "failed" else None,
                "windows": r.n_windows if r.status == "scanned" else None,
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
