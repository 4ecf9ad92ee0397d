"""FITS inputs: a field as the user gave it, opened and checked for ``scan`` and ``cutouts``.

A :class:`FieldSpec` is a field as the user gave it: one file (an HSC calexp with its
sibling bands, a plain image, a cube) or one file per band. Both commands open it here,
through :mod:`lensscan.scan.fits_io`, so that a field reads the same whichever command
cuts it: a VARIANCE plane without a positive value dropped (the noise is then estimated
from the image), a band of zeros marked as no data, and what was found or assumed said
once. A scan also checks the field against its model first (the
model's own input check, then its domain: pixel scale and filters), which ``cutouts`` does
not: a cutout pool may come from another survey on purpose (``lensscan adapt``).

The content hashes of the files read are computed here too, once per file and run, for
the work stores' keys and every output's provenance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lensscan.bands import normalise_band
from lensscan.progress import logger
from lensscan.provenance import sha256_file
from lensscan.scan.detect import ZERO_POINT
from lensscan.scan.domain import PIXEL_SCALE_TOLERANCE, check_domain
from lensscan.scan.fits_io import FieldInputs, OpenedField, open_band_files, open_field
from lensscan.scan.model_cache import Scorer
from lensscan.scan.survey_files import field_name


@dataclass(frozen=True)
class FieldSpec:
    """A field as the user gave it: one file, or one file per band.

    Attributes:
        path: The field's file (HSC calexp, plain image or cube).
        band_paths: Band -> file, for ``--band g=PATH ...`` or an HSC patch.
        source: How the user named the field, when not by its path (``tract 9813 patch
            4,4``).
        problem: Why the field cannot be scanned at all (a pattern that matched no file);
            such a field fails with this line and the others go on.
    """

    path: Path | None = None
    band_paths: Mapping[str, Path] | None = None
    source: str | None = None
    problem: str | None = None

    @property
    def label(self) -> str:
        """How to name the field in messages."""
        if self.source is not None:
            return self.source
        if self.path is not None:
            return str(self.path)
        return " ".join(f"{b}={p}" for b, p in (self.band_paths or {}).items())

    def name(self, model_bands: Sequence[str]) -> str:
        """The field's name: the stem of its file (of the model's first band's file)."""
        if self.path is not None:
            return field_name(self.path)
        paths = {normalise_band(b) or b.lower(): p for b, p in (self.band_paths or {}).items()}
        return field_name(paths.get(model_bands[0], next(iter(paths.values()))))


def _open_as_given(
    spec: FieldSpec,
    bands: Sequence[str],
    size: int,
    bands_hint: Sequence[str] | None,
    force_bands: bool,
) -> OpenedField:
    if spec.path is not None:
        return open_field(spec.path, bands, size, bands_hint)
    return open_band_files(spec.band_paths or {}, bands, size, force_bands)


def _usable(opened: OpenedField, label: str) -> OpenedField:
    """The field with unusable VARIANCE planes dropped and all-zero bands marked, said why."""
    no_variance = opened.inputs.unusable_variance_bands()
    if no_variance:
        logger.warning(
            "%s: the VARIANCE plane of band(s) %s holds no positive value; the noise is "
            "estimated from the image instead",
            label,
            ",".join(no_variance),
        )
        opened = replace(opened, inputs=opened.inputs.without_variance(no_variance))
    empty = opened.inputs.zero_bands()
    if empty:
        logger.warning("%s: band(s) %s hold only zeros; treated as no data", label, ",".join(empty))
        opened = replace(opened, inputs=replace(opened.inputs, no_data_bands=empty))
    return opened


def _say_what_was_found(opened: OpenedField, label: str) -> None:
    """Log the field's notes, the zero points its headers declare, and what was assumed."""
    for note in opened.notes:
        logger.info("%s: %s", opened.inputs.name, note)
    declared = [
        f"{band}={value:.3f} ({card})"
        for band, (value, card) in opened.zero_points.items()
        if abs(value - ZERO_POINT) > 1e-3
    ]
    if declared:
        logger.info("%s: magnitudes at the header's zero point(s) %s", label, ", ".join(declared))
    for assumption in opened.assumptions:
        logger.warning("%s: %s", opened.inputs.name, assumption)
    if opened.wcs is None:
        logger.warning(
            "%s: no celestial WCS; scanning in pixel coordinates (ra/dec will be NaN)", label
        )


def open_for_scan(
    spec: FieldSpec,
    scorer: Scorer,
    bands_hint: Sequence[str] | None,
    force_bands: bool,
    force_domain: bool,
) -> OpenedField:
    """Open a field in the model's bands and check it against the model.

    The model's own input check (when it has one) and its domain come first: a field out of
    the domain is refused before anything else is said about it, unless ``force_domain``.

    Args:
        spec: The field as the user gave it.
        scorer: The model.
        bands_hint: Band names of a single file's planes (``bands``).
        force_bands: Take each per-band file as the band it is given as.
        force_domain: Scan a field out of the model's domain, with a warning.

    Raises:
        UserError: If the field cannot be read, lacks a band, or is out of the model's
            domain (without ``force_domain``).
    """
    opened = _open_as_given(spec, scorer.bands, scorer.input_size, bands_hint, force_bands)
    check = getattr(scorer, "check_input", None)
    if check is not None:
        check(
            opened.inputs.band_names,
            (len(scorer.bands), scorer.input_size, scorer.input_size),
            spec.label,
        )
    mismatches = check_domain(opened, scorer.bands, scorer.pixel_scale, spec.label, force_domain)
    opened = _usable(opened, spec.label)
    _say_what_was_found(opened, spec.label)
    if (
        opened.wcs is not None
        and scorer.pixel_scale
        and abs(opened.pixel_scale / scorer.pixel_scale - 1) > PIXEL_SCALE_TOLERANCE
        and not mismatches  # a scale far off is said once, below
    ):
        logger.warning(
            '%s: pixel scale %.3f" differs from the model\'s %.3f"',
            spec.label,
            opened.pixel_scale,
            scorer.pixel_scale,
        )
    for mismatch in mismatches:
        logger.warning("%s: %s; scanned anyway (`force_domain`)", spec.label, mismatch)
    return opened


def open_for_cutouts(
    spec: FieldSpec, bands: Sequence[str], size: int, bands_hint: Sequence[str] | None
) -> OpenedField:
    """Open a field in the given bands as a scan does, without the model's domain check.

    Raises:
        UserError: If the field cannot be read or lacks a band.
    """
    opened = _usable(_open_as_given(spec, bands, size, bands_hint, False), spec.label)
    _say_what_was_found(opened, spec.label)
    return opened


class InputHashes:
    """SHA-256 of input files, each computed once per run."""

    def __init__(self) -> None:
        self._known: dict[Path, str] = {}

    def record(self, path: str | os.PathLike[str]) -> dict[str, str]:
        """The file's provenance record: its absolute path and SHA-256."""
        resolved = Path(path).resolve()
        if resolved not in self._known:
            self._known[resolved] = sha256_file(resolved)
        return {"path": str(resolved), "sha256": self._known[resolved]}


def auxiliary_input(role: str, path: str) -> dict[str, str]:
    """Provenance of an auxiliary input file: its role, absolute path and SHA-256."""
    return {"role": role, "path": str(Path(path).resolve()), "sha256": sha256_file(path)}


def plane_identity(inputs: FieldInputs) -> list[tuple[str, int, int | None]]:
    """Which HDU and plane each band is read from (part of every work store's key)."""
    return [(b.band, b.data.hdu, b.plane) for b in inputs.bands]
