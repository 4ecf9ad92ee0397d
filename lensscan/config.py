"""Every run's settings as frozen dataclasses, with all defaults in one place.

Each command resolves its settings into one of these through :func:`resolve_config`
(defaults, then a ``--config`` TOML file, then ``LENSSCAN_<COMMAND>_<SETTING>`` environment
variables, then command-line options) and saves the resolved settings beside its output.

Each dataclass checks its own values when it is made (ranges, allowed names, settings
that contradict each other), raising :class:`~lensscan.errors.SettingError` or
:class:`~lensscan.errors.UserError`, so that a bad setting fails at once whoever builds
it. What needs more than the settings (a model's cutout size, files, the registries of
encoders and methods) is checked by the command that has it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from lensscan.errors import SettingError, UserError, check_ranges, setting_references
from lensscan.naming import canonical_name

ConfigT = TypeVar("ConfigT")

MATCH_RADIUS_ARCSEC = 1.0
"""Largest separation (arcsec) at which a candidate matches a known or injected lens, in
``scan --known`` and ``evaluate`` alike: about the seeing, and well inside an Einstein
radius, so a match means the same object."""

DUPLICATE_RADIUS_ARCSEC = 1.0
"""Candidates of two overlapping fields closer than this (arcsec) are one object: the
astrometry of two HSC patches of one tract agrees to far better than the seeing, and two
distinct galaxies closer than 1" would share one cutout anyway."""

SCAN_MODES = ("detect", "grid")
"""How ``lensscan scan`` chooses the cutouts to score when no ``--positions`` are given."""

BATCH_SYSTEMS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}
"""``cluster`` names of batch systems -> dask-jobqueue cluster class."""

CLUSTER_KINDS = ("local", *BATCH_SYSTEMS)
"""What a scan's ``cluster`` setting accepts."""

RESCALINGS = ("none", "minmax")
"""What an evaluation's ``rescale`` setting accepts."""

SELECTION_RULES = ("val_auroc", "min_target_entropy", "last")
"""Model-selection rules of ``train`` besides ``auto`` (:mod:`lensscan.training.selection`)."""

SCENARIO_DOMAINS: Mapping[str, tuple[str, str]] = {
    "deeplense": ("sim", "hsc"),
    "survey": ("hsc-train", "hsc-heldout"),
}
"""Benchmark scenario -> (source domain, target domain) of its stores."""

# The limit is a decimal number, so that text such as "1.2.3" is refused here, not by float().
_COLOR_CUT = re.compile(
    r"^\s*([a-z])\s*-\s*([a-z])\s*([<>])\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))\s*$", re.IGNORECASE
)

_RECORD_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/+-]*$")


ENV_COMMANDS = (
    "demo",
    "simulate",
    "simulate-field",
    "cutouts",
    "scan",
    "evaluate",
    "train",
    "adapt",
)
"""Commands whose settings environment variables ``LENSSCAN_<COMMAND>_<SETTING>`` set."""


def env_prefix(command: str) -> str:
    """The environment-variable prefix of a command's settings (``LENSSCAN_SCAN_``)."""
    return f"LENSSCAN_{command.upper().replace('-', '_')}_"


