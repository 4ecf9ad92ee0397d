"""Settings of ``lensscan adapt``: one frozen dataclass that checks its own values."""

from __future__ import annotations

import dataclasses
import math

from lensscan.errors import SettingError, UserError, check_ranges

LABEL_FREE_METHODS = ("none", "adabn")
"""What ``label_free`` accepts: nothing, or AdaBN on the pool after fine-tuning."""


@dataclasses.dataclass(frozen=True)
class AdaptConfig:
    """Settings of ``lensscan adapt`` (a parent model adapted to a survey's own images).

    Attributes:
        out: Weights folder to write (``weights/MY-SURVEY``).
        pool: Cutout stores, cutout folders or cutout files of the survey's own galaxies
            (instead of, or besides, FITS fields).
        init_model: The parent: a model name, a weights folder or ``default``.
        work: Folder of the intermediate stores and models (reused on a rerun); None means
            ``.<out name>.adapt-work`` beside ``out``.
        catalog: Where to write the pool rescored by the kept model (ECSV); None means
            ``pool_candidates.ecsv`` inside ``out``.
        background_bands: Band names of the planes of pool cutouts that do not name them.
        pixel_scale: Arcsec per pixel of pool cutouts that do not say (None: theirs).
        zero_point: AB zero point of the pool's flux (None: theirs, else 27).
        psf: FITS PSF image(s) at the pool's pixel scale (None: the pool's seeing, else
            HSC Wide's median).
        mag_limit: Detection in FITS fields keeps objects brighter than this i-band Kron
            magnitude (None: the ``lensscan cutouts`` default).
        n_injected: Items of the injected set (None: twice the pool, at most 8 per
            background, at least 256); backgrounds are reused flipped and rotated.
        lens_fraction: Fraction of the injected items that get an arc.
        val_fraction: Fraction of the backgrounds held out for the injected validation.
        family: Simulator family of the injected sources and Einstein radii.
        min_arc_snr: Smallest matched-filter S/N of an injected arc.
        max_arc_snr: If set, brighter arcs are dimmed to an S/N drawn log-uniformly
            between ``min_arc_snr`` and this.
        max_host_mag: Inject only into backgrounds whose central galaxy is brighter.
        rehearsal_fraction: Share of the training mixture taken from the parent's own
            source family (rehearsal, so that the parent's knowledge is not forgotten).
        rehearsal_domain: Simulator family of the rehearsal items (the parent's source).
        source_val_items: Rehearsal items kept apart as the parent's source validation.
        epochs: Fine-tuning epochs.
        batch_size: Items per step.
        lr: Learning rate of the fine-tuning.
        label_free: ``none``, or ``adabn`` to re-estimate BatchNorm statistics on the pool
            after fine-tuning (judged by the same safety rule).
        min_median_arc_snr: Refuse to train if the injected arcs' median S/N is lower.
        min_separability: Refuse to train if neither the parent nor a quick probe tells
            injected lenses from non-lenses with at least this AUROC.
        min_gain: The adapted model is kept only if its injected-validation AUROC beats
            the parent's by more than this, at the lower end of the paired 95% interval.
        max_source_loss: ... and if it loses at most this AUROC on the parent's source
            validation, at the upper end of that interval.
        grades: A grade database of ``lensscan inspect`` whose consensus lenses become
            positives and unanimous 0 grades hard negatives.
        cutouts: Cutout store whose item k is row k of the graded catalog (else the
            stamps are cut from the fields).
        grade_share: Share of the training mixture the graded items are repeated to.
        seed: The run's seed.
        device: cpu, cuda, cuda:N or mps (None: the best available).
        workers: Processes simulating the rehearsal items (None: every CPU).
        overwrite: Replace an existing ``out``.
    """

    out: str
    pool: tuple[str, ...] = ()
    init_model: str = "default"
    work: str | None = None
    catalog: str | None = None
    background_bands: str | None = None
    pixel_scale: float | None = None
    zero_point: float | None = None
    psf: str | None = None
    mag_limit: float | None = None
    n_injected: int | None = None
    lens_fraction: float = 0.5
    val_fraction: float = 0.1
    family: str = "hsc-train"
    min_arc_snr: float = 20.0
    max_arc_snr: float | None = None
    max_host_mag: float | None = None
    rehearsal_fraction: float = 0.25
    rehearsal_domain: str = "hsc-train"
    source_val_items: int = 2000
    epochs: int = 2
    batch_size: int = 64
    lr: float = 2e-4
    label_free: str = "none"
    min_median_arc_snr: float = 10.0
    min_separability: float = 0.7
    min_gain: float = 0.0
    max_source_loss: float = 0.01
    grades: str | None = None
    cutouts: str | None = None
    grade_share: float = 0.1
    seed: int = 0
    device: str | None = None
    workers: int | None = None
    overwrite: bool = False

    def __post_init__(self) -> None:
        check_ranges(
            [
                ("lens_fraction", self.lens_fraction, 0 < self.lens_fraction < 1),
                ("val_fraction", self.val_fraction, 0 < self.val_fraction < 1),
                ("rehearsal_fraction", self.rehearsal_fraction, 0 <= self.rehearsal_fraction < 1),
                ("grade_share", self.grade_share, 0 < self.grade_share < 1),
                ("epochs", self.epochs, self.epochs >= 1),
                ("batch_size", self.batch_size, self.batch_size >= 2),
                ("lr", self.lr, math.isfinite(self.lr) and self.lr > 0),
                ("min_arc_snr", self.min_arc_snr, self.min_arc_snr >= 0),
                (
                    "max_arc_snr",
                    self.max_arc_snr,
                    self.max_arc_snr is None
                    or (math.isfinite(self.max_arc_snr) and self.max_arc_snr > self.min_arc_snr),
                ),
                ("min_median_arc_snr", self.min_median_arc_snr, self.min_median_arc_snr >= 0),
                ("min_separability", self.min_separability, 0 <= self.min_separability <= 1),
                ("min_gain", self.min_gain, 0 <= self.min_gain < 1),
                ("max_source_loss", self.max_source_loss, 0 <= self.max_source_loss <= 1),
                ("seed", self.seed, self.seed >= 0),
                ("source_val_items", self.source_val_items, self.source_val_items >= 2),
            ]
        )
        if self.n_injected is not None and self.n_injected < 16:
            raise SettingError("n_injected", self.n_injected, "must be at least 16 items")
        if self.workers is not None and self.workers < 1:
            raise SettingError("workers", self.workers, "must be at least 1")
        if self.label_free not in LABEL_FREE_METHODS:
            raise SettingError(
                "label_free", self.label_free, f"choose one of {', '.join(LABEL_FREE_METHODS)}"
            )
        if self.cutouts is not None and self.grades is None:
            raise UserError("`cutouts`: holds the stamps of graded candidates; give `grades` too")
