"""Field-level matching of candidates to true lenses, with known offsets, and its CLI."""

from __future__ import annotations

import json
import math

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from lensscan.cli import app
from lensscan.errors import UserError
from lensscan.evaluate import field as f

RA0, DEC0 = 150.0, 2.2


def _truth_positions(n: int = 8) -> SkyCoord:
    # A row of true lenses 20" apart along Dec.
    return SkyCoord(np.full(n, RA0) * u.deg, (DEC0 + np.arange(n) * 20 / 3600) * u.deg)


def _field(n_truth: int = 8):
    """Candidates for all but the last true lens, offset 0.3" E and 0.4" N (0.5" in all),
    plus a second, lower-scored detection of lens 0 and two far-away false positives."""
    truth = _truth_positions(n_truth)
    found = truth[:-1].spherical_offsets_by(0.3 * u.arcsec, 0.4 * u.arcsec)
    duplicate = truth[:1].spherical_offsets_by(0.0 * u.arcsec, -0.2 * u.arcsec)
    false = SkyCoord([RA0 + 0.1, RA0 + 0.2] * u.deg, [DEC0, DEC0] * u.deg)
    ra = np.r_[found.ra.deg, duplicate.ra.deg, false.ra.deg]
    dec = np.r_[found.dec.deg, duplicate.dec.deg, false.dec.deg]
    scores = np.r_[np.linspace(0.99, 0.6, n_truth - 1), 0.3, 0.95, 0.2]
    return ra, dec, scores, truth.ra.deg, truth.dec.deg


def test_match_with_known_offsets() -> None:
    ra, dec, scores, truth_ra, truth_dec = _field()
    match = f.match_candidates(ra, dec, scores, truth_ra, truth_dec, radius_arcsec=1.0)
    np.testing.assert_array_equal(match.truth_index, [0, 1, 2, 3, 4, 5, 6, -1, -1, -1])
    np.testing.assert_allclose(match.separation_arcsec[:7], 0.5, atol=1e-6)
    np.testing.assert_allclose(match.offset_ra_arcsec[:7], 0.3, atol=1e-6)
    np.testing.assert_allclose(match.offset_dec_arcsec[:7], 0.4, atol=1e-6)
    # Ranked by score: 0.99, then the 0.95 false positive, then the rest.
    assert match.order[:2].tolist() == [0, 8]

    result = f.field_metrics(match, scores, n_truth=8, area=f.FieldArea(0.5, "test"), threshold=0.5)
    summary = result.summary
    assert summary["n_matched"] == 7
    assert summary["completeness"] == pytest.approx(7 / 8)
    assert summary["purity"] == pytest.approx(7 / 10)
    assert summary["false_positives_per_deg2"] == pytest.approx(3 / 0.5)
    assert summary["astrometry_arcsec"]["median_separation"] == pytest.approx(0.5, abs=1e-6)
    assert summary["astrometry_arcsec"]["rms_separation"] == pytest.approx(0.5, abs=1e-6)
    assert summary["astrometry_arcsec"]["mean_offset_ra_cosdec"] == pytest.approx(0.3, abs=1e-6)
    # Completeness after 1, 2, 3 inspected candidates: hit, false positive, hit.
    np.testing.assert_allclose(result.completeness_at_rank[:3], [1 / 8, 1 / 8, 2 / 8])
    assert summary["completeness_at_rank"] == {"10": pytest.approx(7 / 8)}
    at_half = next(row for row in summary["at_threshold"] if row["threshold"] == 0.5)
    assert at_half["n_candidates"] == 8  # seven detections and the 0.95 false positive
    assert at_half["purity"] == pytest.approx(7 / 8)


def test_one_to_one_best_score_first() -> None:
    truth = _truth_positions(1)
    near = truth.spherical_offsets_by(0 * u.arcsec, 0.1 * u.arcsec)
    far = truth.spherical_offsets_by(0 * u.arcsec, 0.8 * u.arcsec)
    ra, dec = np.r_[near.ra.deg, far.ra.deg], np.r_[near.dec.deg, far.dec.deg]
    # The farther candidate scores higher, so it takes the lens; the near one is a duplicate.
    match = f.match_candidates(ra, dec, np.array([0.5, 0.9]), truth.ra.deg, truth.dec.deg, 1.0)
    assert match.truth_index.tolist() == [-1, 0]
    assert match.separation_arcsec[1] == pytest.approx(0.8, abs=1e-6)