def resolve_config(
    cls: type[ConfigT],
    toml_path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    command: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConfigT:
    """Build a settings dataclass from defaults, a TOML file, the environment, then options.

    Args:
        cls: The frozen dataclass type.
        toml_path: Optional TOML file whose top-level keys are field names.
        overrides: Values given on the command line; ``None`` values are ignored so an
            option left unset keeps the environment's, the file's or the default value.
        command: The command whose ``LENSSCAN_<COMMAND>_<SETTING>`` environment variables
            apply (none without it). A value is read as a TOML value (``4096``, ``true``,
            ``["g", "r"]``), or as text where it is not one (``cuda:0``).
        environ: The environment (default: ``os.environ``).

    Returns:
        The resolved settings.

    Raises:
        UserError: If the file cannot be read, the file or the environment names an
            unknown setting or a value of the wrong type, or the dataclass refuses a
            value. The message of a value from the file or a variable starts with where
            it came from: ```config` run.toml: `threshold` 2: out of range``,
            ``LENSSCAN_SCAN_THRESHOLD='2': `threshold` 2: out of range``; an option's
            value keeps the dataclass's message.
    """
    values: dict[str, Any] = {}
    # Where each value from the file or the environment came from (options are not listed).
    origins: dict[str, str] = {}
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if toml_path is not None:
        path = Path(toml_path)
        try:
            loaded = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"`config` {path}: no such file") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UserError(f"`config` {path}: cannot read TOML ({exc})") from None
        unknown = sorted(set(loaded) - names)
        if unknown:
            raise UserError(
                f"`config` {path}: unknown setting(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(names))}"
            )
        values.update(_checked_file_values(cls, loaded, path))
        origins.update(dict.fromkeys(loaded, f"`config` {path}"))
    if command is not None:
        found = _environment_values(cls, command, os.environ if environ is None else environ)
        values.update({name: value for name, (_, value) in found.items()})
        origins.update({name: where for name, (where, _) in found.items()})
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    values.update(given)
    for name in given:
        origins.pop(name, None)
    required = [
        field.name
        for field in dataclasses.fields(cls)  # type: ignore[arg-type]
        if field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
        and field.name not in values
    ]
    if required:
        name = required[0]
        raise UserError(f"`{name}`: required (an option or a `config` setting)")
    try:
        return cls(**values)
    except UserError as exc:
        # A SettingError is about its own setting; another error about the settings it names.
        suspects = [exc.setting] if isinstance(exc, SettingError) else setting_references(str(exc))
        named = [name for name in suspects if name in origins]
        if not named:
            raise
        # A value from the file or a variable is on no command line: say where it was.
        where = ", ".join(dict.fromkeys(origins[name] for name in named))
        raise UserError(f"{where}: {exc}") from exc


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether a TOML value fits a settings field's annotation (ints count as floats).

    Lists are checked item by item against ``tuple[X, ...]`` and tables value by value
    against ``Mapping[str, X]``, so a wrong type inside them is caught here too.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arg, value) for arg in args)
    if annotation is type(None):
        return value is None
    if annotation is Any:
        return True
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_accepts, args, value))
        return not args or all(_accepts(args[0], item) for item in value)
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            return False
        key_type, value_type = args or (Any, Any)
        return all(_accepts(key_type, k) and _accepts(value_type, v) for k, v in value.items())
    if origin is not None:
        return isinstance(value, origin)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def _type_name(annotation: Any) -> str:
    """An annotation as a user reads it: ``int``, ``tuple[str, ...] | None``."""
    if typing.get_origin(annotation) is None and hasattr(annotation, "__name__"):
        return annotation.__name__
    return str(annotation).replace("collections.abc.", "").replace("typing.", "")


