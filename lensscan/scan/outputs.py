"""Where a scan writes: each field's catalog and work store, side outputs, the combined catalog.

``out`` names the catalog of a single field, or the folder of several fields' catalogs
(``catalogs/`` by default), each ``<field><suffix>``. Work stores go in ``work_dir``
(``<catalog folder>/.work`` by default) as ``<field>.zarr``; DS9 regions and the gallery
beside their catalog; the combined catalog of a run of several fields in the catalog folder
as ``combined<suffix>`` unless ``combined`` names it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lensscan.catalog.writers import SUFFIXES, format_of_path
from lensscan.config import ScanConfig
from lensscan.errors import UserError

COMBINED_NAME = "combined"
"""Stem of a multi-field run's combined catalog in the catalog folder."""


def catalog_paths(names: Sequence[str], config: ScanConfig, fmt: str) -> list[Path]:
    """Catalog path of each field: ``out`` itself for one field, else ``<folder>/<name>``.

    Raises:
        UserError: If ``out`` is a file name for several fields, or its suffix is not the
            format's.
    """
    if not names:  # every field failed before planning (say, a pattern that matched nothing)
        return []
    out_format = format_of_path(config.out) if config.out else None
    if out_format is not None:
        if len(names) > 1:
            raise UserError(f"`out` {config.out}: several fields need a folder, not a file name")
        if out_format != fmt:
            raise UserError(f"`out` {config.out}: suffix does not match `format` {fmt}")
        return [Path(config.out)]
    folder = Path(config.out) if config.out else Path("catalogs")
    return [folder / f"{name}{SUFFIXES[fmt]}" for name in names]


def work_store_path(catalog: Path, name: str, config: ScanConfig) -> Path:
    """The work store of the field ``name`` whose catalog is ``catalog``."""
    folder = Path(config.work_dir) if config.work_dir else catalog.parent / ".work"
    return folder / f"{name}.zarr"


def side_outputs(catalog: Path, config: ScanConfig) -> dict[str, Path]:
    """Paths of the optional outputs beside a catalog: DS9 regions and gallery folder."""
    outputs = {}
    if config.regions:
        outputs["regions"] = catalog.with_suffix(".reg")
    if config.gallery:
        outputs["gallery"] = catalog.parent / f"{catalog.stem}-gallery"
    return outputs


def combined_path(
    config: ScanConfig, fmt: str, n_fields: int, catalogs: Sequence[Path]
) -> Path | None:
    """The combined catalog: ``combined``, else ``combined.<fmt>`` beside several fields.

    Raises:
        UserError: If ``combined`` has another format's suffix or is a field's catalog.
    """
    if config.combined:
        path = Path(config.combined)
        if format_of_path(path) != fmt:
            raise UserError(f"`combined` {path}: suffix does not match `format` {fmt}")
    elif n_fields > 1 and format_of_path(config.out or "") is None:
        path = Path(config.out or "catalogs") / f"{COMBINED_NAME}{SUFFIXES[fmt]}"
    else:
        return None
    if any(path.resolve() == c.resolve() for c in catalogs):
        raise UserError(
            f"`combined` {path}: is also a field's catalog; name the combined catalog "
            "with `combined`"
        )
    return path
