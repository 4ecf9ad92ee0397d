"""The candidate catalog's columns: names, dtypes, units and descriptions, in one place.

Every writer and every reader of candidate catalogs goes through :func:`make_table`, so a
column is defined once and each output carries units and descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ColumnSpec:
    """One catalog column.

    Attributes:
        name: Column name.
        dtype: numpy dtype name (``str`` for text).
        unit: astropy unit string, or ``None`` for dimensionless columns.
        description: What the column holds.
    """

    name: str
    dtype: str
    unit: str | None
    description: str


CANDIDATE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("id", "int64", None, "Rank of the candidate in its field (1 = highest score)"),
    ColumnSpec(
        "ra", "float64", "deg", "Right ascension, ICRS (NaN when the image has no celestial WCS)"
    ),
    ColumnSpec(
        "dec", "float64", "deg", "Declination, ICRS (NaN when the image has no celestial WCS)"
    ),
    ColumnSpec(
        "x", "float64", "pix", "Column of the position, 0-based numpy pixels (FITS/DS9: x + 1)"
    ),
    ColumnSpec(
        "y", "float64", "pix", "Row of the position, 0-based numpy pixels (FITS/DS9: y + 1)"
    ),
    ColumnSpec(
        "score",
        "float64",
        None,
        "Model lens probability (of the best window in grid mode); float64 from the logits, "
        "so confident candidates do not tie at 1.0",
    ),
    ColumnSpec("field", "str", None, "Name of the scanned field"),
    ColumnSpec("bands", "str", None, "Bands scanned, in the model's order"),
    ColumnSpec("mask_fraction", "float32", None, "Fraction of bad pixels in the best window"),
)
"""Columns every candidate catalog has, in order."""

POSITION_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("input_row", "int64", None, "Row (0-based) of the object in the positions catalog"),
)
"""Extra column of a catalog-driven scan (``--positions``)."""

DETECTION_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec(
        "detection_id",
        "int64",
        None,
        "Number of the object among all the field's detections, in (y, x) order",
    ),
    ColumnSpec(
        "kron_radius",
        "float64",
        "arcsec",
        "Circularised Kron radius, kron * sqrt(a * b), on the detection image",
    ),
    ColumnSpec("ellipticity", "float64", None, "1 - b/a of the object's second moments"),
    ColumnSpec(
        "flags",
        "int64",
        None,
        "sep flags OR-ed over detection and photometry (1 deblended, 2 truncated, 16 aperture "
        "truncated, 32 aperture has masked pixels, ...)",
    ),
    ColumnSpec(
        "group_size",
        "int64",
        None,
        "Detections listed as this one candidate: itself and those at or above the threshold "
        "within the grouping radius (min_separation_arcsec) of the group's best; 1 when it "
        "stood alone",
    ),
)
"""Extra columns of a detect-mode scan (with :func:`magnitude_columns` of its bands)."""

TTA_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec(
        "score_spread",
        "float64",
        None,
        "Standard deviation of the score over the 8 flips and rotations (test-time "
        "augmentation), else over an ensemble's members",
    ),
)
"""Extra column of a detect-mode scan with test-time augmentation (``--tta``) or an ensemble."""


def magnitude_columns(bands: Sequence[str]) -> tuple[ColumnSpec, ...]:
    """Per-band Kron magnitude columns ``mag_<band>`` of a detect-mode catalog."""
    return tuple(
        ColumnSpec(
            f"mag_{band}",
            "float64",
            "mag",
            f"AB Kron magnitude in {band} (2.5 Kron radii); NaN when the flux is not positive",
        )
        for band in bands
    )


KNOWN_LENS_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("known_lens", "bool", None, "A known lens lies within the match radius"),
    ColumnSpec("known_name", "str", None, "Name of the nearest known lens within the radius"),
    ColumnSpec(
        "known_separation", "float64", "arcsec", "Separation from that known lens (NaN if none)"
    ),
)
"""Extra columns added by a cross-match against known lenses (``--known``)."""


COMBINED_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("field_id", "int64", None, "Rank of the candidate in its own field's catalog"),
)
"""Extra column of a run's combined catalog, whose ``id`` is the rank over all fields."""


def make_table(
    columns: Mapping[str, Any],
    specs: Sequence[ColumnSpec] = CANDIDATE_COLUMNS,
    meta: Mapping[str, Any] | None = None,
) -> Any:
    """Build an astropy Table with exactly the given columns, typed and described.

    Args:
        columns: Column name -> values (any array-like).
        specs: The columns the table must have, in order.
        meta: Metadata to attach.

    Returns:
        An :class:`astropy.table.Table`.

    Raises:
        ValueError: If ``columns`` lacks or adds a column (a programming error).
    """
    from astropy.table import Table

    names = [spec.name for spec in specs]
    if set(columns) != set(names):
        raise ValueError(
            f"catalog columns {sorted(columns)} differ from the schema's {sorted(names)}"
        )
    table = Table(meta=dict(meta or {}))
    for spec in specs:
        table.add_column(typed_column(spec, columns[spec.name]))
    return table


def typed_column(spec: ColumnSpec, values: Any) -> Any:
    """An astropy Column of ``values`` with the spec's dtype, unit and description."""
    from astropy.table import Column

    array = np.asarray(values)
    data = array.astype(str) if spec.dtype == "str" else array.astype(spec.dtype)
    return Column(data=data, name=spec.name, unit=spec.unit, description=spec.description)