def _checked_file_values(cls: type[Any], loaded: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The file's settings, type-checked against the dataclass, lists made tuples.

    Raises:
        UserError: Naming the file, the setting and the expected type.
    """
    hints = typing.get_type_hints(cls)
    return {
        key: _fitted(
            hints[key], value, f"`config` {path}: setting {key}: {value!r} does not fit its type"
        )
        for key, value in loaded.items()
    }


def _fitted(annotation: Any, value: Any, problem: str) -> Any:
    """``value`` as a setting of type ``annotation`` stores it (lists made tuples).

    Raises:
        UserError: ``problem`` and the expected type, if the value does not fit.
    """
    if not _accepts(annotation, value):
        raise UserError(f"{problem} ({_type_name(annotation)})")
    return tuple(value) if isinstance(value, list) else value


def _environment_values(
    cls: type[Any], command: str, environ: Mapping[str, str]
) -> dict[str, tuple[str, Any]]:
    """The settings given as ``LENSSCAN_<COMMAND>_<SETTING>`` variables, type-checked.

    Returns:
        Setting -> (the variable as messages name it, ``NAME='text'``, and its value).

    Raises:
        UserError: Naming the variable, for an unknown setting or a value of the wrong type.
    """
    prefix = env_prefix(command)
    # Longer prefixes of other commands (LENSSCAN_SIMULATE_FIELD_ under LENSSCAN_SIMULATE_).
    others = [env_prefix(c) for c in ENV_COMMANDS if env_prefix(c).startswith(prefix)]
    others.remove(prefix)
    hints = typing.get_type_hints(cls)
    fields = {field.name for field in dataclasses.fields(cls)}
    values: dict[str, tuple[str, Any]] = {}
    for key, text in environ.items():
        if not key.startswith(prefix) or any(key.startswith(other) for other in others):
            continue
        name = key[len(prefix) :].lower()
        if name not in fields:
            raise UserError(f"{key}: unknown setting {name}; valid: {', '.join(sorted(fields))}")
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text
        if not _accepts(hints[name], value) and _accepts(hints[name], text):
            value = text  # a number-like text for a text setting, e.g. a tract "9813"
        where = f"{key}={text!r}"
        values[name] = (where, _fitted(hints[name], value, f"{where}: does not fit setting {name}"))
    return values


def config_to_dict(config: Any) -> dict[str, Any]:
    """Return a JSON/TOML-friendly dictionary of a settings dataclass."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in dataclasses.asdict(config).items()}


def parse_adapt(value: str | None) -> tuple[int, int] | None:
    """Parse ``MIN:MAX`` jobs for adaptive scaling.

    Raises:
        UserError: Unless both are integers with 0 <= MIN <= MAX and MAX >= 1.
    """
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", value)
    if not match or int(match[1]) > int(match[2]) or int(match[2]) < 1:
        raise UserError(f"`adapt` {value}: expected MIN:MAX jobs with 0 <= MIN <= MAX, MAX >= 1")
    return int(match[1]), int(match[2])


def parse_color_cut_text(text: str) -> tuple[str, str, bool, float]:
    """The terms of a colour cut ``"g-i>1.0"``: bluer band, redder band, ``>``, limit.

    Raises:
        UserError: If the text is not ``BAND-BAND>VALUE`` or ``BAND-BAND<VALUE``.
    """
    match = _COLOR_CUT.match(text)
    if not match:
        raise UserError(f"`color_cut` {text}: expected BAND-BAND>VALUE, e.g. g-i>1.0")
    blue, red, op, value = match.groups()
    return blue.lower(), red.lower(), op == ">", float(value)


def check_rescaling(how: str) -> None:
    """Refuse a ``rescale`` that is not one of :data:`RESCALINGS`.

    Raises:
        SettingError: ```rescale` <how>: choose one of none, minmax``.
    """
    if how not in RESCALINGS:
        raise SettingError("rescale", how, f"choose one of {', '.join(RESCALINGS)}")


def _chunk_checks(chunk_size: int, max_mask_fraction: float) -> list[tuple[str, Any, bool]]:
    """Range checks of the chunking settings scan and cutouts share."""
    return [
        ("chunk_size", chunk_size, chunk_size >= 1),
        ("max_mask_fraction", max_mask_fraction, 0 <= max_mask_fraction <= 1),
    ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DetectionSettings:
    """How galaxies are detected and preselected (``lensscan scan`` and ``lensscan cutouts``).

    Attributes:
        detect_bands: Bands combined into the detection image (None: all the model's).
        detect_threshold: Detection threshold in units of the detection image's noise.
        min_area: Fewest connected pixels above the threshold that make an object.
        mag_limit: Preselect objects brighter than this Kron magnitude (AB) in the i band
            (the reddest band when there is no i).
        min_kron_radius: Preselect objects with a Kron radius of at least this, arcsec.
        color_cut: Optional colour cut on Kron magnitudes, e.g. ``g-i>1.0``.
    """

    detect_bands: tuple[str, ...] | None = None
    detect_threshold: float = 1.5
    min_area: int = 5
    mag_limit: float = 22.5
    min_kron_radius: float = 0.8
    color_cut: str | None = None

    def __post_init__(self) -> None:
        check_ranges(
            [
                (
                    "detect_threshold",
                    self.detect_threshold,
                    math.isfinite(self.detect_threshold) and self.detect_threshold > 0,
                ),
                ("min_area", self.min_area, self.min_area >= 1),
                ("mag_limit", self.mag_limit, math.isfinite(self.mag_limit)),
                (
                    "min_kron_radius",
                    self.min_kron_radius,
                    math.isfinite(self.min_kron_radius) and self.min_kron_radius >= 0,
                ),
            ]
        )
        if self.color_cut:
            parse_color_cut_text(self.color_cut)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScanConfig(DetectionSettings):
    """Settings of ``lensscan scan``: detect-and-score, dense grid, or catalog-driven scans.

    The detection and preselection settings are those of :class:`DetectionSettings`.

    Attributes:
        mode: ``detect`` (score cutouts centred on detected, preselected galaxies) or
            ``grid`` (a dense sliding window); ``positions`` overrides both.
        model: Model name or weights folder; None means the default model.
        bands: Band names of a single field file's planes when its headers do not say.
        stride: Step between windows in pixels; None means half the model's cutout size.
        chunk_size: Side in pixels of the spatial chunks a field is split into (a multiple
            of the stride); each chunk also reads a halo of one cutout minus one stride.
        max_mask_fraction: Windows with a larger fraction of bad pixels are skipped.
        batch_size: Windows per forward pass.
        device: Where to run the model (None: CUDA, MPS, then CPU).
        threshold: Lowest score listed in the catalog.
        top: Keep at most this many candidates per field (None: all).
        min_separation: Radius in arcsec within which candidates are one: grid windows
            keep the best (non-maximum suppression on the refined positions); detections
            form a group listed once, at its best-scored member or a clearly brighter
            core (see :func:`lensscan.scan.candidates.group_detections`). None means half
            a cutout (closer cutouts see the same scene). Catalogued positions are never
            merged (each is its own).
        positions: CSV/ECSV of (ra, dec) to score cutouts centred on, instead of a grid.
        tta: Average each cutout's score over its 8 flips and 90-degree rotations.
        out: Catalog path (one field) or folder (several); None means ``catalogs/``.
        format: Catalog format (ecsv, fits, csv, parquet); None: from ``out``, else ecsv.
        work_dir: Folder of the Zarr work stores; None means ``<catalog folder>/.work``.
        regions: Also write a DS9 region file beside each catalog.
        gallery: Also write a PNG montage and HTML page of this many top candidates.
        known: Catalog of known lenses (CSV with RA/Dec columns) to cross-match.
        match_radius: Largest separation of a known-lens match, arcsec.
        workers: Local Dask worker processes; 0 runs in this process without Dask workers.
        threads_per_worker: Threads per local worker; None shares the CPU cores among workers.
        scheduler: Address of an existing dask.distributed scheduler (overrides workers).
        overwrite: Replace existing catalogs and start work stores afresh.
        cluster: ``local``, or a batch system (``slurm``, ``pbs``, ``sge``, ``lsf``) whose
            jobs run the Dask workers (dask-jobqueue); None: local, or the one batch
            system ``cluster_config`` sets up.
        cluster_config: Dask config file (YAML, dask-jobqueue's ``jobqueue:`` layout).
        jobs: Batch jobs to start (None: one, unless ``adapt``).
        adapt: ``MIN:MAX`` batch jobs for adaptive scaling instead of ``jobs``.
        queue: Batch queue or partition.
        walltime: Walltime of each batch job, e.g. ``04:00:00``.
        cores: Cores per batch job.
        memory: Memory per batch job, e.g. ``32GB``.
        gpus_per_job: GPUs per batch job, one Dask worker process each.
        job_prologue: Shell lines each batch job runs before its worker starts.
        retries: Times a chunk task that raised is run again before its field fails.
        combined: The combined catalog of all fields; None: ``combined.<format>`` in the
            catalog folder when the run has several fields.
        duplicate_radius: Candidates of different fields closer than this (arcsec) are one
            object seen in two overlapping fields; the higher score is kept.
        force_bands: Take each per-band file as the band it is given as, even when its
            name or BAND/FILTER header says another band.
        force_domain: Scan a field whose pixel scale or bands are far from the model's
            (the mismatch is still recorded in the catalog).
    """

    mode: str = "detect"
    model: str | None = None
    bands: tuple[str, ...] | None = None
    stride: int | None = None
    chunk_size: int = 1024
    max_mask_fraction: float = 0.5
    batch_size: int = 256
    device: str | None = None
    threshold: float = 0.5
    top: int | None = None
    min_separation: float | None = None
    positions: str | None = None
    tta: bool = False
    out: str | None = None
    format: str | None = None
    work_dir: str | None = None
    regions: bool = False
    gallery: int = 0
    known: str | None = None
    match_radius: float = MATCH_RADIUS_ARCSEC
    workers: int = 1
    threads_per_worker: int | None = None
    scheduler: str | None = None
    overwrite: bool = False
    cluster: str | None = None
    cluster_config: str | None = None
    jobs: int | None = None
    adapt: str | None = None
    queue: str | None = None
    walltime: str | None = None
    cores: int | None = None
    memory: str | None = None
    gpus_per_job: int = 0
    job_prologue: tuple[str, ...] = ()
    retries: int = 2
    combined: str | None = None
    duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC
    force_bands: bool = False
    force_domain: bool = False

    def __post_init__(self) -> None:
        if self.mode not in SCAN_MODES:
            raise UserError(f"`mode` {self.mode}: expected one of {', '.join(SCAN_MODES)}")
        super().__post_init__()
        separation = self.min_separation
        check_ranges(
            [
                (
                    "threshold",
                    self.threshold,
                    math.isfinite(self.threshold) and 0 <= self.threshold <= 1,
                ),
                *_chunk_checks(self.chunk_size, self.max_mask_fraction),
                ("batch_size", self.batch_size, self.batch_size >= 1),
                (
                    "min_separation",
                    separation,
                    separation is None or (math.isfinite(separation) and separation >= 0),
                ),
                (
                    "match_radius",
                    self.match_radius,
                    math.isfinite(self.match_radius) and self.match_radius > 0,
                ),
                ("gallery", self.gallery, self.gallery >= 0),
                ("top", self.top, self.top is None or self.top >= 1),
                ("stride", self.stride, self.stride is None or self.stride >= 1),
                ("retries", self.retries, self.retries >= 0),
                (
                    "duplicate_radius",
                    self.duplicate_radius,
                    math.isfinite(self.duplicate_radius) and self.duplicate_radius > 0,
                ),
            ]
        )
        self._check_cluster()

    def _check_cluster(self) -> None:
        """The settings of where the tasks run (those that need no cluster config file)."""
        if self.cluster is not None and self.cluster not in CLUSTER_KINDS:
            raise UserError(f"`cluster` {self.cluster}: expected one of {', '.join(CLUSTER_KINDS)}")
        parse_adapt(self.adapt)
        if self.workers < 0:
            raise SettingError("workers", self.workers, "must be 0 (in process) or more")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise SettingError("threads_per_worker", self.threads_per_worker, "must be at least 1")
        if self.jobs is not None and self.jobs < 1:
            raise SettingError("jobs", self.jobs, "must be at least 1")
        if self.jobs is not None and self.adapt is not None:
            raise UserError("`jobs`/`adapt`: give one of them, not both")
        if self.cores is not None and self.cores < 1:
            raise SettingError("cores", self.cores, "must be at least 1")
        if self.gpus_per_job < 0:
            raise SettingError("gpus_per_job", self.gpus_per_job, "must be 0 or more")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CutoutsConfig(DetectionSettings):
    """Settings of ``lensscan cutouts`` (detection settings: :class:`DetectionSettings`).

    Attributes:
        out: The cutout store to write (``.zarr``).
        model: Model whose bands, cutout size and pixel scale the cutouts take (its card
            only is read); None means the default model.
        bands: Band names of a single field file's planes when its headers do not say.
        positions: CSV/ECSV/FITS of (ra, dec): cut these objects instead of detecting.
        chunk_size: Core side of the detection chunks, pixels.
        max_mask_fraction: Objects whose cutout has more bad pixels are left out.
        overwrite: Replace an existing store.
    """

    out: str
    model: str | None = None
    bands: tuple[str, ...] | None = None
    positions: str | None = None
    chunk_size: int = 1024
    max_mask_fraction: float = 0.5
    overwrite: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_ranges(_chunk_checks(self.chunk_size, self.max_mask_fraction))


MIN_FIELD_SIZE = 128
"""Smallest side of a simulated field in pixels (twice the 64 px cutout)."""


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Settings of ``lensscan demo`` (simulate a field, scan it, evaluate the catalog).

    Attributes:
        out: The demo folder to write.
        model: Model name or weights folder; None means the default model.
        size: Side of the simulated field in pixels (2048: about 6', 12 lenses).
        seed: Seed of the field (the same seed gives the same field and catalog).
        workers: Local Dask worker processes of the scan (0 runs it in this process).
        device: Where to run the model (None: CUDA, MPS, then CPU).
        overwrite: Replace an existing demo folder.
    """

    out: str = "demo"
    model: str | None = None
    size: int = 2048
    seed: int = 0
    workers: int = 1
    device: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.size < MIN_FIELD_SIZE:
            raise SettingError("size", self.size, f"must be at least {MIN_FIELD_SIZE} pixels")
        check_ranges(
            [("seed", self.seed, self.seed >= 0), ("workers", self.workers, self.workers >= 0)]
        )


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Settings of ``lensscan evaluate`` (labelled cutouts, or a field catalog against truth).

    Attributes:
        models: Model names or weight folders; empty means the default model.
        data: Cutout store (``.zarr``) or labelled folder (DeepLense layout) to evaluate on.
        split: The split to evaluate (store split name or folder prefix).
        bands: Band names of a folder's channels (default g,r,i for 3 channels, i for 1).
        report_dir: Output folder; None means ``reports/evaluate-<UTC time>``.
        overwrite: Replace an existing report folder.
        threshold: Score at or above which an item counts as a predicted lens.
        bootstrap: Stratified bootstrap replicates for the 95% intervals (0 turns them off).
        seed: Seed of the bootstrap.
        batch_size: Cutouts per forward pass.
        device: Where to run the models (None: CUDA, MPS, then CPU).
        montage_size: Cutouts in each montage of the worst-ranked items.
        catalog: Candidate catalog (ECSV from ``lensscan scan``) for field evaluation.
        truth: Truth catalog (ECSV from ``lensscan simulate-field``) for field evaluation.
        match_radius: Largest candidate-truth separation of a match, arcsec.
        area_deg2: Field area for false positives per square degree (else from metadata).
        record_as: Also write each model's metrics into its card under this label.
        headline: Make the recorded metrics the card's headline metrics.
        rescale: ``none``, or ``minmax`` to score per-band min-max-normalised copies of the
            cutouts (the format of many published cutout sets), a check that a model's
            normalisation makes it indifferent to the flux scale.
    """

    models: tuple[str, ...] = ()
    data: str | None = None
    split: str = "test"
    bands: tuple[str, ...] | None = None
    report_dir: str | None = None
    overwrite: bool = False
    threshold: float = 0.5
    bootstrap: int = 1000
    seed: int = 0
    batch_size: int = 256
    device: str | None = None
    montage_size: int = 16
    catalog: str | None = None
    truth: str | None = None
    match_radius: float = MATCH_RADIUS_ARCSEC
    area_deg2: float | None = None
    record_as: str | None = None
    headline: bool = False
    rescale: str = "none"

    def __post_init__(self) -> None:
        check_ranges(
            [
                ("bootstrap", self.bootstrap, self.bootstrap >= 0),
                ("threshold", self.threshold, math.isfinite(self.threshold)),
                ("batch_size", self.batch_size, self.batch_size >= 1),
                ("montage_size", self.montage_size, self.montage_size >= 0),
                (
                    "match_radius",
                    self.match_radius,
                    math.isfinite(self.match_radius) and self.match_radius > 0,
                ),
            ]
        )
        check_rescaling(self.rescale)
        if self.headline and self.record_as is None:
            raise UserError("`headline`: needs `record_as` LABEL (the name of the measurement)")
        if self.record_as is not None and not _RECORD_LABEL.match(self.record_as):
            raise SettingError(
                "record_as",
                self.record_as,
                "use letters, digits, spaces and ._:/+- (e.g. 'hsc test')",
            )
        self._check_kind()

    def _check_kind(self) -> None:
        """One kind of evaluation, with what it needs: a field's catalogs, or cutouts."""
        if self.catalog is None and self.truth is None:
            if self.data is None:
                raise UserError("`data`: give a cutout store or labelled folder to evaluate on")
            return
        if self.models or self.data is not None:
            raise UserError(
                "`catalog`/`truth` evaluate a field catalog; `model`/`data` evaluate cutouts: "
                "give one kind"
            )
        if self.record_as is not None:
            raise UserError("`record_as`: records cutout metrics in model cards; not for `catalog`")
        if self.truth is None or self.catalog is None:
            raise UserError("`catalog` and `truth`: a field evaluation needs both catalogs")


_TRAIN_NUMBERS = (
    "grade_share",
    "epochs",
    "batch_size",
    "seed",
    "max_eval",
    "max_source",
    "max_target",
    "lr",
    "weight_decay",
    "restyle",
    "amp",
)
"""The number and flag settings of :class:`TrainConfig` whose types it checks itself."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of ``lensscan train`` (one encoder, one adaptation method, one run).

    Attributes:
        out: Weights folder to write (``weights/NAME``).
        source: Labelled source-domain cutout store (``.zarr``); not needed to adapt an
            ``init_model`` with AdaBN.
        target: Target-domain store whose images form the unlabelled pool (labels unused).
        val: Labelled target-domain store for model selection (target-val AUROC).
        source_split: Source split to train on; None: ``train`` if present, else all items.
        target_split: Target split of the pool; None: all items (minus --val items when the
            validation store is the target store).
        val_split: Validation split; None: ``val`` if present, else all items.
        encoder: Encoder registry name; None: the ``init_model``'s, else ``small_cnn``.
        method: Adaptation method registry name (``-`` and ``_`` alike).
        init_model: A trained model (name, folder, or ``default``) to start from: its
            weights, encoder, bands and normalisation; recorded as the new model's parent.
        epochs: Passes over the source training items.
        batch_size: Source (and target) items per step.
        lr: Learning rate (Adam).
        weight_decay: Decoupled weight decay (AdamW).
        seed: Seed of initialisation, sampling and augmentation.
        device: cpu, cuda, cuda:N or mps; None picks CUDA, MPS, then CPU.
        amp: Mixed precision (bf16, else fp16) on CUDA.
        max_source: Use at most this many source items (a seeded random subset).
        restyle: Share of the source training items shown as display images (a random
            non-linear stretch, clipping, 8-bit quantisation and per-band [0, 1] scaling,
            :mod:`lensscan.data.restyle`), as published lens samples and citizen-science
            cutouts are; 0 shows every item as flux.
        grades: A grade database of ``lensscan inspect``: its consensus lenses become
            positives and the candidates every grader gave 0 hard negatives, mixed into
            the source items (stamps from the fields the graded catalog came from).
        grade_cutouts: Cutout store whose item k is row k of the graded catalog, instead
            of the catalog's fields (needs ``grades``).
        grade_share: Share of the labelled items the graded items are repeated to.
        max_target: Use at most this many target-pool items.
        max_eval: At most this many items for the per-epoch validation and target criteria.
        init_checkpoint: Safetensors file to initialise the encoder from (matched by name).
        normalisation: Settings of the input normalisation of a model trained from
            scratch (fields of :class:`~lensscan.data.normalize.RobustAsinh`: ``border``,
            ``softening``, ``clip``, ``relative_floor``, ``noise``); a model started from
            ``init_model`` keeps its parent's.
        selection: Model-selection rule: auto (val_auroc with --val, else last), val_auroc,
            last or min_target_entropy.
        method_options: Method settings overriding the method's defaults (see its docs).
        resume: Continue an interrupted run of the same settings from its last epoch.
        overwrite: Replace an existing output folder (and discard an interrupted run).
    """

    out: str
    source: str | None = None
    target: str | None = None
    val: str | None = None
    source_split: str | None = None
    target_split: str | None = None
    val_split: str | None = None
    encoder: str | None = None
    method: str = "supervised"
    init_model: str | None = None
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    device: str | None = None
    amp: bool = True
    max_source: int | None = None
    restyle: float = 0.0
    grades: str | None = None
    grade_cutouts: str | None = None
    grade_share: float = 0.1
    max_target: int | None = None
    max_eval: int = 4096
    init_checkpoint: str | None = None
    normalisation: Mapping[str, float | str] = dataclasses.field(default_factory=dict)
    selection: str = "auto"
    method_options: Mapping[str, float] = dataclasses.field(default_factory=dict)
    resume: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        # A file's or a variable's values are type-checked by resolve_config; a Python
        # caller's numbers are checked here, before any range check compares them.
        hints = typing.get_type_hints(TrainConfig)
        for name in _TRAIN_NUMBERS:
            value = getattr(self, name)
            if not _accepts(hints[name], value):
                raise SettingError(
                    name, value, f"does not fit its type ({_type_name(hints[name])})"
                )
        if not isinstance(self.method_options, Mapping):
            raise SettingError(
                "method_options", self.method_options, "expected a table of KEY = number"
            )
        if self.source is None and not (self.init_model and canonical_name(self.method) == "adabn"):
            raise UserError(
                "missing `source` (or set it in `config`); only `method` adabn with "
                "`init_model` adapts without a source store"
            )
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"`{name}` must be at least 1, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise UserError("`batch_size` must be at least 2 (BatchNorm needs two items)")
        if not self.lr > 0:
            raise UserError(f"`lr` must be positive, got {self.lr}")
        if not 0.0 <= self.restyle <= 1.0:
            raise UserError(f"`restyle` must be in [0, 1], got {self.restyle}")
        if not 0.0 < self.grade_share < 1.0:
            raise UserError(f"`grade_share` must be in (0, 1), got {self.grade_share}")
        if self.grade_cutouts is not None and self.grades is None:
            raise UserError(
                "`grade_cutouts`: holds the stamps of graded candidates; give `grades` too"
            )
        if self.grades is not None and self.source is None:
            raise UserError("`grades` are mixed into the source items; give `source` too")
        self._check_selection()

    def _check_selection(self) -> None:
        """The selection rule is known and has the data it compares epochs on."""
        if self.selection != "auto" and self.selection not in SELECTION_RULES:
            raise SettingError(
                "selection",
                self.selection,
                f"unknown rule; choose one of auto, {', '.join(SELECTION_RULES)}",
            )
        if self.selection == "val_auroc" and self.val is None:
            raise UserError("`selection` val_auroc needs labelled target-validation items (`val`)")
        if self.selection == "min_target_entropy" and self.target is None:
            raise UserError("`selection` min_target_entropy needs a target pool (`target`)")


@dataclasses.dataclass(frozen=True)
class BenchmarkConfig:
    """Settings of ``lensscan benchmark`` (the DeepLense domain-adaptation comparison).

    The defaults are the full run; ``--quick`` replaces the settings its preset names
    (``lensscan.adaptation_benchmark.plan.QUICK_PRESET``) unless an option sets them.

    Attributes:
        out: Benchmark folder (data/, models/, results/, table.md, table.json); None means
            ``reports/benchmark`` (``reports/benchmark-quick`` with ``quick``).
        quick: The small preset that runs in minutes on a laptop CPU.
        methods: Adaptation methods, the table's rows (``supervised`` = no adaptation).
        encoders: Encoders, the table's columns.
        seeds: Training seeds of every cell (seeds 0 .. seeds - 1).
        leader_seeds: Seeds of the leading cells (0 or at most ``seeds``: no extra runs).
        leaders: How many leading (method, encoder) cells, by mean target-test AUROC.
        n_source: Labelled source (sim) cutouts; 90% train, 10% source validation.
        source_nonlenses_per_lens: Non-lenses per lens in the source store.
        n_pool: Unlabelled HSC-like target pool.
        n_val: HSC-like target-validation items (model selection).
        n_test: HSC-like target-test items (the table's metrics).
        target_nonlenses_per_lens: Non-lenses per lens in the target pool, val and test.
        bands: Bands of every store.
        data_seed: Seed of the source store; the pool and the val/test store use
            ``data_seed + 1`` and ``data_seed + 2``.
        data_dir: Folder of the data sets (shared between benchmark folders); None means
            ``<out>/data``.
        epochs: Training epochs of every cell.
        batch_size: Source (and target) items per step.
        lr: Learning rate.
        max_eval: At most this many validation items per epoch for model selection.
        workers: Processes simulating the data sets, and torch threads when training on
            the CPU; None: every core.
        device: cpu, cuda, cuda:N or mps; None picks CUDA, MPS, then CPU.
        scenario: ``deeplense`` (simple sims -> HSC-like, selection on labelled HSC-like
            validation items: the DeepLense study) or ``survey`` (labelled hsc-train source
            -> unlabelled hsc-heldout pool, no target labels anywhere: what a user adapting
            a model to a survey faces; the last epoch is kept).
        init_model: Model every cell of the ``survey`` scenario starts from (name, folder
            or ``default``; its no-adaptation row is the model itself); None trains every
            cell from scratch.
    """

    out: str | None = None
    quick: bool = False
    scenario: str = "deeplense"
    init_model: str | None = None
    methods: tuple[str, ...] = (
        "supervised",
        "adabn",
        "adda",
        "adamatch",
        "self_ensembling",
        "dann",
    )
    encoders: tuple[str, ...] = ("efficientnet_b2", "resnet34", "densenet121", "ecnn")
    seeds: int = 3
    leader_seeds: int = 0
    leaders: int = 3
    n_source: int = 60_000
    source_nonlenses_per_lens: float = 2.0
    n_pool: int = 40_000
    n_val: int = 10_100
    n_test: int = 20_200
    target_nonlenses_per_lens: float = 100.0
    bands: str = "gri"
    data_seed: int = 0
    data_dir: str | None = None
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    max_eval: int = 16_384
    workers: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        minimums = {
            "seeds": (self.seeds, 1),
            "leader_seeds": (self.leader_seeds, 0),
            "leaders": (self.leaders, 0),
            "epochs": (self.epochs, 1),
            "batch_size": (self.batch_size, 2),
            "max_eval": (self.max_eval, 1),
            "data_seed": (self.data_seed, 0),
        }
        for setting, (value, minimum) in minimums.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise SettingError(setting, value, f"must be a whole number of at least {minimum}")
        if self.workers is not None and self.workers < 1:
            raise SettingError("workers", self.workers, "must be at least 1")
        if not self.lr > 0:
            raise SettingError("lr", self.lr, "must be positive")
        if self.scenario not in SCENARIO_DOMAINS:
            raise SettingError(
                "scenario", self.scenario, f"choose one of {', '.join(SCENARIO_DOMAINS)}"
            )
        if self.init_model is not None and self.scenario != "survey":
            raise UserError("`init_model`: only the survey scenario starts cells from a model")
        for setting in ("methods", "encoders"):
            if not any(name.strip() for name in getattr(self, setting)):
                raise UserError(f"`{setting}`: give at least one name")
        self._check_data_sizes()

    def _check_data_sizes(self) -> None:
        """Store sizes are whole numbers of cutouts; non-lens ratios are positive."""
        sizes = {
            "n_source": self.n_source,
            "n_pool": self.n_pool,
            "n_val": self.n_val,
            "n_test": self.n_test,
        }
        for setting, value in sizes.items():
            if not isinstance(value, int) or value < 1:
                raise SettingError(setting, value, "must be a positive number of cutouts")
        ratios = {
            "source_nonlenses_per_lens": self.source_nonlenses_per_lens,
            "target_nonlenses_per_lens": self.target_nonlenses_per_lens,
        }
        for setting, value in ratios.items():
            if not math.isfinite(value) or value <= 0:
                raise SettingError(setting, value, "must be a positive number")
