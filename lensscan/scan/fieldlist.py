"""The fields of a command line: paths, glob patterns, list files, HSC patch lists, band files.

Each source expands to :class:`~lensscan.scan.inputs.FieldSpec` items in the order given.
A pattern that matches nothing, or an HSC patch without files, becomes a field that fails
with one line saying so, so the other fields are still scanned and the run still ends with
a non-zero exit; a path that does not exist is kept as given and fails when it is opened.
The same file reached twice (say, by a pattern and a list) is scanned once.

List files hold one path or pattern per line; blank lines and lines starting with ``#``
are skipped, and relative entries are relative to the list file's folder. HSC patch lists
hold one ``TRACT PATCH`` per line (``9813 4,4``, or ``9813,4,4``), found under a root folder
either flat (``ROOT/calexp-HSC-I-9813-4,4.fits``) or in the pipeline's coadd layout
(``ROOT/HSC-I/9813/4,4/calexp-HSC-I-9813-4,4.fits``).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lensscan.bands import HSC_FILTER_BANDS
from lensscan.errors import UserError
from lensscan.scan.inputs import FieldSpec
from lensscan.scan.survey_files import HSC_CALEXP_NAME

GLOB_CHARACTERS = re.compile(r"[*?\[]")
# CFITSIO's extended file-name syntax: ``file.fits[1]``, ``file.fits[SCI]``, ``file.fits[1][x>0]``.
CFITSIO_SUFFIX = re.compile(r"^(?P<file>.+?)(?P<selector>(\[[^\]]*\])+)$")
HSC_PATCH_LINE = re.compile(r"^\s*(?P<tract>\d+)(?:\s+|,)(?P<patch>\d+,\d+)\s*$")


@dataclass(frozen=True)
class FieldSources:
    """Where a run's fields come from.

    Attributes:
        arguments: Paths and glob patterns; ``@FILE`` reads a list file.
        field_lists: List files (one path or pattern per line).
        hsc_patches: Files of HSC ``TRACT PATCH`` lines.
        hsc_root: Folder the HSC patches' calexp files are found under.
    """

    arguments: Sequence[str] = ()
    field_lists: Sequence[str] = ()
    hsc_patches: Sequence[str] = ()
    hsc_root: str = "."

    @property
    def files(self) -> list[str]:
        """The list files read (recorded with their SHA-256 in the run summary)."""
        return [
            *(a[1:] for a in self.arguments if a.startswith("@")),
            *self.field_lists,
            *self.hsc_patches,
        ]


def read_list(path: str | os.PathLike[str], name: str) -> list[tuple[int, str]]:
    """The entries of a list file as ``(line number, text)``, comments and blanks skipped.

    Args:
        path: The list file.
        name: How the message of an unreadable file names it (```field_list` FILE``).

    Raises:
        UserError: If the file cannot be read.
    """
    source = Path(path)
    try:
        text = source.read_text()
    except FileNotFoundError:
        raise UserError(f"{name}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{name}: cannot read ({exc})") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            entries.append((number, entry))
    return entries


def expand_pattern(entry: str, origin: str) -> list[FieldSpec]:
    """One path or glob pattern as fields (a pattern in sorted order).

    Args:
        entry: The path or pattern.
        origin: Where it was given, for the message of a pattern matching nothing.
    """
    if Path(entry).exists() or not GLOB_CHARACTERS.search(entry):
        return [FieldSpec(path=Path(entry))]
    matches = sorted(glob.glob(entry, recursive=True))
    if not matches:
        cfitsio = CFITSIO_SUFFIX.match(entry)
        if cfitsio and Path(cfitsio["file"]).is_file():
            # The HDU is found from the file's layout (IMAGE, MASK, VARIANCE or the first
            # image), so a selector is refused rather than half-honoured.
            problem = (
                f"{origin}{entry}: CFITSIO extension syntax ({cfitsio['selector']}) is not "
                f"supported; give the file alone ({cfitsio['file']}), whose image HDU is found "
                "from its layout"
            )
        else:
            problem = f"{origin}{entry}: no file matches the pattern"
        return [FieldSpec(source=entry, problem=problem)]
    return [FieldSpec(path=Path(m)) for m in matches]


def _from_list(path: str, name: str) -> list[FieldSpec]:
    folder = Path(path).parent
    specs = []
    for number, entry in read_list(path, name):
        resolved = entry if os.path.isabs(entry) else str(folder / entry)
        specs += expand_pattern(resolved, f"{path}:{number}: ")
    return specs


def hsc_patch_files(root: Path, tract: str, patch: str) -> dict[str, Path]:
    """The calexp files of one HSC patch under ``root``: band -> path.

    Both layouts are searched, flat first; within one, the first file of a band in sorted
    order is used (HSC-I before HSC-I2), as for the sibling bands of one calexp.
    """
    base = glob.escape(str(root))
    name = f"calexp-HSC-*-{tract}-{patch}.fits*"
    for pattern in (f"{base}/{name}", f"{base}/HSC-*/{tract}/{patch}/{name}"):
        found: dict[str, Path] = {}
        for candidate in sorted(glob.glob(pattern)):
            match = HSC_CALEXP_NAME.match(Path(candidate).name)
            if match and match["tract"] == tract and match["patch"] == patch:
                band = HSC_FILTER_BANDS.get(match["filter"].upper())
                if band and band not in found:
                    found[band] = Path(candidate)
        if found:
            return found
    return {}


def _from_hsc_patches(path: str, root: Path) -> list[FieldSpec]:
    specs = []
    for number, entry in read_list(path, f"`hsc_patches` {path}"):
        match = HSC_PATCH_LINE.match(entry)
        label = f"{path}:{number}: tract {entry}"
        if not match:
            raise UserError(
                f"`hsc_patches` {path}:{number}: {entry!r} is not 'TRACT PATCH' (e.g. 9813 4,4)"
            )
        tract, patch = match["tract"], match["patch"]
        files = hsc_patch_files(root, tract, patch)
        if not files:
            specs.append(
                FieldSpec(
                    source=f"tract {tract} patch {patch}",
                    problem=f"{label}: no calexp-HSC-*-{tract}-{patch}.fits under {root}",
                )
            )
            continue
        specs.append(FieldSpec(band_paths=files, source=f"tract {tract} patch {patch}"))
    return specs


def expand_fields(sources: FieldSources) -> list[FieldSpec]:
    """Every field of the sources, in order, each file once.

    Raises:
        UserError: If a list file cannot be read or an HSC patch line is malformed.
    """
    specs: list[FieldSpec] = []
    for argument in sources.arguments:
        if argument.startswith("@"):
            specs += _from_list(argument[1:], argument)
        else:
            specs += expand_pattern(argument, "")
    for path in sources.field_lists:
        specs += _from_list(path, f"`field_list` {path}")
    root = Path(sources.hsc_root)
    for path in sources.hsc_patches:
        specs += _from_hsc_patches(path, root)
    return list(_unique(specs))


def _unique(specs: Iterable[FieldSpec]) -> Iterable[FieldSpec]:
    seen: set[object] = set()
    for spec in specs:
        key: object
        if spec.path is not None:
            key = os.path.realpath(spec.path)
        elif spec.band_paths is not None:
            key = tuple(sorted((b, os.path.realpath(p)) for b, p in spec.band_paths.items()))
        else:
            key = ("problem", spec.problem)
        if key not in seen:
            seen.add(key)
            yield spec


def parse_band_options(values: Sequence[str]) -> dict[str, Path]:
    """Parse ``band`` values (``g=PATH``) into band -> path.

    Raises:
        UserError: For a value without ``=`` or a band given twice.
    """
    bands: dict[str, Path] = {}
    for value in values:
        band, sep, path = value.partition("=")
        if not sep or not band or not path:
            raise UserError(f"`band` {value}: expected BAND=PATH, e.g. `band` g=calexp-HSC-G.fits")
        if band in bands:
            raise UserError(f"`band` {band}: given twice")
        bands[band] = Path(path)
    return bands


def field_specs(
    paths: Sequence[str | os.PathLike[str]], band_values: Sequence[str]
) -> list[FieldSpec]:
    """The fields of a command line: each FIELD file, plus one field from ``band`` values."""
    specs = [FieldSpec(path=Path(p)) for p in paths]
    if band_values:
        specs.append(FieldSpec(band_paths=parse_band_options(band_values)))
    return specs
