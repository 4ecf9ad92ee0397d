"""Settings of ``lensscan scan`` and ``lensscan cutouts``, grouped by concern.

:class:`ScanConfig` holds what to scan and how to score it, and four tables, each a
``[table]`` of a settings file: ``[detect]`` (:class:`DetectionSettings`, which
``cutouts`` shares), ``[candidates]`` (which candidates a catalog lists), ``[output]``
(where it is written) and ``[cluster]`` (where the tasks run). Every setting keeps one name
of its own, that of its option and environment variable (``detect_threshold`` is
``[detect] threshold``; see :mod:`lensscan.config`). Each dataclass checks its values when
made.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

from lensscan.catalog.crossmatch import MATCH_RADIUS_ARCSEC
from lensscan.config import setting
from lensscan.errors import SettingError, UserError, check_ranges

DUPLICATE_RADIUS_ARCSEC = 1.0
"""Candidates of two overlapping fields closer than this (arcsec) are one object: the
astrometry of two HSC patches of one tract agrees to far better than the seeing, and two
distinct galaxies closer than 1" would share one cutout anyway."""

SCAN_MODES = ("detect", "grid")
"""How ``lensscan scan`` chooses the cutouts to score when no ``positions`` are given."""

BATCH_SYSTEMS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}
"""``cluster`` names of batch systems -> dask-jobqueue cluster class."""

CLUSTER_KINDS = ("local", *BATCH_SYSTEMS)
"""What a scan's ``cluster`` setting accepts."""

# The limit is a decimal number, so that text such as "1.2.3" is refused here, not by float().
_COLOR_CUT = re.compile(
    r"^\s*([a-z])\s*-\s*([a-z])\s*([<>])\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))\s*$", re.IGNORECASE
)


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


