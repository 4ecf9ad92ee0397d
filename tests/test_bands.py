"""One band parser for every option, survey filter names and wavelength order."""

from __future__ import annotations

import pytest

from lensscan.bands import normalise_band, parse_band_names, wavelength_order
from lensscan.cli import app
from lensscan.errors import UserError


@pytest.mark.parametrize("text", ["gri", "g,r,i", " g, r ,i ", ["g", "r", "i"]])
def test_every_spelling_of_a_band_list_is_the_same(text) -> None:
    assert parse_band_names(text) == ("g", "r", "i")


def test_long_names_need_commas_and_none_stays_none() -> None:
    assert parse_band_names("F606W,F814W") == ("F606W", "F814W")
    assert parse_band_names(None) is None


@pytest.mark.parametrize(
    ("text", "message"), [("", "no bands given"), ("gig", "repeated"), ("gx", "unknown band 'x'")]
)
def test_bad_band_lists_name_the_option(text: str, message: str) -> None:
    with pytest.raises(UserError, match=f"`detect_bands`.*{message}"):
        parse_band_names(text, "detect_bands", allowed="grizy")


def test_filter_names_and_wavelength_order() -> None:
    assert normalise_band("HSC-R2") == "r"
    assert normalise_band("z DECam SDSS c0004 9260.0 1520.0") == "z"
    assert wavelength_order(["i", "g", "F814W", "r"]) == [1, 3, 0, 2]


def test_commands_agree_on_band_lists(runner, tmp_path) -> None:
    """``evaluate --bands gri`` reads a folder's planes as simulate and scan do."""
    import numpy as np

    for kind in ("lenses", "nonlenses"):
        folder = tmp_path / "set" / f"test_{kind}"
        folder.mkdir(parents=True)
        for k in range(3):
            np.save(folder / f"{k}.npy", np.random.default_rng(k).random((3, 64, 64), np.float32))
    from lensscan.models import create_lens_finder, save_model

    save_model(create_lens_finder("small_cnn", seed=1), tmp_path / "tiny")
    result = runner.invoke(
        app,
        ["evaluate", "--model", str(tmp_path / "tiny"), "--data", str(tmp_path / "set"),
         "--bands", "gri", "--report-dir", str(tmp_path / "report"), "--bootstrap", "10"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
