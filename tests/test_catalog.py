"""Catalog schema, writers, DS9 regions, known-lens cross-match, position readers, gallery."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from lensscan.catalog.crossmatch import add_known_columns, match_known
from lensscan.catalog.gallery import colour_stamp, format_score, write_gallery
from lensscan.catalog.readers import SkyPositions, find_column, read_sky_positions
from lensscan.catalog.schema import CANDIDATE_COLUMNS, make_table
from lensscan.catalog.writers import check_format, format_of_path, region_lines, write_catalog
from lensscan.errors import UserError

META = {
    "lensscan_version": "0.1.0",
    "field": "f",
    "model": {"name": "m", "sha256": "ab" * 32},
    "area_deg2": 0.01,
    "inputs": [{"path": "/x.fits", "sha256": "cd" * 32}],
}


def _table(n: int = 3) -> Table:
    return make_table(
        {
            "id": np.arange(1, n + 1),
            "ra": np.linspace(150.0, 150.01, n),
            "dec": np.linspace(2.2, 2.21, n),
            "x": np.arange(n) * 10.0,
            "y": np.arange(n) * 5.0,
            "score": np.linspace(0.9, 0.5, n),
            "field": ["f"] * n,
            "bands": ["gri"] * n,
            "mask_fraction": np.zeros(n),
        },
        meta=META,
    )


def test_schema_types_units_and_descriptions() -> None:
    table = _table()
    assert table.colnames == [c.name for c in CANDIDATE_COLUMNS]
    assert table["ra"].unit == "deg" and table["x"].unit == "pix"
    assert table["score"].dtype == np.float64 and table["id"].dtype == np.int64
    assert "0-based" in table["x"].description
    with pytest.raises(ValueError, match="differ from the schema"):
        make_table({"id": [1]})


@pytest.mark.parametrize(
    ("fmt", "reader"), [("ecsv", "ascii.ecsv"), ("fits", "fits"), ("csv", "ascii.csv")]
)
def test_writers_round_trip_with_metadata(tmp_path: Path, fmt: str, reader: str) -> None:
    path = write_catalog(_table(), tmp_path / f"c.{fmt}", fmt)
    back = Table.read(path, format=reader)
    np.testing.assert_allclose(back["ra"], _table()["ra"])
    assert list(back["field"]) == ["f", "f", "f"]
    if fmt == "ecsv":
        assert back.meta["model"]["sha256"] == "ab" * 32 and back["ra"].unit == "deg"
    if fmt == "fits":
        assert json.loads(back.meta["PROVJSON"])["inputs"][0]["sha256"] == "cd" * 32
        assert back.meta["MODELSHA"] == "ab" * 32
    if fmt == "csv":
        assert json.loads((tmp_path / "c.csv.meta.json").read_text())["field"] == "f"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_format_names_and_parquet_dependency() -> None:
    assert format_of_path("a/b.FITS") == "fits" and format_of_path("x.ecsv") == "ecsv"
    assert format_of_path("folder") is None
    with pytest.raises(UserError, match="`format` votable: unknown format"):
        check_format("votable")
    if importlib.util.find_spec("pyarrow") is None:
        with pytest.raises(UserError, match="pip install pyarrow"):
            check_format("parquet")
    else:
        assert check_format("parquet") == "parquet"


def test_region_lines_sky_and_one_based_image() -> None:
    table = _table(2)
    sky = region_lines(table, 2.0, 12.0, sky=True)
    assert sky[3] == "icrs"
    assert sky[4].startswith('circle(150.0000000,2.2000000,2.00")') and "text={1 0.900}" in sky[4]
    image = region_lines(table, 2.0, 12.0, sky=False)
    assert image[3] == "image"
    assert image[5].startswith("circle(11.00,6.00,12.00)")  # x=10, y=5 0-based -> 11, 6


def test_columns_found_case_insensitively_with_units() -> None:
    assert find_column(["name", "RA [deg]", "DEC [deg]"], ("ra",)) == "RA [deg]"
    assert find_column(["RAJ2000", "DEJ2000"], ("dec", "dej2000")) == "DEJ2000"
    assert find_column(["ra_deg"], ("radeg",)) == "ra_deg"
    assert find_column(["x", "y"], ("ra",)) is None


def test_read_positions_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "objects.csv"
    good.write_text("ID,RA,Dec\na,10.5,-3.0\nb,370.0,4.0\n")
    positions = read_sky_positions(good, "positions")
    np.testing.assert_allclose(positions.ra, [10.5, 10.0])
    assert list(positions.names) == ["a", "b"]
    ecsv = tmp_path / "objects.ecsv"
    Table({"ra": [1.0], "dec": [2.0]}).write(ecsv)
    assert list(read_sky_positions(ecsv, "positions").names) == ["0"]
    (tmp_path / "nocols.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match=r"`positions` .*nocols.csv: no RA/Dec columns found"):
        read_sky_positions(tmp_path / "nocols.csv", "positions")
    (tmp_path / "text.csv").write_text("ra,dec\n10h00m,+2d\n")
    with pytest.raises(UserError, match="must hold decimal degrees"):
        read_sky_positions(tmp_path / "text.csv", "known")
    with pytest.raises(UserError, match=r"`known` .*missing.csv: no such file"):
        read_sky_positions(tmp_path / "missing.csv", "known")


def test_known_lens_match_within_radius() -> None:
    known = SkyPositions(
        ra=np.array([150.0, 150.005]),
        dec=np.array([2.2, 2.205]),
        names=np.array(["A", "B"]),
        source=Path("k.csv"),
    )
    ra = np.array([150.0 + 0.5 / 3600, 150.1, np.nan])
    dec = np.array([2.2, 2.2, 2.2])
    values = match_known(ra, dec, known, radius_arcsec=1.0)
    assert list(values["known_lens"]) == [True, False, False]
    assert list(values["known_name"]) == ["A", "", ""]
    assert values["known_separation"][0] == pytest.approx(0.5, rel=1e-3)
    assert np.isnan(values["known_separation"][1:]).all()
    table = add_known_columns(_table(), known, 1.0)
    assert table["known_lens"][0] and table["known_separation"].unit == "arcsec"
    assert table.meta["known_lenses"]["match_radius_arcsec"] == 1.0


@pytest.mark.realdata
def test_lenscat_columns_are_detected(realdata: Path) -> None:
    positions = read_sky_positions(realdata / "lenscat" / "catalog.csv", "known")
    assert len(positions) == 32838
    assert positions.names[0] == "J0011-0845"
    assert positions.ra[0] == pytest.approx(2.83435)


def test_gallery_colour_order_and_files(tmp_path: Path) -> None:
    stamp = np.zeros((3, 16, 16), np.float32)
    stamp[0] += np.random.default_rng(0).normal(0, 1, (16, 16))
    stamp[1] += np.random.default_rng(1).normal(0, 1, (16, 16))
    stamp[2] += np.random.default_rng(2).normal(0, 1, (16, 16))
    stamp[2, 6:10, 6:10] += 50.0  # bright in i: shows red
    rgb = colour_stamp(stamp, ("g", "r", "i"))
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert rgb[8, 8, 0] > rgb[8, 8, 2]
    stamp[0, :3, :3] = np.nan
    folder = write_gallery(
        tmp_path / "g", _table(2), np.stack([stamp, stamp]), ("g", "r", "i"), "f"
    )
    page = (folder / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "150.000000" in page
    assert (folder / "montage.png").read_bytes()[:4] == b"\x89PNG"


def test_gallery_scores_keep_confident_candidates_apart() -> None:
    assert format_score(0.87349) == "0.873"
    assert format_score(1 - 5.66e-8) == "1-5.7e-08"
    assert format_score(1 - 3.1e-9) == "1-3.1e-09"
    assert format_score(1.0) == "1.000" and format_score(0.0) == "0.000"


def test_parquet_round_trip_keeps_columns_units_and_metadata(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="writing Parquet needs pyarrow (pip install .[dev])")
    pytest.importorskip("pandas", reason="astropy reads Parquet with pandas (pip install .[dev])")
    table = _table(4)
    path = write_catalog(table, tmp_path / "c.parquet", "parquet")
    back = Table.read(path)
    assert back.colnames == table.colnames
    for name in table.colnames:
        assert back[name].dtype == table[name].dtype, name
        assert back[name].unit == table[name].unit, name
        assert back[name].description == table[name].description, name
        assert list(back[name]) == list(table[name]), name
    assert back.meta == META
    positions = read_sky_positions(path, "positions")
    np.testing.assert_array_equal(positions.ra, table["ra"])
    np.testing.assert_array_equal(positions.dec, table["dec"])
    assert [p.name for p in tmp_path.iterdir()] == ["c.parquet"]


def test_every_catalog_reader_finds_lenscat_style_sky_columns(tmp_path) -> None:
    """``evaluate --truth`` reads ``RA [deg]`` as ``scan --known`` does."""
    from lensscan.catalog.readers import read_sky_positions
    from lensscan.evaluate.field import TRUTH_COLUMNS, read_catalog

    path = tmp_path / "lenses.csv"
    path.write_text("name,RA [deg],DEC [deg]\nA,150.1,2.2\nB,150.3,-2.4\n")
    truth = read_catalog(path, TRUTH_COLUMNS, "truth")
    positions = read_sky_positions(path, "known")
    assert list(truth["ra"]) == list(positions.ra) == [150.1, 150.3]
    assert list(truth["dec"]) == list(positions.dec) == [2.2, -2.4]