def _chunk_checks(chunk_size: int, max_mask_fraction: float) -> list[tuple[str, Any, bool]]:
    """Range checks of the chunking settings scan and cutouts share."""
    return [
        ("chunk_size", chunk_size, chunk_size >= 1),
        ("max_mask_fraction", max_mask_fraction, 0 <= max_mask_fraction <= 1),
    ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DetectionSettings:
    """``[detect]``: how galaxies are detected and preselected (``scan`` and ``cutouts``).

    Attributes:
        bands: Bands combined into the detection image (empty: all the model's);
            ``detect_bands``.
        threshold: Detection threshold in units of the detection image's noise;
            ``detect_threshold``.
        min_area: Fewest connected pixels above the threshold that make an object.
        mag_limit: Preselect objects brighter than this Kron magnitude (AB) in the i band
            (the reddest band when there is no i).
        min_kron_radius: Preselect objects with a Kron radius of at least this, arcsec.
        color_cut: Optional colour cut on Kron magnitudes, e.g. ``g-i>1.0``.
    """

    bands: tuple[str, ...] = setting((), name="detect_bands")
    threshold: float = setting(1.5, name="detect_threshold")
    min_area: int = 5
    mag_limit: float = 22.5
    min_kron_radius: float = 0.8
    color_cut: str | None = None

    def __post_init__(self) -> None:
        check_ranges(
            [
                (
                    "detect_threshold",
                    self.threshold,
                    math.isfinite(self.threshold) and self.threshold > 0,
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

    def check_bands(self, bands: Sequence[str]) -> None:
        """Refuse detection or colour-cut bands that are not among the model's ``bands``.

        Raises:
            UserError: Naming the missing bands.
        """
        wanted = set(self.bands)
        if self.color_cut:
            blue, red, _, _ = parse_color_cut_text(self.color_cut)
            wanted |= {blue, red}
        missing = sorted(wanted - set(bands))
        if missing:
            raise UserError(
                f"`detect_bands`/`color_cut`: band(s) {','.join(missing)} not among the model's "
                f"{','.join(bands)}"
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class CandidateSettings:
    """``[candidates]``: which candidates a field's catalog lists, and what it adds.

    Attributes:
        threshold: Lowest score listed in the catalog.
        top: Keep at most this many candidates per field (None: all).
        min_separation: Radius in arcsec within which candidates are one: grid windows
            keep the best (non-maximum suppression on the refined positions); detections
            form a group listed once, at its best-scored member or a clearly brighter
            core (see :func:`lensscan.scan.candidates.group_detections`). None means half
            a cutout (closer cutouts see the same scene). Catalogued positions are never
            merged (each is its own).
        known: Catalog of known lenses (CSV with RA/Dec columns) to cross-match.
        match_radius: Largest separation of a known-lens match, arcsec.
        duplicate_radius: Candidates of different fields closer than this (arcsec) are one
            object seen in two overlapping fields; the combined catalog keeps the higher
            score.
    """

    threshold: float = 0.5
    top: int | None = None
    min_separation: float | None = None
    known: str | None = None
    match_radius: float = MATCH_RADIUS_ARCSEC
    duplicate_radius: float = DUPLICATE_RADIUS_ARCSEC

    def __post_init__(self) -> None:
        separation = self.min_separation
        check_ranges(
            [
                (
                    "threshold",
                    self.threshold,
                    math.isfinite(self.threshold) and 0 <= self.threshold <= 1,
                ),
                ("top", self.top, self.top is None or self.top >= 1),
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
                (
                    "duplicate_radius",
                    self.duplicate_radius,
                    math.isfinite(self.duplicate_radius) and self.duplicate_radius > 0,
                ),
            ]
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutputSettings:
    """``[output]``: where a scan writes its catalogs and what it writes beside them.

    Attributes:
        out: Catalog path (one field) or folder (several); None means ``catalogs/``.
        format: Catalog format (ecsv, fits, csv, parquet); None: from ``out``, else ecsv.
        work_dir: Folder of the Zarr work stores; None means ``<catalog folder>/.work``.
        regions: Also write a DS9 region file beside each catalog.
        gallery: Also write a PNG montage and HTML page of this many top candidates.
        combined: The combined catalog of all fields; None: ``combined.<format>`` in the
            catalog folder when the run has several fields.
        overwrite: Replace existing catalogs and start work stores afresh.
    """

    out: str | None = None
    format: str | None = None
    work_dir: str | None = None
    regions: bool = False
    gallery: int = 0
    combined: str | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        check_ranges([("gallery", self.gallery, self.gallery >= 0)])


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterSettings:
    """``[cluster]``: where a scan's tasks run (see :mod:`lensscan.scan.cluster`).

    Attributes:
        kind: ``local``, or a batch system (``slurm``, ``pbs``, ``sge``, ``lsf``) whose
            jobs run the Dask workers (dask-jobqueue); None: local, or the one batch system
            ``config_file`` sets up; ``cluster``.
        config_file: Dask config file (YAML, dask-jobqueue's ``jobqueue:`` layout);
            ``cluster_config``.
        scheduler: Address of an existing dask.distributed scheduler (overrides workers).
        workers: Local Dask worker processes; 0 runs in this process without Dask workers.
        threads_per_worker: Threads per local worker; None shares the CPU cores among workers.
        jobs: Batch jobs to start (None: one, unless ``adapt``).
        adapt: ``MIN:MAX`` batch jobs for adaptive scaling instead of ``jobs``.
        queue: Batch queue or partition.
        walltime: Walltime of each batch job, e.g. ``04:00:00``.
        cores: Cores per batch job.
        memory: Memory per batch job, e.g. ``32GB``.
        gpus_per_job: GPUs per batch job, one Dask worker process each.
        job_prologue: Shell lines each batch job runs before its worker starts.
        retries: Times a chunk task that raised is run again before its field fails.
    """

    kind: str | None = setting(None, name="cluster")
    config_file: str | None = setting(None, name="cluster_config")
    scheduler: str | None = None
    workers: int = 1
    threads_per_worker: int | None = None
    jobs: int | None = None
    adapt: str | None = None
    queue: str | None = None
    walltime: str | None = None
    cores: int | None = None
    memory: str | None = None
    gpus_per_job: int = 0
    job_prologue: tuple[str, ...] = ()
    retries: int = 2

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in CLUSTER_KINDS:
            raise UserError(f"`cluster` {self.kind}: expected one of {', '.join(CLUSTER_KINDS)}")
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
        check_ranges([("retries", self.retries, self.retries >= 0)])

    @property
    def adapt_range(self) -> tuple[int, int] | None:
        """``adapt`` as ``(minimum, maximum)`` jobs, or ``None``."""
        return parse_adapt(self.adapt)

    @property
    def batch_settings_given(self) -> list[str]:
        """The batch-only settings that are set, by their own names."""
        values = {
            "jobs": self.jobs,
            "adapt": self.adapt,
            "queue": self.queue,
            "walltime": self.walltime,
            "cores": self.cores,
            "memory": self.memory,
            "gpus_per_job": self.gpus_per_job or None,
            "job_prologue": self.job_prologue or None,
        }
        return [name for name, value in values.items() if value is not None]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScanConfig:
    """Settings of ``lensscan scan``: detect-and-score, dense grid, or catalog-driven scans.

    Attributes:
        mode: ``detect`` (score cutouts centred on detected, preselected galaxies) or
            ``grid`` (a dense sliding window); ``positions`` overrides both.
        model: Model name or weights folder; None means the default model.
        bands: Band names of a single field file's planes when its headers do not say.
        positions: CSV/ECSV of (ra, dec) to score cutouts centred on, instead of a grid.
        stride: Step between windows in pixels; None means half the model's cutout size.
        chunk_size: Side in pixels of the spatial chunks a field is split into (a multiple
            of the stride); each chunk also reads a halo of one cutout minus one stride.
        max_mask_fraction: Windows with a larger fraction of bad pixels are skipped.
        batch_size: Windows per forward pass.
        device: Where to run the model (None: CUDA, MPS, then CPU).
        tta: Average each cutout's score over its 8 flips and 90-degree rotations.
        force_bands: Take each per-band file as the band it is given as, even when its
            name or BAND/FILTER header says another band.
        force_domain: Scan a field whose pixel scale or bands are far from the model's
            (the mismatch is still recorded in the catalog).
        detect: ``[detect]``: detection and preselection (detect mode).
        candidates: ``[candidates]``: which candidates the catalogs list.
        output: ``[output]``: where the catalogs go.
        cluster: ``[cluster]``: where the tasks run.
    """

    mode: str = "detect"
    model: str | None = None
    bands: tuple[str, ...] | None = None
    positions: str | None = None
    stride: int | None = None
    chunk_size: int = 1024
    max_mask_fraction: float = 0.5
    batch_size: int = 256
    device: str | None = None
    tta: bool = False
    force_bands: bool = False
    force_domain: bool = False
    detect: DetectionSettings = dataclasses.field(default_factory=DetectionSettings)
    candidates: CandidateSettings = dataclasses.field(default_factory=CandidateSettings)
    output: OutputSettings = dataclasses.field(default_factory=OutputSettings)
    cluster: ClusterSettings = dataclasses.field(default_factory=ClusterSettings)

    def __post_init__(self) -> None:
        if self.mode not in SCAN_MODES:
            raise UserError(f"`mode` {self.mode}: expected one of {', '.join(SCAN_MODES)}")
        check_ranges(
            [
                *_chunk_checks(self.chunk_size, self.max_mask_fraction),
                ("batch_size", self.batch_size, self.batch_size >= 1),
                ("stride", self.stride, self.stride is None or self.stride >= 1),
            ]
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class CutoutsConfig:
    """Settings of ``lensscan cutouts``.

    Attributes:
        out: The cutout store to write (``.zarr``).
        model: Model whose bands, cutout size and pixel scale the cutouts take (its card
            only is read); None means the default model.
        bands: Band names of a single field file's planes when its headers do not say.
        positions: CSV/ECSV/FITS of (ra, dec): cut these objects instead of detecting.
        chunk_size: Core side of the detection chunks, pixels.
        max_mask_fraction: Objects whose cutout has more bad pixels are left out.
        overwrite: Replace an existing store.
        detect: ``[detect]``: detection and preselection, as a scan's.
    """

    out: str
    model: str | None = None
    bands: tuple[str, ...] | None = None
    positions: str | None = None
    chunk_size: int = 1024
    max_mask_fraction: float = 0.5
    overwrite: bool = False
    detect: DetectionSettings = dataclasses.field(default_factory=DetectionSettings)

    def __post_init__(self) -> None:
        check_ranges(_chunk_checks(self.chunk_size, self.max_mask_fraction))
