"""Where a scan writes: each field's catalog and work store, side outputs, the combined catalog.

The catalogs' format is ``format``, else ``out``'s suffix, else ECSV. ``out`` names the
catalog of a single field, or the folder of several fields' catalogs (``catalogs/`` by
default), each ``<field><suffix>``. Work stores go in ``work_dir`` (``<catalog
folder>/.work`` by default) as ``<field>.zarr``; DS9 regions and the gallery beside their
catalog; the combined catalog of a run of several fields in the catalog folder as
``combined<suffix>`` unless ``combined`` names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lensscan.catalog.writers import DEFAULT_FORMAT, SUFFIXES, check_format, format_of_path
from lensscan.errors import UserError
from lensscan.scan.settings import OutputSettings

COMBINED_NAME = "combined"
"""Stem of a multi-field run's combined catalog in the catalog folder."""


def catalog_format(output: OutputSettings) -> str:
    """The catalogs' format: ``format``, else ``out``'s suffix, else ECSV.

    Raises:
        UserError: If the format is not one lensscan writes.
    """
    from_out = format_of_path(output.out) if output.out else None
    return check_format(output.format or from_out or DEFAULT_FORMAT)


def catalog_paths(names: Sequence[str], output: OutputSettings) -> list[Path]:
    """Catalog path of each field: ``out`` itself for one field, else ``<folder>/<name>``.

    ``output.format`` is the resolved format (:func:`catalog_format`).

    Raises:
        UserError: If ``out`` is a file name for several fields, or its suffix is not the
            format's.
    """
    if not names:  # every field failed before planning (say, a pattern that matched nothing)
        return []
    fmt = output.format
    out_format = format_of_path(output.out) if output.out else None
    if out_format is not None:
        if len(names) > 1:
            raise UserError(f"`out` {output.out}: several fields need a folder, not a file name")
        if out_format != fmt:
            raise UserError(f"`out` {output.out}: suffix does not match `format` {fmt}")
        return [Path(output.out)]
    folder = Path(output.out) if output.out else Path("catalogs")
    return [folder / f"{name}{SUFFIXES[fmt]}" for name in names]


def work_store_path(catalog: Path, name: str, output: OutputSettings) -> Path:
    """The work store of the field ``name`` whose catalog is ``catalog``."""
    folder = Path(output.work_dir) if output.work_dir else catalog.parent / ".work"
    return folder / f"{name}.zarr"


def side_outputs(catalog: Path, output: OutputSettings) -> dict[str, Path]:
    """Paths of the optional outputs beside a catalog: DS9 regions and gallery folder."""
    outputs = {}
    if output.regions:
        outputs["regions"] = catalog.with_suffix(".reg")
    if output.gallery:
        outputs["gallery"] = catalog.parent / f"{catalog.stem}-gallery"
    return outputs


def combined_path(output: OutputSettings, n_fields: int, catalogs: Sequence[Path]) -> Path | None:
    """The combined catalog: ``combined``, else ``combined.<format>`` beside several fields.

    ``output.format`` is the resolved format (:func:`catalog_format`).

    Raises:
        UserError: If ``combined`` has another format's suffix or is a field's catalog.
    """
    fmt = output.format
    if output.combined:
        path = Path(output.combined)
        if format_of_path(path) != fmt:
            raise UserError(f"`combined` {path}: suffix does not match `format` {fmt}")
    elif n_fields > 1 and format_of_path(output.out or "") is None:
        path = Path(output.out or "catalogs") / f"{COMBINED_NAME}{SUFFIXES[fmt]}"
    else:
        return None
    if any(path.resolve() == c.resolve() for c in catalogs):
        raise UserError(
            f"`combined` {path}: is also a field's catalog; name the combined catalog "
            "with `combined`"
        )
    return path
