"""The truth catalogs of a patch: its lenses (truth.ecsv) and every object (objects.ecsv).

Pixel convention of the truth catalogs (the one place it is defined): see
:data:`PIXEL_CONVENTION`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lensscan.simulate.fields.request import FieldRequest
from lensscan.simulate.fields.scene import FieldScene

PIXEL_CONVENTION = (
    "x, y: numpy 0-based pixel coordinates of the IMAGE array (x = column, y = row); "
    "(0, 0) is the centre of the first pixel. ra, dec = WCS.pixel_to_world(x, y) with "
    "astropy's 0-based pixel API (ICRS degrees). FITS 1-based pixels are x + 1, y + 1."
)
"""How truth x, y relate to pixels and to RA/Dec: numpy 0-based pixel centres."""


def truth_table(scene: FieldScene, request: FieldRequest, wcs: Any, meta: dict[str, Any]) -> Any:
    """The injected lenses (``truth.ecsv``): position, Einstein radius, redshifts, magnitudes.

    Args:
        scene: The drawn patch.
        request: Its request (bands).
        wcs: The patch's WCS, for RA and Dec.
        meta: Table metadata (pixel convention, area, files, provenance ...).
    """
    from astropy import units as u
    from astropy.table import Table

    bands = request.bands
    columns = [
        "id",
        "ra",
        "dec",
        "x",
        "y",
        "einstein_radius_arcsec",
        "z_lens",
        "z_source",
        "velocity_dispersion",
        "magnification",
        "lens_mass_q",
        "shear",
        "source_real_shape",
    ]
    columns += [
        f"{prefix}_{band}" for prefix in ("mag_lens", "mag_source", "mag_arc") for band in bands
    ]
    rows = []
    for lens in scene.lenses:
        world = wcs.pixel_to_world(lens["x"], lens["y"])
        rows.append(
            {
                "id": lens["id"],
                "ra": float(world.ra.deg),
                "dec": float(world.dec.deg),
                "x": lens["x"],
                "y": lens["y"],
                "einstein_radius_arcsec": lens["einstein_radius"],
                "z_lens": lens["z_central"],
                "z_source": lens["z_source"],
                "velocity_dispersion": lens["velocity_dispersion"],
                "magnification": lens["magnification"],
                "lens_mass_q": lens["lens_mass_q"],
                "shear": lens["shear"],
                "source_real_shape": lens["source_real_shape"],
                **{f"mag_lens_{b}": lens[f"mag_central_{b}"] for b in bands},
                **{f"mag_source_{b}": lens[f"mag_source_{b}"] for b in bands},
                **{f"mag_arc_{b}": lens[f"mag_arc_{b}"] for b in bands},
            }
        )
    table = (
        Table(rows=rows, names=columns)
        if rows
        else Table(names=columns, dtype=[int] + [float] * (len(columns) - 1))
    )
    units = {
        "ra": u.deg,
        "dec": u.deg,
        "x": u.pix,
        "y": u.pix,
        "einstein_radius_arcsec": u.arcsec,
        "velocity_dispersion": u.km / u.s,
    }
    units.update({c: u.mag for c in columns if c.startswith("mag_")})
    for name, unit in units.items():
        table[name].unit = unit
    table.meta.update(meta)
    return table


def objects_table(scene: FieldScene, request: FieldRequest, wcs: Any, meta: dict[str, Any]) -> Any:
    """Every injected object (``objects.ecsv``): kind, position and magnitudes.

    Args:
        scene: The drawn patch.
        request: Its request (bands).
        wcs: The patch's WCS, for RA and Dec.
        meta: Table metadata, as :func:`truth_table`'s.
    """
    from astropy import units as u
    from astropy.table import Table

    table = Table(
        rows=scene.objects, names=["kind", "x", "y", *(f"mag_{b}" for b in request.bands)]
    )
    world = wcs.pixel_to_world(np.asarray(table["x"]), np.asarray(table["y"]))
    table["ra"] = world.ra.deg * u.deg
    table["dec"] = world.dec.deg * u.deg
    table["x"].unit = table["y"].unit = u.pix
    table.meta.update(meta)
    return table
