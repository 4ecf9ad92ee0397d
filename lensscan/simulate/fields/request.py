"""What a ``lensscan simulate-field`` run is asked for, and the patch's sky coordinates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lensscan.bands import DEFAULT_BANDS
from lensscan.errors import SettingError, UserError
from lensscan.simulate.domains.families import FAMILIES
from lensscan.simulate.domains.presets import HSC_WIDE, parse_bands

PATCH_SIZE = 4200
LENSES_PER_PATCH = 50
MIN_FIELD_SIZE = 128
"""Smallest side of a simulated field in pixels (twice the 64 px cutout)."""


@dataclass(frozen=True)
class FieldRequest:
    """A ``lensscan simulate-field`` request that validates itself on construction.

    Every default is written here once; text forms are accepted where options give text
    (``bands`` as ``"gri"`` or ``"g,r,i"``, ``patch`` as ``"4,4"``), and a bad value raises
    one :class:`UserError` naming the setting.

    Attributes:
        size: Patch side in pixels.
        bands: Bands, one calexp file each.
        n_lenses: Lenses to inject (default: 50 per 4200 x 4200 px, by area; at least 1).
        ra: RA of the patch centre (deg).
        dec: Dec of the patch centre (deg).
        tract: Tract number (file names, headers).
        patch: Patch (x, y) index.
        seed: The run's seed.
        family: Simulator family of the objects and conditions (``hsc``, ``hsc-train`` or
            ``hsc-heldout``; see :mod:`lensscan.simulate.domains.families`).
    """

    size: int = PATCH_SIZE
    bands: tuple[str, ...] | str = DEFAULT_BANDS
    n_lenses: int | None = None
    ra: float = 150.0
    dec: float = 2.2
    tract: int = 9813
    patch: tuple[int, int] | str = (4, 4)
    seed: int = 0
    family: str = "hsc"

    def __post_init__(self) -> None:
        if self.size < MIN_FIELD_SIZE:
            raise SettingError("size", self.size, f"must be at least {MIN_FIELD_SIZE} pixels")
        n_lenses = self.n_lenses
        if n_lenses is None:
            n_lenses = max(1, round(LENSES_PER_PATCH * (self.size / PATCH_SIZE) ** 2))
        if n_lenses < 0:
            raise SettingError("n_lenses", n_lenses, "must be >= 0")
        if not 0.0 <= self.ra < 360.0:
            # :g shows the value as it is usually typed (150, not 150.0).
            raise UserError(f"`ra` {self.ra:g}: must be in [0, 360)")
        if not -90.0 <= self.dec <= 90.0:
            raise UserError(f"`dec` {self.dec:g}: must be in [-90, 90]")
        if self.tract < 0:
            raise SettingError("tract", self.tract, "must be >= 0")
        if self.seed < 0:
            raise SettingError("seed", self.seed, "must be >= 0")
        patch = self.patch
        if isinstance(patch, str):
            try:
                patch = tuple(int(part) for part in patch.split(","))
            except ValueError:
                patch = ()
        if len(patch) != 2 or min(patch) < 0:
            raise SettingError(
                "patch", self.patch, "expected two non-negative integers 'x,y', e.g. '4,4'"
            )
        if self.family not in FAMILIES:
            raise SettingError("family", self.family, f"choose one of {', '.join(FAMILIES)}")
        bands = self.bands if isinstance(self.bands, tuple) else parse_bands(self.bands, HSC_WIDE)
        object.__setattr__(self, "bands", bands)
        object.__setattr__(self, "n_lenses", n_lenses)
        object.__setattr__(self, "patch", (int(patch[0]), int(patch[1])))

    def settings(self) -> dict[str, Any]:
        """JSON-serialisable settings for provenance."""
        return {
            "size": self.size,
            "bands": list(self.bands),
            "n_lenses": self.n_lenses,
            "ra": self.ra,
            "dec": self.dec,
            "tract": self.tract,
            "patch": list(self.patch),
            "seed": self.seed,
            "family": self.family,
        }


def field_wcs(request: FieldRequest) -> Any:
    """TAN WCS at 0.168"/px, north up, east left, centred on (ra, dec)."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [request.ra, request.dec]
    wcs.wcs.crpix = [(request.size + 1) / 2, (request.size + 1) / 2]  # FITS 1-based centre
    scale = HSC_WIDE.pixel_scale / 3600.0
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    wcs.wcs.radesys = "ICRS"
    wcs.wcs.cunit = ["deg", "deg"]
    return wcs