def test_match_radius_and_empty_catalogs() -> None:
    truth = _truth_positions(1)
    off = truth.spherical_offsets_by(1.5 * u.arcsec, 0 * u.arcsec)
    args = (off.ra.deg, off.dec.deg, np.array([0.9]), truth.ra.deg, truth.dec.deg)
    assert f.match_candidates(*args, radius_arcsec=1.0).truth_index.tolist() == [-1]
    assert f.match_candidates(*args, radius_arcsec=2.0).truth_index.tolist() == [0]
    empty = f.match_candidates(np.array([]), np.array([]), np.array([]), *args[3:], 1.0)
    assert empty.truth_index.size == 0


def test_area_preference_and_convex_hull() -> None:
    ra = RA0 + np.array([0.0, 0.1, 0.1, 0.0, 0.05])
    dec = DEC0 + np.array([0.0, 0.0, 0.1, 0.1, 0.05])
    hull = f.resolve_area(None, {}, {}, ra, dec)
    assert hull.deg2 == pytest.approx(0.01 * math.cos(math.radians(DEC0 + 0.05)), rel=1e-3)
    assert "convex hull" in hull.source
    assert f.resolve_area(None, {}, {"area_deg2": 0.3}, ra, dec).deg2 == 0.3
    assert f.resolve_area(None, {"area_deg2": 0.2}, {"area_deg2": 0.3}, ra, dec).deg2 == 0.2
    assert f.resolve_area(0.1, {"area_deg2": 0.2}, {}, ra, dec).source == "`area_deg2`"
    # A scan without a pixel scale records a null area: fall through to the next source.
    assert f.resolve_area(None, {}, {"area_deg2": None, "AREADEG2": 0.4}, ra, dec).deg2 == 0.4
    assert "convex hull" in f.resolve_area(None, {"area_deg2": None}, {}, ra, dec).source
    with pytest.raises(UserError, match="`area_deg2`"):
        f.resolve_area(None, {}, {}, ra[:2], dec[:2])


def _write_catalogs(tmp_path):
    ra, dec, scores, truth_ra, truth_dec = _field()
    candidates = Table(
        {
            "id": np.arange(len(ra)),
            "ra": ra * u.deg,
            "dec": dec * u.deg,
            "x": np.zeros(len(ra)),
            "y": np.zeros(len(ra)),
            "score": scores.astype(np.float32),
        }
    )
    truth = Table(
        {
            "id": np.arange(100, 100 + len(truth_ra)),
            "ra": truth_ra * u.deg,
            "dec": truth_dec * u.deg,
            "einstein_radius": np.full(len(truth_ra), 1.2) * u.arcsec,
        }
    )
    truth.meta["area_deg2"] = 0.25
    candidates.write(tmp_path / "candidates.ecsv")
    truth.write(tmp_path / "truth.ecsv")
    return tmp_path / "candidates.ecsv", tmp_path / "truth.ecsv"


def test_field_cli_writes_report(runner, tmp_path) -> None:
    catalog, truth = _write_catalogs(tmp_path)
    out = tmp_path / "field_report"
    result = runner.invoke(
        app,
        ["evaluate", "--catalog", str(catalog), "--truth", str(truth), "--report-dir", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "completeness" in result.output
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert summary["n_matched"] == 7
    assert summary["area_deg2"] == 0.25
    assert summary["false_positives_per_deg2"] == pytest.approx(3 / 0.25)
    assert report["provenance"]["inputs"][0]["sha256"]
    for name in ("report.md", "completeness_rank.png", "completeness_score.png", "matches.ecsv"):
        assert (out / name).is_file(), name
    matches = Table.read(out / "matches.ecsv")
    assert matches["rank"].tolist() == list(range(1, 11))
    assert matches["truth_id"][0] == 100
    assert matches["truth_id"][1] == -1


def test_field_cli_bad_input(runner, tmp_path) -> None:
    catalog, truth = _write_catalogs(tmp_path)
    table = Table.read(catalog)
    table.remove_column("score")
    table.write(tmp_path / "noscore.ecsv")
    result = runner.invoke(
        app, ["evaluate", "--catalog", str(tmp_path / "noscore.ecsv"), "--truth", str(truth)]
    )
    assert result.exit_code == 2
    assert "missing column(s) score" in result.output
    result = runner.invoke(app, ["evaluate", "--catalog", str(catalog)])
    assert result.exit_code == 2
    assert "needs both catalogs" in result.output
    result = runner.invoke(
        app, ["evaluate", "--catalog", str(catalog), "--truth", str(truth), "--model", "x"]
    )
    assert result.exit_code == 2
    assert "give one kind" in result.output
